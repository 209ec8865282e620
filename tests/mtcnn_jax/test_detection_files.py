"""Tests of mtcnn_jax.detection_files: the reference format, round trips, clear errors.

The real-data tests read the reference files of
``../shared/data/faces/wider_val_dev``.
"""
from __future__ import annotations

import json
from typing import NamedTuple

import numpy as np
import pytest

from mtcnn_jax.annotations import load_annotations
from mtcnn_jax.detection_files import load_detections, save_detections
from tests.mtcnn_jax.face_records import make_detection


class _Padded(NamedTuple):  # like a jitted detector's fixed-size output
  boxes: np.ndarray
  scores: np.ndarray
  landmarks: np.ndarray
  valid: np.ndarray


def test_save_and_load_round_trip(tmp_path):
  lms = np.arange(10, dtype=np.float64).reshape(1, 5, 2) + 0.123456
  per_image = {
      "images/x/1.jpg": make_detection([[1.123456, 2.5, 30.000049, 40]], [0.987654321], lms,
                                       ms=12.34567),
      "images/x/2.jpg": make_detection([], [], ms=None),
      "images/x/3.jpg": _Padded(boxes=np.array([[1, 2, 3, 4], [0, 0, 0, 0]], np.float32),
                                scores=np.array([0.5, 0.0], np.float32),
                                landmarks=np.zeros((2, 5, 2), np.float32),
                                valid=np.array([True, False])),
  }
  path = tmp_path / "dets.json"
  save_detections(path, "ours", {"min_face_size": 20, "operating_threshold": None}, per_image)
  raw = json.loads(path.read_text())
  assert list(raw) == ["detector", "settings", "images"]
  first = raw["images"]["images/x/1.jpg"]
  assert list(first) == ["boxes", "scores", "landmarks", "ms"]
  assert first["boxes"] == [[1.1235, 2.5, 30.0, 40.0]]   # 4 decimals
  assert first["scores"] == [0.987654321] and first["ms"] == 12.346
  assert first["landmarks"][0][0] == [0.1235, 1.1235]
  assert raw["images"]["images/x/2.jpg"] == {"boxes": [], "scores": [], "ms": None}
  assert len(raw["images"]["images/x/3.jpg"]["boxes"]) == 1    # padding dropped

  name, settings, loaded = load_detections(path)
  assert name == "ours" and settings == {"min_face_size": 20, "operating_threshold": None}
  assert list(loaded) == list(per_image)
  np.testing.assert_allclose(loaded["images/x/1.jpg"]["boxes"], [[1.1235, 2.5, 30.0, 40.0]])
  np.testing.assert_allclose(loaded["images/x/1.jpg"]["landmarks"], np.round(lms, 4))
  assert loaded["images/x/2.jpg"]["boxes"].shape == (0, 4)
  assert loaded["images/x/2.jpg"]["landmarks"] is None and loaded["images/x/2.jpg"]["ms"] is None
  save_detections(tmp_path / "again.json", name, settings, loaded)
  assert (tmp_path / "again.json").read_text() == path.read_text()


def test_load_errors_are_clear(tmp_path):
  with pytest.raises(FileNotFoundError, match="does not exist"):
    load_detections(tmp_path / "nope.json")
  anns = tmp_path / "anns.json"
  anns.write_text(json.dumps({"images": [{"file": "a", "width": 9, "height": 9,
                                          "boxes": [[1, 2, 3]], "ignore": []}]}))
  with pytest.raises(ValueError, match="looks like an annotation file"):
    load_detections(anns)
  dets = tmp_path / "dets.json"
  dets.write_text(json.dumps({"detector": "d", "images": {"a": {"boxes": [[0, 0, 1, 1]],
                                                               "scores": [1, 2]}}}))
  with pytest.raises(ValueError, match="'a'.*2 scores for 1 boxes"):
    load_detections(dets)



def test_reference_files_cover_every_annotated_image(wider):
  anns = load_annotations(wider / "annotations.json")
  assert len(anns) == 293 and sum(len(a.boxes) for a in anns) == 1452
  assert sum(len(a.ignore) for a in anns) == 3059
  for name, boxes in [("facenet_mtcnn", 1717), ("ipazc_mtcnn", 1751),
                      ("haar_default_mn3", 986), ("dlib_hog_up1", 3731)]:
    detector, _, per_image = load_detections(wider / "reference" / f"{name}.json")
    assert detector == name and set(per_image) == {a.file for a in anns}
    assert sum(len(d["boxes"]) for d in per_image.values()) == boxes


@pytest.mark.parametrize("name", ["facenet_mtcnn", "dlib_hog_up0"])
def test_reference_file_round_trips_byte_for_byte(wider, tmp_path, name):
  source = wider / "reference" / f"{name}.json"
  save_detections(tmp_path / "copy.json", *load_detections(source))
  assert (tmp_path / "copy.json").read_bytes() == source.read_bytes()
