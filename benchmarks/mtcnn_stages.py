"""Where MTCNN's time goes on 640x480 frames: the cascade cut after each stage.

Usage::

  python benchmarks/mtcnn_stages.py [--images 8] [--rounds 5] [--out benchmarks/results/mtcnn_stages_cpu.json]

The first ``--images`` photos of ../shared/data/faces/wider_val_dev, resized
and cropped to 640x480 as in ``mtcnn_bench.py``, on their 640x512 canvas, with
the published weights. Five jitted prefixes of the cascade run interleaved
(each round times every prefix on every image); the table gives, per prefix,
the median over images of the per-image median, and the differences between
consecutive prefixes give each stage's share:

* ``pyramid``: the summed-area table and every area-resampled level;
* ``+ P-Net``: P-Net on every level (the pyramid included);
* ``stage 1``: plus candidates, per-level and cross-level NMS, calibration;
* ``stages 1-2``: plus R-Net crops, R-Net, NMS;
* ``whole cascade``: plus O-Net (``detect_padded``, as ``mtcnn_jax.detect`` runs it).

``--compile HxW`` times instead how long each prefix takes to trace and
lower and to compile (XLA) for one canvas, with the persistent compilation
cache off (each stage's share of a cold canvas; the default run's numbers
are unaffected)::

  python benchmarks/mtcnn_stages.py --compile 768x1024 --out benchmarks/results/mtcnn_stage_compile_cpu.json

It uses only functions that have existed since the cascade was written (and
``cascade.pnet_in_row_bands`` where it exists), so checking out an older commit
and running it there measures the "before".
"""
from __future__ import annotations

import argparse
import functools
import json
import pathlib
import platform
import statistics
import sys
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

import jax  # noqa: E402
import numpy as np  # noqa: E402

from espcn_mtcnn_common.image_io import read_image  # noqa: E402
from mtcnn_bench import DATA, _to_640x480  # noqa: E402
from mtcnn_jax import cascade, pyramid  # noqa: E402
from mtcnn_jax.annotations import load_annotations  # noqa: E402
from mtcnn_jax.params import load_params  # noqa: E402


def _pnet(pnet_params, x, valid_size):
  """P-Net on one level as the cascade runs it: in row bands through
  ``cascade.pnet_in_row_bands`` when the checked-out code has it, else on the whole level."""
  if hasattr(cascade, "pnet_in_row_bands"):
    return cascade.pnet_in_row_bands(pnet_params, x, valid_size)
  return cascade.PNet().apply({"params": pnet_params}, x, valid_size=valid_size)


def _levels(params, image, height, width, config, with_pnet: bool):
  table = pyramid.summed_area_table(image, height, width)
  total = 0.0
  for scale in pyramid.pyramid_scales(image.shape[0], image.shape[1], config.min_face_size,
                                      config.factor):
    shape = pyramid.level_shape(image.shape[0], image.shape[1], scale)
    level, vh, vw = pyramid.resize_region(image, height, width, shape, scale, method="area",
                                          table=table)
    if with_pnet:
      prob, _ = _pnet(params["pnet"], cascade._normalize(level)[None], (vh, vw))
      total = total + prob.sum()
    else:
      total = total + level.sum()
  return total


def _stage1(params, image, height, width, config):
  table = pyramid.summed_area_table(image, height, width)
  return cascade._stage1(params["pnet"], image, height, width, config, table)


def _stages12(params, image, height, width, config):
  table = pyramid.summed_area_table(image, height, width)
  b, _, v, _ = cascade._stage1(params["pnet"], image, height, width, config, table)
  return cascade._stage2(params["rnet"], image, height, width, b, v, config, table)


PREFIXES = {
    "pyramid": functools.partial(_levels, with_pnet=False),
    "+ P-Net": functools.partial(_levels, with_pnet=True),
    "stage 1": _stage1,
    "stages 1-2": _stages12,
    "whole cascade": cascade.detect_padded,
}


