"""MTCNN detection speed on this machine, side by side with peers, in one run.

Usage::

  python benchmarks/mtcnn_bench.py [--images 20] [--repeats 5] [--out benchmarks/results/mtcnn_cpu.json]

Images: the first ``--images`` photos of ../shared/data/faces/wider_val_dev
(1024 px wide, as stored) and the same photos resized to 640 px wide and
centre-cropped/padded to 640x480. Each detector is warmed up on every image
(compilation excluded; reported apart), then each image is timed ``--repeats``
times and the per-image median taken; the table shows the median over images.
Peers: OpenCV's Haar cascade (frontalface_default, scaleFactor 1.1,
minNeighbors 3, minSize 20) always; facenet-pytorch, ipazc ``mtcnn`` and dlib's
HOG detector when installed (never project dependencies).
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
import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from espcn_mtcnn_common.image_io import read_image  # noqa: E402
from mtcnn_jax import cascade  # noqa: E402
from mtcnn_jax.annotations import load_annotations  # noqa: E402
from mtcnn_jax.params import load_params  # noqa: E402

DATA = pathlib.Path(__file__).resolve().parents[2] / "shared" / "data" / "faces" / "wider_val_dev"


def _to_640x480(image: np.ndarray) -> np.ndarray:
  h, w = image.shape[:2]
  nh = round(h * 640 / w)
  small = np.asarray(Image.fromarray(image).resize((640, nh), Image.Resampling.BILINEAR))
  out = np.zeros((480, 640, 3), np.uint8)
  top = max(0, (nh - 480) // 2)
  crop = small[top:top + 480]
  out[: crop.shape[0]] = crop
  return out


def _peers() -> dict:
  import cv2  # pylint: disable=import-outside-toplevel
  peers = {}
  haar = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")
  peers["opencv_haar_default"] = lambda im: haar.detectMultiScale(
      cv2.cvtColor(im, cv2.COLOR_RGB2GRAY), scaleFactor=1.1, minNeighbors=3, minSize=(20, 20))
  try:
    import torch  # pylint: disable=import-outside-toplevel
    from facenet_pytorch import MTCNN  # pylint: disable=import-outside-toplevel
    torch.set_grad_enabled(False)
    net = MTCNN(keep_all=True, device="cpu")
    def facenet(im):
      with torch.inference_mode():
        return net.detect(im, landmarks=True)
    peers["facenet_pytorch"] = facenet
  except Exception:  # pylint: disable=broad-except
    pass
  try:
    import importlib.util  # pylint: disable=import-outside-toplevel
    if importlib.util.find_spec("tensorflow") and importlib.util.find_spec("mtcnn"):
      from mtcnn import MTCNN as IpazcMTCNN  # pylint: disable=import-outside-toplevel
      ipazc = IpazcMTCNN(device="CPU:0")
      peers["ipazc_mtcnn"] = lambda im: ipazc.detect_faces(im)
  except Exception:  # pylint: disable=broad-except
    pass
  try:
    import dlib  # pylint: disable=import-outside-toplevel
    hog = dlib.get_frontal_face_detector()
    peers["dlib_hog"] = lambda im: hog(im, 0)
  except Exception:  # pylint: disable=broad-except
    pass
  return peers


def _time(fn, images, repeats) -> dict:
  compile_s = []
  for im in images:                      # warm-up: compiles every canvas once
    t = time.perf_counter()
    fn(im)
    compile_s.append(time.perf_counter() - t)
  per_image = []
  for im in images:
    times = []
    for _ in range(repeats):
      t = time.perf_counter()
      fn(im)
      times.append(time.perf_counter() - t)
    per_image.append(statistics.median(times) * 1e3)
  return {"median_ms": statistics.median(per_image), "mean_ms": float(np.mean(per_image)),
          "max_first_call_s": max(compile_s), "per_image_ms": per_image}


def _stages(params, image) -> dict:
  """Run time of each stage on one image (stage k = cascade up to k, minus up to k-1)."""
  config = cascade.DetectorConfig()
  h, w = image.shape[:2]
  ch, cw = cascade.canvas_shape(h, w)
  canvas = np.zeros((ch, cw, 3), np.float32)
  canvas[:h, :w] = image
  hh, ww = np.int32(h), np.int32(w)
  s1 = jax.jit(lambda p, im: cascade._stage1(p["pnet"], im, hh, ww, config))  # pylint: disable=protected-access

  def run_full():
    return cascade._detect_one(params, canvas, hh, ww, config)  # pylint: disable=protected-access

  def med(f):
    jax.block_until_ready(f())
    ts = []
    for _ in range(5):
      t = time.perf_counter()
      jax.block_until_ready(f())
      ts.append(time.perf_counter() - t)
    return statistics.median(ts) * 1e3
  t1 = med(lambda: s1(params, canvas))
  total = med(run_full)
  candidates = int(s1(params, canvas)[2].sum())
  return {"stage1_pnet_nms_ms": t1, "stages2_3_rnet_onet_ms": total - t1, "total_ms": total,
          "candidates_after_stage1": candidates}


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--images", type=int, default=20)
  parser.add_argument("--repeats", type=int, default=5)
  parser.add_argument("--out", default="benchmarks/results/mtcnn_cpu.json")
  args = parser.parse_args()
  if not DATA.exists():
    sys.exit(f"{DATA} is absent: the benchmark uses the WIDER parity images")
  anns = load_annotations(DATA / "annotations.json")[: args.images]
  big = [read_image(DATA / a.file, mode="rgb") for a in anns]
  vga = [_to_640x480(im) for im in big]
  params = load_params("published")
  ours = lambda im: cascade.detect(im, params=params)
  detectors = {"mtcnn_jax": ours, **_peers()}
  results = {}
  for label, images in (("640x480", vga), ("1024px", big)):
    results[label] = {name: _time(fn, images, args.repeats) for name, fn in detectors.items()}
  stages = {"640x480": _stages(params, vga[0]), "1024px": _stages(params, big[0])}
  print(f"MTCNN detection, {len(anns)} WIDER photos, min face 20, median over images of the "
        f"median of {args.repeats} runs after warm-up ({os.cpu_count()} CPUs, jax {jax.__version__})")
  names = list(detectors)
  print(f"{'images':<9}" + "".join(f"{n:>22}" for n in names))
  for label in results:
    print(f"{label:<9}" + "".join(f"{results[label][n]['median_ms']:>19.1f} ms" for n in names))
    ratio = {n: results[label][n]["median_ms"] / results[label]["mtcnn_jax"]["median_ms"]
             for n in names}
    print(f"{'  ratio':<9}" + "".join(f"{ratio[n]:>21.2f}x" for n in names)
          + "   (peer time / ours: > 1 means we are faster)")
  for label, st in stages.items():
    print(f"stages on one {label} photo: P-Net + NMS {st['stage1_pnet_nms_ms']:.1f} ms, "
          f"R-Net + O-Net {st['stages2_3_rnet_onet_ms']:.1f} ms "
          f"({st['candidates_after_stage1']} candidates into R-Net); first call (compile) "
          f"up to {results[label]['mtcnn_jax']['max_first_call_s']:.1f} s per new canvas")
  out = pathlib.Path(args.out)
  out.parent.mkdir(parents=True, exist_ok=True)
  out.write_text(json.dumps({"machine": {"platform": platform.platform(), "cpus": os.cpu_count(),
                                         "jax": jax.__version__},
                             "images": [a.file for a in anns], "repeats": args.repeats,
                             "results": results, "stages": stages}, indent=2) + "\n")
  print(f"wrote {out}")


if __name__ == "__main__":
  main()
