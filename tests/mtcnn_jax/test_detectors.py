"""Classical peers (OpenCV Haar cascades), data sources, and the comparison CLI."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

import evaluate as evaluate_cli
from mtcnn_jax import detectors, run_eval
from mtcnn_jax.demo_faces import HOPPER_BOX, sample_faces
from mtcnn_jax.matching import iou_matrix
from mtcnn_jax.params import WEIGHTS_DIR


@pytest.fixture(scope="module")
def hopper():
  return sample_faces()[0][1]


@pytest.mark.parametrize("name", ["haar_default", "haar_alt", "haar_alt2"])
def test_frontal_cascades_find_the_portrait_face_with_a_score(hopper, name):
  out = detectors.make_detector(name)(hopper)
  assert out["boxes"].shape == (1, 4) and out["scores"].shape == (1,)
  assert out["landmarks"] is None
  assert iou_matrix(out["boxes"], HOPPER_BOX[None])[0, 0] > 0.5


def test_profile_cascade_runs_on_the_mirror_too(hopper):
  detect = detectors.make_detector("haar_profile")
  # A profile-like input: the left half of the face, and that half mirrored.
  half = np.ascontiguousarray(hopper[60:380, 100:270])
  a, b = detect(half), detect(np.ascontiguousarray(half[:, ::-1]))
  assert len(a["boxes"]) == len(b["boxes"])          # each orientation finds the other's faces
  if len(a["boxes"]):
    mirrored = np.stack([half.shape[1] - b["boxes"][:, 2], b["boxes"][:, 1],
                         half.shape[1] - b["boxes"][:, 0], b["boxes"][:, 3]], 1)
    assert iou_matrix(a["boxes"], mirrored).max(axis=1).min() > 0.9


def test_unknown_and_missing_optional_detectors_are_clear_errors():
  with pytest.raises(ValueError, match="unknown detector"):
    detectors.make_detector("viola")
  try:
    import dlib  # noqa: F401  pylint: disable=unused-import,import-outside-toplevel
  except ImportError:
    with pytest.raises(ValueError, match="not installed"):
      detectors.make_detector("dlib_hog")


def test_tfds_wider_face_example_becomes_an_annotation():
  example = {"faces": {"bbox": np.array([[0.1, 0.2, 0.5, 0.4], [0.0, 0.0, 0.1, 0.1]]),
                       "invalid": np.array([False, True])}}
  ann = run_eval.wider_example_to_annotation(example, "x.jpg", height=200, width=100)
  np.testing.assert_allclose(ann.boxes, [[20.0, 20.0, 40.0, 100.0]])     # xyxy pixels
  np.testing.assert_allclose(ann.ignore, [[0.0, 0.0, 10.0, 20.0]])


def test_embedded_samples_have_boxes_inside_their_images():
  items = sample_faces()
  assert [a.file for a, _ in items] == ["grace_hopper.jpg", "collage.png"]
  for ann, image in items:
    assert image.shape == (ann.height, ann.width, 3)
    assert np.all(ann.boxes[:, :2] >= 0) and np.all(ann.boxes[:, 2] <= ann.width)
    assert np.all(ann.boxes[:, 3] <= ann.height)
  assert len(items[1][0].boxes) == 6


def test_comparison_on_the_embedded_default(tmp_path, capsys):
  out = tmp_path / "cmp.json"
  assert evaluate_cli.main(["mtcnn", f"--out={out}", "--no-progress"]) == 0
  report = json.loads(out.read_text())
  dets = report["detectors"]
  assert set(dets) == {"mtcnn", "haar_default", "haar_alt", "haar_alt2", "haar_alt_tree",
                       "haar_profile"}
  for entry in dets.values():
    assert {"ap", "recall", "median_ms"} <= set(entry)
  assert dets["mtcnn"]["ap"] == 1.0                       # all 7 faces, no false positive
  assert dets["mtcnn"]["ap"] >= max(e["ap"] for n, e in dets.items() if n != "mtcnn")
  folder = tmp_path / "cmp_figures"
  assert {"pr_curves.png", "roc.png", "samples.png", "report.md"} <= {p.name for p in folder.iterdir()}
  assert "haar_alt_tree" in capsys.readouterr().out


def test_any_params_folder_is_an_mtcnn_detector_with_its_cards_settings(tmp_path):
  """``mtcnn:FOLDER`` (e.g. a training workdir's params/) and the card's detector settings."""
  for name in ("pnet", "rnet", "onet"):
    shutil.copy(WEIGHTS_DIR / f"{name}.npz", tmp_path / f"{name}.npz")
  (tmp_path / "model_card.json").write_text(json.dumps({"detector": {"thresholds": [0.5, 0.6,
                                                                                     0.7]}}))
  name = f"mtcnn:{tmp_path}"
  assert detectors.is_known(name) and detectors.is_mtcnn(name) and detectors.has_landmarks(name)
  assert detectors.mtcnn_card_settings(str(tmp_path)) == {"thresholds": (0.5, 0.6, 0.7)}
  assert callable(detectors.make_detector(name))
  info = detectors.detector_settings(name, min_face_size=30.0)
  assert info["thresholds"] == (0.5, 0.6, 0.7) and info["min_face_size"] == 30.0
  assert info["weights"].startswith("self-trained")
  assert detectors.detector_settings("mtcnn")["weights"].startswith("published")
  with pytest.raises(ValueError, match="needs a folder"):
    detectors.make_detector("mtcnn:")
  with pytest.raises(FileNotFoundError, match="lacks"):
    detectors.make_detector(f"mtcnn:{tmp_path / 'nowhere'}")
  assert not detectors.is_known("mtcnn_nothing")
