"""Does the host keep the accelerator busy? Training-batch production vs the device step.

Usage::

  python benchmarks/host_pipeline_bench.py [--out benchmarks/results/host_pipeline_cpu.json]
      [--steps 40] [--device-steps 10] [--repeats 5] [--workers 1,2,all]
      [--espcn-batch N] [--smoke]

For both trainers, at the shipped recipes' batch shapes:

* host: batches made per second by N workers (1, 2 and ``os.cpu_count()``)
  producing consecutive steps in parallel, as a thread pool and as a process
  pool (fork; the batch is pickled back to the consumer, as a real loader
  must), and through ``grain`` when it is installed (it is not a project
  dependency). ESPCN: ``PatchSampler.batch(step)`` on the x3 recipe's data
  (T91 + BSDS200 with the 0.8/0.6 scale copies; the embedded ``samples``
  without ../shared). MTCNN: ``gather_batch(set, StratifiedBatches.indices(step))``
  on a synthetic ``SampleSet`` with the per-type sample counts of the shipped
  ``wider600`` training and random pixels: gathering costs depend only on the
  array sizes, not on what the crops show;
* device: steps/s of the jitted train step (the trainers' own, data-parallel
  over all devices of ``jax.default_backend()``) on batches already on the
  device, after compilation (compile time reported apart);
* fed: the trainers' own loop shape, the step fed by the current loader
  (ESPCN: ``PatchSampler.iterate``, one background thread; MTCNN: gather in the
  loop), so host and device overlap as they do in training;
* ratio = host rate / device rate per trainer and worker count: above 1 the
  host keeps up. The ``serial`` row is ``batch(step)`` in a plain loop.

``--espcn-batch 1024`` sets the ESPCN batch of the issue's TPU figure (about a
millisecond per step on a v2-8) for host and device alike.

Every figure is the median of ``--repeats`` timed runs (``--steps`` host
batches, ``--device-steps`` device steps) after a warm-up. Host pools are
measured before JAX starts its threads (the process pools fork). On the CPU
backend host and "device" share the same cores, so there the ratio only says
which side is slower; it is meant for a run on an accelerator. ``--smoke``
shrinks everything to seconds (a check that the script runs, not a
measurement).
"""
from __future__ import annotations

import argparse
import concurrent.futures
import json
import multiprocessing
import os
import pathlib
import platform
import statistics
import sys
import time
from typing import Callable, Iterable

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import jax  # noqa: E402
import numpy as np  # noqa: E402

from espcn_jax import data as espcn_data, train as espcn_train  # noqa: E402
from espcn_realtime_bench import cpu_model, gemm_peak  # noqa: E402  (the same probes)
from espcn_jax.configs import x3  # noqa: E402
from mtcnn_jax import nets, train as mtcnn_train  # noqa: E402
from mtcnn_jax.configs import cascade  # noqa: E402
from mtcnn_jax.sampling.sample_set import SampleSet  # noqa: E402
from mtcnn_jax.training_batches import (  # noqa: E402
    StratifiedBatches, batch_composition, gather_batch)

STAGES = ("pnet", "rnet", "onet")
MODEL_CARD = ROOT / "mtcnn_jax/weights/wider600/model_card.json"
# Per-type sample counts (negative, positive, part, landmark) of the shipped wider600
# training, used when its model card is missing.
FALLBACK_COUNTS = {"pnet": (122307, 101465, 77670, 0), "rnet": (164934, 57055, 52088, 0),
                   "onet": (35552, 45619, 32659, 16639)}

# The batch function the pool workers call: set before the pools fork (a module global, so
# the children inherit it instead of receiving pickled image sets).
_PRODUCER: Callable[[int], object] | None = None


def _produce(step: int):
  return _PRODUCER(step)


# --------------------------------------------------------------------------- timing


def _median_rate(run: Callable[[int], None], steps: int, repeats: int, start: int = 0
                 ) -> tuple[float, list[float]]:
  """Steps/s of ``run(first_step)`` (which makes ``steps`` steps): median over repeats.

  Each repeat makes fresh consecutive steps, so nothing is served from a cache.
  """
  rates = []
  for r in range(repeats):
    t = time.perf_counter()
    run(start + r * steps)
    rates.append(steps / (time.perf_counter() - t))
  return statistics.median(rates), rates


