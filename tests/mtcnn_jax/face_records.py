"""Hand-made ground truth and detection records for the scoring tests.

Boxes are continuous ``[x1, y1, x2, y2]`` pixels; :func:`box_at` lays out
disjoint 10x10 boxes along x, :data:`FAR` overlaps none of the first four.
"""
from __future__ import annotations

import numpy as np

from mtcnn_jax.annotations import ImageAnnotation

FAR = [80.0, 80.0, 90.0, 90.0]  # overlaps no box_at(i) for i < 4


def make_annotation(file, boxes, ignore=(), landmarks=None, **kw) -> ImageAnnotation:
  """A 100x100 image's ground truth: ``boxes [N, 4]``, ``ignore [M, 4]``, optional landmarks."""
  return ImageAnnotation(
      file=file, width=100, height=100,
      boxes=np.asarray(boxes, np.float64).reshape(-1, 4),
      ignore=np.asarray(ignore, np.float64).reshape(-1, 4),
      landmarks=None if landmarks is None else np.asarray(landmarks, np.float64), **kw)


def make_detection(boxes, scores, landmarks=None, ms=None) -> dict:
  """A detection record: float64 ``boxes [K, 4]``, ``scores [K]``, landmarks, ``ms``."""
  return {"boxes": np.asarray(boxes, np.float64).reshape(-1, 4),
          "scores": np.asarray(scores, np.float64),
          "landmarks": None if landmarks is None else np.asarray(landmarks, np.float64),
          "ms": ms}


def box_at(i):
  """Disjoint 10x10 boxes along x: box i is [20i, 0, 20i + 10, 10]."""
  return [20.0 * i, 0.0, 20.0 * i + 10, 10.0]


def iou_by_loop(a, b):
  """Continuous-coordinate IoU of every pair, written out as a loop."""
  out = np.zeros((len(a), len(b)))
  for i, p in enumerate(a):
    for j, q in enumerate(b):
      iw = max(0.0, min(p[2], q[2]) - max(p[0], q[0]))
      ih = max(0.0, min(p[3], q[3]) - max(p[1], q[1]))
      union = (p[2] - p[0]) * (p[3] - p[1]) + (q[2] - q[0]) * (q[3] - q[1]) - iw * ih
      out[i, j] = iw * ih / union if union > 0 else 0.0
  return out
