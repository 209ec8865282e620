"""Video pipelines on this machine: ESPCN x3 upscaling and MTCNN detection, frames/s.

Usage::

  python benchmarks/video_bench.py [--frames 90] [--batch-sizes 1 4 8] \
      [--out benchmarks/results/video_cpu.json]

Clips: ``benchmarks/make_clip.py`` (made first if absent): pans and zooms over
the shipped Grace Hopper portrait (640x360, ESPCN x3 -> 1920x1080, mp4v out)
and over the six-face collage (640x480, MTCNN with min face 20, annotated mp4v
out and JSON lines). Each run is what ``espcn-video`` / ``mtcnn-video`` do:
decode, compute and encode overlapped on three threads, the model compiled
before timing (reported apart). Columns:

* end-to-end fps: frames / wall time of the whole pipeline;
* compute fps: frames / busy time of the compute stage (ESPCN or detection);
* serial fps: frames / (decode + compute + encode busy time), what one thread
  doing the stages in turn would reach if nothing else changed;
* decode / encode share: each stage's busy time over the wall time (MTCNN's
  encode stage also draws the boxes and writes the JSON).

One run per setting; the machine is shared, so absolute numbers are noisy.
"""
from __future__ import annotations

import argparse
import json
import os
import pathlib
import platform
import sys
import tempfile

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

import jax  # noqa: E402

import make_clip  # noqa: E402
from espcn_jax import video as espcn_video  # noqa: E402
from espcn_jax.cli import load_params  # noqa: E402
from mtcnn_jax import video as mtcnn_video  # noqa: E402
from espcn_mtcnn_common import pipeline, video_io  # noqa: E402


def _row(name: str, stats: pipeline.VideoStats) -> dict:
  p = stats.pipeline
  serial_fps = stats.frames / max(p.decode_s + p.compute_s + p.encode_s, 1e-9)
  return {"name": name, "serial_fps": serial_fps, **stats.to_json()}


def _table(rows: list[dict]) -> str:
  head = (f"{'pipeline':<26} {'frames':>6} {'size':>20} {'end-to-end':>11} {'compute':>9} "
          f"{'serial':>8} {'decode':>7} {'encode':>7} {'compile':>8} {'traces':>6}")
  lines = [head, f"{'':<26} {'':>6} {'':>20} {'fps':>11} {'fps':>9} {'fps':>8} {'share':>7} "
           f"{'share':>7} {'s':>8} {'':>6}", "-" * len(head)]
  for r in rows:
    (w, h), (ow, oh) = r["input_size"], r["output_size"]
    size = f"{w}x{h}" + (f"->{ow}x{oh}" if (w, h) != (ow, oh) else "")
    lines.append(f"{r['name']:<26} {r['frames']:>6} {size:>20} {r['fps']:>11.2f} "
                 f"{r['compute_fps']:>9.2f} {r['serial_fps']:>8.2f} {r['decode_share']:>7.0%} "
                 f"{r['encode_share']:>7.0%} {r['compile_s']:>8.1f} {r['traces']:>6}")
  return "\n".join(lines)


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--frames", type=int, default=90, help="frames per clip")
  parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 4, 8])
  parser.add_argument("--out", default="benchmarks/results/video_cpu.json")
  args = parser.parse_args()
  video_io.quiet_ffmpeg()
  clips = {"espcn": make_clip.CLIPS / "hopper_pan_360x640.mp4",
           "mtcnn": make_clip.CLIPS / "collage_pan_480x640.mp4"}
  if not all(p.is_file() and video_io.probe_video(p).frame_count >= args.frames
             for p in clips.values()):
    clips = make_clip.make_clips(make_clip.CLIPS, n_frames=max(args.frames, 90))

  rows = []
  load_before = os.getloadavg()[0]        # other jobs on the machine skew every figure
  with tempfile.TemporaryDirectory() as tmp:
    params, settings = load_params("pretrained", 3)
    stats = espcn_video.upscale_video(clips["espcn"], pathlib.Path(tmp) / "x3.mp4",
                                      params=params, scale=3, settings=settings,
                                      max_frames=args.frames, progress=False)
    rows.append(_row("espcn x3 (mp4v out)", stats))
    print(pipeline.summary_line(stats), flush=True)
    for batch in args.batch_sizes:
      stats = mtcnn_video.detect_video(clips["mtcnn"], out=pathlib.Path(tmp) / f"faces_{batch}.mp4",
                                       json_path=pathlib.Path(tmp) / f"faces_{batch}.jsonl",
                                       batch_size=batch, max_frames=args.frames, progress=False)
      rows.append(_row(f"mtcnn batch {batch}", stats))
      print(pipeline.summary_line(stats, f"detection (batch {batch})", "draw + encode"),
            flush=True)

  print(f"\nVideo pipelines, {args.frames} frames per clip, one run each after compiling "
        f"({os.cpu_count()} CPUs, jax {jax.__version__}, {jax.devices()[0].platform}; "
        f"shared machine, 1-min load average {load_before:.1f} -> {os.getloadavg()[0]:.1f}: "
        "absolute numbers are noisy)")
  print(_table(rows))
  by_batch = {r["name"]: r["fps"] for r in rows if r["name"].startswith("mtcnn")}
  print("MTCNN frames/s by batch size (end to end): "
        + ", ".join(f"{k.split()[-1]}: {v:.2f}" for k, v in by_batch.items()))
  out = pathlib.Path(args.out)
  out.parent.mkdir(parents=True, exist_ok=True)
  out.write_text(json.dumps({
      "machine": {"platform": platform.platform(), "cpus": os.cpu_count(),
                  "jax": jax.__version__, "devices": [str(d) for d in jax.devices()],
                  "load_average_1min": [load_before, os.getloadavg()[0]]},
      "clips": {k: str(pathlib.Path(v).relative_to(make_clip.CLIPS.parents[1]))
                for k, v in clips.items()},
      "frames": args.frames, "results": rows}, indent=2) + "\n")
  print(f"wrote {out}")


if __name__ == "__main__":
  main()
