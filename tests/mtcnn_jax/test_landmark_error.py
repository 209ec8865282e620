"""Tests of mtcnn_jax.landmark_error: NME by hand, matching before scoring."""
from __future__ import annotations

import math

import numpy as np
import pytest

from mtcnn_jax.landmark_error import evaluate_landmarks, landmark_error
from tests.mtcnn_jax.face_records import FAR, box_at, make_annotation, make_detection


def test_landmark_error_by_hand():
  gt = np.array([[0, 0], [10, 0], [5, 5], [2, 8], [8, 8]], np.float64)  # eyes 10 px apart
  shifted = gt + [3, 4]                  # every point 5 px off -> 5 / 10
  one_off = gt.copy()
  one_off[2] += [0, 10]                  # one point 10 px off -> mean 2 -> 2 / 10
  np.testing.assert_allclose(landmark_error(np.stack([shifted, one_off, gt]),
                                            np.stack([gt, gt, gt])), [0.5, 0.2, 0.0])
  assert math.isnan(landmark_error(gt[None], np.zeros((1, 5, 2)))[0])


def test_evaluate_landmarks_matches_then_scores():
  gt_lm = np.array([[[0, 0], [10, 0], [5, 5], [2, 8], [8, 8]],
                    [[50, 0], [60, 0], [55, 5], [52, 8], [58, 8]]], np.float64)
  anns = [make_annotation("a", [[0, 0, 10, 10], [50, 0, 60, 10]], landmarks=gt_lm),
          make_annotation("b", [[0, 0, 10, 10]], landmarks=gt_lm[:1]),
          make_annotation("no_landmarks", [[0, 0, 10, 10]])]
  # Image a: face 1 found, landmarks 5 px off (NME 0.5); a FP elsewhere; face 2 missed.
  # Image b: its face found exactly (NME 0). Image "no_landmarks" does not count.
  dets = {"a": make_detection([[0, 0, 10, 10], FAR], [0.9, 0.95],
                              landmarks=np.stack([gt_lm[0] + [3, 4], gt_lm[1]])),
          "b": make_detection([[0, 0, 10, 10]], [0.9], landmarks=gt_lm[:1])}
  r = evaluate_landmarks(anns, dets)
  np.testing.assert_allclose(r["nme"], [0.5, 0.0])
  assert r["files"] == ["a", "b"]
  assert (r["num_faces"], r["num_matched"], r["detected_fraction"]) == (3, 2, 2 / 3)
  assert r["mean_nme"] == 0.25 and r["failure_rate"] == 0.5
  with pytest.raises(ValueError, match="carry no landmarks"):
    evaluate_landmarks(anns, {"a": make_detection([box_at(0)], [1.0])})
