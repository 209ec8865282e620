"""Training samples for MTCNN's three nets: crops, sample types and regression targets.

A *sample set* (:class:`SampleSet`) holds square crops resized to a net's
input size (12, 24 or 48) with a type per crop (:mod:`mtcnn_jax.losses`:
negative, positive, part face, landmark) and its targets. Crops come from

* random squares around and away from the annotated faces (all three nets),
  typed by their IoU with the faces (:class:`IoUBands`: negative < 0.3,
  part 0.4-0.65, positive >= 0.65; in between: dropped);
* the candidates that the already-trained earlier stages of *our* cascade
  propose on the training images (R-Net and O-Net; "hard examples", paper
  section III.B), typed the same way;
* faces with 5-point landmarks (O-Net's landmark samples), randomly jittered
  and, for O-Net, also the candidates our P-/R-Net propose on those images.

Conventions, chosen so that trained nets plug into :mod:`mtcnn_jax.cascade`
unchanged (tests check both through the cascade's own functions):

* Boxes here are continuous pixel boxes ``[x1, y1, x2, y2)`` (``x2 = x1 +
  width``), the convention of the annotation files. A crop ``c`` is the
  cascade's MATLAB box ``[c1 + 1, c2 + 1, c3, c4]`` (``boxes.to_continuous``
  is the inverse), and is resampled exactly as the cascade resamples its
  R-/O-Net crops (area averaging, zero outside the image; :func:`crop_and_resize`
  equals ``pyramid.crop_and_resize(..., "area")``).
* Box targets are ``(face - crop) / (w, h, w, h)`` with the crop's width and
  height: ``boxes.calibrate(.., plus_one=True)`` (R-/O-Net, "bbreg") maps the
  crop and the target back onto the face exactly. P-Net's calibration uses
  ``w - 1`` (the original's), which moves a side by less than one target
  unit's worth of a pixel.
* Landmark targets are x1..x5 then y1..y5 (O-Net's output order),
  ``(point - crop_top_left - 0.5) / (w, h)``: the cascade places O-Net's
  points at ``w * p + x1 - 1`` (MATLAB) and then adds half a pixel
  (``boxes.continuous_landmarks``), so these targets give back the annotated
  points exactly.
* Horizontal flips mirror ``x -> W - x`` and swap the left/right eye and
  mouth corners (points are "image-left first" before and after).

Every image has its own seeded generator (``(seed, stage, image index)``), so
a sample set does not depend on how images are spread over worker
processes. Generation uses a process pool with a progress bar, and each
stage's set is cached as ``.npz`` under a key of everything it depends on
(:func:`stage_samples`).
"""
from __future__ import annotations

import concurrent.futures
import dataclasses
import functools
import hashlib
import json
import multiprocessing
import os
import pathlib
import time
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from mtcnn_jax import evaluation
from mtcnn_jax.losses import LANDMARK, NEGATIVE, PART, POSITIVE

__all__ = ["IoUBands", "CropSettings", "SampleSet", "FLIP_ORDER", "box_targets",
           "landmark_targets", "mirror_boxes", "mirror_points", "mirror_box_targets",
           "integral_image", "crop_and_resize", "label_crops", "random_face_crops",
           "random_landmark_crops", "image_samples", "generate_samples", "propose_boxes",
           "mine_samples", "MINING_CANVAS_MULTIPLE", "params_digest", "load_face_annotations",
           "load_landmark_annotations", "stage_samples", "SAMPLING_VERSION"]

SAMPLING_VERSION = 1          # bump when generation changes, to invalidate caches
FLIP_ORDER = (1, 0, 2, 4, 3)  # left eye <-> right eye, nose, left <-> right mouth corner
_LANDMARK_ID_OFFSET = 1_000_000   # image ids of the landmark set follow the face set's


# --------------------------------------------------------------------------- settings


@dataclasses.dataclass(frozen=True)
class IoUBands:
  """IoU bands of the sample types (paper: < 0.3 negative, 0.4-0.65 part, > 0.65 positive)."""
  negative_max: float = 0.3
  part_min: float = 0.4
  positive_min: float = 0.65

  def __post_init__(self):
    if not 0.0 < self.negative_max <= self.part_min < self.positive_min <= 1.0:
      raise ValueError(f"IoU bands must satisfy 0 < negative_max <= part_min < positive_min "
                       f"<= 1, got {self}")