# --------------------------------------------------------------------------- host loaders


def _thread_loader(workers: int) -> tuple[Callable, Callable]:
  """``(run(first, steps), close)`` making consecutive steps on a thread pool."""
  pool = concurrent.futures.ThreadPoolExecutor(workers)

  def run(first: int, steps: int) -> None:
    for _ in pool.map(_PRODUCER, range(first, first + steps)):
      pass

  return run, lambda: pool.shutdown(wait=True)


def _process_loader(workers: int) -> tuple[Callable, Callable]:
  """``(run(first, steps), close)`` making consecutive steps on a forked process pool; each
  batch comes back pickled, in step order."""
  pool = multiprocessing.get_context("fork").Pool(workers)

  def run(first: int, steps: int) -> None:
    for _ in pool.imap(_produce, range(first, first + steps), chunksize=1):
      pass

  def close() -> None:
    pool.close()
    pool.join()

  return run, close


def _grain_loader(workers: int) -> tuple[Callable, Callable]:
  """``(run(first, steps), close)`` through grain's ``MapDataset`` with ``workers`` threads."""
  import grain  # pylint: disable=import-outside-toplevel

  def run(first: int, steps: int) -> None:
    dataset = grain.MapDataset.range(first, first + steps).map(_PRODUCER)
    options = grain.ReadOptions(num_threads=workers, prefetch_buffer_size=2 * workers)
    for _ in dataset.to_iter_dataset(read_options=options):
      pass

  return run, lambda: None


def _grain_note() -> str | None:
  """``None`` if grain is importable with the API used here, else why it is skipped."""
  try:
    import grain  # pylint: disable=import-outside-toplevel
  except ImportError:
    return "grain not installed (not a project dependency): skipped"
  missing = [n for n in ("MapDataset", "ReadOptions") if not hasattr(grain, n)]
  return f"grain {getattr(grain, '__version__', '?')} lacks {missing}: skipped" if missing else None


LOADERS = {"thread": _thread_loader, "process": _process_loader, "grain": _grain_loader}


def bench_host(producer: Callable[[int], object], batch_size: int, workers: Iterable[int],
               steps: int, repeats: int) -> tuple[list[dict], list[str]]:
  """Host rows (loader, workers, batches/s, patches/s) for one batch function, and notes."""
  global _PRODUCER  # pylint: disable=global-statement
  _PRODUCER = producer
  notes, kinds = [], ["thread", "process"]
  if (note := _grain_note()) is None:
    kinds.append("grain")
  else:
    notes.append(note)
  serial, _ = _median_rate(lambda first: [producer(s) for s in range(first, first + steps)],
                           steps, repeats)
  rows = [_host_row("serial", 1, serial, batch_size)]
  for kind in kinds:
    for n in workers:
      run, close = LOADERS[kind](n)
      try:
        run(10_000, 2 * n)                     # warm-up: workers started, caches filled
        rate, _ = _median_rate(lambda first, run=run: run(first, steps), steps, repeats, 20_000)
      except Exception as e:  # pylint: disable=broad-except
        notes.append(f"{kind} x{n} failed: {type(e).__name__}: {e}")
        continue
      finally:
        close()
      rows.append(_host_row(kind, n, rate, batch_size))
  return rows, notes


def _host_row(kind: str, workers: int, steps_per_s: float, batch_size: int) -> dict:
  return {"loader": kind, "workers": workers, "batches_per_s": steps_per_s,
          "patches_per_s": steps_per_s * batch_size}


# --------------------------------------------------------------------------- ESPCN


def espcn_config(smoke: bool, batch_size: int | None):
  """The x3 recipe; its data from ../shared if there, else the embedded ``samples``."""
  config = x3.get_config("smoke" if smoke else "")
  sources = [ROOT / s for s in config.train_data.split(",")]
  if smoke or not all(s.is_dir() for s in sources):
    config.train_data = "samples"
  else:
    config.train_data = ",".join(str(s) for s in sources)
  if batch_size:
    config.batch_size = batch_size
  return config


