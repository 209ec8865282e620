"""How closely two detectors agree: one-to-one box pairs by IoU, their offsets and landmarks.

Host-side, pure NumPy; used for parity with reference detections (our
cascade against facenet-pytorch's or ipazc's on the same images). Scores
play no part.
"""
from __future__ import annotations

import math
from typing import Any, Mapping

import numpy as np

from mtcnn_jax.detection_files import detection_record
from mtcnn_jax.matching import iou_matrix

__all__ = ["agreement"]


def _pair_by_iou(iou: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray]:
  """One-to-one greedy pairing, highest IoU first (ties: lower row, then column)."""
  rows, cols = np.nonzero(iou >= threshold)
  order = np.lexsort((cols, rows, -iou[rows, cols]))
  used_r, used_c, pr, pc = set(), set(), [], []
  for r, c in zip(rows[order], cols[order]):
    if r not in used_r and c not in used_c:
      used_r.add(r)
      used_c.add(c)
      pr.append(r)
      pc.append(c)
  return np.asarray(pr, np.int64), np.asarray(pc, np.int64)


def _pair_differences(dets_a: Mapping[str, Any], dets_b: Mapping[str, Any], shared: list[str],
                      iou: float) -> dict:
  """Pairs on the shared images: box counts, pair IoUs and B - A differences.

  Returns:
    ``{"num_a", "num_b", "pair_iou": [P], "box_diff": [P, 4], "landmark_diff":
    [L, 5, 2]}`` (landmarks of the pairs where both carry them).
  """
  num_a = num_b = 0
  pair_iou, box_diff, lm_diff = [], [], []
  for file in shared:
    a = detection_record(dets_a[file], f"A detections for {file!r}")
    b = detection_record(dets_b[file], f"B detections for {file!r}")
    num_a += len(a["boxes"])
    num_b += len(b["boxes"])
    m = iou_matrix(a["boxes"], b["boxes"])
    ia, ib = _pair_by_iou(m, iou)
    pair_iou.append(m[ia, ib])
    box_diff.append(b["boxes"][ib] - a["boxes"][ia])
    if a["landmarks"] is not None and b["landmarks"] is not None:
      lm_diff.append(b["landmarks"][ib] - a["landmarks"][ia])
  return {"num_a": num_a, "num_b": num_b, "pair_iou": np.concatenate(pair_iou),
          "box_diff": np.concatenate(box_diff),
          "landmark_diff": np.concatenate(lm_diff) if lm_diff else np.zeros((0, 5, 2))}


def agreement(dets_a: Mapping[str, Any], dets_b: Mapping[str, Any],
              iou: float = 0.5) -> dict:
  """How closely two detectors agree on the images both cover.

  Per image, boxes of A and B are paired one-to-one, greedily by descending
  IoU, while IoU >= ``iou``. Scores play no part.

  Returns:
    A dict with
      num_images (images in both), num_images_only_a, num_images_only_b,
      num_a, num_b, num_pairs (boxes and pairs on the shared images),
      a_matched, b_matched: fraction of A's (B's) boxes in a pair,
      pair_iou_median,
      box_offset_median: ``[4]`` median of B - A per coordinate (x1, y1, x2, y2),
      box_distance_median_px: median over pairs of the mean |B - A| of the
        four coordinates,
      landmark_distance_median_px, landmark_distance_mean_px: over pairs where
        both carry landmarks, of the mean Euclidean point distance,
      landmark_offset_median: ``[2]`` median B - A (dx, dy) over all points,
      num_landmark_pairs. Landmark entries are None when no pair has both.
  """
  shared = [f for f in dets_a if f in dets_b]
  if not shared:
    raise ValueError("agreement: the two detection sets share no image")
  pairs = _pair_differences(dets_a, dets_b, shared, iou)
  num_a, num_b = pairs["num_a"], pairs["num_b"]
  pair_iou, box_diff, lm = pairs["pair_iou"], pairs["box_diff"], pairs["landmark_diff"]
  num_pairs = len(pair_iou)
  lm_dist = np.linalg.norm(lm, axis=-1).mean(axis=-1)
  has_pairs, has_lm = num_pairs > 0, len(lm) > 0
  return {
      "iou": iou,
      "num_images": len(shared),
      "num_images_only_a": len(dets_a) - len(shared),
      "num_images_only_b": sum(1 for f in dets_b if f not in dets_a),
      "num_a": num_a,
      "num_b": num_b,
      "num_pairs": num_pairs,
      "a_matched": num_pairs / num_a if num_a else math.nan,
      "b_matched": num_pairs / num_b if num_b else math.nan,
      "pair_iou_median": float(np.median(pair_iou)) if has_pairs else math.nan,
      "box_offset_median": np.median(box_diff, axis=0) if has_pairs else np.full(4, np.nan),
      "box_distance_median_px": (float(np.median(np.abs(box_diff).mean(axis=1)))
                                 if has_pairs else math.nan),
      "landmark_distance_median_px": float(np.median(lm_dist)) if has_lm else None,
      "landmark_distance_mean_px": float(np.mean(lm_dist)) if has_lm else None,
      "landmark_offset_median": np.median(lm.reshape(-1, 2), axis=0) if has_lm else None,
      "num_landmark_pairs": len(lm),
  }