@dataclasses.dataclass(frozen=True)
class CropSettings:
  """How many random crops of which kind to draw, for one stage (picklable).

  Attributes:
    size: output side (12, 24 or 48).
    random_negatives: squares drawn anywhere in each image (kept when
      negative).
    near_negatives: squares drawn overlapping each usable face.
    jittered: squares jittered around each usable face (positives and parts,
      some negatives).
    landmark_crops: jittered squares per landmark face (kept when their IoU
      with the face is >= ``landmark_min_iou`` and all points are inside).
    min_crop_side: smallest crop, pixels (the cascade's smallest window is
      its ``min_face_size``, 20).
    min_face_side: faces with ``max(w, h)`` below this neither give
      positives/parts nor may be negatives (treated like ignore regions).
    flip_prob: chance that a sample is mirrored.
    bands: :class:`IoUBands`.
  """
  size: int
  random_negatives: int = 50
  near_negatives: int = 5
  jittered: int = 20
  landmark_crops: int = 0
  min_crop_side: float = 20.0
  min_face_side: float = 20.0
  landmark_min_iou: float = 0.65
  flip_prob: float = 0.5
  bands: IoUBands = IoUBands()


# --------------------------------------------------------------------------- sample sets


@dataclasses.dataclass(frozen=True, eq=False)
class SampleSet:
  """Training samples of one net.

  Attributes:
    images: uint8 ``[N, s, s, 3]`` RGB crops.
    labels: int8 ``[N]`` sample types (``losses.NEGATIVE`` ... ``LANDMARK``).
    boxes: float32 ``[N, 4]`` box targets (zero where unused).
    landmarks: float32 ``[N, 10]`` landmark targets (zero where unused).
    image_ids: int32 ``[N]`` index of the source image (landmark images
      from 1,000,000 on), for hold-out splits.
  """
  images: np.ndarray
  labels: np.ndarray
  boxes: np.ndarray
  landmarks: np.ndarray
  image_ids: np.ndarray

  FIELDS = ("images", "labels", "boxes", "landmarks", "image_ids")

  def __len__(self) -> int:
    return int(self.labels.shape[0])

  @classmethod
  def empty(cls, size: int) -> "SampleSet":
    return cls(np.zeros((0, size, size, 3), np.uint8), np.zeros((0,), np.int8),
               np.zeros((0, 4), np.float32), np.zeros((0, 10), np.float32),
               np.zeros((0,), np.int32))

  @classmethod
  def concat(cls, parts: Sequence["SampleSet"], size: int) -> "SampleSet":
    parts = [p for p in parts if len(p)]
    if not parts:
      return cls.empty(size)
    return cls(*(np.concatenate([getattr(p, f) for p in parts]) for f in cls.FIELDS))

  def select(self, mask_or_index) -> "SampleSet":
    return SampleSet(*(getattr(self, f)[mask_or_index] for f in self.FIELDS))

  def counts(self) -> dict[str, int]:
    """Samples per type: ``{"negative": n, "positive": n, "part": n, "landmark": n}``."""
    return {name: int(np.sum(self.labels == code)) for name, code in
            (("negative", NEGATIVE), ("positive", POSITIVE), ("part", PART),
             ("landmark", LANDMARK))}

  def save(self, path: str | os.PathLike) -> None:
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez(tmp, **{f: getattr(self, f) for f in self.FIELDS})
    os.replace(tmp, path)

  @classmethod
  def load(cls, path: str | os.PathLike) -> "SampleSet":
    with np.load(path, allow_pickle=False) as f:
      return cls(*(f[name] for name in cls.FIELDS))


# --------------------------------------------------------------------------- geometry


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
  of the cascade's placement of O-Net points (see the module docstring).
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


# --------------------------------------------------------------------------- pixels


def integral_image(image: np.ndarray) -> np.ndarray:
  """Exclusive prefix sums: uint8 ``[H, W, C]`` -> int64 ``[H + 1, W + 1, C]``."""
  table = np.zeros((image.shape[0] + 1, image.shape[1] + 1, image.shape[2]), np.int64)
  np.cumsum(np.cumsum(image, axis=0, dtype=np.int64), axis=1, out=table[1:, 1:])
  return table


