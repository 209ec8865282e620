"""``espcn-video`` / ``python -m espcn_jax.video``: super-resolve a video frame by frame.

Examples::

  espcn-video clip.mp4 --out clip_x3.mp4                  # shipped x3 weights, mp4v
  espcn-video clip.mp4 --out clip_x3.mkv                  # FFV1: lossless, large files
  espcn-video clip.mp4 --out big.avi --model runs/espcn_x3 --max-frames 100

Colour: Y goes through ESPCN, Cb/Cr are upscaled bicubically (the same
:func:`espcn_jax.upscale` as ``espcn-upscale``). All frames of a video have one
size, so the network compiles once, before timing starts.

Three stages overlap, each on its own thread, joined by bounded queues:
decoding (OpenCV ``VideoCapture``) -> ESPCN (the calling thread; XLA releases
the GIL while it computes) -> encoding (OpenCV ``VideoWriter``). The final line
gives frames/s end to end and for the ESPCN stage alone.

Audio is not copied (out of scope); put it back with e.g.
``ffmpeg -i clip_x3.mp4 -i clip.mp4 -map 0:v -map 1:a? -c copy out.mp4``.
Codecs: mp4v for .mp4/.mov/.m4v, MJPG for .avi, FFV1 (lossless) for .mkv; the
opencv-python wheel has no H.264 encoder.
"""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import pathlib
import queue
import sys
import threading
import time
from typing import Callable, Iterable, Iterator

import numpy as np

from espcn_jax import compile_cache, image_io

__all__ = ["VideoError", "VideoInfo", "PipelineStats", "VideoStats", "CODECS", "probe_video",
           "check_frame_pixels", "read_frames", "open_writer", "write_frame", "run_pipeline",
           "count_traces", "upscale_stream", "upscale_video", "summary_line", "quiet_ffmpeg",
           "progress_bar", "positive_int", "main"]

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


def _cv2():
  import cv2  # pylint: disable=import-outside-toplevel
  return cv2


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
  cv2 = _cv2()
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
  cv2 = _cv2()
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


