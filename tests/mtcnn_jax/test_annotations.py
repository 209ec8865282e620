"""Tests of mtcnn_jax.annotations: both file layouts, clear errors, min_face."""
from __future__ import annotations

import json
import pathlib

import numpy as np
import pytest

from mtcnn_jax.annotations import apply_min_face, load_annotations
from mtcnn_jax.detection_files import save_detections
from tests.mtcnn_jax.face_records import box_at, make_annotation, make_detection


def test_load_annotations_both_layouts(tmp_path):
  path = tmp_path / "a.json"
  path.write_text(json.dumps({"images": [
      {"file": "w.jpg", "width": 50, "height": 40, "boxes": [[1, 2, 11, 22]], "ignore": [],
       "box_attrs": [[0, 0, 0, 0, 0, 0]], "ignore_attrs": []},
      {"file": "l.jpg", "width": 50, "height": 40, "split": "test",
       "faces": [{"box": [5, 5, 30, 30], "landmarks": [[10, 10], [20, 10], [15, 15],
                                                       [11, 20], [19, 20]]}]}]}))
  w, l = load_annotations(path)
  assert w.boxes.dtype == np.float64 and w.boxes.shape == (1, 4) and w.ignore.shape == (0, 4)
  assert w.landmarks is None and w.ignore_attrs.shape == (0, 6)
  assert l.landmarks.shape == (1, 5, 2) and l.split == "test" and l.ignore.shape == (0, 4)


def test_load_errors_are_clear(tmp_path):
  with pytest.raises(FileNotFoundError, match="does not exist"):
    load_annotations(tmp_path / "nope.json")
  bad = tmp_path / "bad.json"
  bad.write_text('{"images": [')
  with pytest.raises(ValueError, match="not valid JSON"):
    load_annotations(bad)
  dets = tmp_path / "dets.json"
  save_detections(dets, "d", {}, {"a": make_detection([box_at(0)], [1.0])})
  with pytest.raises(ValueError, match="use load_detections"):
    load_annotations(dets)
  anns = tmp_path / "anns.json"
  anns.write_text(json.dumps({"images": [{"file": "a", "width": 9, "height": 9,
                                          "boxes": [[1, 2, 3]], "ignore": []}]}))
  with pytest.raises(ValueError, match=r"images\[0\] \(a\): boxes has shape \[1, 3\]"):
    load_annotations(anns)
  anns.write_text(json.dumps({"images": [{"file": "a", "width": 9}]}))
  with pytest.raises(ValueError, match="missing key 'height'"):
    load_annotations(anns)


def test_min_face_moves_short_faces_into_ignore():
  # Heights 10, 25, 19.99, 20; the 5-wide, 30-tall face stays (height counts, not width).
  boxes = [[0, 0, 10, 10], [0, 0, 25, 25], [50, 0, 70, 19.99], [0, 50, 20, 70], [90, 0, 95, 30]]
  lms = np.arange(5 * 10, dtype=np.float64).reshape(5, 5, 2)
  ann = make_annotation("a", boxes, ignore=[[1, 1, 2, 2]], landmarks=lms,
                        box_attrs=np.arange(5)[:, None].repeat(6, 1),
                        ignore_attrs=np.full((1, 6), 9))
  out = apply_min_face(ann, 20)
  np.testing.assert_array_equal(out.boxes, np.asarray(boxes)[[1, 3, 4]])
  np.testing.assert_array_equal(out.ignore, [[1, 1, 2, 2], boxes[0], boxes[2]])
  np.testing.assert_array_equal(out.landmarks, lms[[1, 3, 4]])
  np.testing.assert_array_equal(out.box_attrs[:, 0], [1, 3, 4])
  np.testing.assert_array_equal(out.ignore_attrs[:, 0], [9, 0, 2])
  assert apply_min_face(ann, None) is ann
  assert len(ann.boxes) == 5  # the input is untouched


def _write_one_image(tmp_path, **entry) -> pathlib.Path:
  path = tmp_path / "anns.json"
  path.write_text(json.dumps({"images": [
      {"file": "ok.jpg", "width": 50, "height": 40, "boxes": [[1, 2, 11, 22]]},
      {"file": "img.jpg", "width": 50, "height": 40, "ignore": [], **entry}]}))
  return path


@pytest.mark.parametrize("box", [[20, 5, 10, 25], [10, 25, 20, 5], [10, 5, 10, 25]])
def test_inverted_or_empty_boxes_are_refused_with_file_image_and_index(tmp_path, box):
  path = _write_one_image(tmp_path, boxes=[[1, 2, 11, 22], box])
  with pytest.raises(ValueError, match=rf"anns\.json, images\[1\] \(img\.jpg\): box\[1\] "
                                       r".* is inverted or empty"):
    load_annotations(path)
  path = _write_one_image(tmp_path, faces=[{"box": box}])
  with pytest.raises(ValueError, match=r"\(img\.jpg\): box\[0\] .* inverted"):
    load_annotations(path)


@pytest.mark.parametrize("box", [[-20, 5, -5, 25], [60, 5, 80, 25], [5, 40, 20, 60],
                                 [5, -30, 20, 0]])
def test_boxes_entirely_outside_the_image_are_refused(tmp_path, box):
  with pytest.raises(ValueError, match=r"box\[0\] .* entirely outside the 50x40 image"):
    load_annotations(_write_one_image(tmp_path, boxes=[box]))
  with pytest.raises(ValueError, match=r"ignore\[0\] .* entirely outside"):
    load_annotations(_write_one_image(tmp_path, boxes=[], ignore=[box]))


def test_boxes_partly_outside_are_clipped_to_the_image(tmp_path):
  path = _write_one_image(tmp_path, boxes=[[-5, -3, 20, 25], [30, 20, 70, 55]],
                          ignore=[[40, -10, 60, 10], [0, 0, 0, 0]])
  _, ann = load_annotations(path)
  np.testing.assert_array_equal(ann.boxes, [[0, 0, 20, 25], [30, 20, 50, 40]])
  # Empty ignore regions (the WIDER files hold a few) are kept: they cover nothing.
  np.testing.assert_array_equal(ann.ignore, [[40, 0, 50, 10], [0, 0, 0, 0]])


def test_non_positive_image_size_is_refused(tmp_path):
  with pytest.raises(ValueError, match=r"\(img\.jpg\): image size 0x40 is not positive"):
    load_annotations(_write_one_image(tmp_path, width=0, boxes=[]))
