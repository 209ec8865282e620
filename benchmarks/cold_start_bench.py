"""Cold start: end-to-end speed from the first image, in fresh processes.

Every figure is the wall time of a fresh child process (imports, model
loading, compiling or loading compiled programs, the work, writing results),
so that it is what a user waits for. In one run:

* ``python evaluate.py mtcnn --detectors=mtcnn`` on the 293 ``wider_val_dev``
  photos (13 canvases) with an EMPTY compilation cache folder, then again
  with the folder it filled (warm), then warm with only XLA's entries (the
  stored ``jax.export`` programs removed: the warm path before they existed);
  AP and box count of each, which must agree;
* the same command with ``--detectors=facenet_pytorch`` (when it is installed
  in ``--peer-python``'s environment), and the sum of the per-image times of
  the reference file ``reference/facenet_mtcnn.json``;
* the first ``mtcnn_jax.detect`` on a photo of a never-seen size in a fresh
  process: cold (empty folder), and warm through the library's default cache
  (no CLI involved);
* steady state: ``detect``'s cascade through the stored program against the
  plain ``jax.jit`` path, interleaved in one process (same compiled program,
  so this checks that nothing was lost);
* ``espcn-upscale`` (x3, shipped Y model) on a folder of 50 photos of mixed
  sizes cut from the dev photos, cold and warm, with ``--tile=auto`` (256-pixel
  tiles here: one compiled program) and ``--tile=none`` (one per size bucket), against
  ``examples/espcn_onnxruntime.py``'s ``upscale`` on the same photos in one
  onnxruntime process (the same network: ``espcn_jax.deploy.espcn_onnx``),
  both writing PNGs.

Also recorded: the CPU model, the load average, running trainings and an XLA
2048^3 matmul rate. Command (peer environment: benchmarks/README.md)::

  PYTHONPATH=/path/to/torchvision-stub python benchmarks/cold_start_bench.py \\
      --peer-python /tmp/peers/bin/python
"""
from __future__ import annotations

import argparse
import json
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np
from PIL import Image

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
DEV = REPO.parent / "shared" / "data" / "faces" / "wider_val_dev"

# The first detect in a fresh process: import, read, detect, as a user's script.
_FIRST_DETECT = """
import sys, time
t0 = time.perf_counter()
import mtcnn_jax
from espcn_mtcnn_common.image_io import read_image
image = read_image(sys.argv[1], mode="rgb")
t1 = time.perf_counter()
faces = mtcnn_jax.detect(image)
t2 = time.perf_counter()
faces = mtcnn_jax.detect(image)
t3 = time.perf_counter()
print(f"RESULT import_s={t1 - t0:.3f} first_detect_s={t2 - t1:.3f} second_ms={(t3 - t2) * 1e3:.1f}"
      f" faces={len(faces)}")
"""

# The cascade through the stored program vs plain jit, interleaved (internals on purpose).
_STEADY = """
import sys, time, pathlib
import numpy as np
from espcn_mtcnn_common import compile_cache, compile_notice
from espcn_mtcnn_common.image_io import read_image
from mtcnn_jax import cascade
from mtcnn_jax.params import load_params
compile_notice.set_quiet(True)
compile_cache.enable(sys.argv[1])
params, config = cascade._resolve(None, cascade.DetectorConfig(), {})
static, thresholds = cascade._split_thresholds(config)
paths = sys.argv[2:]
inputs = []
for p in paths:
  im = read_image(p, mode="rgb")
  ch, cw = cascade.canvas_shape(*im.shape[:2])
  canvas = np.zeros((ch, cw, 3), np.float32); canvas[:im.shape[0], :im.shape[1]] = im
  inputs.append((canvas, np.int32(im.shape[0]), np.int32(im.shape[1])))
canvas_hw = inputs[0][0].shape[:2]
stored = cascade._exported_cascade(compile_cache.program_store(), params, canvas_hw, static)
plain = lambda p, c, h, w, t: cascade._detect_one(p, c, h, w, static, t)
times = {"stored": [], "jit": []}
runners = [("jit", plain), ("stored", stored)]
for rnd in range(6):
  for name, fn in runners[::-1] if rnd % 2 else runners:     # alternate who goes first
    for canvas, h, w in inputs:
      t = time.perf_counter()
      fn(params, canvas, h, w, thresholds).boxes.block_until_ready()
      if rnd:
        times[name].append(time.perf_counter() - t)
same = all(np.array_equal(np.asarray(stored(params, c, h, w, thresholds).boxes),
                          np.asarray(plain(params, c, h, w, thresholds).boxes))
           for c, h, w in inputs)
print(f"RESULT stored_ms={np.median(times['stored']) * 1e3:.2f} "
      f"jit_ms={np.median(times['jit']) * 1e3:.2f} same={same}")
"""

