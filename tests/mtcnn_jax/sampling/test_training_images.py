"""Tests of mtcnn_jax.sampling.training_images: clear errors on bad annotation files."""
from __future__ import annotations

import json

import pytest

from mtcnn_jax.sampling.training_images import load_face_annotations, load_landmark_annotations


def test_bad_annotations_are_clear_errors(tmp_path, face_set):
  empty = tmp_path / "empty.json"
  empty.write_text(json.dumps({"images": []}))
  with pytest.raises(ValueError, match="lists no images"):
    load_face_annotations(empty)
  no_faces = tmp_path / "nofaces.json"
  no_faces.write_text(json.dumps({"images": [{"file": "a.jpg", "width": 10, "height": 10,
                                              "boxes": [[1, 1, 5, 5]], "ignore": []}]}))
  with pytest.raises(ValueError, match="no face of at least 20"):
    load_face_annotations(no_faces)
  missing = tmp_path / "missing.json"
  missing.write_text(json.dumps({"images": [{"file": "nowhere.jpg", "width": 100, "height": 100,
                                             "boxes": [[1, 1, 50, 50]], "ignore": []}]}))
  with pytest.raises(FileNotFoundError, match="1 of 1 images are missing"):
    load_face_annotations(missing)
  with pytest.raises(FileNotFoundError):
    load_face_annotations(tmp_path / "absent.json")
  (tmp_path / "broken.json").write_text("{not json")
  with pytest.raises(ValueError, match="not valid JSON"):
    load_face_annotations(tmp_path / "broken.json")
  with pytest.raises(ValueError, match="no image of split 'test' has faces with landmarks"):
    load_landmark_annotations(face_set, split="test")
