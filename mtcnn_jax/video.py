"""``mtcnn-video`` / ``python -m mtcnn_jax.video``: detect faces in every frame of a video.

Examples::

  mtcnn-video clip.mp4 --out clip_faces.mp4 --json clip_faces.jsonl
  mtcnn-video clip.mp4 --no-video --json faces.jsonl --batch-size 8 --min-face-size 40
  mtcnn-video clip.mp4 --weights=wider600        # the cascade this project trained

Writes the video with boxes, scores and landmarks drawn, and one JSON line per
frame::

  {"frame": 0, "time_s": 0.0, "boxes": [[x1, y1, x2, y2], ...], "scores": [...],
   "landmarks": [[[x, y] x 5], ...]}

boxes are continuous pixel ``[x1, y1, x2, y2)``, landmarks are left eye, right
eye, nose, left and right mouth corner; ``time_s`` is ``frame / fps``.

Frames are detected ``--batch-size`` at a time with one jitted call
(:func:`mtcnn_jax.detect_batch`; all frames share one canvas, so the cascade
compiles once, before timing starts). Decoding, detection and drawing +
encoding overlap on three threads joined by bounded queues. Audio is not
copied (out of scope).
"""
from __future__ import annotations

import argparse
import contextlib
import json
import pathlib
import sys
import time
from typing import Callable, Iterable, Iterator

import numpy as np

from espcn_mtcnn_common import compile_cache
from espcn_mtcnn_common.cli_helpers import install_warning_format, positive_int, progress_bar
from espcn_mtcnn_common.pipeline import PipelineStats, VideoStats, run_pipeline, summary_line
from espcn_mtcnn_common.video_io import (VideoError, check_frame_pixels, open_writer, probe_video,
                                         quiet_ffmpeg, read_frames, write_frame)
from mtcnn_jax import draw
from mtcnn_jax.cascade import DetectorConfig, FaceDetections, check_config, detect_batch
from mtcnn_jax.detectors import WEIGHTS_HELP, mtcnn_detector_name, mtcnn_params_source
from mtcnn_jax.params import load_params

__all__ = ["batches", "detect_stream", "detect_video", "frame_record", "main"]


def batches(frames: Iterable[np.ndarray], size: int) -> Iterator[list[np.ndarray]]:
  """Group frames into lists of ``size`` (the last may be shorter)."""
  batch = []
  for frame in frames:
    batch.append(frame)
    if len(batch) == size:
      yield batch
      batch = []
  if batch:
    yield batch


def _detect_padded_batch(frames: list[np.ndarray], size: int, params, config, settings) -> list:
  """``detect_batch`` on exactly ``size`` frames (a short last batch repeats its last
  frame, so every call has one shape and nothing recompiles)."""
  padded = frames + [frames[-1]] * (size - len(frames))
  return detect_batch(padded, params=params, config=config, **settings)[: len(frames)]


def _published_if_none(params):
  if params is None:
    params = load_params("published")     # once, not per batch
  return params


def _rounded(values, decimals: int) -> list:
  # float64 first: float32 values printed as floats carry noise digits (530.7355957...).
  return np.round(np.asarray(values, np.float64), decimals).tolist()


def frame_record(index: int, fps: float, faces: FaceDetections) -> dict:
  """The JSON line of one frame: ``frame``, ``time_s``, ``boxes [N, 4]``, ``scores [N]``,
  ``landmarks [N, 5, 2]`` (pixels to 0.01, scores to 1e-6)."""
  return {"frame": index, "time_s": round(index / fps, 6), "boxes": _rounded(faces.boxes, 2),
          "scores": _rounded(faces.scores, 6), "landmarks": _rounded(faces.landmarks, 2)}


def detect_stream(frames: Iterable[np.ndarray],
                  write: Callable[[np.ndarray, FaceDetections], None], *, batch_size: int = 8,
                  params=None, config: DetectorConfig = DetectorConfig(), queue_size: int = 4,
                  progress: bool = False, total: int | None = None, **settings) -> PipelineStats:
  """Detect faces in a stream of frames, overlapped with decoding and ``write``.

  Args:
    frames: uint8 ``[H, W, 3]`` RGB frames of one size (iterated on a thread).
    write: called as ``write(frame, faces)`` for each frame, in order (on a
      thread); ``faces`` is a :class:`mtcnn_jax.FaceDetections`.
    batch_size: frames per jitted call.
    params, config, settings: as for :func:`mtcnn_jax.detect` (default: the
      published weights; e.g. ``min_face_size=40``).
    progress, total: show a tqdm bar (``total``: expected frames).

  Returns:
    :class:`espcn_mtcnn_common.pipeline.PipelineStats` (``items`` counts batches).
  """
  params = _published_if_none(params)
  bar = progress_bar(progress, total, f"detect (batch {batch_size})")

  def compute(batch):
    return batch, _detect_padded_batch(batch, batch_size, params, config, settings)

  def sink(result):
    for frame, faces in zip(*result):
      write(frame, faces)
      bar.update(1)

  try:
    return run_pipeline(batches(frames, batch_size), compute, sink, queue_size=queue_size)
  finally:
    bar.close()


