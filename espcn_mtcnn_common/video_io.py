"""Reading and writing video files with OpenCV's FFmpeg, frames as uint8 RGB.

Shared by ``espcn-video`` and ``mtcnn-video``. Codecs: mp4v for .mp4/.mov/.m4v,
MJPG for .avi, FFV1 (lossless) for .mkv; the opencv-python wheel has no H.264
encoder. Audio is never read or written.
"""
from __future__ import annotations

import contextlib
import dataclasses
import os
import pathlib
from typing import Iterator

import cv2
import numpy as np

from espcn_mtcnn_common import atomic_write, image_io

__all__ = ["VideoError", "VideoInfo", "CODECS", "DEFAULT_FPS", "probe_video",
           "check_frame_pixels", "read_frames", "AtomicVideoWriter", "open_writer", "write_frame",
           "quiet_ffmpeg"]

# Output suffix -> FourCC that the opencv-python wheel (FFmpeg inside) can encode.
CODECS = {".mp4": "mp4v", ".m4v": "mp4v", ".mov": "mp4v", ".avi": "MJPG", ".mkv": "FFV1"}
# Used when a container reports no usable frame rate (e.g. a still image opened as video).
DEFAULT_FPS = 25.0


class VideoError(ValueError):
  """A video that cannot be read or written, with the reason in the message."""


@dataclasses.dataclass(frozen=True)
class VideoInfo:
  """What a video file holds: frame ``width`` x ``height`` (pixels), ``fps``, and
  ``frame_count`` as the container reports it (0 when unknown; may be approximate)."""
  width: int
  height: int
  fps: float
  frame_count: int


def probe_video(path: str | os.PathLike) -> VideoInfo:
  """Open a video and decode its first frame.

  Raises:
    VideoError: missing or empty file, a file FFmpeg cannot decode (corrupt,
      truncated, not a video), or a video with no frames.
  """
  path = pathlib.Path(path)
  if not path.is_file():
    raise VideoError(f"{path}: no such file")
  if path.stat().st_size == 0:
    raise VideoError(f"{path}: file is empty")
  capture = cv2.VideoCapture(str(path))
  try:
    if not capture.isOpened():
      raise VideoError(f"{path}: cannot read video (corrupt, truncated, or not a format "
                       "OpenCV's FFmpeg can decode)")
    ok, frame = capture.read()
    if not ok or frame is None:
      raise VideoError(f"{path}: video has no frames")
    fps = capture.get(cv2.CAP_PROP_FPS)
    count = capture.get(cv2.CAP_PROP_FRAME_COUNT)
  finally:
    capture.release()
  fps = float(fps) if np.isfinite(fps) and 0 < fps <= 1000 else DEFAULT_FPS
  count = int(count) if np.isfinite(count) and 0 < count < 2**31 else 0
  return VideoInfo(width=frame.shape[1], height=frame.shape[0], fps=fps, frame_count=count)


def check_frame_pixels(path, width: int, height: int, what: str = "frames") -> None:
  """Refuse frames over the image pixel limit (``ESPCN_JAX_MAX_PIXELS``), as for images."""
  limit = image_io.MAX_PIXELS
  if width * height > limit:
    raise VideoError(f"{path}: {what} of {width}x{height} are larger than the {limit}-pixel "
                     "limit (set ESPCN_JAX_MAX_PIXELS to raise it)")


def read_frames(path: str | os.PathLike, *, max_frames: int | None = None) -> Iterator[np.ndarray]:
  """Decode a video: uint8 ``[H, W, 3]`` RGB frames, in order.

  Args:
    path: a video file (check it first with :func:`probe_video` for clear errors).
    max_frames: stop after this many frames (``None``: all).

  Raises:
    VideoError: the file cannot be opened, or a frame's size differs from the
      first frame's (one size means one compiled function).
  """
  capture = cv2.VideoCapture(str(path))
  if not capture.isOpened():
    raise VideoError(f"{path}: cannot read video")
  try:
    first_shape, index = None, 0
    while max_frames is None or index < max_frames:
      ok, frame = capture.read()
      if not ok or frame is None:
        return
      if first_shape is None:
        first_shape = frame.shape
      elif frame.shape != first_shape:
        raise VideoError(f"{path}: frame {index} is {frame.shape[1]}x{frame.shape[0]}, the first "
                         f"was {first_shape[1]}x{first_shape[0]}; all frames must share a size")
      if frame.ndim == 2:
        frame = cv2.cvtColor(frame, cv2.COLOR_GRAY2RGB)
      else:
        frame = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)   # OpenCV decodes to BGR
      yield frame
      index += 1
  finally:
    capture.release()


