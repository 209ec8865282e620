"""A three-stage pipeline (decode -> compute -> encode) on threads, and its timings.

The video CLIs of both packages run their frames through :func:`run_pipeline`:
decoding and encoding overlap with the network, which runs on the calling
thread (XLA releases the GIL while it computes).
"""
from __future__ import annotations

import contextlib
import dataclasses
import queue
import threading
import time
from typing import Callable, Iterable

from jax import monitoring

__all__ = ["PipelineStats", "VideoStats", "run_pipeline", "count_traces", "summary_line"]


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
