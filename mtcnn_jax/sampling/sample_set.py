"""A net's training samples as arrays: crops, types and targets; saved as ``.npz``."""
from __future__ import annotations

import dataclasses
import os
import pathlib
from typing import Sequence

import numpy as np

from mtcnn_jax.losses import SAMPLE_TYPES

__all__ = ["SampleSet"]


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
    return {name: int(np.sum(self.labels == code)) for code, name in enumerate(SAMPLE_TYPES)}

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