def open_writer(path: str | os.PathLike, fps: float, width: int, height: int,
                codec: str | None = None):
  """An OpenCV ``VideoWriter`` for ``width`` x ``height`` colour frames.

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
  cv2 = _cv2()
  writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*codec), float(fps),
                           (int(width), int(height)))
  if not writer.isOpened():
    raise VideoError(f"{path}: OpenCV cannot write codec {codec!r} into a {suffix or 'suffix-less'}"
                     " file (this opencv-python wheel encodes mp4v for .mp4, MJPG for .avi, "
                     "FFV1 for .mkv/.avi; it has no H.264 encoder)")
  return writer


def write_frame(writer, frame: np.ndarray) -> None:
  """Encode one uint8 ``[H, W, 3]`` RGB frame (OpenCV wants BGR)."""
  cv2 = _cv2()
  writer.write(cv2.cvtColor(np.ascontiguousarray(frame), cv2.COLOR_RGB2BGR))


# --------------------------------------------------------------------------- the pipeline


@dataclasses.dataclass
class PipelineStats:
  """Wall time of a pipeline run and the busy time of each stage, seconds.

  The stages overlap, so ``decode_s + compute_s + encode_s`` may exceed ``wall_s``.
  ``traces``: JAX functions traced (compiled) during the run; 0 once warm.
  """
  items: int = 0
  wall_s: float = 0.0
  decode_s: float = 0.0
  compute_s: float = 0.0
  encode_s: float = 0.0
  traces: int = 0


_END = object()


class _Failed:
  def __init__(self, error: BaseException):
    self.error = error


def _put(q: queue.Queue, item, stop: threading.Event) -> bool:
  """Put, but give up when ``stop`` is set (a failed stage must not deadlock the others)."""
  while not stop.is_set():
    try:
      q.put(item, timeout=0.05)
      return True
    except queue.Full:
      continue
  return False


def _get(q: queue.Queue, stop: threading.Event):
  while not stop.is_set():
    try:
      return q.get(timeout=0.05)
    except queue.Empty:
      continue
  return _END


def _decode_stage(source: Iterable, out: queue.Queue, stop: threading.Event, stats: PipelineStats):
  iterator = iter(source)
  try:
    while not stop.is_set():
      start = time.perf_counter()
      try:
        item = next(iterator)
      except StopIteration:
        break
      stats.decode_s += time.perf_counter() - start
      if not _put(out, item, stop):
        break
    _put(out, _END, stop)
  except BaseException as e:  # pylint: disable=broad-except
    _put(out, _Failed(e), stop)
  finally:
    close = getattr(iterator, "close", None)
    if close is not None:
      close()                       # releases the VideoCapture in this thread


def _encode_stage(sink: Callable, inbox: queue.Queue, stop: threading.Event, stats: PipelineStats,
                  failure: list):
  try:
    while True:
      item = _get(inbox, stop)
      if item is _END:
        return
      start = time.perf_counter()
      sink(item)
      stats.encode_s += time.perf_counter() - start
  except BaseException as e:  # pylint: disable=broad-except
    failure.append(e)
    stop.set()


@contextlib.contextmanager
def count_traces():
  """Count JAX traces in the block: ``with count_traces() as n: ...; n[0]``."""
  from jax import monitoring  # pylint: disable=import-outside-toplevel
  counter = [0]

  def listener(event: str, duration_secs: float, **kwargs):
    del duration_secs, kwargs
    if event == "/jax/core/compile/jaxpr_trace_duration":
      counter[0] += 1

  monitoring.register_event_duration_secs_listener(listener)
  try:
    yield counter
  finally:
    monitoring.unregister_event_duration_listener(listener)


def run_pipeline(source: Iterable, compute: Callable, sink: Callable, *,
                 queue_size: int = 4) -> PipelineStats:
  """Run ``sink(compute(item))`` for every item of ``source``, in order, overlapped.

  ``source`` is iterated on a decode thread and ``sink`` runs on an encode
  thread; ``compute`` runs on the calling thread (so JAX is only called from
  one thread). Bounded queues of ``queue_size`` items keep memory flat when one
  stage is slower. An exception in any stage stops the others and is re-raised
  here; so is Ctrl-C.

  Returns:
    :class:`PipelineStats` (``items``: items computed).
  """
  stats = PipelineStats()
  stop = threading.Event()
  inbox: queue.Queue = queue.Queue(maxsize=queue_size)
  outbox: queue.Queue = queue.Queue(maxsize=queue_size)
  encode_failure: list = []
  decoder = threading.Thread(target=_decode_stage, args=(source, inbox, stop, stats),
                             name="video-decode", daemon=True)
  encoder = threading.Thread(target=_encode_stage, args=(sink, outbox, stop, stats, encode_failure),
                             name="video-encode", daemon=True)
  start = time.perf_counter()
  with count_traces() as traces:
    decoder.start()
    encoder.start()
    try:
      while True:
        item = _get(inbox, stop)
        if item is _END:
          break
        if isinstance(item, _Failed):
          raise item.error
        t = time.perf_counter()
        result = compute(item)
        stats.compute_s += time.perf_counter() - t
        stats.items += 1
        if not _put(outbox, result, stop):
          break
      _put(outbox, _END, stop)
      encoder.join()
    except BaseException:
      stop.set()
      raise
    finally:
      stop.set()                     # the decoder may still be blocked on a full queue
      encoder.join()
      decoder.join()
  if encode_failure:
    raise encode_failure[0]
  stats.wall_s = time.perf_counter() - start
  stats.traces = traces[0]
  return stats


@dataclasses.dataclass
class VideoStats:
  """A whole video run: sizes are ``(width, height)``; times in seconds.

  ``compile_s`` (the warm-up call: compiling, or loading the compiled program
  from the CLIs' compilation cache) is not part of ``wall_s``.
  """
  frames: int
  input_size: tuple[int, int]
  output_size: tuple[int, int]
  compile_s: float
  pipeline: PipelineStats

  @property
  def fps(self) -> float:
    """Frames per second end to end (decode, compute and encode overlapped)."""
    return self.frames / max(self.pipeline.wall_s, 1e-9)

  @property
  def compute_fps(self) -> float:
    """Frames per second of the compute stage alone."""
    return self.frames / max(self.pipeline.compute_s, 1e-9)

  def share(self, stage: str) -> float:
    """Busy time of ``"decode"``, ``"compute"`` or ``"encode"`` over the wall time."""
    return getattr(self.pipeline, f"{stage}_s") / max(self.pipeline.wall_s, 1e-9)

  def to_json(self) -> dict:
    return {"frames": self.frames, "input_size": list(self.input_size),
            "output_size": list(self.output_size), "compile_s": self.compile_s,
            "fps": self.fps, "compute_fps": self.compute_fps,
            "decode_share": self.share("decode"), "encode_share": self.share("encode"),
            **dataclasses.asdict(self.pipeline)}


def progress_bar(progress: bool, total: int | None, desc: str, unit: str = "frame"):
  """A tqdm bar (disabled unless ``progress``); ``total`` 0 or None: unknown length."""
  from tqdm.auto import tqdm  # pylint: disable=import-outside-toplevel
  return tqdm(total=total or None, desc=desc, unit=unit, disable=not progress)


def upscale_stream(params, frames: Iterable[np.ndarray], write: Callable[[np.ndarray], None], *,
                   scale: int | None = None, settings: dict | None = None, queue_size: int = 4,
                   progress: bool = False, total: int | None = None) -> PipelineStats:
  """Upscale a stream of frames with the decode/compute/encode overlap, no files involved.

  Args:
    params: ESPCN params pytree.
    frames: uint8 ``[H, W, 3]`` RGB frames, all of one size (iterated on a thread).
    write: called with each uint8 ``[H*r, W*r, 3]`` RGB output, in order (on a thread).
    scale: optional check that the params are for this scale.
    settings: :func:`espcn_jax.upscale` keywords that params do not record
      (``activation``, ``centre``; see ``ModelSpec.settings``).
    progress, total: show a tqdm bar (``total``: expected frames).

  Returns:
    :class:`PipelineStats`.
  """
  from espcn_jax import infer  # pylint: disable=import-outside-toplevel
  settings = settings or {}
  bar = progress_bar(progress, total, f"upscale x{scale or ''}")

  def sink(frame):
    write(frame)
    bar.update(1)

  try:
    return run_pipeline(frames, lambda f: infer.upscale(params, f, scale=scale, **settings), sink,
                        queue_size=queue_size)
  finally:
    bar.close()


def upscale_video(src: str | os.PathLike, dst: str | os.PathLike, *, params, scale: int,
                  settings: dict | None = None, codec: str | None = None,
                  max_frames: int | None = None, progress: bool = True,
                  queue_size: int = 4) -> VideoStats:
  """Super-resolve a video file into another (no audio).

  Args:
    src: input video; dst: output video (its folder must exist).
    params, scale, settings: the model (see :func:`upscale_stream`).
    codec: FourCC for ``dst``; default from its suffix (:data:`CODECS`).
    max_frames: only the first frames.

  Returns:
    :class:`VideoStats`; the network is compiled on a blank frame of the
    video's size before timing starts (``compile_s``).

  Raises:
    VideoError: unreadable input, no frames, output not writable, frames whose
      upscaled size exceeds the pixel limit.
  """
  from espcn_jax import infer  # pylint: disable=import-outside-toplevel
  settings = settings or {}
  info = probe_video(src)
  out_w, out_h = info.width * scale, info.height * scale
  check_frame_pixels(src, out_w, out_h, what=f"x{scale} frames")
  if pathlib.Path(dst).resolve() == pathlib.Path(src).resolve():
    raise VideoError("the output file must differ from the input file")
  writer = open_writer(dst, info.fps, out_w, out_h, codec)
  try:
    start = time.perf_counter()
    infer.upscale(params, np.zeros((info.height, info.width, 3), np.uint8), scale=scale,
                  **settings)
    compile_s = time.perf_counter() - start
    total = min(info.frame_count, max_frames) if max_frames else info.frame_count
    stats = upscale_stream(params, read_frames(src, max_frames=max_frames),
                           lambda frame: write_frame(writer, frame), scale=scale,
                           settings=settings, queue_size=queue_size, progress=progress,
                           total=total)
  finally:
    writer.release()
  return VideoStats(stats.items, (info.width, info.height), (out_w, out_h), compile_s, stats)


def summary_line(stats: VideoStats, what: str = "ESPCN", encode: str = "encode") -> str:
  """One line: frames, sizes, seconds, fps end to end and compute-only, stage shares
  (``what`` names the compute stage, ``encode`` the last)."""
  (w, h), (ow, oh) = stats.input_size, stats.output_size
  size = f"{w}x{h}" + (f" -> {ow}x{oh}" if (ow, oh) != (w, h) else "")
  return (f"{stats.frames} frames {size} in {stats.pipeline.wall_s:.2f} s: "
          f"{stats.fps:.2f} fps end to end, {stats.compute_fps:.2f} fps {what} only "
          f"(decode {stats.share('decode'):.0%}, {encode} {stats.share('encode'):.0%} of the wall "
          f"time, overlapped; warm-up {stats.compile_s:.1f} s not counted: compiling, or "
          f"loading from the compilation cache)")


def quiet_ffmpeg() -> None:
  """Silence FFmpeg's and OpenCV's console chatter (the CLIs report errors themselves).

  Set before OpenCV's first video call; an existing environment setting wins.
  """
  os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")     # AV_LOG_QUIET
  os.environ.setdefault("OPENCV_LOG_LEVEL", "OFF")
  with contextlib.suppress(Exception):
    cv2 = _cv2()
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)


def positive_int(text: str) -> int:
  """argparse type: an integer >= 1."""
  value = int(text)
  if value < 1:
    raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
  return value


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(prog="espcn-video", description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("input", help="a video file (anything OpenCV's FFmpeg decodes)")
  parser.add_argument("-o", "--out", help="output video (default: INPUT_x{scale}.mp4 beside it); "
                      "audio is not copied")
  parser.add_argument("--model", default="pretrained",
                      help="'pretrained' (shipped weights) or a training workdir")
  parser.add_argument("--scale", type=int, default=3, help="upscaling factor of the model")
  parser.add_argument("--max-frames", type=positive_int, help="only the first N frames")
  parser.add_argument("--codec", help="FourCC, e.g. mp4v, MJPG, FFV1 (default: from the suffix)")
  parser.add_argument("--no-progress", action="store_true")
  compile_cache.add_argument(parser)
  args = parser.parse_args(argv)
  compile_cache.enable(args.compile_cache)

  quiet_ffmpeg()
  from espcn_jax.checkpoint import CheckpointError  # pylint: disable=import-outside-toplevel
  from espcn_jax.cli import load_params  # pylint: disable=import-outside-toplevel

  src = pathlib.Path(args.input)
  dst = pathlib.Path(args.out) if args.out else src.with_name(f"{src.stem}_x{args.scale}.mp4")
  try:
    probe_video(src)                 # input errors before the weights are loaded
    if not dst.parent.is_dir():
      raise VideoError(f"{dst.parent}: output folder does not exist")
    params, settings = load_params(args.model, args.scale)
    stats = upscale_video(src, dst, params=params, scale=args.scale, settings=settings,
                          codec=args.codec, max_frames=args.max_frames,
                          progress=not args.no_progress)
  except (VideoError, CheckpointError, FileNotFoundError, ValueError) as e:
    print(f"error: {e}", file=sys.stderr)
    return 2
  except KeyboardInterrupt:
    print(f"interrupted; {dst} holds the frames written so far", file=sys.stderr)
    return 130
  print(summary_line(stats) + f"; wrote {dst}")
  return 0


if __name__ == "__main__":
  sys.exit(main())
