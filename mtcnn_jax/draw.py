"""Host-side helpers: draw detections (uint8 in, uint8 out).

``align_faces``, ``similarity_transform`` and ``ALIGNMENT_TEMPLATE_112`` live in
:mod:`mtcnn_jax.faces` (``mtcnn_jax.align_faces``); imported here too, so
``mtcnn_jax.draw.align_faces`` keeps working.
"""
from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from mtcnn_jax.faces import ALIGNMENT_TEMPLATE_112, align_faces, similarity_transform

__all__ = ["draw_detections", "align_faces", "similarity_transform", "ALIGNMENT_TEMPLATE_112"]

_LANDMARK_COLOURS = [(0, 255, 255), (0, 255, 255), (255, 0, 255), (255, 255, 0), (255, 255, 0)]


def draw_detections(image: np.ndarray, faces, *, colour=(0, 255, 0), width: int | None = None,
                    scores: bool = True, landmarks: bool = True) -> np.ndarray:
  """Draw boxes (with scores) and landmarks on a copy of ``image``.

  Args:
    image: uint8 ``[H, W, 3]`` RGB.
    faces: anything with ``boxes [N, 4]``, ``scores [N]`` and optionally
      ``landmarks [N, 5, 2]`` (e.g. :class:`mtcnn_jax.FaceDetections`).

  Returns:
    uint8 ``[H, W, 3]``.
  """
  canvas = Image.fromarray(np.asarray(image, np.uint8)).convert("RGB")
  draw = ImageDraw.Draw(canvas)
  width = width or max(1, round(max(canvas.size) / 400))
  boxes = np.asarray(faces.boxes).reshape(-1, 4)
  points = getattr(faces, "landmarks", None)
  for k, (x1, y1, x2, y2) in enumerate(boxes):
    draw.rectangle([x1, y1, x2, y2], outline=colour, width=width)
    if scores:
      draw.text((x1 + 2, max(0, y1 - 11)), f"{float(faces.scores[k]):.2f}", fill=colour)
    if landmarks and points is not None and len(points):
      r = max(1.5, 0.02 * (x2 - x1))
      for (px, py), c in zip(np.asarray(points)[k], _LANDMARK_COLOURS):
        draw.ellipse([px - r, py - r, px + r, py + r], fill=c)
  return np.asarray(canvas)