def crop_and_resize(table: np.ndarray, boxes, size: int) -> np.ndarray:
  """Crop integer boxes and area-resize them to ``size x size`` (zero outside the image).

  The NumPy twin of ``pyramid.crop_and_resize(image, h, w, matlab_boxes,
  size, "area")`` (same bounds, same float32 division), so training crops
  are the crops the cascade feeds its nets. Output pixel ``o`` of a side of
  ``n`` box pixels averages box pixels ``[floor(o n / s), ceil((o + 1) n / s))``.

  Args:
    table: :func:`integral_image` of the image, int64 ``[H + 1, W + 1, C]``.
    boxes: int ``[N, 4]`` continuous ``[x1, y1, x2, y2)``; may reach outside.
    size: output side.

  Returns:
    float32 ``[N, size, size, C]`` in [0, 255].
  """
  boxes = np.asarray(boxes, np.int64).reshape(-1, 4)
  height, width = table.shape[0] - 1, table.shape[1] - 1
  bw = np.maximum(boxes[:, 2] - boxes[:, 0], 1)[:, None]
  bh = np.maximum(boxes[:, 3] - boxes[:, 1], 1)[:, None]
  o = np.arange(size)[None, :]
  r0, r1 = (o * bh) // size, ((o + 1) * bh + size - 1) // size
  c0, c1 = (o * bw) // size, ((o + 1) * bw + size - 1) // size
  area = ((r1 - r0)[:, :, None] * (c1 - c0)[:, None, :]).astype(np.float32)
  rr0 = np.clip(boxes[:, 1:2] + r0, 0, height)[:, :, None]
  rr1 = np.clip(boxes[:, 1:2] + r1, 0, height)[:, :, None]
  cc0 = np.clip(boxes[:, 0:1] + c0, 0, width)[:, None, :]
  cc1 = np.clip(boxes[:, 0:1] + c1, 0, width)[:, None, :]
  total = table[rr1, cc1] - table[rr0, cc1] - table[rr1, cc0] + table[rr0, cc0]
  return total.astype(np.float32) / area[..., None]


def _to_uint8(crops: np.ndarray) -> np.ndarray:
  return np.clip(np.round(crops), 0, 255).astype(np.uint8)


# --------------------------------------------------------------------------- typing crops


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
  iou_f = evaluation.iou_matrix(crops, np.asarray(faces, np.float64).reshape(-1, 4))
  iou_o = evaluation.iou_matrix(crops, np.asarray(others, np.float64).reshape(-1, 4))
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
  keep &= evaluation.iou_matrix(crops.astype(np.float64), face[None])[:, 0] >= \
      settings.landmark_min_iou
  keep &= _points_inside(crops, points)
  return crops[keep]


def _points_inside(crops: np.ndarray, points) -> np.ndarray:
  p = np.asarray(points, np.float64)
  return np.all((p[None, :, 0] >= crops[:, None, 0]) & (p[None, :, 0] < crops[:, None, 2])
                & (p[None, :, 1] >= crops[:, None, 1]) & (p[None, :, 1] < crops[:, None, 3]),
                axis=1)


# --------------------------------------------------------------------------- one image


@dataclasses.dataclass(frozen=True)
class ImageTask:
  """What to make from one image (picklable, for the worker processes).

  ``faces [F, 4]`` usable faces, ``others [M, 4]`` no-negative regions,
  ``points [F, 5, 2]`` or None; ``candidates [K, 4]`` int boxes proposed by
  the earlier stages (mining), or None for random crops.
  """
  path: str
  image_id: int
  seed: tuple[int, ...]
  faces: np.ndarray
  others: np.ndarray
  points: np.ndarray | None
  settings: CropSettings
  candidates: np.ndarray | None = None
  max_negatives: int = 0
  max_landmarks_per_face: int = 0
  landmark_candidate_min_iou: float = 0.4