def espcn_sampler(config) -> tuple[espcn_data.PatchSampler, dict]:
  """The recipe's patch sampler, as ``espcn_jax.train`` builds it, and what it holds."""
  t = time.perf_counter()
  pairs = espcn_data.load_pairs(config.train_data, config.scale, config.channels,
                                degradation=config.degradation, min_lr_size=config.patch_size,
                                scale_augment=tuple(config.scale_augment))
  load_s = time.perf_counter() - t
  sampler = espcn_data.PatchSampler(pairs, config.scale, config.patch_size, config.batch_size,
                                    seed=config.seed)
  return sampler, {"train_data": config.train_data, "images": len(pairs),
                   "load_s": load_s, "batch_size": config.batch_size,
                   "patch_lr": config.patch_size, "scale": config.scale}


def espcn_device(config, sampler: espcn_data.PatchSampler, steps: int, repeats: int) -> dict:
  """Steps/s of the trainer's jitted step on device-resident batches, and fed by ``iterate``."""
  # pylint: disable=protected-access  (the trainer's own jitted, sharded step)
  replicated, batch_sharding = espcn_train._shardings(config)
  step_fn = espcn_train._jit_train_step(config, replicated, batch_sharding)
  state = jax.device_put(espcn_train.create_train_state(config, jax.random.key(0)), replicated)
  lr, hr = (jax.device_put(a, batch_sharding) for a in sampler.batch(0))
  holder = [state]

  def device_run(_first: int) -> None:
    s = holder[0]
    for _ in range(steps):
      s, loss = step_fn(s, lr, hr)
    loss.block_until_ready()
    holder[0] = s

  def fed_run(first: int) -> None:
    s = holder[0]
    for _, (a, b) in sampler.iterate(first, first + steps):
      s, loss = step_fn(s, jax.device_put(a, batch_sharding), jax.device_put(b, batch_sharding))
    loss.block_until_ready()
    holder[0] = s

  return _device_figures(device_run, fed_run, steps, repeats, config.batch_size)


def _device_figures(device_run, fed_run, steps: int, repeats: int, batch_size: int) -> dict:
  """Compile time, device-only and fed rates for one trainer's step."""
  t = time.perf_counter()
  device_run(0)                                 # compiles, then ``steps`` steps
  first_run_s = time.perf_counter() - t
  device, device_rates = _median_rate(device_run, steps, repeats)
  fed_run(50_000)
  fed, _ = _median_rate(fed_run, steps, repeats, 60_000)
  return {"first_run_s": first_run_s, "compile_s": max(first_run_s - steps / device, 0.0),
          "device_steps_per_s": device,
          "device_patches_per_s": device * batch_size, "device_step_ms": 1e3 / device,
          "device_rates": device_rates, "fed_steps_per_s": fed,
          "fed_patches_per_s": fed * batch_size}


# --------------------------------------------------------------------------- MTCNN


def stage_counts(stage: str, total: int | None) -> tuple[int, ...]:
  """Samples per type for ``stage``: the shipped training's (model card), or scaled to
  ``total``."""
  counts = FALLBACK_COUNTS[stage]
  if MODEL_CARD.exists():
    card = json.loads(MODEL_CARD.read_text())["stages"][stage]["samples"]
    counts = tuple(int(card[t]) for t in ("negative", "positive", "part", "landmark"))
  if total:
    counts = tuple(int(np.ceil(c * total / sum(counts))) for c in counts)
  return counts


def synthetic_sample_set(stage: str, counts: tuple[int, ...], seed: int = 0) -> SampleSet:
  """A ``SampleSet`` of ``counts`` samples per type, the dtypes and shapes of the real ones;
  random bytes, so every page is real memory (a zero array would read the shared zero page)."""
  rng = np.random.default_rng(seed)
  n, s = sum(counts), nets.INPUT_SIZES[stage]
  images = np.frombuffer(rng.bytes(n * s * s * 3), np.uint8).reshape(n, s, s, 3)
  labels = rng.permutation(np.repeat(np.arange(4, dtype=np.int8), counts))
  return SampleSet(images, labels, rng.random((n, 4), np.float32),
                   rng.random((n, 10), np.float32), np.zeros(n, np.int32))


