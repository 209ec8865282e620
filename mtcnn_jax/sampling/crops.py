"""Square crops of one image: random draws around and away from the faces, typed by IoU.

A crop's type comes from its IoU with the usable faces and with the regions
that must not be negatives (:func:`label_crops`, bands in
:class:`~mtcnn_jax.sampling.settings.IoUBands`). Crops are integer squares
``[x1, y1, x2, y2)`` in image pixels.
"""
from __future__ import annotations

import numpy as np

from mtcnn_jax.losses import NEGATIVE, PART, POSITIVE
from mtcnn_jax.matching import iou_matrix
from mtcnn_jax.sampling.settings import CropSettings, IoUBands

__all__ = ["label_crops", "random_face_crops", "random_landmark_crops", "points_inside"]


def label_crops(crops, faces, others, bands: IoUBands = IoUBands()) -> tuple[np.ndarray, np.ndarray]:
  """Type crops by IoU: ``(labels int8 [N], face index int64 [N])``.

  A crop is negative when its IoU with every face *and* every other region
  is below ``negative_max``; positive (part) when its best IoU is with a
  usable face and at least ``positive_min`` (``part_min``); otherwise it is
  dropped (label -1). The face index (-1 for negatives and drops) says
  which face a positive or part crop's box target refers to.

  Args:
    crops: ``[N, 4]`` continuous boxes.
    faces: ``[F, 4]`` usable faces (they give positives and parts).
    others: ``[M, 4]`` regions that must not become negatives and give no
      positives (WIDER ignore boxes, faces too small to learn from).
  """
  crops = np.asarray(crops, np.float64).reshape(-1, 4)
  n = len(crops)
  iou_f = iou_matrix(crops, np.asarray(faces, np.float64).reshape(-1, 4))
  iou_o = iou_matrix(crops, np.asarray(others, np.float64).reshape(-1, 4))
  best_f = iou_f.max(axis=1) if iou_f.shape[1] else np.zeros(n)
  best_o = iou_o.max(axis=1) if iou_o.shape[1] else np.zeros(n)
  index = iou_f.argmax(axis=1) if iou_f.shape[1] else np.full(n, -1)
  labels = np.full(n, -1, np.int8)
  labels[np.maximum(best_f, best_o) < bands.negative_max] = NEGATIVE
  on_face = best_f >= best_o
  labels[on_face & (best_f >= bands.part_min)] = PART
  labels[on_face & (best_f >= bands.positive_min)] = POSITIVE
  index = np.where((labels == POSITIVE) | (labels == PART), index, -1)
  return labels, index


def _log_uniform(rng: np.random.Generator, low: float, high, n: int) -> np.ndarray:
  high = np.maximum(high, low)
  return np.exp(rng.uniform(np.log(low), np.log(high + 1e-9), n))


def _inside(crops: np.ndarray, width: int, height: int) -> np.ndarray:
  return ((crops[:, 0] >= 0) & (crops[:, 1] >= 0) & (crops[:, 2] <= width)
          & (crops[:, 3] <= height) & (crops[:, 2] > crops[:, 0]))


def _squares(x1, y1, side) -> np.ndarray:
  """Integer squares ``[N, 4]`` with top-left ``(floor x1, floor y1)`` and side ``round(side)``."""
  x1, y1 = np.floor(x1), np.floor(y1)
  side = np.maximum(np.round(side), 1)
  return np.stack([x1, y1, x1 + side, y1 + side], axis=-1).astype(np.int64)


def _jitter(rng: np.random.Generator, face: np.ndarray, n: int) -> np.ndarray:
  """Squares around a face, half of them wide and half narrow.

  Wide (the common MTCNN recipe): side in [0.8 min(w, h), 1.25 max(w, h)],
  centre moved up to 0.2 w / 0.2 h; mostly part faces on WIDER's tall boxes.
  Narrow: side in [0.85, 1.15] sqrt(w h), centre moved up to 0.1 w / 0.1 h;
  mostly positives.
  """
  w, h = face[2] - face[0], face[3] - face[1]
  wide = np.arange(n) % 2 == 0
  side = np.where(wide, rng.uniform(0.8 * min(w, h), 1.25 * max(w, h), n),
                  np.sqrt(w * h) * rng.uniform(0.85, 1.15, n))
  shift = np.where(wide, 0.2, 0.1)
  cx = face[0] + w / 2 + rng.uniform(-1, 1, n) * shift * w
  cy = face[1] + h / 2 + rng.uniform(-1, 1, n) * shift * h
  return _squares(cx - side / 2, cy - side / 2, side)