def image_samples(task: ImageTask, image: np.ndarray | None = None) -> SampleSet:
  """The samples of one image (random crops, or typed candidates when mining).

  ``image``: the decoded uint8 ``[H, W, 3]`` RGB image (read from
  ``task.path`` if None).
  """
  from espcn_jax.image_io import read_image  # pylint: disable=import-outside-toplevel
  if image is None:
    image = read_image(task.path, mode="rgb")
  height, width = image.shape[:2]
  rng = np.random.default_rng(task.seed)
  s = task.settings
  crops, labels, faces, points = [], [], [], []

  def add(c, lab, face_boxes, pts):
    crops.append(np.asarray(c, np.int64).reshape(-1, 4))
    labels.append(np.asarray(lab, np.int8).reshape(-1))
    faces.append(np.asarray(face_boxes, np.float64).reshape(-1, 4))
    points.append(np.asarray(pts, np.float64).reshape(-1, 5, 2))

  if task.points is None:
    if task.candidates is None:
      c, lab, idx = random_face_crops(rng, width, height, task.faces, task.others, s)
    else:
      c = np.asarray(task.candidates, np.int64).reshape(-1, 4)
      c = c[c[:, 2] - c[:, 0] > 0]
      lab, idx = label_crops(c, task.faces, task.others, s.bands)
      keep = lab >= 0
      negatives = np.flatnonzero(lab == NEGATIVE)
      if task.max_negatives and len(negatives) > task.max_negatives:
        keep[rng.choice(negatives, len(negatives) - task.max_negatives, replace=False)] = False
      c, lab, idx = c[keep], lab[keep], idx[keep]
    face_boxes = np.zeros((len(c), 4))
    face_boxes[idx >= 0] = np.asarray(task.faces, np.float64).reshape(-1, 4)[idx[idx >= 0]]
    add(c, lab, face_boxes, np.zeros((len(c), 5, 2)))
  else:
    for face, pts in zip(task.faces, task.points):
      if task.candidates is None:
        c = random_landmark_crops(rng, width, height, face, pts, s)
      else:
        c = np.asarray(task.candidates, np.int64).reshape(-1, 4)
        c = c[(c[:, 2] - c[:, 0] > 0) & _points_inside(c, pts)]
        c = c[evaluation.iou_matrix(c.astype(np.float64), np.asarray(face, np.float64)[None])[:, 0]
              >= task.landmark_candidate_min_iou]
        if task.max_landmarks_per_face and len(c) > task.max_landmarks_per_face:
          c = c[np.sort(rng.choice(len(c), task.max_landmarks_per_face, replace=False))]
      add(c, np.full(len(c), LANDMARK), np.zeros((len(c), 4)), np.repeat(pts[None], len(c), 0))
  crops, labels = np.concatenate(crops), np.concatenate(labels)
  faces, points = np.concatenate(faces), np.concatenate(points)
  if not len(crops):
    return SampleSet.empty(s.size)
  pixels = crop_and_resize(integral_image(image), crops, s.size)
  has_box = (labels == POSITIVE) | (labels == PART)
  is_landmark = labels == LANDMARK
  boxes = np.where(has_box[:, None], box_targets(crops, np.where(has_box[:, None], faces, crops)),
                   0.0).astype(np.float32)
  landmarks = np.where(is_landmark[:, None], landmark_targets(crops, points), 0.0).astype(np.float32)
  flip = rng.random(len(crops)) < s.flip_prob
  if flip.any():
    # A mirrored crop of the image is the crop of the mirrored image at the mirrored box
    # (area bounds are symmetric), so only the targets need the mirrored geometry.
    pixels[flip] = pixels[flip][:, :, ::-1]
    boxes[flip] = np.where(has_box[flip, None], mirror_box_targets(boxes[flip]), 0.0)
    landmarks[flip] = np.where(
        is_landmark[flip, None],
        landmark_targets(mirror_boxes(width, crops[flip]), mirror_points(width, points[flip])), 0.0)
  return SampleSet(_to_uint8(pixels), labels, boxes, landmarks,
                   np.full(len(crops), task.image_id, np.int32))


# --------------------------------------------------------------------------- many images


def _progress(iterable, total: int, desc: str, enabled: bool):
  from tqdm.auto import tqdm  # pylint: disable=import-outside-toplevel
  return tqdm(iterable, total=total, desc=desc, unit="img", dynamic_ncols=True,
              disable=not enabled)


def generate_samples(tasks: Sequence[ImageTask], size: int, *, workers: int = 2,
                     progress: bool = True, desc: str = "samples") -> SampleSet:
  """:func:`image_samples` over many images, in ``workers`` processes (0: in this one).

  Worker processes are spawned (not forked: the parent may hold JAX's
  threads). The result does not depend on ``workers``.
  """
  if workers <= 0 or len(tasks) < 2:
    parts = [image_samples(t) for t in _progress(tasks, len(tasks), desc, progress)]
  else:
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(workers) as pool:
      parts = list(_progress(pool.imap(image_samples, tasks, chunksize=4), len(tasks), desc,
                             progress))
  return SampleSet.concat(parts, size)


