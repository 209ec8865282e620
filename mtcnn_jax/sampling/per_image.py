"""All training samples of one image, and of many images in worker processes.

An :class:`ImageTask` says what to make from one image (its faces, the
settings, its generator seed, and when mining the candidates our earlier
stages proposed); :func:`image_samples` turns it into a
:class:`~mtcnn_jax.sampling.sample_set.SampleSet`. Each image has its own
seeded generator, so the samples do not depend on how images are spread over
processes (:func:`generate_samples`).
"""
from __future__ import annotations

import dataclasses
import multiprocessing
from typing import Iterable, Sequence

import numpy as np
from tqdm.auto import tqdm

from espcn_mtcnn_common.image_io import read_image
from mtcnn_jax.losses import LANDMARK, NEGATIVE, PART, POSITIVE
from mtcnn_jax.matching import iou_matrix
from mtcnn_jax.sampling.crops import (label_crops, points_inside, random_face_crops,
                                      random_landmark_crops)
from mtcnn_jax.sampling.pixels import crop_and_resize, integral_image, to_uint8
from mtcnn_jax.sampling.sample_set import SampleSet
from mtcnn_jax.sampling.settings import CropSettings
from mtcnn_jax.sampling.targets import (box_targets, landmark_targets, mirror_box_targets,
                                        mirror_boxes, mirror_points)
from mtcnn_jax.sampling.training_images import FaceImage

__all__ = ["ImageTask", "image_tasks", "image_samples", "generate_samples", "with_progress"]


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


def image_tasks(images: list[FaceImage], settings: CropSettings, seed: int, stage_code: int,
                id_offset: int, **extra) -> list[ImageTask]:
  """One task per image: image id ``id_offset + i``, generator seed ``(seed, stage_code, id)``.

  ``extra``: further :class:`ImageTask` fields (mining limits).
  """
  return [ImageTask(str(im.path), id_offset + i, (seed, stage_code, id_offset + i), im.faces,
                    im.others, im.points, settings, **extra) for i, im in enumerate(images)]


def _typed_face_crops(task: ImageTask, rng: np.random.Generator, width: int, height: int
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """Crops of a face image typed by IoU: random squares, or the candidates when mining.

  Returns:
    ``(crops int [N, 4], labels int [N], faces float64 [N, 4])``; ``faces``
    holds the face each positive or part crop's target refers to (zero rows
    for negatives).
  """
  s = task.settings
  if task.candidates is None:
    crops, labels, index = random_face_crops(rng, width, height, task.faces, task.others, s)
  else:
    crops = np.asarray(task.candidates, np.int64).reshape(-1, 4)
    crops = crops[crops[:, 2] - crops[:, 0] > 0]
    labels, index = label_crops(crops, task.faces, task.others, s.bands)
    keep = labels >= 0
    negatives = np.flatnonzero(labels == NEGATIVE)
    if task.max_negatives and len(negatives) > task.max_negatives:
      keep[rng.choice(negatives, len(negatives) - task.max_negatives, replace=False)] = False
    crops, labels, index = crops[keep], labels[keep], index[keep]
  faces = np.zeros((len(crops), 4))
  faces[index >= 0] = np.asarray(task.faces, np.float64).reshape(-1, 4)[index[index >= 0]]
  return crops, labels, faces


def _landmark_candidates(task: ImageTask, rng: np.random.Generator, face, points) -> np.ndarray:
  """The proposed boxes that hold all ``points`` and overlap ``face`` enough (at most
  ``max_landmarks_per_face``, drawn at random, in proposal order)."""
  c = np.asarray(task.candidates, np.int64).reshape(-1, 4)
  c = c[(c[:, 2] - c[:, 0] > 0) & points_inside(c, points)]
  c = c[iou_matrix(c.astype(np.float64), np.asarray(face, np.float64)[None])[:, 0]
        >= task.landmark_candidate_min_iou]
  if task.max_landmarks_per_face and len(c) > task.max_landmarks_per_face:
    c = c[np.sort(rng.choice(len(c), task.max_landmarks_per_face, replace=False))]
  return c


def _landmark_crops(task: ImageTask, rng: np.random.Generator, width: int, height: int
                    ) -> tuple[np.ndarray, np.ndarray]:
  """Landmark crops of every face of a landmark image: ``(crops int64 [N, 4], points
  float64 [N, 5, 2])``, the points of the face each crop was drawn for."""
  crops, points = [], []
  for face, pts in zip(task.faces, task.points):
    if task.candidates is None:
      c = random_landmark_crops(rng, width, height, face, pts, task.settings)
    else:
      c = _landmark_candidates(task, rng, face, pts)
    crops.append(np.asarray(c, np.int64).reshape(-1, 4))
    points.append(np.asarray(np.repeat(pts[None], len(c), 0), np.float64).reshape(-1, 5, 2))
  return np.concatenate(crops), np.concatenate(points)


def _samples_from_crops(image: np.ndarray, task: ImageTask, rng: np.random.Generator,
                        crops: np.ndarray, labels: np.ndarray, faces: np.ndarray,
                        points: np.ndarray) -> SampleSet:
  """Pixels and targets of typed crops, a random share of them mirrored."""
  s = task.settings
  width = image.shape[1]
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
  return SampleSet(to_uint8(pixels), labels, boxes, landmarks,
                   np.full(len(crops), task.image_id, np.int32))


def image_samples(task: ImageTask, image: np.ndarray | None = None) -> SampleSet:
  """The samples of one image (random crops, or typed candidates when mining).

  ``image``: the decoded uint8 ``[H, W, 3]`` RGB image (read from
  ``task.path`` if None).
  """
  if image is None:
    image = read_image(task.path, mode="rgb")
  height, width = image.shape[:2]
  rng = np.random.default_rng(task.seed)
  if task.points is None:
    crops, labels, faces = _typed_face_crops(task, rng, width, height)
    crops = np.asarray(crops, np.int64).reshape(-1, 4)
    labels = np.asarray(labels, np.int8).reshape(-1)
    points = np.zeros((len(crops), 5, 2))
  else:
    crops, points = _landmark_crops(task, rng, width, height)
    labels = np.full(len(crops), LANDMARK, np.int8)
    faces = np.zeros((len(crops), 4))
  return _samples_from_crops(image, task, rng, crops, labels, faces, points)


def with_progress(iterable: Iterable, total: int, desc: str, enabled: bool):
  """``iterable`` with a tqdm bar counting images (disabled unless ``enabled``)."""
  return tqdm(iterable, total=total, desc=desc, unit="img", dynamic_ncols=True,
              disable=not enabled)


def generate_samples(tasks: Sequence[ImageTask], size: int, *, workers: int = 2,
                     progress: bool = True, desc: str = "samples") -> SampleSet:
  """:func:`image_samples` over many images, in ``workers`` processes (0: in this one).

  Worker processes are spawned (not forked: the parent may hold JAX's
  threads). The result does not depend on ``workers``.
  """
  if workers <= 0 or len(tasks) < 2:
    parts = [image_samples(t) for t in with_progress(tasks, len(tasks), desc, progress)]
  else:
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(workers) as pool:
      parts = list(with_progress(pool.imap(image_samples, tasks, chunksize=4), len(tasks), desc,
                                 progress))
  return SampleSet.concat(parts, size)
