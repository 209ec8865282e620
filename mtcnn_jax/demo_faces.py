"""Embedded face images with known boxes: the default data of ``evaluate.py mtcnn``.

* ``grace_hopper.jpg`` — the public-domain US Navy portrait that ships with
  matplotlib; one frontal face, box checked by hand: ``[178, 128, 348, 330]``
  (forehead below the cap to the chin, across the glasses).
* ``collage.png`` — made here: a 640x480 textured background with six copies
  of that face region, mirrored and rescaled (face heights 24 to 121 px). Its
  boxes are exact by construction.

No download and no ../shared data are needed.
"""
from __future__ import annotations

import functools

import numpy as np
from PIL import Image

from espcn_mtcnn_common.demo_photo import grace_hopper
from mtcnn_jax.annotations import ImageAnnotation

__all__ = ["sample_faces", "HOPPER_BOX"]

HOPPER_BOX = np.array([178.0, 128.0, 348.0, 330.0])
# Face region with context cut from the portrait, and where its copies go:
# (scale, mirrored, x, y) of the region's top-left corner in the collage.
_REGION = (118, 58, 408, 370)
_PLACEMENTS = ((0.60, False, 20, 40), (0.42, True, 230, 60), (0.30, False, 400, 40),
               (0.22, True, 520, 260), (0.16, False, 330, 320), (0.12, True, 120, 360))


def _collage(hopper: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  """The 640x480 collage of six rescaled, partly mirrored copies of the portrait's face.

  Returns:
    ``(uint8 [480, 640, 3] image, float64 [6, 4] face boxes)``.
  """
  rng = np.random.default_rng(0)
  yy, xx = np.mgrid[:480, :640] / 480.0
  base = np.stack([0.35 + 0.2 * xx, 0.45 + 0.15 * yy, 0.55 - 0.1 * xx], -1)
  texture = np.asarray(Image.fromarray(rng.integers(0, 255, (60, 80), np.uint8)).resize(
      (640, 480), Image.Resampling.BICUBIC), np.float64)[..., None] / 255.0
  canvas = np.clip((base + 0.25 * (texture - 0.5)) * 255, 0, 255).astype(np.uint8)
  x0, y0, x1, y1 = _REGION
  region = hopper[y0:y1, x0:x1]
  boxes = []
  for scale, mirrored, px, py in _PLACEMENTS:
    w, h = round((x1 - x0) * scale), round((y1 - y0) * scale)
    piece = np.asarray(Image.fromarray(region).resize((w, h), Image.Resampling.LANCZOS))
    sx, sy = w / (x1 - x0), h / (y1 - y0)
    bx1, by1, bx2, by2 = (HOPPER_BOX - [x0, y0, x0, y0]) * [sx, sy, sx, sy]
    if mirrored:
      piece = piece[:, ::-1]
      bx1, bx2 = w - bx2, w - bx1
    canvas[py:py + h, px:px + w] = piece
    boxes.append([px + bx1, py + by1, px + bx2, py + by2])
  return canvas, np.asarray(boxes)


@functools.lru_cache(maxsize=1)
def _cached():
  hopper = grace_hopper()
  collage, boxes = _collage(hopper)
  return hopper, collage, boxes


def sample_faces() -> list[tuple[ImageAnnotation, np.ndarray]]:
  """``(annotation, uint8 [H, W, 3] image)`` for each embedded face image."""
  hopper, collage, boxes = _cached()
  empty = np.zeros((0, 4))
  return [
      (ImageAnnotation("grace_hopper.jpg", hopper.shape[1], hopper.shape[0],
                       HOPPER_BOX[None].copy(), empty), hopper),
      (ImageAnnotation("collage.png", 640, 480, boxes, empty), collage),
  ]
