"""ESPCN speed on this machine: training throughput and single-image upscale latency.

Usage::

  python benchmarks/espcn_bench.py [--out benchmarks/results/espcn_cpu.json] [--repeats 20]

Prints a table and writes JSON. Every figure is the median of ``--repeats``
timed runs after a warm-up (compile excluded; compile time reported apart).
Training throughput uses the default x3 config (batch 64, 17x17 LR patches,
paper architecture) on synthetic patches, so it measures the jitted step, and
separately the patch sampler, which runs on a background thread during
training. Latency covers the whole public call ``espcn_jax.upscale`` (host
padding, colour conversion, transfer) on a uint8 RGB image.
"""
from __future__ import annotations

import argparse
import json
import os
import pathlib
import platform
import statistics
import sys
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from espcn_jax import data, infer, train  # noqa: E402
from espcn_jax.configs import default  # noqa: E402
from espcn_jax.model import ESPCN  # noqa: E402


def _median_time(fn, repeats: int) -> tuple[float, list[float]]:
  times = []
  for _ in range(repeats):
    t = time.perf_counter()
    fn()
    times.append(time.perf_counter() - t)
  return statistics.median(times), times


def bench_training(repeats: int, steps_per_repeat: int = 10) -> dict:
  config = default.get_config()
  state = train.create_train_state(config, jax.random.key(0))
  step = jax.jit(lambda s, lr, hr: train.train_step(s, lr, hr), donate_argnums=0)
  rng = np.random.default_rng(0)
  p, r, b = config.patch_size, config.scale, config.batch_size
  lr = jnp.asarray(rng.random((b, p, p, 1), np.float32))
  hr = jnp.asarray(rng.random((b, p * r, p * r, 1), np.float32))
  t = time.perf_counter()
  state, loss = step(state, lr, hr)
  loss.block_until_ready()
  compile_s = time.perf_counter() - t
  holder = [state]

  def run():
    s = holder[0]
    for _ in range(steps_per_repeat):
      s, l = step(s, lr, hr)
    l.block_until_ready()
    holder[0] = s

  run()
  med, _ = _median_time(run, repeats)
  # The host-side patch sampler on a realistic image set (generated, 91 images).
  pairs = [data.make_pair(f"g{i}", rng.integers(0, 256, (300, 400, 3), dtype=np.uint8), r, 1)
           for i in range(16)]
  sampler = data.PatchSampler(pairs, r, p, b, seed=0)
  sampler.batch(0)
  sample_med, _ = _median_time(lambda: sampler.batch(1), repeats)
  return {"batch_size": b, "patch_lr": p, "scale": r, "compile_s": compile_s,
          "step_ms": med / steps_per_repeat * 1e3,
          "patches_per_s": b * steps_per_repeat / med,
          "sampler_batch_ms": sample_med * 1e3,
          "sampler_patches_per_s": b / sample_med}


def bench_upscale(repeats: int, sizes) -> list[dict]:
  model = ESPCN(scale=3)
  params = model.init(jax.random.key(0), jnp.zeros((1, 17, 17, 1)))["params"]
  rng = np.random.default_rng(0)
  rows = []
  for h, w in sizes:
    image = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    t = time.perf_counter()
    infer.upscale(params, image)
    first = time.perf_counter() - t
    med, _ = _median_time(lambda: infer.upscale(params, image), repeats)
    y = image[..., 0].astype(np.float32)[..., None] / 255
    y_med, _ = _median_time(lambda: infer.super_resolve(params, y), repeats)
    rows.append({"lr_size": f"{w}x{h}", "hr_size": f"{3 * w}x{3 * h}",
                 "first_call_s": first, "upscale_rgb_ms": med * 1e3,
                 "super_resolve_y_ms": y_med * 1e3,
                 "y_gflops_per_s": 2 * _macs(h, w) / y_med / 1e9})
  return rows


def _macs(h: int, w: int) -> int:
  # conv1 5x5x1x64, conv2 3x3x64x32, conv3 3x3x32x9 per LR pixel.
  return h * w * (25 * 64 + 9 * 64 * 32 + 9 * 32 * 9)


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--out", default="benchmarks/results/espcn_cpu.json")
  parser.add_argument("--repeats", type=int, default=20)
  args = parser.parse_args()
  machine = {"platform": platform.platform(), "processor": platform.processor(),
             "cpu_count": os.cpu_count(), "jax": jax.__version__,
             "devices": [str(d) for d in jax.devices()]}
  training = bench_training(args.repeats)
  upscale = bench_upscale(args.repeats, [(128, 128), (256, 256), (360, 640)])
  print(f"ESPCN x3 on {machine['devices'][0]} ({machine['cpu_count']} CPUs), "
        f"median of {args.repeats} runs after warm-up")
  print(f"training: {training['patches_per_s']:.0f} patches/s "
        f"({training['step_ms']:.1f} ms/step, batch {training['batch_size']}, "
        f"{training['patch_lr']}x{training['patch_lr']} LR patches; compile "
        f"{training['compile_s']:.2f} s); sampler {training['sampler_patches_per_s']:.0f} patches/s "
        f"on one thread")
  print(f"{'LR -> HR':<22} {'upscale RGB ms':>15} {'Y only ms':>10} {'GFLOP/s':>8} {'1st call s':>11}")
  for row in upscale:
    print(f"{row['lr_size'] + ' -> ' + row['hr_size']:<22} {row['upscale_rgb_ms']:>15.1f} "
          f"{row['super_resolve_y_ms']:>10.1f} {row['y_gflops_per_s']:>8.1f} {row['first_call_s']:>11.2f}")
  out = pathlib.Path(args.out)
  out.parent.mkdir(parents=True, exist_ok=True)
  out.write_text(json.dumps({"machine": machine, "repeats": args.repeats, "training": training,
                             "upscale": upscale}, indent=2) + "\n")
  print(f"wrote {out}")


if __name__ == "__main__":
  main()