def mtcnn_batches(config, stage: str, sample_set: SampleSet) -> Callable[[int], dict]:
  """The trainer's batch function for ``stage``: step -> gathered batch."""
  s = config[stage]
  batches = StratifiedBatches(sample_set.labels, batch_composition(s.batch_size, s.ratio),
                              config.seed)
  return lambda step: gather_batch(sample_set, batches.indices(step))


def mtcnn_device(config, stage: str, produce: Callable[[int], dict], steps: int,
                 repeats: int) -> dict:
  """Steps/s of the trainer's jitted step on a device-resident batch, and fed by in-loop
  gathering (``mtcnn_jax.train``'s loop)."""
  s = config[stage]
  # pylint: disable=protected-access  (the trainer's own jitted, sharded step)
  step_fn, _, replicated, batch_sharding = mtcnn_train._step_functions(
      stage, tuple(float(w) for w in s.weights), float(config.keep_ratio), tuple(jax.devices()))
  state = jax.device_put(mtcnn_train.create_train_state(stage, s, jax.random.key(0)), replicated)
  batch = jax.device_put(produce(0), batch_sharding)
  holder = [state]

  def device_run(_first: int) -> None:
    st = holder[0]
    for _ in range(steps):
      st, metrics = step_fn(st, batch)
    metrics["loss"].block_until_ready()
    holder[0] = st

  def fed_run(first: int) -> None:
    st = holder[0]
    for step in range(first, first + steps):
      st, metrics = step_fn(st, jax.device_put(produce(step), batch_sharding))
    metrics["loss"].block_until_ready()
    holder[0] = st

  return _device_figures(device_run, fed_run, steps, repeats, s.batch_size)


# --------------------------------------------------------------------------- machine


def _machine() -> dict:
  try:
    import grain  # pylint: disable=import-outside-toplevel
    grain_version = getattr(grain, "__version__", "?")
  except ImportError:
    grain_version = None
  return {"cpu_model": cpu_model(), "cpu_count": os.cpu_count(),
          "platform": platform.platform(), "python": platform.python_version(),
          "numpy": np.__version__, "jax": jax.__version__, "grain": grain_version}


def _backend() -> dict:
  return {"backend": jax.default_backend(), "device_count": jax.device_count(),
          "devices": [str(d) for d in jax.devices()]}


# --------------------------------------------------------------------------- report


def _ratios(host_rows: list[dict], device: dict) -> None:
  """Adds ``ratio_to_device`` (host batches/s over device steps/s) to each host row."""
  for row in host_rows:
    row["ratio_to_device"] = row["batches_per_s"] / device["device_steps_per_s"]


def _print_trainer(name: str, info: dict, host_rows: list[dict], device: dict,
                   notes: list[str]) -> None:
  unit = "patches" if name == "espcn" else "samples"
  print(f"\n{name}: batch {info['batch_size']}  {info.get('what', '')}")
  print(f"  device step {device['device_step_ms']:.2f} ms = {device['device_steps_per_s']:.1f} "
        f"steps/s = {device['device_patches_per_s']:.0f} {unit}/s ("
        f"compile ~{device['compile_s']:.1f} s); fed by the current loader "
        f"{device['fed_steps_per_s']:.1f} steps/s")
  print(f"  {'loader':<8} {'workers':>7} {'batches/s':>10} {unit + '/s':>11} {'host/device':>12}")
  for r in host_rows:
    print(f"  {r['loader']:<8} {r['workers']:>7} {r['batches_per_s']:>10.1f} "
          f"{r['patches_per_s']:>11.0f} {r['ratio_to_device']:>12.2f}")
  for note in notes:
    print(f"  note: {note}")


def _workers(spec: str) -> list[int]:
  out = []
  for w in spec.split(","):
    n = (os.cpu_count() or 1) if w.strip() == "all" else int(w)
    if n not in out:
      out.append(n)
  return out


