"""Face selection, crops with a margin (facenet-pytorch's semantics), aligned crops,
ipazc-style dicts, and the typed public API. No cascade runs here: the faces are
the portrait's hand-checked box and landmarks, or made up."""
from __future__ import annotations

import inspect
import json
import pathlib
import typing

import cv2
import numpy as np
import pytest

import mtcnn_jax
from mtcnn_jax import draw, faces as faces_lib
from mtcnn_jax.cascade import FaceDetections
from mtcnn_jax.demo_faces import HOPPER_BOX, sample_faces
from tests.mtcnn_jax.helpers import HOPPER_POINTS

REPO = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def hopper() -> np.ndarray:
  return sample_faces()[0][1]          # uint8 [600, 512, 3]


def _faces(boxes, scores=None, landmarks=None) -> FaceDetections:
  boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
  n = len(boxes)
  scores = np.linspace(0.99, 0.9, n, dtype=np.float32) if scores is None else scores
  if landmarks is None:
    centre = (boxes[:, :2] + boxes[:, 2:]) / 2
    landmarks = np.repeat(centre[:, None], 5, axis=1)
  return FaceDetections(boxes, np.asarray(scores, np.float32),
                        np.asarray(landmarks, np.float32).reshape(-1, 5, 2))


def _coded_image(height=120, width=160) -> np.ndarray:
  """Pixel (y, x) holds (y, x, 0) in its channels: crops show where they came from."""
  yy, xx = np.mgrid[:height, :width]
  return np.stack([yy, xx, np.zeros_like(xx)], -1).astype(np.uint8)


# ---------------------------------------------------------------------------- select_faces

def test_select_largest_orders_by_area_keeping_score_order_on_ties():
  faces = _faces([[0, 0, 10, 10], [0, 0, 30, 30], [5, 5, 15, 15], [0, 0, 30, 30]])
  by_size = faces_lib.select_faces(faces, select_largest=True)
  np.testing.assert_array_equal(by_size.scores, faces.scores[[1, 3, 0, 2]])
  np.testing.assert_array_equal(by_size.landmarks, faces.landmarks[[1, 3, 0, 2]])
  one = faces_lib.select_faces(faces, select_largest=True, keep_all=False)
  assert len(one) == 1 and one.scores[0] == faces.scores[1]
  best = faces_lib.select_faces(faces, keep_all=False)
  assert len(best) == 1 and best.scores[0] == faces.scores[0]
  assert faces_lib.select_faces(faces) is faces            # the defaults change nothing


def test_select_on_no_faces_is_empty():
  empty = _faces(np.zeros((0, 4)))
  got = faces_lib.select_faces(empty, select_largest=True, keep_all=False)
  assert len(got) == 0 and got.boxes.shape == (0, 4) and got.landmarks.shape == (0, 5, 2)


# ---------------------------------------------------------------------------- extract_faces

def _facenet_bounds(box, image_size, margin, width, height):
  """facenet-pytorch's ``extract_face`` arithmetic, transcribed (models/utils/detect_face.py)."""
  margin = [margin * (box[2] - box[0]) / (image_size - margin),
            margin * (box[3] - box[1]) / (image_size - margin)]
  return [int(max(box[0] - margin[0] / 2, 0)), int(max(box[1] - margin[1] / 2, 0)),
          int(min(box[2] + margin[0] / 2, width)), int(min(box[3] + margin[1] / 2, height))]


def test_crop_bounds_follow_facenet_pytorch(rng):
  for _ in range(200):
    x1, y1 = rng.uniform(-20, 140, 2)
    box = np.array([x1, y1, x1 + rng.uniform(8, 90), y1 + rng.uniform(8, 90)])
    size, margin = int(rng.integers(16, 200)), float(rng.uniform(0, 40))
    want = _facenet_bounds(box, size, margin, 160, 120)
    if want[2] > want[0] and want[3] > want[1]:      # facenet-pytorch fails on empty crops
      assert list(faces_lib._crop_bounds(box, size, margin, 160, 120)) == want


def test_margin_is_in_pixels_of_the_output():
  # A 48-px box with margin 16 at size 64: the crop is 64 image pixels, no resampling,
  # and the box sits 8 px in from each side.
  image = _coded_image()
  crop = mtcnn_jax.extract_faces(image, _faces([20, 30, 68, 78]), image_size=64, margin=16)[0]
  np.testing.assert_array_equal(crop, image[22:86, 12:76])
  np.testing.assert_array_equal(crop[8:56, 8:56], image[30:78, 20:68])


def test_crops_are_clipped_to_the_image_and_resized_with_area_interpolation():
  image = _coded_image()
  box = np.array([-10.0, 100.0, 30.0, 140.0])             # off the left and bottom edges
  crop = mtcnn_jax.extract_faces(image, box, image_size=32)
  expected = cv2.resize(image[100:120, 0:30], (32, 32), interpolation=cv2.INTER_AREA)
  assert crop.shape == (1, 32, 32, 3) and crop.dtype == np.uint8
  np.testing.assert_array_equal(crop[0], expected)