# --------------------------------------------------------------------------- mining


@functools.lru_cache(maxsize=None)
def _proposal_fn(upto: str):
  import jax  # pylint: disable=import-outside-toplevel
  from mtcnn_jax import boxes as box_ops  # pylint: disable=import-outside-toplevel
  from mtcnn_jax import cascade, pyramid  # pylint: disable=import-outside-toplevel

  @functools.partial(jax.jit, static_argnames=("config",))
  def proposals(params, canvas, height, width, config):
    table = (pyramid.summed_area_table(canvas, height, width) if config.resize == "area"
             else None)
    b, _, v, _ = cascade._stage1(params["pnet"], canvas, height, width, config, table)  # pylint: disable=protected-access
    if upto == "onet":
      b, v, _ = cascade._stage2(params["rnet"], canvas, height, width, b, v, config, table)  # pylint: disable=protected-access
    return box_ops.to_continuous(b), v
  return proposals


MINING_CANVAS_MULTIPLE = 512
"""Canvas sides for mining are multiples of this (detection uses 128): the 600 WIDER
training images then need 4 compilations instead of 13. Padding is masked and the
pyramid's scales do not depend on the canvas, so the proposals are the same."""


def propose_boxes(params: Mapping, image: np.ndarray, upto: str, config,
                  canvas_multiple: int = MINING_CANVAS_MULTIPLE) -> np.ndarray:
  """The boxes our cascade would feed to R-Net (``upto="rnet"``) or O-Net (``"onet"``).

  Runs the cascade's own stage functions (P-Net over the pyramid, NMS,
  calibration, squaring; plus R-Net for ``"onet"``) on one image.

  Args:
    params: ``{"pnet": ...}`` (and ``"rnet"`` for ``"onet"``).
    image: uint8 ``[H, W, 3]`` RGB.
    upto: ``"rnet"`` or ``"onet"``.
    config: a ``cascade.DetectorConfig`` (thresholds, NMS, budgets).
    canvas_multiple: the image is zero-padded to sides that are multiples of this.

  Returns:
    int64 ``[K, 4]`` continuous ``[x1, y1, x2, y2)`` boxes (integer-valued,
    as the cascade crops them), best first.
  """
  from mtcnn_jax import cascade, pyramid  # pylint: disable=import-outside-toplevel
  if upto not in ("rnet", "onet"):
    raise ValueError(f"upto must be 'rnet' or 'onet', got {upto!r}")
  h, w = image.shape[:2]
  if not pyramid.pyramid_scales(h, w, config.min_face_size, config.factor):
    return np.zeros((0, 4), np.int64)
  ch, cw = cascade.canvas_shape(h, w, canvas_multiple)
  canvas = np.zeros((ch, cw, 3), np.float32)
  canvas[:h, :w] = image
  boxes, valid = _proposal_fn(upto)(params, canvas, np.int32(h), np.int32(w), config)
  return np.asarray(boxes)[np.asarray(valid)].astype(np.int64)


def mine_samples(params: Mapping, tasks: Sequence[ImageTask], upto: str, config, size: int, *,
                 progress: bool = True, desc: str = "mining") -> SampleSet:
  """Typed samples from the boxes our earlier stages propose on each task's image.

  Images are decoded on a background thread while the cascade (which uses
  every core through XLA) runs on the previous one.
  """
  from espcn_jax.image_io import read_image  # pylint: disable=import-outside-toplevel
  parts = []
  with concurrent.futures.ThreadPoolExecutor(1) as pool:
    images = pool.map(lambda t: read_image(t.path, mode="rgb"), tasks)
    for task, image in _progress(zip(tasks, images), len(tasks), desc, progress):
      candidates = propose_boxes(params, image, upto, config)
      parts.append(image_samples(dataclasses.replace(task, candidates=candidates), image))
  return SampleSet.concat(parts, size)


def params_digest(params: Mapping | None) -> str:
  """SHA-256 of a params pytree's flattened arrays (keys and bytes); "" for None."""
  if params is None:
    return ""
  from mtcnn_jax.params import flatten_params  # pylint: disable=import-outside-toplevel
  digest = hashlib.sha256()
  for name in sorted(params):
    for key, value in flatten_params(params[name]).items():
      digest.update(f"{name}/{key}:{value.shape}".encode())
      digest.update(np.ascontiguousarray(value).tobytes())
  return digest.hexdigest()


