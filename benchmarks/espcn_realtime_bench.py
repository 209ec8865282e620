"""ESPCN x3 in real time at 1080p: our jitted path vs onnxruntime, PyTorch and OpenCV dnn.

Usage (peers from the benchmark environment of benchmarks/README.md; with the
project's own Python the peers that are missing are reported as "not
installed")::

  /tmp/fpvenv/bin/python benchmarks/espcn_realtime_bench.py \
      [--out benchmarks/results/espcn_realtime_cpu.json] [--rounds 30] [--ablation]

One 360x640 Y frame -> 1080x1920 (x3), float32, the shipped x3 weights in
every runtime. Rounds are interleaved (each round times every runner once, in
turn), so load from other processes hits all of them alike; figures are
medians over the rounds after a warm-up. Every peer runs the same network:
the ONNX graph that ``export.py espcn`` writes (:func:`espcn_jax.deploy.espcn_onnx`:
Sub, Conv, Tanh, Conv, Tanh, Conv, DepthToSpace in PyTorch's CRD order, Add)
for onnxruntime and OpenCV dnn, and an equivalent torch.nn module under
torch.inference_mode.
Each output is checked against the plain ``ESPCN.apply``. "CPU ms" is the
process CPU time per call over all threads (spin-waiting threads included).
The last rows are
the whole public calls: ``super_resolve`` (Y) and ``upscale`` (uint8 RGB,
Y by ESPCN, Cb/Cr MATLAB bicubic), host input to host output.
``--ablation`` adds a second table: each step of the fast path on its own, and
a layer split (the banded loop cut after conv1, conv2 and conv3: differences
give each layer's time).
"""
from __future__ import annotations

import argparse
import json
import os
import pathlib
import platform
import statistics
import subprocess
import sys
import time
from functools import partial
from typing import Callable

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

import espcn_jax  # noqa: E402
from espcn_jax import banded, color, infer, resize, resize_jax  # noqa: E402
from espcn_jax.deploy import ONNX_INPUT, espcn_onnx  # noqa: E402

THREADS = 2
NOMINAL_PEAK_GFLOPS = 400.0   # both cores, float32 FMA (benchmarks/README.md)
LR_SHAPE = (360, 640)


def network_gflop(h: int, w: int, params) -> float:
  """Multiply-adds x 2 of the three convolutions on an ``h x w`` LR frame (10.43 at 360x640, x3)."""
  macs = sum(int(np.prod(params[f"conv{i}"]["kernel"].shape)) for i in (1, 2, 3))
  return 2.0 * h * w * macs / 1e9


# Each runner factory returns a zero-argument callable giving the HR Y frame
# as a NumPy-convertible [1080, 1920] array, or raises ImportError.

def _banded_runner(forward, params, frame, settings):
  """Time ``forward(params, x, mask, **settings)`` on the bucket-padded frame."""
  shape = infer.bucket_shape(*frame.shape)
  x = jnp.asarray(infer._pad_to(frame[..., None], shape)[None])
  mask = jnp.asarray(infer._mask(*frame.shape, shape)[None])
  h, w = frame.shape
  r = 3

  def run():
    return forward(params, x, mask, **settings).block_until_ready()
  return run, lambda out: np.asarray(out)[0, : h * r, : w * r, 0]


def ours_fast(params, frame, settings):
  return _banded_runner(infer._forward, params, frame, settings)


def ours_one_band_per_step(params, frame, settings):
  """The banded path as it was before bands ran side by side (``chains=1``)."""
  forward = jax.jit(partial(banded.banded_apply, clip=True, chains=1),
                    static_argnames=("activation", "centre"))
  return _banded_runner(forward, params, frame, settings)


def ours_reference(params, frame, settings):
  x = jnp.asarray(frame[None, ..., None])
  mask = jnp.ones_like(x)

  def run():
    return infer._reference_forward(params, x, mask, **settings).block_until_ready()
  return run, lambda out: np.asarray(out)[0, ..., 0]


def ours_super_resolve(params, frame, settings):
  host_params = jax.tree.map(np.asarray, params)
  return (lambda: infer.super_resolve(host_params, frame[..., None], **settings),
          lambda out: out[..., 0])