class AtomicVideoWriter:
  """An OpenCV ``VideoWriter`` on a temporary file, renamed into place on ``release()``.

  Used like ``cv2.VideoWriter`` (``write``, ``isOpened``, ``release``). Until
  ``release()`` the destination keeps its old content (if any); ``discard()``
  drops the temporary file instead. As a context manager it releases on
  success and discards when the block raises.
  """

  def __init__(self, writer, tmp: pathlib.Path, path: pathlib.Path):
    self._writer, self.tmp_path, self.path = writer, tmp, path
    self._done = False

  def write(self, frame_bgr: np.ndarray) -> None:
    """Encode one BGR frame (as ``cv2.VideoWriter.write``)."""
    self._writer.write(frame_bgr)

  def isOpened(self) -> bool:  # pylint: disable=invalid-name  (cv2's name)
    return not self._done and self._writer.isOpened()

  def release(self) -> None:
    """Finish the file and rename it to :attr:`path`; later calls do nothing."""
    if self._done:
      return
    self._done = True
    try:
      self._writer.release()
      os.replace(self.tmp_path, self.path)
    except BaseException:
      with contextlib.suppress(OSError):
        self.tmp_path.unlink()
      raise

  def discard(self) -> None:
    """Close the writer and delete the temporary file; :attr:`path` is untouched."""
    if self._done:
      return
    self._done = True
    with contextlib.suppress(Exception):
      self._writer.release()
    with contextlib.suppress(OSError):
      self.tmp_path.unlink()

  def __enter__(self) -> "AtomicVideoWriter":
    return self

  def __exit__(self, exc_type, exc, tb) -> None:
    if exc_type is None:
      self.release()
    else:
      self.discard()


def open_writer(path: str | os.PathLike, fps: float, width: int, height: int,
                codec: str | None = None):
  """A video writer for ``width`` x ``height`` colour frames, written atomically.

  Frames go to a hidden temporary file beside ``path`` (same suffix);
  ``release()`` renames it to ``path``, ``discard()`` deletes it (see
  :class:`AtomicVideoWriter`; ``with open_writer(...) as writer:`` does the
  right one), so a failed or concurrent run never leaves a partial video.

  Args:
    path: output file; its folder must exist.
    fps: frames per second written into the container.
    codec: a FourCC (e.g. ``"mp4v"``, ``"MJPG"``, ``"FFV1"``); default from the
      suffix (:data:`CODECS`).

  Raises:
    VideoError: missing folder, unknown suffix, bad FourCC, or a codec/container
      pair the installed OpenCV cannot encode.
  """
  path = pathlib.Path(path)
  if not path.parent.is_dir():
    raise VideoError(f"{path.parent}: output folder does not exist")
  if path.is_dir():
    raise VideoError(f"{path}: is a folder; give an output file name")
  suffix = path.suffix.lower()
  if codec is None:
    if suffix not in CODECS:
      raise VideoError(f"{path}: unknown video suffix {suffix!r}; use one of "
                       f"{', '.join(CODECS)} or name a codec with --codec")
    codec = CODECS[suffix]
  if len(codec) != 4:
    raise VideoError(f"codec must be a four-character FourCC such as 'mp4v', got {codec!r}")
  tmp = atomic_write.temp_path_for(path)
  writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*codec), float(fps),
                           (int(width), int(height)))
  if not writer.isOpened():
    AtomicVideoWriter(writer, tmp, path).discard()
    raise VideoError(f"{path}: OpenCV cannot write codec {codec!r} into a {suffix or 'suffix-less'}"
                     " file (this opencv-python wheel encodes mp4v for .mp4, MJPG for .avi, "
                     "FFV1 for .mkv/.avi; it has no H.264 encoder)")
  return AtomicVideoWriter(writer, tmp, path)


def write_frame(writer, frame: np.ndarray) -> None:
  """Encode one uint8 ``[H, W, 3]`` RGB frame (OpenCV wants BGR)."""
  writer.write(cv2.cvtColor(np.ascontiguousarray(frame), cv2.COLOR_RGB2BGR))


def quiet_ffmpeg() -> None:
  """Silence FFmpeg's and OpenCV's console chatter (the CLIs report errors themselves).

  Set before OpenCV's first video call; an existing environment setting wins.
  """
  os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")     # AV_LOG_QUIET
  os.environ.setdefault("OPENCV_LOG_LEVEL", "OFF")
  with contextlib.suppress(Exception):
      cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