# --------------------------------------------------------------------------- annotations


@dataclasses.dataclass(frozen=True)
class FaceImage:
  """One training image: its path, usable faces, no-negative regions and landmarks."""
  path: pathlib.Path
  faces: np.ndarray
  others: np.ndarray
  points: np.ndarray | None = None


def _resolve_annotations(path) -> pathlib.Path:
  path = pathlib.Path(path)
  if path.is_dir():
    path = path / "annotations.json"
  return path


def _check_images(images: list[FaceImage], path: pathlib.Path) -> None:
  missing = [str(im.path) for im in images if not im.path.is_file()]
  if missing:
    raise FileNotFoundError(f"{path}: {len(missing)} of {len(images)} images are missing, e.g. "
                            + ", ".join(missing[:3]))


def load_face_annotations(path, min_face_side: float = 20.0) -> list[FaceImage]:
  """Box annotations (the ``../shared/data/faces/*/annotations.json`` format) for training.

  Faces with ``max(w, h) >= min_face_side`` are usable; smaller faces and
  ignore regions become no-negative regions.

  Raises:
    FileNotFoundError: no annotation file, or images it lists are missing.
    ValueError: no images, or no usable face in any image.
  """
  path = _resolve_annotations(path)
  annotations = evaluation.load_annotations(path)
  if not annotations:
    raise ValueError(f"{path}: the annotation file lists no images")
  images = []
  for ann in annotations:
    w, h = ann.boxes[:, 2] - ann.boxes[:, 0], ann.boxes[:, 3] - ann.boxes[:, 1]
    usable = np.maximum(w, h) >= min_face_side
    images.append(FaceImage(path.parent / ann.file, ann.boxes[usable],
                            np.concatenate([ann.ignore, ann.boxes[~usable]]).reshape(-1, 4)))
  if not any(len(im.faces) for im in images):
    raise ValueError(f"{path}: no face of at least {min_face_side} px in any of its "
                     f"{len(images)} images; nothing to learn faces from")
  _check_images(images, path)
  return images


def load_landmark_annotations(path, split: str = "train") -> list[FaceImage]:
  """Faces with 5-point landmarks (the landmark set's ``annotations.json``), one split.

  Raises:
    FileNotFoundError: no annotation file, or missing images.
    ValueError: no image of ``split`` carries landmarks.
  """
  path = _resolve_annotations(path)
  annotations = [a for a in evaluation.load_annotations(path)
                 if a.landmarks is not None and len(a.boxes) and a.split in (None, split)]
  if not annotations:
    raise ValueError(f"{path}: no image of split {split!r} has faces with landmarks")
  images = [FaceImage(path.parent / a.file, a.boxes, a.ignore, a.landmarks) for a in annotations]
  _check_images(images, path)
  return images


# --------------------------------------------------------------------------- one stage, cached


def _file_stamps(paths: Iterable[pathlib.Path]) -> list:
  out = []
  for p in paths:
    st = p.stat()
    out.append([p.name, st.st_size, st.st_mtime_ns])
  return out


def _tasks(images: list[FaceImage], settings: CropSettings, seed: int, stage_code: int,
           id_offset: int, **extra) -> list[ImageTask]:
  return [ImageTask(str(im.path), id_offset + i, (seed, stage_code, id_offset + i), im.faces,
                    im.others, im.points, settings, **extra) for i, im in enumerate(images)]


_STAGE_CODES = {"pnet": 1, "rnet": 2, "onet": 3}


