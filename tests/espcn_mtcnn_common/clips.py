"""Small synthetic video clips for the video tests of both packages (made here, nothing shipped)."""
from __future__ import annotations

import cv2
import numpy as np

N_FRAMES, HEIGHT, WIDTH = 8, 24, 32


def frames(n: int = N_FRAMES) -> list[np.ndarray]:
  """uint8 RGB ``[HEIGHT, WIDTH, 3]``: a gradient with a bright square moving right, and noise."""
  rng = np.random.default_rng(0)
  yy, xx = np.mgrid[:HEIGHT, :WIDTH]
  frames = []
  for k in range(n):
    rgb = np.stack([4 * xx + 40, 6 * yy + 30, np.full_like(xx, 120)], -1).astype(np.float64)
    rgb[6:14, 2 + 3 * k: 10 + 3 * k] = (230, 200, 60)
    rgb += rng.normal(0, 6, rgb.shape)
    frames.append(np.clip(np.round(rgb), 0, 255).astype(np.uint8))
  return frames


def write_clip(path, frames, codec: str, fps: float = 10.0):
  writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*codec), fps,
                           (frames[0].shape[1], frames[0].shape[0]))
  assert writer.isOpened()
  for frame in frames:
    writer.write(np.ascontiguousarray(frame[..., ::-1]))     # RGB -> BGR
  writer.release()
  return path