def onnxruntime_peer(params, frame, settings):
  import onnxruntime as ort
  options = ort.SessionOptions()
  options.intra_op_num_threads = THREADS
  options.inter_op_num_threads = 1
  session = ort.InferenceSession(espcn_onnx(params, **settings), options,
                                 providers=["CPUExecutionProvider"])
  x = np.ascontiguousarray(frame[None, None])
  return lambda: session.run(None, {ONNX_INPUT: x})[0], lambda out: out[0, 0]


def opencv_dnn_peer(params, frame, settings):
  import cv2
  cv2.setNumThreads(THREADS)
  net = cv2.dnn.readNetFromONNX(np.frombuffer(espcn_onnx(params, **settings), np.uint8))
  net.setPreferableBackend(cv2.dnn.DNN_BACKEND_OPENCV)
  net.setPreferableTarget(cv2.dnn.DNN_TARGET_CPU)
  x = np.ascontiguousarray(frame[None, None])

  def run():
    net.setInput(x)
    return net.forward()
  return run, lambda out: out[0, 0]


def pytorch_peer(params, frame, settings):
  import torch
  torch.set_num_threads(THREADS)
  layers = []
  for i in (1, 2, 3):
    kernel = np.asarray(params[f"conv{i}"]["kernel"], np.float32).transpose(3, 2, 0, 1)
    conv = torch.nn.Conv2d(kernel.shape[1], kernel.shape[0], kernel.shape[2],
                           padding=kernel.shape[2] // 2)   # odd kernels: 'SAME'
    with torch.no_grad():
      conv.weight.copy_(torch.from_numpy(np.ascontiguousarray(kernel)))
      conv.bias.copy_(torch.from_numpy(np.array(params[f"conv{i}"]["bias"], np.float32)))
    layers += [conv, torch.nn.Tanh()] if i < 3 else [conv]
  net = torch.nn.Sequential(*layers, torch.nn.PixelShuffle(3)).eval()
  x = torch.from_numpy(np.ascontiguousarray(frame[None, None]))
  centre = settings["centre"]

  def run():
    with torch.inference_mode():   # autograd on stalls seconds per call on 2 threads here
      return net(x - centre) + centre
  return run, lambda out: out.numpy()[0, 0]


def cv2_bicubic(params, frame, settings):
  import cv2
  cv2.setNumThreads(THREADS)
  return lambda: cv2.resize(frame, None, fx=3, fy=3, interpolation=cv2.INTER_CUBIC), None


def ours_upscale_rgb(params, rgb):
  host_params = jax.tree.map(np.asarray, params)
  return lambda: infer.upscale(host_params, rgb), None


def _old_upscale(params, rgb, settings):
  """The colour path before the fast path, rebuilt for the ablation.

  Host colour conversion, the whole-frame ``ESPCN.apply``, Cb/Cr as
  products with dense ``[3n, n]`` bicubic matrices, host quantization.
  """
  h, w = rgb.shape[:2]
  shape = infer.bucket_shape(h, w)
  r = 3

  def matrix(n, padded):
    m = np.zeros((padded * r, padded), np.float32)
    m[: n * r, :n] = resize.resize_matrix(n, n * r, float(r))
    return jnp.asarray(m)
  rows, cols = matrix(h, shape[0]), matrix(w, shape[1])
  mask = jnp.asarray(infer._mask(h, w, shape))

  @jax.jit
  def colour(params, ycbcr):
    model = infer._model(params, settings["activation"], settings["centre"])
    y = jnp.clip(model.apply({"params": params}, ycbcr[None, ..., :1], mask[None])[0], 0, 1)
    cbcr = jnp.einsum("oh,hwc,pw->opc", rows, ycbcr[..., 1:], cols)
    return jnp.clip(color.ycbcr_to_rgb(jnp.concatenate([y, cbcr], axis=-1)), 0.0, 1.0)

  def run():
    ycbcr = infer._pad_to(color.rgb_to_ycbcr(rgb.astype(np.float32) / 255.0), shape)
    out = np.asarray(colour(params, ycbcr)[: h * r, : w * r])
    return np.round(out * 255.0).astype(np.uint8)
  return run


def _first_layers(params, depth: int, rows: int = 40):
  """The banded loop, one band per step, cut after ``depth`` convolutions (layer split).

  Each band's result is reduced to a few numbers so that nothing after the
  cut is computed or written; differences between depths give each layer's
  time (convolution, its bias, tanh and mask), and the full path minus
  depth 3 gives the pixel shuffle, clip and output write.
  """
  layers = [(params[f"conv{i}"]["kernel"], params[f"conv{i}"]["bias"]) for i in (1, 2, 3)]
  halo = sum(sum(banded._same_pads(k.shape[0])) for k, _ in layers)

  @jax.jit
  def run(x, mask):
    height = x.shape[1]
    top = sum(banded._same_pads(k.shape[0])[0] for k, _ in layers)
    pad = ((0, 0), (top, halo - top), (0, 0), (0, 0))
    xp, mp = jnp.pad(x, pad), jnp.pad(mask, pad)

    def body(i, acc):
      start = jnp.minimum(i * rows, height - rows)
      h = jax.lax.dynamic_slice_in_dim(xp, start, rows + halo, axis=1) - 0.5
      mb = jax.lax.dynamic_slice_in_dim(mp, start, rows + halo, axis=1)
      t = b = 0
      for n, (kernel, bias) in enumerate(layers[:depth]):
        h = banded._conv_rows(h * mb[:, t:mb.shape[1] - b], kernel, bias)
        before, after = banded._same_pads(kernel.shape[0])
        t, b = t + before, b + after
        if n < 2:
          h = banded.fast_tanh(h)
      return acc + jnp.sum(h[:, :1, :8])

    # As banded_apply: only the bands up to the last row holding image pixels.
    row_valid = jnp.any(mask > 0, axis=(0, 2, 3))
    last = jnp.max(jnp.where(row_valid, jnp.arange(1, height + 1), 0))
    return jax.lax.fori_loop(0, (last + rows - 1) // rows, body, jnp.zeros((), jnp.float32))
  return run


def ablation(params, frame, rgb, settings, rounds: int, warmup: int) -> dict[str, list[float]]:
  """Each step of the fast path on its own (seconds per call), interleaved.

  The Y network rows run on the bucket-padded frame (384x640), as
  ``super_resolve`` does; the chroma rows upscale the two padded planes.
  """
  shape = infer.bucket_shape(*frame.shape)
  x = jnp.asarray(infer._pad_to(frame[..., None], shape)[None])
  mask = jnp.asarray(infer._mask(*frame.shape, shape)[None])
  x2, mask2 = jnp.concatenate([x, x]), jnp.concatenate([mask, mask])
  width = shape[1]

  def banded_fn(rows=40, activation=None, chains=banded.BAND_CHAINS):
    f = jax.jit(partial(banded.banded_apply, activation=activation or settings["activation"],
                        centre=settings["centre"], band_pixels=rows * width, chains=chains))
    return f
  b40, b40_xla, b40_one = (banded_fn(), banded_fn(activation=jnp.tanh, chains=1),
                          banded_fn(chains=1))
  runners = {
      "Y: whole frame, ESPCN.apply (XLA convolutions, jnp.tanh)":
          lambda: infer._reference_forward(params, x, mask, **settings).block_until_ready(),
      "Y: row bands of 40, 1 per step, jnp.tanh":
          lambda: b40_xla(params, x, mask).block_until_ready(),
      "Y: row bands of 40, 1 per step, fast_tanh":
          lambda: b40_one(params, x, mask).block_until_ready(),
      f"Y: row bands of 40, {banded.BAND_CHAINS} per step, fast_tanh (shipped)":
          lambda: b40(params, x, mask).block_until_ready(),
  }
  for chains in (2, 4):   # 9 bands of 40 rows: 2 or 4 per step repeat the last band
    f = banded_fn(chains=chains)
    runners[f"Y: row bands of 40, {chains} per step"] = (
        lambda f=f: f(params, x, mask).block_until_ready())
  for rows in (16, 24, 32, 64, 96):
    f = banded_fn(rows)
    runners[f"Y: row bands of {rows}, {banded.BAND_CHAINS} per step"] = (
        lambda f=f: f(params, x, mask).block_until_ready())
  for depth, what in ((1, "conv1 + tanh"), (2, "conv1-2 + tanh"), (3, "conv1-3, no shuffle")):
    f = _first_layers(params, depth)
    runners[f"Y: layer split: bands of 40, 1 per step, {what} only"] = (
        lambda f=f: f(x, mask).block_until_ready())
  runners["Y: row bands of 40, 2 frames per call (time per call)"] = (
      lambda: b40(params, x2, mask2).block_until_ready())

  h, w = frame.shape
  planes = jnp.asarray(np.random.default_rng(1).random((2, *shape), np.float32))
  dense_rows = jnp.asarray(np.pad(resize.resize_matrix(h, 3 * h, 3.0),
                                  ((0, 3 * (shape[0] - h)), (0, shape[0] - h))).astype(np.float32))
  dense_cols = jnp.asarray(np.pad(resize.resize_matrix(w, 3 * w, 3.0),
                                  ((0, 3 * (shape[1] - w)), (0, shape[1] - w))).astype(np.float32))
  dense = jax.jit(lambda p, a, b: jnp.einsum("oh,chw,pw->cop", a, p, b))
  phase = jax.jit(lambda p, rm, cm: resize_jax.upscale_planes(p, rm, cm, 3))
  rm, cm = resize_jax.mirror_index(h, shape[0]), resize_jax.mirror_index(w, shape[1])
  runners["CbCr: dense bicubic matrices (einsum)"] = (
      lambda: dense(planes, dense_rows, dense_cols).block_until_ready())
  runners["CbCr: 5-tap phase filters (shipped)"] = (
      lambda: phase(planes, rm, cm).block_until_ready())
  host_params = jax.tree.map(np.asarray, params)
  runners["upscale RGB: old path (whole frame, dense chroma, host quantize)"] = (
      _old_upscale(params, rgb, settings))
  runners["upscale RGB: shipped path"] = lambda: infer.upscale(host_params, rgb, **settings)
  return interleaved(runners, rounds, warmup)


def cpu_model() -> str:
  """``model name`` of the first CPU in /proc/cpuinfo (``platform.processor()`` elsewhere).

  Every benchmark records it: ratios are only comparable on the same CPU model.
  """
  try:
    for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
      if line.startswith("model name"):
        return line.split(":", 1)[1].strip()
  except OSError:
    pass
  return platform.processor() or "unknown"


def gemm_peak(repeats: int = 7) -> float:
  """GFLOP/s of a 2048^3 float32 matmul in XLA: what this run's load left of the peak."""
  a = jnp.asarray(np.random.default_rng(0).random((2048, 2048), np.float32))
  f = jax.jit(lambda a: a @ a)
  f(a).block_until_ready()
  times = []
  for _ in range(repeats):
    t = time.perf_counter()
    f(a).block_until_ready()
    times.append(time.perf_counter() - t)
  return 2 * 2048 ** 3 / min(times) / 1e9


def _trainings_running() -> int:
  try:
    out = subprocess.run(["pgrep", "-f", "train.py"], capture_output=True, text=True).stdout
  except OSError:
    return -1
  return sum(1 for pid in out.split() if _state(pid) not in ("T", "t"))   # paused jobs do not load


def _state(pid: str) -> str:
  """A process's state letter from /proc (``T`` = stopped); ``?`` if it is gone."""
  try:
    return pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
  except (OSError, IndexError):
    return "?"


def _machine() -> dict:
  return {"platform": platform.platform(), "cpu_count": os.cpu_count(),
          "python": platform.python_version(), "jax": jax.__version__,
          "load_average": os.getloadavg(), "trainings_running": _trainings_running()}


def _versions() -> dict:
  versions = {}
  for name in ("onnxruntime", "torch", "cv2", "onnx"):
    try:
      versions[name] = __import__(name).__version__
    except ImportError:
      versions[name] = None
  return versions


def interleaved(runners: dict[str, Callable], rounds: int, warmup: int,
                cpu_times: dict[str, list[float]] | None = None) -> dict[str, list[float]]:
  """Seconds per call of each runner: ``warmup`` calls each, then ``rounds`` rounds in turn.

  ``cpu_times``, if given, receives the process CPU seconds (all threads) of
  each call: less sensitive than wall time to other processes on the machine,
  though threads that spin while waiting count too.
  """
  for run in runners.values():
    for _ in range(warmup):
      run()
  times = {name: [] for name in runners}
  cpu = {name: [] for name in runners}
  for _ in range(rounds):
    for name, run in runners.items():
      c, t = time.process_time(), time.perf_counter()
      run()
      times[name].append(time.perf_counter() - t)
      cpu[name].append(time.process_time() - c)
  if cpu_times is not None:
    cpu_times.update(cpu)
  return times


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--out", default="benchmarks/results/espcn_realtime_cpu.json")
  parser.add_argument("--rounds", type=int, default=30)
  parser.add_argument("--warmup", type=int, default=3)
  parser.add_argument("--ablation", action="store_true",
                      help="also time each step of the fast path on its own (a second table)")
  args = parser.parse_args()

  host_params, card = espcn_jax.load_pretrained(3)
  settings = {"activation": card["activation"], "centre": float(card["centre"])}
  params = jax.tree.map(jnp.asarray, host_params)
  rng = np.random.default_rng(0)
  frame = rng.random(LR_SHAPE, np.float32)                       # Y in [0, 1]
  rgb = rng.integers(0, 256, (*LR_SHAPE, 3), dtype=np.uint8)
  gflop = network_gflop(*LR_SHAPE, host_params)
  machine_before = _machine()

  factories = {
      "ours: banded jit (infer._forward)": ours_fast,
      "ours: banded, 1 band per step (before)": ours_one_band_per_step,
      "ours: plain ESPCN.apply jit (old path)": ours_reference,
      "onnxruntime": onnxruntime_peer,
      "PyTorch (CPU)": pytorch_peer,
      "OpenCV dnn": opencv_dnn_peer,
      "bicubic (cv2.resize)": cv2_bicubic,
      "ours: super_resolve (public, host in/out)": ours_super_resolve,
  }
  runners, check, missing = {}, {}, {}
  for name, factory in factories.items():
    try:
      runners[name], check[name] = factory(params, frame, settings)
    except ImportError as e:
      missing[name] = f"not installed ({e.name})"
  runners["ours: upscale RGB uint8 (public)"], check["ours: upscale RGB uint8 (public)"] = (
      ours_upscale_rgb(params, rgb))

  reference = np.asarray(infer._reference_forward(params, jnp.asarray(frame[None, ..., None]),
                                                  jnp.ones((1, *LR_SHAPE, 1), jnp.float32),
                                                  **settings))[0, ..., 0]
  max_diff = {}
  for name, run in runners.items():
    if check[name] is not None:
      out = check[name](run())
      # super_resolve clips to [0, 1]; so does the comparison for it.
      ref = np.clip(reference, 0, 1) if "super_resolve" in name or "banded" in name else reference
      max_diff[name] = float(np.abs(out - ref).max())

  cpu_times: dict[str, list[float]] = {}
  times = interleaved(runners, args.rounds, args.warmup, cpu_times)
  ablation_times = (ablation(params, frame, rgb, settings, args.rounds, args.warmup)
                    if args.ablation else {})
  peak = gemm_peak()
  machine_after = _machine()
  ort_ms = statistics.median(times["onnxruntime"]) * 1e3 if "onnxruntime" in times else None
  rows = []
  for name in list(factories) + ["ours: upscale RGB uint8 (public)"]:
    if name in missing:
      rows.append({"runner": name, "status": missing[name]})
      continue
    ms = statistics.median(times[name]) * 1e3
    network = check[name] is not None
    rows.append({
        "runner": name, "status": "ok", "ms_per_frame": ms, "fps": 1e3 / ms,
        "min_ms": min(times[name]) * 1e3,
        "cpu_ms_per_frame": statistics.median(cpu_times[name]) * 1e3,
        "gflops_per_s": gflop / ms * 1e3 if network else None,
        "pct_of_nominal_peak": 100 * gflop / ms * 1e3 / NOMINAL_PEAK_GFLOPS if network else None,
        "vs_onnxruntime": ms / ort_ms if ort_ms else None,
        "max_abs_diff_vs_model_apply": max_diff.get(name),
    })
  loaded = (machine_before["trainings_running"] > 0 or machine_after["trainings_running"] > 0
            or min(machine_before["load_average"][0], machine_after["load_average"][0]) > 1.0)

  print(f"ESPCN x3, 360x640 Y -> 1080x1920, float32, shipped x3 weights; {THREADS} threads; "
        f"median of {args.rounds} interleaved rounds after {args.warmup} warm-up calls")
  print(f"{gflop:.2f} GFLOP per frame; nominal peak {NOMINAL_PEAK_GFLOPS:.0f} GFLOP/s; "
        f"XLA 2048^3 matmul in this run {peak:.0f} GFLOP/s; load average "
        f"{machine_before['load_average'][0]:.1f} -> {machine_after['load_average'][0]:.1f}, "
        f"trainings running {machine_before['trainings_running']} -> "
        f"{machine_after['trainings_running']}{' (LOADED)' if loaded else ''}")
  print(f"{'runner':<44} {'ms/frame':>9} {'fps':>6} {'GFLOP/s':>8} {'% peak':>7} {'vs ORT':>7} "
        f"{'max |diff|':>10} {'CPU ms':>7}")
  for row in rows:
    if row["status"] != "ok":
      print(f"{row['runner']:<44} {row['status']}")
      continue
    fmt = lambda v, spec: format(v, spec) if v is not None else "-"
    print(f"{row['runner']:<44} {row['ms_per_frame']:>9.1f} {row['fps']:>6.1f} "
          f"{fmt(row['gflops_per_s'], '>8.0f'):>8} {fmt(row['pct_of_nominal_peak'], '>6.0f'):>6}% "
          f"{fmt(row['vs_onnxruntime'], '>7.2f'):>7} {fmt(row['max_abs_diff_vs_model_apply'], '>10.1e'):>10} "
          f"{row['cpu_ms_per_frame']:>7.1f}")
  ablation_rows = [{"variant": name, "ms": statistics.median(t) * 1e3, "min_ms": min(t) * 1e3}
                   for name, t in ablation_times.items()]
  if ablation_rows:
    print(f"\nablation, median of {args.rounds} interleaved rounds "
          "(Y rows: 360x640 bucketed to 384x640; GFLOP/s counts 10.43 GFLOP per frame)")
    print(f"{'variant':<66} {'ms':>7} {'GFLOP/s':>8}")
    for row in ablation_rows:
      whole = row["variant"].startswith("Y:") and "layer split" not in row["variant"]
      rate = f"{gflop / row['ms'] * 1e3:8.0f}" if whole else "       -"
      print(f"{row['variant']:<66} {row['ms']:>7.1f} {rate}")
  out = pathlib.Path(args.out)
  out.parent.mkdir(parents=True, exist_ok=True)
  out.write_text(json.dumps({
      "task": "ESPCN x3, one 360x640 Y frame -> 1080x1920, float32, shipped espcn_x3_y weights",
      "rounds": args.rounds, "warmup": args.warmup, "threads": THREADS,
      "gflop_per_frame": gflop, "nominal_peak_gflops": NOMINAL_PEAK_GFLOPS,
      "xla_matmul_gflops_this_run": peak, "machine_loaded": loaded,
      "machine_before": machine_before, "machine_after": machine_after,
      "versions": _versions(), "rows": rows, "ablation": ablation_rows,
      "times_ms": {k: [t * 1e3 for t in v] for k, v in times.items()},
  }, indent=2) + "\n")
  print(f"wrote {out}")


if __name__ == "__main__":
  main()
