"""Exported ESPCN x3 (ONNX in onnxruntime, the jax.export artefact) vs ``espcn_jax`` on CPU.

Usage::

  python benchmarks/export_bench.py [--out benchmarks/results/export_cpu.json] [--rounds 15]

Which should a deployer pick on a CPU? Two tasks, shipped x3 Y weights,
2 threads, interleaved rounds (each round times every runner once, so load
from other processes hits all alike), medians after a warm-up; ratios are to
``espcn_jax`` in the same run:

* the network on one 360x640 Y frame -> 1080x1920: ``espcn_jax.super_resolve``
  (host in and out), the ONNX graph of ``export.py espcn`` in onnxruntime, and
  the ``jax.export`` artefact deserialised and called (``ESPCN.apply``, XLA's
  whole-frame convolutions);
* a whole 360x640 RGB uint8 picture -> 1080x1920 RGB uint8: ``espcn_jax.upscale``
  (Y by ESPCN, Cb/Cr MATLAB bicubic, one jitted path) vs
  ``examples/espcn_onnxruntime.py``'s ``upscale`` (NumPy colour conversion,
  onnxruntime, Pillow bicubic for Cb/Cr): what a deployer without JAX runs.

Compile and session-creation times are reported apart. Records the CPU model
(``/proc/cpuinfo``), the load average and an XLA matmul probe. One run takes
well under two minutes.
"""
from __future__ import annotations

import argparse
import json
import os
import pathlib
import platform
import runpy
import statistics
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import jax  # noqa: E402
import numpy as np  # noqa: E402
import onnxruntime as ort  # noqa: E402
from PIL import Image  # noqa: E402

import espcn_jax  # noqa: E402
from espcn_jax import deploy, infer  # noqa: E402
from espcn_mtcnn_common import deploy_files  # noqa: E402
from espcn_mtcnn_common.demo_photo import grace_hopper  # noqa: E402

sys.path.insert(0, str(ROOT / "benchmarks"))
from espcn_realtime_bench import cpu_model, gemm_peak, interleaved  # noqa: E402  (same probes, rounds)

THREADS = 2
LR_SHAPE = (360, 640)


def onnx_session(model: bytes):
  options = ort.SessionOptions()
  options.intra_op_num_threads = THREADS
  options.inter_op_num_threads = 1
  return ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])


def timed(make):
  """``(value, seconds)`` of ``make()``: session creation, compilation."""
  start = time.perf_counter()
  value = make()
  return value, time.perf_counter() - start


def network_runners(params, card, frame) -> tuple[dict, dict, dict]:
  """Y-frame runners, their outputs' checks against ``super_resolve`` and setup times."""
  settings = {"activation": card["activation"], "centre": float(card["centre"])}
  session, ort_setup = timed(lambda: onnx_session(deploy.espcn_onnx(params, **settings)))
  program = jax.export.deserialize(bytearray(deploy_files.serialize_exported(
      deploy.export_jax(params, **settings))))
  x_nchw, x_nhwc = frame[None, None], frame[None, ..., None]
  runners = {
      "espcn_jax.super_resolve (Y)": lambda: infer.super_resolve(params, frame[..., None]),
      "onnxruntime, exported ONNX (Y)": lambda: session.run(None, {deploy.ONNX_INPUT: x_nchw})[0],
      "jax.export artefact (Y)": lambda: np.asarray(program.call(x_nhwc)),
  }
  setup = {"onnxruntime, exported ONNX (Y)": ort_setup}
  for name in ("espcn_jax.super_resolve (Y)", "jax.export artefact (Y)"):
    setup[name] = timed(runners[name])[1]                     # first call: compiles
  outputs = {name: np.clip(np.asarray(run()).reshape(3 * frame.shape[0], 3 * frame.shape[1]),
                           0.0, 1.0) for name, run in runners.items()}
  reference = outputs["espcn_jax.super_resolve (Y)"]
  check = {name: float(np.abs(out - reference).max()) for name, out in outputs.items()}
  return runners, check, setup