def random_face_crops(rng: np.random.Generator, width: int, height: int, faces, others,
                      settings: CropSettings) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """Random square crops of one image, typed: ``(crops int [N, 4], labels int8 [N], face index [N])``.

  Draws ``random_negatives`` squares anywhere (side log-uniform between
  ``min_crop_side`` and half the shorter image side), and per usable face
  ``near_negatives`` squares overlapping it and ``jittered`` squares around
  it; keeps those inside the image that :func:`label_crops` types (random
  squares only when negative). ``faces`` are the usable faces, ``others``
  the regions that must not be negatives.
  """
  faces = np.asarray(faces, np.float64).reshape(-1, 4)
  low = settings.min_crop_side
  n = settings.random_negatives
  side = _log_uniform(rng, low, min(width, height) / 2, n)
  anywhere = _squares(rng.uniform(0, 1, n) * (width - side), rng.uniform(0, 1, n) * (height - side),
                      side)
  near, jittered = [], []
  for face in faces:
    w, h = face[2] - face[0], face[3] - face[1]
    m = settings.near_negatives
    side = _log_uniform(rng, low, min(3 * max(w, h), min(width, height) / 2), m)
    near.append(_squares(face[0] + rng.uniform(-1, 0, m) * side + rng.uniform(0, 1, m) * w,
                         face[1] + rng.uniform(-1, 0, m) * side + rng.uniform(0, 1, m) * h, side))
    jittered.append(_jitter(rng, face, settings.jittered))
  near = np.concatenate(near) if near else np.zeros((0, 4), np.int64)
  jittered = np.concatenate(jittered) if jittered else np.zeros((0, 4), np.int64)
  crops = np.concatenate([anywhere, near, jittered]).reshape(-1, 4)
  only_negative = np.concatenate([np.ones(len(anywhere), bool), np.zeros(len(near) + len(jittered),
                                                                          bool)])
  keep = _inside(crops, width, height)
  crops, only_negative = crops[keep], only_negative[keep]
  labels, index = label_crops(crops, faces, others, settings.bands)
  keep = (labels >= 0) & (~only_negative | (labels == NEGATIVE))
  return crops[keep], labels[keep], index[keep]


def random_landmark_crops(rng: np.random.Generator, width: int, height: int, face, points,
                          settings: CropSettings) -> np.ndarray:
  """``landmark_crops`` squares jittered around a landmark face: int ``[N, 4]``.

  Kept: inside the image, IoU with ``face`` >= ``landmark_min_iou`` and all
  five ``points [5, 2]`` inside the crop. The face box itself (squared) is
  always offered first.
  """
  if settings.landmark_crops <= 0:
    return np.zeros((0, 4), np.int64)
  face = np.asarray(face, np.float64)
  w, h = face[2] - face[0], face[3] - face[1]
  side = max(w, h)
  crops = np.concatenate([
      _squares(np.array([face[0] + w / 2 - side / 2]), np.array([face[1] + h / 2 - side / 2]),
               np.array([side])),
      _jitter(rng, face, settings.landmark_crops)])
  keep = _inside(crops, width, height)
  keep &= iou_matrix(crops.astype(np.float64), face[None])[:, 0] >= \
      settings.landmark_min_iou
  keep &= points_inside(crops, points)
  return crops[keep]


def points_inside(crops: np.ndarray, points) -> np.ndarray:
  """bool ``[N]``: all five ``points [5, 2]`` lie inside crop ``crops[i]`` (int ``[N, 4]``)."""
  p = np.asarray(points, np.float64)
  return np.all((p[None, :, 0] >= crops[:, None, 0]) & (p[None, :, 0] < crops[:, None, 2])
                & (p[None, :, 1] >= crops[:, None, 1]) & (p[None, :, 1] < crops[:, None, 3]),
                axis=1)
