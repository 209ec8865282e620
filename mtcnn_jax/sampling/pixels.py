"""The pixels of training crops: integral image, area-resized crops, uint8 rounding."""
from __future__ import annotations

import numpy as np

__all__ = ["integral_image", "crop_and_resize", "to_uint8"]


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


def to_uint8(crops: np.ndarray) -> np.ndarray:
  """float ``[...]`` pixels rounded and clipped to uint8."""
  return np.clip(np.round(crops), 0, 255).astype(np.uint8)
