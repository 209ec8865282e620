"""TFDS wider_face / celeb_a examples written as annotation files that training reads.

The examples are built here in TFDS's own layout (encoded image bytes,
normalised ``[ymin, xmin, ymax, xmax]`` boxes, celeb_a's ``lefteye_x`` ...
keys) from the embedded photos: no dataset can be downloaded in tests.
"""
from __future__ import annotations

import io
import json

import numpy as np
import pytest
from PIL import Image

from mtcnn_jax import tfds_faces, train
from mtcnn_jax.demo_faces import HOPPER_BOX, sample_faces
from mtcnn_jax.matching import iou_matrix
from mtcnn_jax.sampling.training_images import load_face_annotations, load_landmark_annotations
from tests.mtcnn_jax import helpers


def _encoded(image: np.ndarray, fmt: str = "PNG") -> bytes:
  buffer = io.BytesIO()
  Image.fromarray(np.ascontiguousarray(image)).save(buffer, format=fmt)
  return buffer.getvalue()


def _wider_examples() -> list[dict]:
  """The embedded photos as TFDS wider_face examples; the collage gets 3 faces to ignore."""
  out = []
  for ann, image in sample_faces():
    h, w = image.shape[:2]
    boxes = ann.boxes.copy()
    flags = {k: np.zeros(len(boxes), np.int64) for k in ("invalid", "blur", "occlusion")}
    if len(boxes) > 3:
      flags["invalid"][0], flags["blur"][1], flags["occlusion"][2] = 1, 2, 2
      flags["blur"][3], flags["occlusion"][4] = 1, 1           # moderate: kept
    bbox = np.stack([boxes[:, 1] / h, boxes[:, 0] / w, boxes[:, 3] / h, boxes[:, 2] / w], 1)
    out.append({"image": _encoded(image, "JPEG" if h == 480 else "PNG"),
                "faces": {"bbox": bbox.astype(np.float32), **flags}})
  return out


def test_wider_face_record_converts_boxes_and_applies_the_shared_ignore_rule():
  example = {"faces": {"bbox": np.array([[0.1, 0.2, 0.5, 0.4], [0.0, 0.0, 0.1, 0.1],
                                         [0.2, 0.2, 0.3, 0.3], [0.5, 0.5, 0.6, 0.6],
                                         [0.3, 0.3, 0.3, 0.4]]),
                       "invalid": np.array([0, 1, 0, 0, 0]), "blur": np.array([1, 0, 2, 0, 0]),
                       "occlusion": np.array([1, 0, 0, 2, 0])}}
  record = tfds_faces.wider_face_record(example, "x.jpg", height=200, width=100)
  np.testing.assert_allclose(record["boxes"], [[20.0, 20.0, 40.0, 100.0]])   # xyxy pixels
  np.testing.assert_allclose(record["ignore"], [[0, 0, 10, 20], [20, 40, 30, 60],
                                                [50, 100, 60, 120], [30, 60, 40, 60]])
  assert (record["file"], record["width"], record["height"]) == ("x.jpg", 100, 200)


def test_box_from_landmarks_fits_a_hand_checked_face():
  box = tfds_faces.box_from_landmarks(helpers.HOPPER_POINTS, 600, 600)
  assert box[2] - box[0] == pytest.approx(box[3] - box[1])              # square
  iou = iou_matrix(np.array([box]), HOPPER_BOX[None])[0, 0]
  assert iou > 0.7, iou
  clipped = tfds_faces.box_from_landmarks(helpers.HOPPER_POINTS - 200, 600, 600)
  assert clipped[0] == 0.0 and clipped[1] == 0.0


def test_celeb_a_record_keeps_the_point_order_and_split():
  points = [[69, 109], [106, 113], [77, 142], [73, 152], [108, 154]]   # CelebA's first image
  marks = {f"{name}_{axis}": value for name, p in zip(tfds_faces.CELEB_A_POINTS, points)
           for axis, value in zip("xy", p)}
  record = tfds_faces.celeb_a_record({"landmarks": marks}, "a.jpg", 218, 178, split="test")
  assert record["split"] == "test" and len(record["faces"]) == 1
  face = record["faces"][0]
  np.testing.assert_array_equal(face["landmarks"], points)
  x1, y1, x2, y2 = face["box"]
  assert x1 < 69 and x2 > 108 and y1 < 109 and y2 > 154                 # holds every point
  assert 80 < x2 - x1 < 120


