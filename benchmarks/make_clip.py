"""Make the benchmark videos: slow pans and zooms over still photos the project ships.

Usage::

  python benchmarks/make_clip.py [--frames 90] [--fps 30] [--out benchmarks/clips]

Writes (git-ignored, remade in a few seconds):

* ``hopper_pan_360x640.mp4``: 640x360 frames over matplotlib's public-domain
  Grace Hopper portrait (``espcn_mtcnn_common.demo_photo.grace_hopper()``), for ESPCN x3
  (-> 1920x1080).
* ``collage_pan_480x640.mp4``: 640x480 frames over the six-face collage of
  ``mtcnn_jax.demo_faces``, for face detection.

A virtual camera moves along a smooth deterministic path: the crop window
zooms in and out (cosine easing) while its centre follows a Lissajous curve
that keeps the window inside the photo. Each frame is one affine warp
(bilinear, sub-pixel), so the motion is smooth and every frame differs.
Frames are encoded with mp4v (the wheel's MPEG-4 Part 2 encoder).
"""
from __future__ import annotations

import argparse
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

CLIPS = pathlib.Path(__file__).resolve().parent / "clips"


def camera_path(n_frames: int, image_size: tuple[int, int], out_size: tuple[int, int],
                zoom_range: tuple[float, float]) -> np.ndarray:
  """Crop windows ``[n_frames, 3]``: centre x, centre y, window width (pixels, float64).

  Args:
    image_size, out_size: ``(width, height)`` of the photo and of the frames.
    zoom_range: window width as a fraction of the largest window of the
      frame's aspect ratio that fits the photo, from widest to narrowest.
  """
  (iw, ih), (ow, oh) = image_size, out_size
  full_width = min(iw, ih * ow / oh)              # widest window with the frame's aspect
  t = np.linspace(0.0, 1.0, n_frames)
  zoom_out, zoom_in = zoom_range
  fraction = zoom_out + (zoom_in - zoom_out) * 0.5 * (1 - np.cos(2 * np.pi * t))   # in and out
  width = full_width * fraction
  height = width * oh / ow
  # Lissajous path of the centre, scaled to the slack the window leaves.
  sx, sy = np.sin(2 * np.pi * t), np.sin(4 * np.pi * t + 0.5)
  cx = iw / 2 + sx * (iw - width) / 2
  cy = ih / 2 + sy * (ih - height) / 2
  return np.stack([cx, cy, width], axis=-1)


def render_frame(image: np.ndarray, window: np.ndarray, out_size: tuple[int, int]) -> np.ndarray:
  """The crop ``window`` (centre x, centre y, width) of uint8 ``image`` ``[H, W, 3]``
  warped to uint8 ``[out_h, out_w, 3]``."""
  import cv2  # pylint: disable=import-outside-toplevel
  cx, cy, width = window
  ow, oh = out_size
  s = ow / width
  # Pixel centres: output (u + 0.5) maps to input (x0 + (u + 0.5) / s).
  matrix = np.array([[s, 0.0, (ow / 2 - 0.5) - s * (cx - 0.5)],
                     [0.0, s, (oh / 2 - 0.5) - s * (cy - 0.5)]])
  return cv2.warpAffine(image, matrix, (ow, oh), flags=cv2.INTER_LINEAR,
                        borderMode=cv2.BORDER_REFLECT101)


def write_clip(path: pathlib.Path, image: np.ndarray, out_size: tuple[int, int], n_frames: int,
               fps: float, zoom_range: tuple[float, float]) -> pathlib.Path:
  """Render and encode one clip (mp4v)."""
  from espcn_mtcnn_common.video_io import open_writer, write_frame  # pylint: disable=import-outside-toplevel
  windows = camera_path(n_frames, (image.shape[1], image.shape[0]), out_size, zoom_range)
  path.parent.mkdir(parents=True, exist_ok=True)
  writer = open_writer(path, fps, out_size[0], out_size[1], "mp4v")
  try:
    for window in windows:
      write_frame(writer, render_frame(image, window, out_size))
  finally:
    writer.release()
  return path


def make_clips(out: pathlib.Path = CLIPS, n_frames: int = 90, fps: float = 30.0) -> dict:
  """Write both clips; ``{"espcn": path, "mtcnn": path}``."""
  from espcn_mtcnn_common.demo_photo import grace_hopper  # pylint: disable=import-outside-toplevel
  from mtcnn_jax.demo_faces import sample_faces  # pylint: disable=import-outside-toplevel
  hopper = grace_hopper()
  collage = dict((a.file, im) for a, im in sample_faces())["collage.png"]
  return {
      "espcn": write_clip(out / "hopper_pan_360x640.mp4", hopper, (640, 360), n_frames, fps,
                          zoom_range=(1.0, 0.55)),
      # The collage is already 640x480: from the whole picture in to 60 %, so
      # the smallest faces grow and the largest stay in view.
      "mtcnn": write_clip(out / "collage_pan_480x640.mp4", collage, (640, 480), n_frames, fps,
                          zoom_range=(1.0, 0.6)),
  }


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--frames", type=int, default=90)
  parser.add_argument("--fps", type=float, default=30.0)
  parser.add_argument("--out", default=str(CLIPS))
  args = parser.parse_args()
  for name, path in make_clips(pathlib.Path(args.out), args.frames, args.fps).items():
    print(f"{name}: {path} ({path.stat().st_size / 1e6:.1f} MB)")


if __name__ == "__main__":
  main()