def test_standardized_crops_are_facenets_fixed_image_standardization(hopper):
  faces = _faces(HOPPER_BOX)
  crops = mtcnn_jax.extract_faces(hopper, faces, image_size=160, margin=20)
  standard = mtcnn_jax.extract_faces(hopper, faces, image_size=160, margin=20, standardize=True)
  assert crops.shape == (1, 160, 160, 3) and standard.dtype == np.float32
  np.testing.assert_array_equal(standard, (crops.astype(np.float32) - 127.5) / 128.0)
  assert -1.0 < standard.min() and standard.max() < 1.0
  # The float image, and the file, crop the same face.
  np.testing.assert_array_equal(mtcnn_jax.extract_faces(hopper / 255.0, faces, margin=20), crops)


def test_extract_faces_of_no_faces_and_bad_settings():
  image = _coded_image()
  assert mtcnn_jax.extract_faces(image, _faces(np.zeros((0, 4))), image_size=40).shape == (
      0, 40, 40, 3)
  for settings, field in [({"image_size": 0}, "image_size"), ({"image_size": 32.5}, "image_size"),
                          ({"margin": 160}, "margin"), ({"margin": -1}, "margin"),
                          ({"margin": float("nan")}, "margin")]:
    with pytest.raises(ValueError, match=field):
      mtcnn_jax.extract_faces(image, _faces([0, 0, 10, 10]), **settings)
  with pytest.raises(ValueError, match="boxes"):
    mtcnn_jax.extract_faces(image, np.zeros((2, 3)))


# ---------------------------------------------------------------------------- align_faces

def test_align_faces_is_exported_once_and_takes_detections(hopper):
  assert mtcnn_jax.align_faces is draw.align_faces is faces_lib.align_faces
  assert draw.similarity_transform is faces_lib.similarity_transform
  faces = _faces(HOPPER_BOX, landmarks=HOPPER_POINTS[None])
  crops = mtcnn_jax.align_faces(hopper, faces, size=160)
  assert crops.shape == (1, 160, 160, 3) and crops.dtype == np.uint8
  np.testing.assert_array_equal(crops, mtcnn_jax.align_faces(hopper, HOPPER_POINTS[None], 160))
  grey = mtcnn_jax.align_faces(hopper.mean(-1).astype(np.uint8), faces)
  assert grey.shape == (1, 112, 112, 3)
  np.testing.assert_array_equal(grey[..., 0], grey[..., 2])


# ---------------------------------------------------------------------------- to_ipazc

def test_ipazc_dicts_round_like_ipazc_and_name_the_keypoints():
  landmarks = np.array([[[10.4, 20.6], [30.5, 20.5], [21.5, 30.2], [12.0, 40.0], [28.0, 40.9]]])
  faces = _faces([[5.6, 7.4, 40.2, 50.7]], scores=[0.987654], landmarks=landmarks)
  [face] = mtcnn_jax.to_ipazc(faces)
  assert face == {"box": [6, 7, 35, 43], "confidence": pytest.approx(0.987654),
                  "keypoints": {"left_eye": (10, 21), "right_eye": (30, 20), "nose": (22, 30),
                                "mouth_left": (12, 40), "mouth_right": (28, 41)}}
  assert all(type(v) is int for v in face["box"]) and type(face["confidence"]) is float
  json.dumps(face)


def test_ipazc_boxes_are_clipped_at_zero_and_to_the_image_when_its_shape_is_given():
  faces = _faces([[-4.2, -1.0, 30.0, 20.0], [90.0, 50.0, 130.4, 75.0]])
  unclipped_right = mtcnn_jax.to_ipazc(faces)
  assert unclipped_right[0]["box"] == [0, 0, 30, 20]
  assert unclipped_right[1]["box"] == [90, 50, 40, 25]
  clipped = mtcnn_jax.to_ipazc(faces, image_shape=(70, 120, 3))
  assert clipped[1]["box"] == [90, 50, 30, 20]
  assert mtcnn_jax.to_ipazc(_faces(np.zeros((0, 4)))) == []


def test_ipazc_dicts_of_the_portrait(hopper):
  faces = _faces(HOPPER_BOX, scores=[0.999], landmarks=HOPPER_POINTS[None])
  [face] = mtcnn_jax.to_ipazc(faces, hopper.shape)
  assert face["box"] == [178, 128, 170, 202]
  x, y, w, h = face["box"]
  for px, py in face["keypoints"].values():
    assert x <= px < x + w and y <= py < y + h
  assert face["keypoints"]["left_eye"][0] < face["keypoints"]["right_eye"][0]


# ---------------------------------------------------------------------------- typing

def test_every_public_function_is_fully_annotated_and_the_package_is_typed():
  for name in mtcnn_jax.__all__:
    obj = getattr(mtcnn_jax, name)
    if inspect.isclass(obj):
      continue
    sig = inspect.signature(obj)
    missing = [p.name for p in sig.parameters.values()
               if p.annotation is inspect.Parameter.empty]
    assert not missing, f"mtcnn_jax.{name}: parameters without a type hint: {missing}"
    assert sig.return_annotation is not inspect.Signature.empty, f"mtcnn_jax.{name}: no return type"
    typing.get_type_hints(obj)             # every name in the hints resolves
  for package in ("mtcnn_jax", "espcn_mtcnn_common"):
    assert (REPO / package / "py.typed").is_file()
  assert '"py.typed"' in (REPO / "pyproject.toml").read_text()
