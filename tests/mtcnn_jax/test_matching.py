"""Tests of mtcnn_jax.matching: IoU and the greedy matching of one image's detections.

Every expected number is worked out by hand in the comments next to it, or
comes from an obvious loop (``iou_by_loop``).
"""
from __future__ import annotations

import numpy as np

from mtcnn_jax.matching import iou_matrix, match_image
from tests.mtcnn_jax.face_records import FAR, box_at, iou_by_loop


def test_iou_matrix_matches_a_loop(rng):
  xy = rng.uniform(0, 50, (30, 2))
  wh = rng.uniform(0.5, 30, (30, 2))
  boxes = np.concatenate([xy, xy + wh], axis=1)
  a, b = boxes[:12], boxes[12:]
  np.testing.assert_allclose(iou_matrix(a, b), iou_by_loop(a, b), rtol=1e-12, atol=1e-15)
  np.testing.assert_allclose(np.diag(iou_matrix(a, a)), 1.0)


def test_iou_matrix_by_hand():
  # [0,0,2,2] vs [1,1,3,3]: intersection 1, union 4 + 4 - 1 = 7 (no +1 anywhere).
  # vs [2,0,4,2]: touching edges, IoU 0. A zero-area box has IoU 0, not NaN.
  got = iou_matrix([[0, 0, 2, 2]], [[1, 1, 3, 3], [2, 0, 4, 2], [0, 0, 2, 2], [1, 1, 1, 1]])
  np.testing.assert_allclose(got, [[1 / 7, 0.0, 1.0, 0.0]])
  assert iou_matrix(np.zeros((0, 4)), [[0, 0, 1, 1]]).shape == (0, 1)


def test_duplicate_detection_is_one_tp_and_one_fp():
  gt = [box_at(0)]
  labels = match_image([box_at(0), [0, 0, 10, 11]], [0.6, 0.9], gt, [])
  # The 0.9 box (IoU 100/110) comes first and takes the GT; the exact copy is a FP.
  np.testing.assert_array_equal(labels, [0, 1])


def test_greedy_goes_by_score_not_by_overlap():
  # GT1 = [0,0,10,10], GT2 = [5,0,15,10].
  # High (0.9) [3,0,13,10]: IoU with GT1 = 70/130 = 0.54, with GT2 = 80/120 = 0.67 -> takes GT2.
  # Mid (0.5) [5,0,15,10] is GT2 exactly (IoU 1) but GT2 is taken; IoU with GT1 = 50/150 -> FP.
  # Low (0.3) [1,0,11,10]: GT1 90/110 = 0.82 is still free -> TP.
  gt = [[0, 0, 10, 10], [5, 0, 15, 10]]
  dets = [[5, 0, 15, 10], [1, 0, 11, 10], [3, 0, 13, 10]]
  labels = match_image(dets, [0.5, 0.3, 0.9], gt, [])
  np.testing.assert_array_equal(labels, [0, 1, 1])  # in the input order


def test_ignore_boxes_absorb_unmatched_detections_only():
  gt = [box_at(0)]
  ignore = [box_at(1), [40, 0, 60, 20]]
  dets = [box_at(0), box_at(1), [21, 0, 31, 10],  # TP; on ignore (IoU 1); on ignore (IoU 90/110)
          [40, 0, 45, 5],                     # inside the big ignore box: IoU 25/400 -> FP
          FAR]                                # FP
  labels = match_image(dets, [0.9, 0.8, 0.7, 0.6, 0.5], gt, ignore)
  np.testing.assert_array_equal(labels, [1, -1, -1, 0, 0])
  # A GT match wins over an ignore overlap; a duplicate lying on an ignore box is ignored.
  both = match_image([box_at(0), box_at(0)], [0.9, 0.8], gt, [box_at(0)])
  np.testing.assert_array_equal(both, [1, -1])


def test_match_image_threshold_and_empty_inputs():
  # [0,0,10,10] vs [0,0,10,20]: IoU 100/200 = 0.5 exactly: a match at 0.5 ("IoU >= 0.5").
  assert match_image([[0, 0, 10, 20]], [1.0], [[0, 0, 10, 10]], []).tolist() == [1]
  assert match_image([[0, 0, 10, 20]], [1.0], [[0, 0, 10, 10]], [],
                     iou_threshold=0.51).tolist() == [0]
  assert match_image(np.zeros((0, 4)), [], [box_at(0)], []).shape == (0,)
  assert match_image([box_at(0)], [1.0], np.zeros((0, 4)), []).tolist() == [0]
