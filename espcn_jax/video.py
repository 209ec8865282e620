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
import os
import pathlib
import sys
import time
from typing import Callable, Iterable

import numpy as np

from espcn_jax import infer
from espcn_jax.checkpoint import CheckpointError
from espcn_jax.cli import load_params
from espcn_mtcnn_common import compile_cache
from espcn_mtcnn_common.cli_helpers import install_warning_format, positive_int, progress_bar
from espcn_mtcnn_common.pipeline import PipelineStats, VideoStats, run_pipeline, summary_line
from espcn_mtcnn_common.video_io import (VideoError, check_frame_pixels, open_writer, probe_video,
                                         quiet_ffmpeg, read_frames, write_frame)

__all__ = ["upscale_stream", "upscale_video", "main"]


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
    codec: FourCC for ``dst``; default from its suffix
      (:data:`espcn_mtcnn_common.video_io.CODECS`).
    max_frames: only the first frames.

  Returns:
    :class:`VideoStats`; the network is compiled on a blank frame of the
    video's size before timing starts (``compile_s``).

  Raises:
    VideoError: unreadable input, no frames, output not writable, frames whose
      upscaled size exceeds the pixel limit.
  """
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


def main(argv=None) -> int:
  install_warning_format()
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
