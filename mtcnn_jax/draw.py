"""Host-side helpers: draw detections, crop aligned faces (uint8 in, uint8 out)."""
from __future__ import annotations

import cv2
import numpy as np
from PIL import Image, ImageDraw

__all__ = ["draw_detections", "align_faces", "similarity_transform", "ALIGNMENT_TEMPLATE_112"]

# Five-point template for 112x112 aligned faces (the one ArcFace/InsightFace use):
# left eye, right eye, nose, left mouth corner, right mouth corner (image-left first).
ALIGNMENT_TEMPLATE_112 = np.array([[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366],
                                   [41.5493, 92.3655], [70.7299, 92.2041]], np.float64)

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


def similarity_transform(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
  """Least-squares similarity (rotation, uniform scale, translation) mapping
  ``src [N, 2]`` onto ``dst [N, 2]`` (Umeyama 1991). Returns a ``[2, 3]`` matrix."""
  src, dst = np.asarray(src, np.float64), np.asarray(dst, np.float64)
  mu_s, mu_d = src.mean(0), dst.mean(0)
  s, d = src - mu_s, dst - mu_d
  cov = d.T @ s / len(src)
  u, sig, vt = np.linalg.svd(cov)
  sign = np.diag([1.0, np.sign(np.linalg.det(u @ vt)) or 1.0])
  rot = u @ sign @ vt
  scale = np.trace(np.diag(sig) @ sign) / s.var(0).sum()
  return np.hstack([scale * rot, (mu_d - scale * rot @ mu_s)[:, None]])


def align_faces(image: np.ndarray, landmarks: np.ndarray, size: int = 112) -> np.ndarray:
  """Crop faces aligned by their 5 landmarks onto the standard template.

  Args:
    image: uint8 ``[H, W, 3]``.
    landmarks: ``[N, 5, 2]`` (from :func:`mtcnn_jax.detect`).
    size: output side; the 112-px template is scaled to it.

  Returns:
    uint8 ``[N, size, size, 3]``.
  """
  landmarks = np.asarray(landmarks, np.float64).reshape(-1, 5, 2)
  template = ALIGNMENT_TEMPLATE_112 * (size / 112.0)
  out = np.zeros((len(landmarks), size, size, 3), np.uint8)
  for k, pts in enumerate(landmarks):
    matrix = similarity_transform(pts, template)
    out[k] = cv2.warpAffine(np.asarray(image, np.uint8), matrix, (size, size),
                            flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
  return out