def picture_runners(params, card, rgb, example) -> tuple[dict, dict, dict]:
  """RGB uint8 picture runners (``upscale`` vs the onnxruntime example) and checks."""
  settings = {"activation": card["activation"], "centre": float(card["centre"])}
  session, ort_setup = timed(lambda: onnx_session(deploy.espcn_onnx(params, **settings)))
  runners = {
      "espcn_jax.upscale (RGB uint8)": lambda: infer.upscale(params, rgb),
      "examples/espcn_onnxruntime.py upscale (RGB uint8)":
          lambda: example["upscale"](session, 3, 1, rgb),
  }
  ours, setup = timed(runners["espcn_jax.upscale (RGB uint8)"])
  theirs = np.round(runners["examples/espcn_onnxruntime.py upscale (RGB uint8)"]() * 255.0)
  check = {"examples/espcn_onnxruntime.py upscale (RGB uint8)":
           float(np.abs(theirs - ours.astype(np.float64)).max())}
  return runners, check, {"espcn_jax.upscale (RGB uint8)": setup,
                          "examples/espcn_onnxruntime.py upscale (RGB uint8)": ort_setup}


def rows(times: dict, baseline: str, names: list[str], check: dict, setup: dict) -> list[dict]:
  base = statistics.median(times[baseline])
  return [{"runner": name, "ms": statistics.median(times[name]) * 1e3,
           "min_ms": min(times[name]) * 1e3, "vs_espcn_jax": statistics.median(times[name]) / base,
           "setup_s": setup.get(name), "max_abs_diff_vs_espcn_jax": check.get(name)}
          for name in names]


def print_table(title: str, table: list[dict]) -> None:
  print(f"\n{title}")
  print(f"{'runner':<52} {'ms':>7} {'min ms':>7} {'x time':>7} {'setup s':>8} {'max |diff|':>10}")
  for r in table:
    diff = r["max_abs_diff_vs_espcn_jax"]
    diff = "-" if diff is None else f"{diff:.1e}"
    print(f"{r['runner']:<52} {r['ms']:>7.1f} {r['min_ms']:>7.1f} {r['vs_espcn_jax']:>7.2f} "
          f"{r['setup_s'] or 0:>8.2f} {diff:>10}")


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--out", default="benchmarks/results/export_cpu.json")
  parser.add_argument("--rounds", type=int, default=15)
  parser.add_argument("--warmup", type=int, default=2)
  args = parser.parse_args()
  started = time.perf_counter()
  load_before = os.getloadavg()
  params, card = espcn_jax.load_pretrained(3)
  rng = np.random.default_rng(0)
  frame = rng.random(LR_SHAPE, np.float32)
  rgb = np.asarray(Image.fromarray(grace_hopper()).resize(LR_SHAPE[::-1],
                                                          Image.Resampling.BICUBIC))
  example = runpy.run_path(str(ROOT / "examples" / "espcn_onnxruntime.py"))
  net, net_check, net_setup = network_runners(params, card, frame)
  pic, pic_check, pic_setup = picture_runners(params, card, rgb, example)
  times = interleaved({**net, **pic}, args.rounds, args.warmup)
  peak = gemm_peak()
  net_rows = rows(times, "espcn_jax.super_resolve (Y)", list(net), net_check, net_setup)
  pic_rows = rows(times, "espcn_jax.upscale (RGB uint8)", list(pic), pic_check, pic_setup)
  machine = {"cpu_model": cpu_model(), "cpu_count": os.cpu_count(),
             "platform": platform.platform(), "python": platform.python_version(),
             "load_average_before": load_before, "load_average_after": os.getloadavg(),
             "xla_matmul_gflops": peak, "versions": deploy_files.versions()}
  print(f"ESPCN x3, shipped espcn_x3_y; {THREADS} threads; median of {args.rounds} interleaved "
        f"rounds after {args.warmup} warm-up calls")
  print(f"CPU: {machine['cpu_model']} ({machine['cpu_count']} cores); XLA 2048^3 matmul "
        f"{peak:.0f} GFLOP/s; load average {load_before[0]:.1f} -> {os.getloadavg()[0]:.1f}")
  print_table("network, 360x640 Y frame -> 1080x1920 (max |diff| after clipping to [0, 1])",
              net_rows)
  print_table("whole picture, 360x640 RGB uint8 -> 1080x1920 RGB uint8 (max |diff| in levels)",
              pic_rows)
  out = pathlib.Path(args.out)
  out.parent.mkdir(parents=True, exist_ok=True)
  out.write_text(json.dumps({
      "task": "ESPCN x3 (espcn_x3_y): exported ONNX in onnxruntime and the jax.export artefact "
              "vs espcn_jax on CPU", "rounds": args.rounds, "warmup": args.warmup,
      "threads": THREADS, "machine": machine, "network": net_rows, "picture": pic_rows,
      "wall_s": time.perf_counter() - started}, indent=2) + "\n")
  print(f"\nwrote {out} ({time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
  main()