# The onnxruntime peer: examples/espcn_onnxruntime.py's upscale over a folder, PNGs out.
_ONNX_FOLDER = """
import sys, pathlib
sys.path.insert(0, sys.argv[3])
import numpy as np
from PIL import Image
import espcn_onnxruntime as ex
session, scale, channels = ex.load_model(sys.argv[1])
out = pathlib.Path(sys.argv[2]); out.mkdir(exist_ok=True)
for path in sorted(pathlib.Path(sys.argv[4]).glob("*.png")):
  result = ex.upscale(session, scale, channels, ex.read_picture(str(path)))
  Image.fromarray(np.round(result * 255).astype(np.uint8)).save(out / path.name)
print("RESULT done")
"""


def _env(cache: str | None = None, **extra) -> dict:
  env = dict(os.environ)
  for var in ("ESPCN_MTCNN_JAX_COMPILE_CACHE", "JAX_COMPILATION_CACHE_DIR"):
    env.pop(var, None)
  if cache is not None:
    env["ESPCN_MTCNN_JAX_COMPILE_CACHE"] = cache
  env.update(extra)
  return env


def _timed(cmd: list[str], env: dict) -> tuple[float, str, str]:
  """Wall seconds, stdout and stderr of a child process (which must succeed)."""
  t = time.perf_counter()
  done = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True)
  wall = time.perf_counter() - t
  if done.returncode != 0:
    raise RuntimeError(f"{cmd[:4]} failed: {done.stderr[-3000:]}")
  return wall, done.stdout, done.stderr


