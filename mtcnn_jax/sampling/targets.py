"""Regression targets of a crop (box, landmarks) and their mirror images.

Conventions (see :mod:`mtcnn_jax.sampling`): box targets are ``(face - crop)
/ (w, h, w, h)``; landmark targets are x1..x5 then y1..y5,
``(point - crop_top_left - 0.5) / (w, h)``; mirroring maps ``x -> W - x`` and
swaps the left and right points.
"""
from __future__ import annotations

import numpy as np

__all__ = ["FLIP_ORDER", "box_targets", "landmark_targets", "mirror_boxes", "mirror_points",
           "mirror_box_targets"]

FLIP_ORDER = (1, 0, 2, 4, 3)  # left eye <-> right eye, nose, left <-> right mouth corner


def _wh(boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  return boxes[..., 2] - boxes[..., 0], boxes[..., 3] - boxes[..., 1]


def box_targets(crops, faces) -> np.ndarray:
  """Box regression targets: float32 ``[N, 4]`` = ``(face - crop) / (w, h, w, h)``.

  ``crops``, ``faces``: ``[N, 4]`` continuous ``[x1, y1, x2, y2)``; ``w, h``
  are the crop's.
  """
  crops = np.asarray(crops, np.float64)
  w, h = _wh(crops)
  return ((np.asarray(faces, np.float64) - crops) / np.stack([w, h, w, h], -1)).astype(np.float32)


def landmark_targets(crops, points) -> np.ndarray:
  """Landmark targets: float32 ``[N, 10]``, x1..x5 then y1..y5.

  ``x_i = (px_i - crop_x1 - 0.5) / w`` (likewise y with ``h``): the inverse
  of the cascade's placement of O-Net points (see :mod:`mtcnn_jax.sampling`).
  ``crops [N, 4]`` continuous boxes, ``points [N, 5, 2]`` continuous (x, y).
  """
  crops = np.asarray(crops, np.float64)
  points = np.asarray(points, np.float64)
  w, h = _wh(crops)
  xs = (points[..., 0] - crops[:, :1] - 0.5) / w[:, None]
  ys = (points[..., 1] - crops[:, 1:2] - 0.5) / h[:, None]
  return np.concatenate([xs, ys], axis=-1).astype(np.float32)


def mirror_boxes(width: float, boxes) -> np.ndarray:
  """Boxes ``[..., 4]`` of an image mirrored left-right: ``x1' = W - x2, x2' = W - x1``."""
  boxes = np.asarray(boxes)
  return np.stack([width - boxes[..., 2], boxes[..., 1], width - boxes[..., 0], boxes[..., 3]],
                  axis=-1)


def mirror_points(width: float, points) -> np.ndarray:
  """Points ``[..., 5, 2]`` mirrored (``x' = W - x``), left/right points swapped."""
  points = np.asarray(points)[..., FLIP_ORDER, :]
  return np.stack([width - points[..., 0], points[..., 1]], axis=-1)


def mirror_box_targets(targets) -> np.ndarray:
  """Box targets of the mirrored crop: ``(dx1, dy1, dx2, dy2) -> (-dx2, dy1, -dx1, dy2)``."""
  t = np.asarray(targets)
  return np.stack([-t[..., 2], t[..., 1], -t[..., 0], t[..., 3]], axis=-1)