def compile_times(canvas: tuple[int, int], config) -> list[dict]:
  """Seconds to trace+lower and to compile each prefix for ``canvas``, cache off."""
  jax.config.update("jax_enable_compilation_cache", False)
  params = load_params("published")
  specs = (params, jax.ShapeDtypeStruct((*canvas, 3), np.float32),
           jax.ShapeDtypeStruct((), np.int32), jax.ShapeDtypeStruct((), np.int32))
  rows, previous = [], 0.0
  print(f"MTCNN compile time per prefix, {canvas[0]}x{canvas[1]} canvas, cache off "
        f"(jax {jax.__version__})")
  print(f"{'prefix':<16} {'lower s':>8} {'compile s':>10} {'stage s':>8}")
  for name, f in PREFIXES.items():
    start = time.perf_counter()
    lowered = jax.jit(functools.partial(f, config=config)).lower(*specs)
    traced = time.perf_counter() - start
    lowered.compile()
    total = time.perf_counter() - start
    rows.append({"prefix": name, "lower_s": traced, "compile_s": total - traced,
                 "stage_s": total - previous})
    print(f"{name:<16} {traced:8.1f} {total - traced:10.1f} {total - previous:8.1f}")
    previous = total
  return rows


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--images", type=int, default=8)
  parser.add_argument("--rounds", type=int, default=5)
  parser.add_argument("--out", default="benchmarks/results/mtcnn_stages_cpu.json")
  parser.add_argument("--compile", metavar="HxW", default="",
                      help="time each prefix's compilation for this canvas instead")
  args = parser.parse_args()
  annotations = load_annotations(DATA / "annotations.json")[: args.images]
  if args.compile:
    canvas = tuple(int(v) for v in args.compile.lower().split("x"))
    rows = compile_times(canvas, cascade.DetectorConfig())
    write_results(args.out, [], 1, [dict(r, canvas=list(canvas)) for r in rows])
    return
  canvas = cascade.canvas_shape(480, 640)
  images = [np.pad(_to_640x480(read_image(DATA / a.file, mode="rgb")),
                   ((0, canvas[0] - 480), (0, canvas[1] - 640), (0, 0))).astype(np.float32)
            for a in annotations]
  params, config = load_params("published"), cascade.DetectorConfig()
  fns = {name: jax.jit(functools.partial(f, config=config)) for name, f in PREFIXES.items()}
  for f in fns.values():
    for image in images:
      jax.block_until_ready(f(params, image, 480, 640))
  times = {name: [[] for _ in images] for name in fns}
  for _ in range(args.rounds):
    for name, f in fns.items():
      for i, image in enumerate(images):
        start = time.perf_counter()
        jax.block_until_ready(f(params, image, 480, 640))
        times[name][i].append((time.perf_counter() - start) * 1e3)
  rows, previous = [], 0.0
  print(f"MTCNN stages, {len(images)} WIDER photos at 640x480 (canvas {canvas[0]}x{canvas[1]}), "
        f"median over images of the median of {args.rounds} rounds (jax {jax.__version__})")
  print(f"{'prefix':<16} {'ms':>7} {'stage ms':>9}")
  for name in fns:
    ms = statistics.median(statistics.median(t) for t in times[name])
    rows.append({"prefix": name, "ms": ms, "stage_ms": ms - previous})
    print(f"{name:<16} {ms:7.1f} {ms - previous:9.1f}")
    previous = ms
  write_results(args.out, annotations, args.rounds, rows)


def write_results(path: str, annotations, rounds: int, rows: list[dict]) -> None:
  """The JSON of a run on these photos: machine, image files, rounds and table rows."""
  out = pathlib.Path(path)
  out.parent.mkdir(parents=True, exist_ok=True)
  out.write_text(json.dumps({"machine": {"platform": platform.platform(), "jax": jax.__version__},
                             "images": [a.file for a in annotations], "rounds": rounds,
                             "rows": rows}, indent=2) + "\n")
  print(f"wrote {out}")


if __name__ == "__main__":
  main()
