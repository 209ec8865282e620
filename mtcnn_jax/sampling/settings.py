"""What random crops to draw for one stage, and the IoU bands that type them."""
from __future__ import annotations

import dataclasses

__all__ = ["IoUBands", "CropSettings"]


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
