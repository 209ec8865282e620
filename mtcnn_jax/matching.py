"""Which detection matches which face: IoU and the greedy matching of the scoring protocol.

Host-side, pure NumPy. Boxes are ``[x1, y1, x2, y2]`` float pixels in
continuous coordinates (``x2 = x1 + width``); IoU has no ``+1``.

Matching, per image (the protocol ``wider_val_dev/reference/README.md``
states): detections in descending score (ties keep file order); each takes
the best still-unmatched ground-truth (GT) face with IoU >= ``iou_threshold``
(0.5) and is a true positive (TP). A detection that takes no GT but has
IoU >= ``iou_threshold`` with an ``ignore`` box is neither TP nor false
positive (FP); any number of detections may land on one ignore box.
Everything else is a FP, duplicates on an already-taken GT included. The
ignore test is IoU, as the README says, not intersection-over-detection-area
(which would also excuse small detections inside a large ignore box).
"""
from __future__ import annotations

import numpy as np

from mtcnn_jax.input_checks import checked_array

__all__ = ["iou_matrix", "score_order", "greedy_assign", "match_image"]


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
  """Intersection over union of every pair, continuous coordinates (no ``+1``).

  Args:
    a: ``[N, 4]`` xyxy boxes. b: ``[M, 4]`` xyxy boxes.

  Returns:
    float64 ``[N, M]`` in [0, 1]. Boxes with no area have IoU 0 with everything.
  """
  a = checked_array(a, (4,), "iou_matrix", "a")
  b = checked_array(b, (4,), "iou_matrix", "b")
  iw = np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0])
  ih = np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1])
  inter = np.clip(iw, 0, None) * np.clip(ih, 0, None)
  area_a = np.clip(a[:, 2] - a[:, 0], 0, None) * np.clip(a[:, 3] - a[:, 1], 0, None)
  area_b = np.clip(b[:, 2] - b[:, 0], 0, None) * np.clip(b[:, 3] - b[:, 1], 0, None)
  union = area_a[:, None] + area_b[None, :] - inter
  return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def score_order(scores: np.ndarray) -> np.ndarray:
  """int64 indices of ``scores [K]`` in descending order; ties keep input order."""
  return np.argsort(-np.asarray(scores, np.float64), kind="stable")


def greedy_assign(order: np.ndarray, iou: np.ndarray, threshold: float) -> np.ndarray:
  """Rows in ``order`` each take the free column of highest IoU >= threshold.

  Args:
    order: int ``[rows]``, the order in which rows choose.
    iou: float ``[rows, columns]``.
    threshold: the least IoU a row may take.

  Returns:
    int64 ``[rows]``: the column taken, or -1.
  """
  taken = np.zeros(iou.shape[1], bool)
  assigned = np.full(iou.shape[0], -1, np.int64)
  if iou.shape[1] == 0:
    return assigned
  for k in order:
    row = np.where(taken, -1.0, iou[k])
    j = int(np.argmax(row))
    if row[j] >= threshold:
      assigned[k] = j
      taken[j] = True
  return assigned


def match_image(det_boxes: np.ndarray, det_scores: np.ndarray, gt_boxes: np.ndarray,
                ignore_boxes: np.ndarray, iou_threshold: float = 0.5) -> np.ndarray:
  """Labels one image's detections: 1 TP, 0 FP, -1 ignored.

  Greedy in descending score (ties in input order): each detection takes the
  still-unmatched GT box of highest IoU >= ``iou_threshold`` (TP). One that
  takes none but has IoU >= ``iou_threshold`` with some ignore box is ignored
  (-1); ignore boxes may absorb any number of detections. The rest are FP.

  Args:
    det_boxes: ``[K, 4]``; det_scores: ``[K]``; gt_boxes: ``[N, 4]``;
    ignore_boxes: ``[M, 4]``, all xyxy.

  Returns:
    int64 ``[K]`` labels in the input order of the detections.
  """
  det_boxes = checked_array(det_boxes, (4,), "match_image", "det_boxes")
  det_scores = checked_array(det_scores, (), "match_image", "det_scores")
  if len(det_scores) != len(det_boxes):
    raise ValueError(f"match_image: {len(det_scores)} scores for {len(det_boxes)} boxes")
  assigned = greedy_assign(score_order(det_scores), iou_matrix(det_boxes, gt_boxes),
                           iou_threshold)
  labels = np.where(assigned >= 0, 1, 0).astype(np.int64)
  ignore_boxes = checked_array(ignore_boxes, (4,), "match_image", "ignore_boxes")
  if len(ignore_boxes) and len(det_boxes):
    on_ignore = (iou_matrix(det_boxes, ignore_boxes) >= iou_threshold).any(axis=1)
    labels[(assigned < 0) & on_ignore] = -1
  return labels
