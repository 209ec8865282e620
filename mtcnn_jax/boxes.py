"""THE box convention of mtcnn_jax, and the box arithmetic of the original MTCNN.

Inside the cascade, boxes follow the original MATLAB code (Zhang et al.,
``detect_face.m``) exactly: ``[x1, y1, x2, y2]`` are 1-based *inclusive* pixel
indices, so a box is ``x2 - x1 + 1`` pixels wide. Keeping that arithmetic
(``+1`` in areas and in ``bbreg``, none in the stage-1 calibration and in
``rerec``) is what makes the cascade's decisions match the reference.

Public results use continuous 0-based coordinates, the convention of the
WIDER annotations: the inclusive 1-based pixel range ``x1..x2`` covers
``[x1 - 1, x2)`` — see :func:`to_continuous`. (facenet-pytorch returns the
MATLAB numbers unchanged, so its ``x1, y1`` are 1 px right/down of ours and
its ``x2, y2`` equal ours; ipazc 1.0 uses a 0-based variant of the arithmetic.)

All functions work on NumPy and JAX arrays (``[..., 4]``).
"""
from __future__ import annotations

import jax.numpy as jnp

__all__ = ["iou_matrix", "calibrate", "square", "truncate", "to_continuous",
           "continuous_landmarks"]


def iou_matrix(a, b, *, method: str = "union", plus_one: bool = True):
  """Pairwise overlap ``[N, M]`` of boxes ``a [N, 4]`` and ``b [M, 4]``.

  ``method="union"``: intersection over union; ``"min"``: intersection over
  the smaller area (the original's 'Min', used after O-Net). ``plus_one``
  uses MATLAB's inclusive-pixel areas ``(x2 - x1 + 1) * (y2 - y1 + 1)``.
  """
  one = 1.0 if plus_one else 0.0
  area_a = (a[:, 2] - a[:, 0] + one) * (a[:, 3] - a[:, 1] + one)
  area_b = (b[:, 2] - b[:, 0] + one) * (b[:, 3] - b[:, 1] + one)
  w = jnp.maximum(0.0, jnp.minimum(a[:, None, 2], b[None, :, 2])
                  - jnp.maximum(a[:, None, 0], b[None, :, 0]) + one)
  h = jnp.maximum(0.0, jnp.minimum(a[:, None, 3], b[None, :, 3])
                  - jnp.maximum(a[:, None, 1], b[None, :, 1]) + one)
  inter = w * h
  if method == "union":
    denom = area_a[:, None] + area_b[None, :] - inter
  elif method == "min":
    denom = jnp.minimum(area_a[:, None], area_b[None, :])
  else:
    raise ValueError(f"method must be 'union' or 'min', got {method!r}")
  return inter / jnp.maximum(denom, 1e-12)


def calibrate(boxes, offsets, *, plus_one: bool):
  """Bounding-box regression ("bbreg"): move each side by offset x box size.

  The original uses ``w = x2 - x1`` after P-Net (``plus_one=False``) and
  ``w = x2 - x1 + 1`` in ``bbreg`` after R-Net and O-Net (``plus_one=True``).
  """
  one = 1.0 if plus_one else 0.0
  w = boxes[..., 2] - boxes[..., 0] + one
  h = boxes[..., 3] - boxes[..., 1] + one
  size = jnp.stack([w, h, w, h], axis=-1)
  return boxes + offsets * size


def square(boxes):
  """Make boxes square around their centre ("rerec"): side = max(w, h), w = x2 - x1."""
  w = boxes[..., 2] - boxes[..., 0]
  h = boxes[..., 3] - boxes[..., 1]
  side = jnp.maximum(w, h)
  x1 = boxes[..., 0] + w * 0.5 - side * 0.5
  y1 = boxes[..., 1] + h * 0.5 - side * 0.5
  return jnp.stack([x1, y1, x1 + side, y1 + side], axis=-1)


def truncate(boxes):
  """MATLAB's ``fix``: round toward zero (applied before cropping)."""
  return jnp.trunc(boxes)


def to_continuous(boxes):
  """MATLAB inclusive 1-based pixel boxes -> continuous 0-based ``[x1, y1, x2, y2)``."""
  return boxes - jnp.asarray([1.0, 1.0, 0.0, 0.0], boxes.dtype)


def continuous_landmarks(points):
  """O-Net points as the original computes them (``w * p + x1 - 1``, i.e. 0-based
  pixel indices) -> continuous coordinates (pixel ``i`` covers ``[i, i + 1)``)."""
  return points + 0.5