def stage_samples(stage: str, settings: CropSettings, *, face_annotations: str,
                  landmark_annotations: str = "", landmark_split: str = "train",
                  earlier_params: Mapping | None = None, mining=None,
                  max_mined_negatives: int = 0, mined_landmarks_per_face: int = 0,
                  landmark_candidate_min_iou: float = 0.4, seed: int = 0,
                  cache_dir: str | os.PathLike | None = None, workers: int = 2,
                  progress: bool = True) -> tuple[SampleSet, dict[str, Any]]:
  """All training samples of one stage, from the cache when nothing they depend on changed.

  Args:
    stage: ``"pnet"``, ``"rnet"`` or ``"onet"``.
    settings: random-crop settings (``settings.size`` is the net's input).
    face_annotations: box annotations (file or folder).
    landmark_annotations: landmark set (file or folder); "" for none.
    landmark_split: its split to use.
    earlier_params: ``{"pnet"[, "rnet"]}`` for mining (R-Net, O-Net); None:
      random crops only.
    mining: ``cascade.DetectorConfig`` for the proposals (required with
      ``earlier_params``).
    max_mined_negatives: per image (0: all).
    mined_landmarks_per_face: landmark samples per face from the proposals
      on landmark images (O-Net; 0: none).
    landmark_candidate_min_iou: a proposal becomes a landmark sample when its
      IoU with the annotated face is at least this and holds all points.
    seed: generation seed.
    cache_dir: where ``<stage>-<key>.npz`` goes (None: no cache).
    workers: processes for the random crops.

  Returns:
    ``(samples, info)``; ``info`` has ``key``, ``path``, ``cached`` (bool),
    ``seconds`` (generation time, 0 when cached) and ``counts``.
  """
  if stage not in _STAGE_CODES:
    raise ValueError(f"stage must be pnet, rnet or onet, got {stage!r}")
  if (earlier_params is None) != (mining is None):
    raise ValueError("mining needs both earlier_params and a mining DetectorConfig")
  code = _STAGE_CODES[stage]
  faces = load_face_annotations(face_annotations, settings.min_face_side)
  landmarks = (load_landmark_annotations(landmark_annotations, landmark_split)
               if landmark_annotations and (settings.landmark_crops or mined_landmarks_per_face)
               else [])
  key_fields = {
      "version": SAMPLING_VERSION, "stage": stage, "seed": seed,
      "settings": dataclasses.asdict(settings),
      "mining": None if mining is None else dataclasses.asdict(mining),
      "max_mined_negatives": max_mined_negatives,
      "mined_landmarks_per_face": mined_landmarks_per_face,
      "landmark_candidate_min_iou": landmark_candidate_min_iou,
      "landmark_split": landmark_split,
      "files": _file_stamps([_resolve_annotations(face_annotations)] + [im.path for im in faces]
                            + ([_resolve_annotations(landmark_annotations)] if landmarks else [])
                            + [im.path for im in landmarks]),
      "params": params_digest(earlier_params),
  }
  key = hashlib.sha256(json.dumps(key_fields, sort_keys=True, default=str).encode()).hexdigest()
  path = pathlib.Path(cache_dir) / f"{stage}-{key[:16]}.npz" if cache_dir else None
  if path is not None and path.is_file():
    samples = SampleSet.load(path)
    return samples, {"key": key, "path": str(path), "cached": True, "seconds": 0.0,
                     "counts": samples.counts()}
  start = time.perf_counter()
  parts = [generate_samples(_tasks(faces, settings, seed, code, 0), settings.size,
                            workers=workers, progress=progress, desc=f"{stage} random crops")]
  if landmarks and settings.landmark_crops:
    parts.append(generate_samples(_tasks(landmarks, settings, seed, code, _LANDMARK_ID_OFFSET),
                                  settings.size, workers=workers, progress=progress,
                                  desc=f"{stage} landmark crops"))
  if earlier_params is not None:
    upto = "rnet" if stage == "rnet" else "onet"
    # Mined samples take their own generator streams (stage code + 10).
    parts.append(mine_samples(earlier_params, _tasks(faces, settings, seed, code + 10, 0,
                                                     max_negatives=max_mined_negatives),
                              upto, mining, settings.size, progress=progress,
                              desc=f"{stage} mining"))
    if landmarks and mined_landmarks_per_face:
      parts.append(mine_samples(
          earlier_params,
          _tasks(landmarks, settings, seed, code + 10, _LANDMARK_ID_OFFSET,
                 max_landmarks_per_face=mined_landmarks_per_face,
                 landmark_candidate_min_iou=landmark_candidate_min_iou),
          upto, mining, settings.size, progress=progress, desc=f"{stage} landmark mining"))
  samples = SampleSet.concat(parts, settings.size)
  seconds = time.perf_counter() - start
  counts = samples.counts()
  if path is not None:
    samples.save(path)
    path.with_suffix(".json").write_text(json.dumps(
        {"key": key, "counts": counts, "seconds": round(seconds, 2),
         "fields": {k: v for k, v in key_fields.items() if k != "files"},
         "num_files": len(key_fields["files"])}, indent=2, default=str) + "\n")
  return samples, {"key": key, "path": None if path is None else str(path), "cached": False,
                   "seconds": seconds, "counts": counts}