def test_written_wider_face_split_loads_for_training_byte_for_byte(tmp_path):
  examples = _wider_examples()
  path = tfds_faces.write_annotations("wider_face", "train", examples, tmp_path, progress=False)
  entries = json.loads(path.read_text())["images"]
  assert [e["file"] for e in entries] == ["images/train_000000.png", "images/train_000001.jpg"]
  for entry, example in zip(entries, examples):
    assert (tmp_path / entry["file"]).read_bytes() == example["image"]
  images = load_face_annotations(path, min_face_side=20.0)
  collage = sample_faces()[1][0]
  kept = collage.boxes[[3, 4, 5]]
  usable = kept[np.maximum(kept[:, 2] - kept[:, 0], kept[:, 3] - kept[:, 1]) >= 20]
  np.testing.assert_allclose(images[1].faces, usable, atol=1e-3)
  assert len(images[1].others) == 6 - len(usable)


def test_written_celeb_a_split_loads_as_landmark_faces(tmp_path):
  hopper = sample_faces()[0][1]
  marks = {f"{name}_{axis}": int(round(v)) for name, p in
           zip(tfds_faces.CELEB_A_POINTS, helpers.HOPPER_POINTS) for axis, v in zip("xy", p)}
  examples = [{"image": _encoded(hopper), "landmarks": marks}] * 2
  path = tfds_faces.write_annotations("celeb_a", "train", examples, tmp_path, progress=False)
  faces = load_landmark_annotations(path, split="train")
  assert len(faces) == 2
  np.testing.assert_allclose(faces[0].points[0], np.round(helpers.HOPPER_POINTS))
  with pytest.raises(ValueError, match="no image of split 'test'"):
    load_landmark_annotations(path, split="test")
  # A sliced split records its base split, the one training asks for.
  sliced = tfds_faces.write_annotations("celeb_a", "train[:1]", examples[:1], tmp_path / "s",
                                        progress=False)
  assert len(load_landmark_annotations(sliced, split="train")) == 1
  assert tfds_faces.spec_split("tfds:celeb_a:test[:10%]") == "test"
  assert tfds_faces.spec_split("faces/annotations.json") is None


def test_bad_examples_and_datasets_are_clear_errors(tmp_path):
  with pytest.raises(ValueError, match="no annotation mapping for TFDS dataset 'mnist'"):
    tfds_faces.write_annotations("mnist", "train", [], tmp_path, progress=False)
  with pytest.raises(ValueError, match="has no examples"):
    tfds_faces.write_annotations("wider_face", "train", [], tmp_path, progress=False)
  broken = [{"image": b"\xff\xd8 not a jpeg", "faces": {"bbox": np.zeros((0, 4))}}]
  with pytest.raises(ValueError, match="example 0: unreadable image"):
    tfds_faces.write_annotations("wider_face", "train", broken, tmp_path, progress=False)
  assert not (tmp_path / "annotations.json").exists()        # no half-written export


def test_resolve_passes_files_through_and_never_downloads(tmp_path, monkeypatch):
  assert tfds_faces.resolve("faces/annotations.json", tmp_path) == "faces/annotations.json"
  assert tfds_faces.resolve("", tmp_path) == ""
  monkeypatch.setenv("TFDS_DATA_DIR", str(tmp_path / "tfds_data"))
  with pytest.raises(ValueError, match="is not prepared"):
    tfds_faces.resolve("tfds:wider_face:train", tmp_path / "cache", progress=False)
  assert tfds_faces.main(["tfds:celeb_a", "--out", str(tmp_path / "x"), "--no-progress"]) == 2


def test_training_reads_a_tfds_spec_from_its_export_in_the_workdir(tmp_path):
  """train.py resolves "tfds:wider_face:train" to <workdir>/tfds/wider_face_train/ (written
  here as a prepared dataset's export would be) and trains P-Net on it."""
  workdir = tmp_path / "run"
  tfds_faces.write_annotations("wider_face", "train", _wider_examples(),
                               workdir / "tfds" / "wider_face_train", progress=False)
  config = helpers.smoke_config("tfds:wider_face:train", num_devices=1)
  result = train.train_stage(config, workdir, "pnet")
  assert result["step"] == config.pnet.num_steps and np.isfinite(result["loss"])