def _canvas(path: pathlib.Path) -> tuple[int, int]:
  """The MTCNN canvas (128-pixel bucket) of a photo, from its header."""
  with Image.open(path) as im:
    w, h = im.size
  return -(-h // 128) * 128, -(-w // 128) * 128


def _result_line(stdout: str) -> dict:
  line = [x for x in stdout.splitlines() if x.startswith("RESULT")][-1]
  return {k: v for k, v in (item.split("=") for item in line.split()[1:])}


def _evaluate(python: str, detector: str, cache: str, out: pathlib.Path) -> dict:
  """``evaluate.py mtcnn`` on the dev photos: wall time, AP, boxes, per-image times."""
  cmd = [python, "evaluate.py", "mtcnn", f"--data={DEV / 'annotations.json'}",
         f"--detectors={detector}", "--figures=none", "--no-progress", f"--out={out}",
         f"--compile-cache={cache}"]
  wall, _, stderr = _timed(cmd, _env())
  entry = json.loads(out.read_text())["detectors"][detector]
  per_image = entry.get("per_image_ms") or {}
  return {"wall_s": round(wall, 2), "ap": entry["ap"], "num_det": entry["num_det"],
          "sum_per_image_s": round(sum(per_image.values()) / 1e3, 2),
          "compile_lines": stderr.count("mtcnn_jax: compiling")}


def _reference_sum() -> float:
  """Seconds: the sum of the per-image times in the facenet-pytorch reference file."""
  data = json.loads((DEV / "reference" / "facenet_mtcnn.json").read_text())
  return round(sum(float(d.get("ms") or 0.0) for d in data["images"].values()) / 1e3, 2)


def _facenet_available(python: str) -> bool:
  done = subprocess.run([python, "-c", "import facenet_pytorch, torch"], cwd=REPO, env=_env(),
                        capture_output=True)
  return done.returncode == 0


def mtcnn_eval(work: pathlib.Path, peer_python: str) -> dict:
  cache = work / "xla"
  res = {"cold": _evaluate(sys.executable, "mtcnn", str(cache), work / "cold.json")}
  res["warm"] = _evaluate(sys.executable, "mtcnn", str(cache), work / "warm.json")
  xla_only = work / "xla_only"
  shutil.copytree(cache, xla_only, ignore=shutil.ignore_patterns("programs"))
  res["warm_xla_cache_only"] = _evaluate(sys.executable, "mtcnn", str(xla_only),
                                         work / "warm_xla.json")
  res["facenet_reference_file_sum_s"] = _reference_sum()
  if _facenet_available(peer_python):
    res["facenet_pytorch"] = _evaluate(peer_python, "facenet_pytorch", "off",
                                       work / "facenet.json")
  return res


def _first_detect(image: pathlib.Path, cache: str) -> dict:
  wall, stdout, stderr = _timed([sys.executable, "-c", _FIRST_DETECT, str(image)], _env(cache))
  out = {k: float(v) for k, v in _result_line(stdout).items()}
  return {**out, "process_wall_s": round(wall, 2),
          "compile_lines": stderr.count("mtcnn_jax: compiling")}


def first_detect(work: pathlib.Path, image: pathlib.Path) -> dict:
  cache = str(work / "lib_cache")
  return {"image": image.name, "cold": _first_detect(image, cache),
          "warm_library_default_cache": _first_detect(image, cache)}


def steady_state(work: pathlib.Path, images: list[pathlib.Path]) -> dict:
  _, stdout, _ = _timed([sys.executable, "-c", _STEADY, str(work / "steady_cache"),
                         *map(str, images)], _env())
  r = _result_line(stdout)
  return {"images": [p.name for p in images], "stored_program_ms": float(r["stored_ms"]),
          "plain_jit_ms": float(r["jit_ms"]), "same_boxes": r["same"] == "True"}


def make_photos(folder: pathlib.Path, count: int = 50, seed: int = 0) -> list[list[int]]:
  """``count`` PNG crops of the dev photos, of random sizes (160-480 x 200-640 px)."""
  folder.mkdir(parents=True, exist_ok=True)
  rng = np.random.default_rng(seed)
  files = sorted((DEV / "images").rglob("*.jpg"))
  sizes = []
  for i in range(count):
    with Image.open(files[int(rng.integers(len(files)))]) as im:
      rgb = np.asarray(im.convert("RGB"))
    h = int(rng.integers(160, min(480, rgb.shape[0]) + 1))
    w = int(rng.integers(200, min(640, rgb.shape[1]) + 1))
    Image.fromarray(rgb[:h, :w]).save(folder / f"photo_{i:02d}.png")
    sizes.append([h, w])
  return sizes


def espcn_folder(work: pathlib.Path, count: int = 50) -> dict:
  """``espcn-upscale`` over ``count`` mixed-size photos: ``--tile=auto`` (one program for
  every size here) and ``--tile=none`` (one per 32-pixel bucket), each cold and warm,
  bucketed again with JAX's 1 s storing threshold, and the onnxruntime peer."""
  import espcn_jax  # pylint: disable=import-outside-toplevel
  from espcn_jax.deploy import espcn_onnx  # pylint: disable=import-outside-toplevel
  photos = work / "photos"
  sizes = make_photos(photos, count)
  model = work / "espcn_x3_y.onnx"
  model.write_bytes(espcn_onnx(espcn_jax.load_pretrained(3)[0]))
  cli = [sys.executable, "-m", "espcn_jax.cli", str(photos), "--scale=3", "--no-progress"]
  walls, stderr = {}, {}
  for tile in ("auto", "none"):
    cache = f"--compile-cache={work / ('espcn_cache_' + tile)}"
    for phase in ("cold", "warm"):
      walls[f"{tile}_{phase}"], _, stderr[f"{tile}_{phase}"] = _timed(
          [*cli, "-o", str(work / f"sr_{tile}_{phase}"), cache, f"--tile={tile}"], _env())
  # JAX's own 1 s threshold, as before compile_cache.MIN_COMPILE_SECS: a fresh folder, twice.
  old = [f"--compile-cache={work / 'espcn_cache_1s'}", "--tile=none"]
  one_second = _env(JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="1")
  _timed([*cli, "-o", str(work / "sr_1s_cold"), *old], one_second)
  warm_1s, _, _ = _timed([*cli, "-o", str(work / "sr_1s_warm"), *old], one_second)
  onnx, _, _ = _timed([sys.executable, "-c", _ONNX_FOLDER, str(model), str(work / "sr_onnx"),
                       str(REPO / "examples"), str(photos)], _env())
  first = work / "sr_auto_cold"
  same = all((work / f"sr_{run}" / p.name).read_bytes() == p.read_bytes()
             for p in first.iterdir() for run in ("auto_warm", "none_cold", "none_warm"))
  buckets = {tuple(-(-s // 32) * 32 for s in hw) for hw in sizes}
  return {"photos": len(sizes), "distinct_sizes": len({tuple(s) for s in sizes}),
          "buckets": len(buckets),
          **{f"espcn_upscale_tile_{k}_s": round(v, 2) for k, v in walls.items()},
          "espcn_upscale_tile_none_warm_jax_1s_threshold_s": round(warm_1s, 2),
          "onnxruntime_s": round(onnx, 2),
          "compile_lines_cold": {t: stderr[f"{t}_cold"].count("espcn_jax: compiling")
                                 for t in ("auto", "none")},
          "all_outputs_identical": same}


def machine() -> dict:
  from espcn_realtime_bench import gemm_peak  # pylint: disable=import-outside-toplevel
  model = next((line.split(":", 1)[1].strip() for line in
                pathlib.Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), "unknown")
  trainings = subprocess.run(["pgrep", "-f", "train.py"], capture_output=True, text=True).stdout
  return {"cpu_model": model, "cores": os.cpu_count(), "load_average": os.getloadavg(),
          "trainings_running": len(trainings.split()),
          "xla_matmul_gflops": round(gemm_peak(), 1)}


def _summary(r: dict) -> list[str]:
  m, lines = r.get("mtcnn_eval"), []
  if m:
    peer = m.get("facenet_pytorch", {}).get("wall_s")
    lines.append(f"evaluate.py mtcnn, 293 photos: cold {m['cold']['wall_s']} s, warm "
                 f"{m['warm']['wall_s']} s, warm with XLA's cache only "
                 f"{m['warm_xla_cache_only']['wall_s']} s; facenet-pytorch {peer} s "
                 f"(reference file's per-image sum {m['facenet_reference_file_sum_s']} s)")
    lines.append("AP / boxes: " + ", ".join(
        f"{k} {v['ap']:.4f} / {v['num_det']}" for k, v in m.items() if isinstance(v, dict)))
  f = r.get("first_detect")
  if f:
    warm = f["warm_library_default_cache"]["first_detect_s"]
    lines.append(f"first detect on a new size ({f['image']}): cold "
                 f"{f['cold']['first_detect_s']} s, warm {warm} s")
  s = r.get("steady_state")
  if s:
    lines.append(f"steady state: stored program {s['stored_program_ms']} ms, plain jit "
                 f"{s['plain_jit_ms']} ms, same boxes {s['same_boxes']}")
  e = r.get("espcn_folder")
  if e:
    lines.append(f"espcn-upscale, {e['photos']} photos ({e['buckets']} buckets): --tile=auto "
                 f"cold {e['espcn_upscale_tile_auto_cold_s']} s, warm "
                 f"{e['espcn_upscale_tile_auto_warm_s']} s; --tile=none cold "
                 f"{e['espcn_upscale_tile_none_cold_s']} s, warm "
                 f"{e['espcn_upscale_tile_none_warm_s']} s (JAX's 1 s threshold: "
                 f"{e['espcn_upscale_tile_none_warm_jax_1s_threshold_s']} s); onnxruntime "
                 f"{e['onnxruntime_s']} s; outputs identical {e['all_outputs_identical']}")
  return lines


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--peer-python", default=sys.executable,
                      help="a Python with torch and facenet-pytorch (benchmarks/README.md)")
  parser.add_argument("--parts", default="mtcnn_eval,first_detect,steady_state,espcn_folder")
  parser.add_argument("--photos", type=int, default=50, help="photos in the ESPCN folder")
  parser.add_argument("--out", default=str(REPO / "benchmarks/results/cold_start_cpu.json"))
  args = parser.parse_args(argv)
  parts = args.parts.split(",")
  result = {"machine_before": machine(), "command": " ".join(sys.argv)}
  files = sorted((DEV / "images").rglob("*.jpg"))
  same_canvas = [f for f in files if _canvas(f) == (768, 1024)][:8]
  with tempfile.TemporaryDirectory() as tmp:
    work = pathlib.Path(tmp)
    if "mtcnn_eval" in parts:
      result["mtcnn_eval"] = mtcnn_eval(work, args.peer_python)
    if "first_detect" in parts:
      result["first_detect"] = first_detect(work, files[0])
    if "steady_state" in parts:
      result["steady_state"] = steady_state(work, same_canvas)
    if "espcn_folder" in parts:
      result["espcn_folder"] = espcn_folder(work, args.photos)
  result["machine_after"] = {"load_average": os.getloadavg()}
  pathlib.Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
  print("\n".join(_summary(result)))
  print(f"wrote {args.out}")
  return 0


if __name__ == "__main__":
  sys.exit(main())