def detect_video(src, *, out=None, json_path=None, batch_size: int = 8, codec: str | None = None,
                 max_frames: int | None = None, params=None,
                 config: DetectorConfig = DetectorConfig(), progress: bool = True,
                 queue_size: int = 4, **settings) -> VideoStats:
  """Detect faces in a video file; write the annotated video and/or JSON lines.

  Args:
    src: input video.
    out: annotated video (``None``: none; its folder must exist); ``codec``
      its FourCC (default from the suffix).
    json_path: JSON lines, one record per frame (:func:`frame_record`).
    batch_size, params, config, settings: see :func:`detect_stream`.
    max_frames: only the first frames.

  Returns:
    :class:`espcn_mtcnn_common.pipeline.VideoStats`; ``compile_s`` is the warm-up call on
    blank frames, before timing starts.

  Raises:
    VideoError: unreadable input, no frames, unwritable outputs, frames over
      the pixel limit.
  """
  info = probe_video(src)
  check_frame_pixels(src, info.width, info.height)
  for path in (out, json_path):
    if path is not None and pathlib.Path(path).resolve() == pathlib.Path(src).resolve():
      raise VideoError("the outputs must differ from the input file")
  if json_path is not None and not pathlib.Path(json_path).parent.is_dir():
    raise VideoError(f"{pathlib.Path(json_path).parent}: output folder does not exist")
  params = _published_if_none(params)
  with contextlib.ExitStack() as files:
    writer = records = None
    if out is not None:
      writer = open_writer(out, info.fps, info.width, info.height, codec)
      files.callback(writer.release)
    if json_path is not None:
      records = files.enter_context(open(json_path, "w", encoding="utf-8"))
    index = [0]

    def write(frame, faces):
      if records is not None:
        records.write(json.dumps(frame_record(index[0], info.fps, faces)) + "\n")
      if writer is not None:
        write_frame(writer, draw.draw_detections(frame, faces) if len(faces) else frame)
      index[0] += 1

    start = time.perf_counter()
    blank = np.zeros((info.height, info.width, 3), np.uint8)
    _detect_padded_batch([blank], batch_size, params, config, settings)
    compile_s = time.perf_counter() - start
    total = min(info.frame_count, max_frames) if max_frames else info.frame_count
    stats = detect_stream(read_frames(src, max_frames=max_frames), write,
                          batch_size=batch_size, params=params, config=config,
                          queue_size=queue_size, progress=progress, total=total, **settings)
  size = (info.width, info.height)
  return VideoStats(index[0], size, size, compile_s, stats)


def main(argv=None) -> int:
  install_warning_format()
  parser = argparse.ArgumentParser(prog="mtcnn-video", description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("input", help="a video file (anything OpenCV's FFmpeg decodes)")
  parser.add_argument("-o", "--out", help="annotated video (default: INPUT_faces.mp4 beside it); "
                      "audio is not copied")
  parser.add_argument("--json", help="per-frame JSON lines (default: the --out path with "
                      "suffix .jsonl)")
  parser.add_argument("--no-video", action="store_true", help="write only the JSON lines")
  parser.add_argument("--batch-size", type=positive_int, default=8,
                      help="frames per jitted detection call")
  parser.add_argument("--max-frames", type=positive_int, help="only the first N frames")
  parser.add_argument("--codec", help="FourCC, e.g. mp4v, MJPG, FFV1 (default: from the suffix)")
  parser.add_argument("--min-face-size", type=float, default=20.0, help="smallest face, pixels")
  parser.add_argument("--thresholds", type=float, nargs=3, default=(0.6, 0.7, 0.7),
                      metavar=("P", "R", "O"), help="P-, R-, O-Net face thresholds")
  parser.add_argument("--weights", default="published", help=WEIGHTS_HELP)
  parser.add_argument("--no-progress", action="store_true")
  compile_cache.add_argument(parser)
  args = parser.parse_args(argv)
  compile_cache.enable(args.compile_cache)

  quiet_ffmpeg()
  src = pathlib.Path(args.input)
  out = pathlib.Path(args.out) if args.out else src.with_name(f"{src.stem}_faces.mp4")
  json_path = pathlib.Path(args.json) if args.json else out.with_suffix(".jsonl")
  try:
    check_config(DetectorConfig(min_face_size=args.min_face_size,
                                thresholds=tuple(args.thresholds)))
    params = load_params(mtcnn_params_source(mtcnn_detector_name(args.weights)))
    stats = detect_video(src, out=None if args.no_video else out, json_path=json_path,
                         params=params, batch_size=args.batch_size, codec=args.codec,
                         max_frames=args.max_frames,
                         progress=not args.no_progress, min_face_size=args.min_face_size,
                         thresholds=tuple(args.thresholds))
  except (VideoError, ValueError, FileNotFoundError) as e:
    print(f"error: {e}", file=sys.stderr)
    return 2
  except KeyboardInterrupt:
    print("interrupted; the outputs hold the frames written so far", file=sys.stderr)
    return 130
  wrote = ", ".join(str(p) for p in ([] if args.no_video else [out]) + [json_path])
  print(summary_line(stats, f"detection (batch {args.batch_size})",
                     "draw + encode" if not args.no_video else "JSON") + f"; wrote {wrote}")
  return 0


if __name__ == "__main__":
  sys.exit(main())
