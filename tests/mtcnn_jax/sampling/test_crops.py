"""Tests of mtcnn_jax.sampling.crops: IoU typing in the paper's bands, random crops.

References are independent loops (``_iou_loop``, ``_type_by_loop``).
"""
from __future__ import annotations

import numpy as np
import pytest

from mtcnn_jax.losses import NEGATIVE, PART, POSITIVE
from mtcnn_jax.sampling.crops import label_crops, random_face_crops
from mtcnn_jax.sampling.settings import CropSettings, IoUBands


def _iou_loop(a, b):
  """Continuous-coordinate IoU of two boxes, written out."""
  w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
  h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
  inter = w * h
  union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
  return inter / union


def _type_by_loop(crop, faces, others, bands):
  best_f = max([_iou_loop(crop, f) for f in faces], default=0.0)
  best_o = max([_iou_loop(crop, o) for o in others], default=0.0)
  if max(best_f, best_o) < bands.negative_max:
    return NEGATIVE
  if best_f >= best_o and best_f >= bands.positive_min:
    return POSITIVE
  if best_f >= best_o and best_f >= bands.part_min:
    return PART
  return -1


def test_label_crops_matches_a_loop_and_the_paper_bands(rng):
  faces = np.array([[50, 40, 90, 95], [200, 100, 230, 140]], float)
  others = np.array([[120, 120, 140, 150]], float)
  bands = IoUBands()
  crops = []
  for face in np.concatenate([faces, others]):
    side = rng.uniform(10, 70, 60)
    x = face[0] + rng.uniform(-30, 30, 60)
    y = face[1] + rng.uniform(-30, 30, 60)
    crops.append(np.stack([x, y, x + side, y + side], 1))
  crops = np.round(np.concatenate(crops))
  labels, index = label_crops(crops, faces, others, bands)
  want = [_type_by_loop(c, faces, others, bands) for c in crops]
  np.testing.assert_array_equal(labels, want)
  assert {NEGATIVE, POSITIVE, PART, -1} <= set(labels.tolist())
  for c, lab, i in zip(crops, labels, index):
    if lab in (POSITIVE, PART):
      assert i == int(np.argmax([_iou_loop(c, f) for f in faces]))
    else:
      assert i == -1


def test_band_edges():
  face = np.array([[0.0, 0.0, 100.0, 100.0]])
  crops = np.array([[0, 0, 100, 65], [0, 0, 100, 64], [0, 0, 100, 40], [0, 0, 100, 39],
                    [0, 0, 100, 30], [0, 0, 100, 29]], float)   # IoU = height / 100
  labels, _ = label_crops(crops, face, np.zeros((0, 4)))
  np.testing.assert_array_equal(labels, [POSITIVE, PART, PART, -1, -1, NEGATIVE])


def test_bad_bands_are_refused():
  with pytest.raises(ValueError, match="IoU bands"):
    IoUBands(negative_max=0.5, part_min=0.4)


def test_random_crops_are_inside_and_typed_as_their_iou_says(rng):
  faces = np.array([[40, 30, 80, 82], [150, 60, 200, 125]], float)
  others = np.array([[100, 10, 110, 22]], float)
  settings = CropSettings(size=12, random_negatives=40, near_negatives=10, jittered=40)
  crops, labels, index = random_face_crops(rng, 240, 160, faces, others, settings)
  assert len(crops) > 40
  assert (crops[:, 0] >= 0).all() and (crops[:, 2] <= 240).all() and (crops[:, 3] <= 160).all()
  np.testing.assert_array_equal(crops[:, 2] - crops[:, 0], crops[:, 3] - crops[:, 1])   # squares
  want = [_type_by_loop(c, faces, others, settings.bands) for c in crops]
  np.testing.assert_array_equal(labels, want)
  assert (labels == POSITIVE).sum() and (labels == PART).sum() and (labels == NEGATIVE).sum()