def _host_phase(args, workers: list[int]) -> dict:
  """Every host measurement, before JAX computes anything (the process pools fork)."""
  config = espcn_config(args.smoke, args.espcn_batch)
  sampler, info = espcn_sampler(config)
  info["what"] = (f"{info['patch_lr']}x{info['patch_lr']} LR patches x{info['scale']}, "
                  f"{info['images']} images from {info['train_data']}")
  rows, notes = bench_host(sampler.batch, config.batch_size, workers, args.steps, args.repeats)
  out = {"espcn": {"config": config, "sampler": sampler, "info": info, "host": rows,
                   "notes": notes}}
  mconfig = cascade.get_config("smoke" if args.smoke else "")
  for stage in STAGES:
    counts = stage_counts(stage, 2_000 if args.smoke else None)
    t = time.perf_counter()
    sample_set = synthetic_sample_set(stage, counts)
    size = nets.INPUT_SIZES[stage]
    info = {"batch_size": mconfig[stage].batch_size, "counts": counts,
            "build_s": time.perf_counter() - t,
            "what": f"{size}x{size}x3 uint8 crops, synthetic set of {sum(counts):,} "
                    f"({sample_set.images.nbytes / 2**20:.0f} MiB)"}
    produce = mtcnn_batches(mconfig, stage, sample_set)
    rows, notes = bench_host(produce, info["batch_size"], workers, args.steps, args.repeats)
    out[f"mtcnn_{stage}"] = {"config": mconfig, "produce": produce, "info": info,
                             "host": rows, "notes": notes}
  return out


def _device_phase(args, phase: dict) -> None:
  for name, entry in phase.items():
    if name == "espcn":
      device = espcn_device(entry["config"], entry["sampler"], args.device_steps, args.repeats)
    else:
      device = mtcnn_device(entry["config"], name.split("_")[1], entry["produce"],
                            args.device_steps, args.repeats)
    entry["device"] = device
    _ratios(entry["host"], device)


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--out", default="benchmarks/results/host_pipeline_cpu.json")
  parser.add_argument("--steps", type=int, default=40, help="host batches per timed run")
  parser.add_argument("--device-steps", type=int, default=10,
                      help="device steps per timed run (the CPU's O-Net step takes ~0.5 s)")
  parser.add_argument("--repeats", type=int, default=5)
  parser.add_argument("--workers", default="1,2,all", help="worker counts; 'all' = os.cpu_count()")
  parser.add_argument("--espcn-batch", type=int, default=0,
                      help="ESPCN batch size (default: the x3 recipe's)")
  parser.add_argument("--smoke", action="store_true",
                      help="tiny data and smoke batch sizes: seconds, checks the script only")
  args = parser.parse_args()
  workers = _workers(args.workers)
  load_before = os.getloadavg()
  t0 = time.perf_counter()
  phase = _host_phase(args, workers)
  _device_phase(args, phase)
  gflops = gemm_peak()
  machine = dict(_machine(), **_backend(), matmul_2048_gflops=gflops,
                 load_average_before=load_before, load_average_after=os.getloadavg())
  load_after = machine["load_average_after"][0]
  print(f"\nhost pipeline vs device step on {machine['backend']} x{machine['device_count']} "
        f"({machine['cpu_model']}, {machine['cpu_count']} CPUs, XLA 2048^3 matmul "
        f"{gflops:.0f} GFLOP/s, load {load_before[0]:.1f} -> {load_after:.1f}); median of "
        f"{args.repeats} runs of {args.steps} batches / {args.device_steps} steps"
        + (" (SMOKE: not a measurement)" if args.smoke else ""))
  for name, entry in phase.items():
    _print_trainer(name, entry["info"], entry["host"], entry["device"], entry["notes"])
  result = {"machine": machine, "smoke": args.smoke, "steps": args.steps,
            "device_steps": args.device_steps,
            "repeats": args.repeats, "workers": workers, "wall_s": time.perf_counter() - t0,
            "trainers": {name: {"info": e["info"], "device": e["device"], "host": e["host"],
                                "notes": e["notes"]} for name, e in phase.items()}}
  out = pathlib.Path(args.out)
  out.parent.mkdir(parents=True, exist_ok=True)
  out.write_text(json.dumps(result, indent=2, default=_jsonable) + "\n")
  print(f"wrote {out}")


def _jsonable(x):
  if isinstance(x, (np.integer, np.floating)):
    return x.item()
  if isinstance(x, tuple):
    return list(x)
  raise TypeError(f"{type(x).__name__} is not JSON serialisable")


if __name__ == "__main__":
  main()
