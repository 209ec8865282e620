"""MTCNN face detection with onnxruntime and NumPy alone: the three exported nets plus a host loop.

Export the nets, then detect::

  python export.py mtcnn --format=onnx --weights=published --out=exported/
  python examples/mtcnn_onnxruntime.py photo.jpg --models=exported/ [--weights=published]

It prints one JSON object per image (``boxes`` continuous ``[x1, y1, x2, y2)``
pixels, ``scores``, ``landmarks`` ``[5, 2]`` (x, y), best first) and needs only
NumPy, onnxruntime and Pillow: not JAX, not this repository's packages. It
reads ``mtcnn_<weights>_{pnet,rnet,onet}.onnx`` (NCHW RGB float32 in [0, 255];
the nets normalise inside).

The loop follows ``mtcnn_jax.detect``'s conventions, so the faces agree with
it within a pixel (tests/test_examples_onnx.py checks this on the embedded
photos):

* pyramid: ``m = 12 / 20``, scales ``m * 0.709**k`` while the shorter side of
  the image *padded to multiples of 128* (``detect``'s canvas) times the scale
  is >= 12; level size ``ceil(side * scale)`` (float64); resampling by area
  (the mean of input pixels ``[floor(o*n/m), ceil((o+1)*n/m))`` per axis, as
  PyTorch's adaptive average pooling), exact integer sums;
* P-Net cells with ``prob >= 0.6``; cell ``(i, j)`` is the 1-based inclusive box
  ``fix((2j + 1) / scale), fix((2i + 1) / scale), fix((2j + 12) / scale),
  fix((2i + 12) / scale)`` (float64); greedy NMS 0.5 per level, then 0.7
  across levels; calibration with ``w = x2 - x1``; squared; truncated;
* R-Net on 24x24 crops (box region, zero outside the image, area-resampled),
  ``prob > 0.7``, NMS 0.7, calibration with ``w = x2 - x1 + 1``, squared, truncated;
* O-Net on 48x48 crops, ``prob > 0.7``, landmarks ``w * p + x1 - 1``,
  calibration (``+ 1``), NMS 0.7 over the *smaller* box's area;
* NMS overlaps use continuous areas (no MATLAB ``+ 1``) and suppress
  overlaps strictly above the threshold; ties in score keep the earlier
  candidate; boxes leave as ``[x1 - 1, y1 - 1, x2, y2)``, landmarks ``+ 0.5``.
"""
from __future__ import annotations

import argparse
import json
import math
import pathlib
import sys

import numpy as np
import onnxruntime as ort
from PIL import Image, ImageOps

MIN_FACE_SIZE = 20.0
FACTOR = 0.709
THRESHOLDS = (0.6, 0.7, 0.7)
NMS_THRESHOLDS = (0.5, 0.7, 0.7, 0.7)
CANVAS_MULTIPLE = 128   # detect's size bucket: the pyramid's scales come from it
MAX_IMAGE_SIDE = 4096   # larger images are shrunk first (box filter), as detect does
CELL, STRIDE = 12, 2
# detect's budgets (candidates kept at each step); far above what photos produce.
LEVEL_TOP_K, STAGE1_POOL, RNET_K, ONET_K, MAX_FACES = 8192, 8192, 4096, 2048, 1024


def load_nets(folder: str | pathlib.Path, weights: str = "published") -> dict:
  """onnxruntime sessions of ``folder/mtcnn_<weights>_{pnet,rnet,onet}.onnx``.

  Raises:
    FileNotFoundError: a file is missing (the message gives the export command).
    ValueError: a file is not a readable ONNX model.
  """
  sessions = {}
  for net in ("pnet", "rnet", "onet"):
    path = pathlib.Path(folder) / f"mtcnn_{weights}_{net}.onnx"
    if not path.is_file():
      raise FileNotFoundError(f"{path} is missing; make it with: python export.py mtcnn "
                              f"--format=onnx --weights={weights} --out={folder}")
    try:
      sessions[net] = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    except Exception as e:   # onnxruntime's load errors derive from Exception only
      raise ValueError(f"{path}: not a readable ONNX model ({str(e).splitlines()[0]})") from None
  return sessions


def run_net(session, images_nhwc: np.ndarray) -> dict[str, np.ndarray]:
  """One net on float32 NHWC RGB ``[N, H, W, 3]`` in [0, 255]: output name -> array."""
  nchw = np.ascontiguousarray(images_nhwc.transpose(0, 3, 1, 2), np.float32)
  names = [o.name for o in session.get_outputs()]
  return dict(zip(names, session.run(names, {"image": nchw})))


# ----------------------------------------------------------------------------- resampling

def summed_area_table(image: np.ndarray) -> np.ndarray:
  """Exclusive prefix sums ``[H + 1, W + 1, 3]`` (int64) of a uint8 image."""
  table = image.astype(np.int64).cumsum(0).cumsum(1)
  return np.pad(table, ((1, 0), (1, 0), (0, 0)))


def area_bounds(out_len: int, n_in, n_out) -> tuple[np.ndarray, np.ndarray]:
  """Input ranges ``[floor(o*n/m), ceil((o+1)*n/m))`` of outputs ``o`` (``n_in``,
  ``n_out``: ints or ``[K, 1]`` arrays): ``[..., out_len]`` each."""
  o = np.arange(out_len)
  return (o * n_in) // n_out, ((o + 1) * n_in + n_out - 1) // n_out


def box_means(table, r0, r1, c0, c1, area) -> np.ndarray:
  """Means over rows ``[r0, r1)`` x cols ``[c0, c1)`` (broadcast index grids), float32."""
  total = table[r1, c1] - table[r0, c1] - table[r1, c0] + table[r0, c0]
  return total.astype(np.float32) / area.astype(np.float32)[..., None]


def resize_level(table, height: int, width: int, out_h: int, out_w: int) -> np.ndarray:
  """The image resized by area to ``[out_h, out_w, 3]`` float32."""
  r0, r1 = area_bounds(out_h, height, out_h)
  c0, c1 = area_bounds(out_w, width, out_w)
  r0, r1 = np.minimum(r0, height), np.minimum(r1, height)
  c0, c1 = np.minimum(c0, width), np.minimum(c1, width)
  area = np.maximum((r1 - r0)[:, None] * (c1 - c0)[None, :], 1)
  return box_means(table, r0[:, None], r1[:, None], c0[None, :], c1[None, :], area)


def crop_boxes(table, height: int, width: int, boxes: np.ndarray, size: int) -> np.ndarray:
  """Integer 1-based inclusive boxes ``[K, 4]`` -> area-resampled crops ``[K, size, size, 3]``
  float32; outside the image counts as zero (the divisor is the whole cell's area)."""
  bw = np.maximum(boxes[:, 2] - boxes[:, 0] + 1, 1).astype(np.int64)[:, None]
  bh = np.maximum(boxes[:, 3] - boxes[:, 1] + 1, 1).astype(np.int64)[:, None]
  r0, r1 = area_bounds(size, bh, size)
  c0, c1 = area_bounds(size, bw, size)
  area = (r1 - r0)[:, :, None] * (c1 - c0)[:, None, :]
  top, left = boxes[:, 1:2].astype(np.int64) - 1, boxes[:, 0:1].astype(np.int64) - 1
  rows = lambda r: np.clip(top + r, 0, height)[:, :, None]
  cols = lambda c: np.clip(left + c, 0, width)[:, None, :]
  return box_means(table, rows(r0), rows(r1), cols(c0), cols(c1), area)


# ----------------------------------------------------------------------------- boxes

def overlap(box: np.ndarray, boxes: np.ndarray, method: str = "union") -> np.ndarray:
  """Overlap of one box ``[4]`` with ``boxes [K, 4]`` (continuous areas, float32)."""
  area = lambda b: (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])
  w = np.maximum(np.float32(0), np.minimum(box[2], boxes[:, 2]) - np.maximum(box[0], boxes[:, 0]))
  h = np.maximum(np.float32(0), np.minimum(box[3], boxes[:, 3]) - np.maximum(box[1], boxes[:, 1]))
  inter = w * h
  denom = (area(box) + area(boxes) - inter if method == "union"
           else np.minimum(area(box), area(boxes)))
  return inter / np.maximum(denom, np.float32(1e-12))


def nms(boxes: np.ndarray, scores: np.ndarray, threshold: float,
        method: str = "union") -> np.ndarray:
  """Greedy NMS: indices kept, best first; ties in score keep the lower index."""
  order = np.argsort(-scores, kind="stable")
  suppressed = np.zeros(len(scores), bool)
  keep = []
  for i in order:
    if suppressed[i]:
      continue
    keep.append(i)
    suppressed |= overlap(boxes[i], boxes, method) > np.float32(threshold)
  return np.asarray(keep, np.int64)


def best_first(scores: np.ndarray, k: int) -> np.ndarray:
  """Indices of the ``k`` best scores, descending; ties keep the lower index."""
  return np.argsort(-scores, kind="stable")[:k]


def calibrate(boxes: np.ndarray, offsets: np.ndarray, plus_one: bool) -> np.ndarray:
  """Bounding-box regression: each side moves by offset x (w, h) (``+ 1`` after R-/O-Net)."""
  one = np.float32(1 if plus_one else 0)
  w = boxes[:, 2] - boxes[:, 0] + one
  h = boxes[:, 3] - boxes[:, 1] + one
  return boxes + offsets * np.stack([w, h, w, h], axis=-1)


def square(boxes: np.ndarray) -> np.ndarray:
  """Square boxes around their centres, side ``max(x2 - x1, y2 - y1)``."""
  w, h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
  side = np.maximum(w, h)
  x1 = boxes[:, 0] + w * np.float32(0.5) - side * np.float32(0.5)
  y1 = boxes[:, 1] + h * np.float32(0.5) - side * np.float32(0.5)
  return np.stack([x1, y1, x1 + side, y1 + side], axis=-1)


# ----------------------------------------------------------------------------- stages

def pyramid_scales(height: int, width: int) -> list[float]:
  """Scales of the pyramid for an image of this size (``detect``: its canvas's size)."""
  scale, side, scales = CELL / MIN_FACE_SIZE, min(height, width) * CELL / MIN_FACE_SIZE, []
  while side >= CELL:
    scales.append(scale)
    scale *= FACTOR
    side *= FACTOR
  return scales


def level_candidates(pnet, table, height: int, width: int, scale: float):
  """P-Net on one level: ``(boxes [n, 4], scores [n], offsets [n, 4])`` after the level's
  NMS, best first (1-based inclusive boxes, float32)."""
  vh, vw = math.ceil(height * scale), math.ceil(width * scale)
  if min(vh, vw) < CELL:
    return None
  out = run_net(pnet, resize_level(table, height, width, vh, vw)[None])
  prob, offsets = out["prob"][0], out["offsets"][0]           # [rows, cols], [4, rows, cols]
  i, j = np.nonzero(prob >= np.float32(THRESHOLDS[0]))       # row-major, as detect's cells
  scores = prob[i, j]
  top = best_first(scores, LEVEL_TOP_K)
  i, j, scores = i[top], j[top], scores[top]
  start = lambda c: np.trunc((STRIDE * c.astype(np.float64) + 1) / scale).astype(np.float32)
  end = lambda c: np.trunc((STRIDE * c.astype(np.float64) + CELL) / scale).astype(np.float32)
  boxes = np.stack([start(j), start(i), end(j), end(i)], axis=-1)
  keep = nms(boxes, scores, NMS_THRESHOLDS[0])
  return boxes[keep], scores[keep], offsets[:, i, j].T[keep]


def stage1(pnet, table, height: int, width: int) -> np.ndarray:
  """P-Net over the pyramid -> squared, truncated boxes ``[n, 4]``, best first."""
  ch, cw = (-(-height // CANVAS_MULTIPLE) * CANVAS_MULTIPLE,
            -(-width // CANVAS_MULTIPLE) * CANVAS_MULTIPLE)
  levels = [level_candidates(pnet, table, height, width, s) for s in pyramid_scales(ch, cw)]
  levels = [lv for lv in levels if lv is not None and len(lv[1])]
  if not levels:
    return np.zeros((0, 4), np.float32)
  boxes, scores, offsets = (np.concatenate(parts) for parts in zip(*levels))
  pool = best_first(scores, STAGE1_POOL)
  boxes, scores, offsets = boxes[pool], scores[pool], offsets[pool]
  keep = nms(boxes, scores, NMS_THRESHOLDS[1])                # across levels
  boxes = np.trunc(square(calibrate(boxes[keep], offsets[keep], plus_one=False)))
  return boxes[:RNET_K]                                       # keep is best first


def stage2(rnet, table, height: int, width: int, boxes: np.ndarray) -> np.ndarray:
  """R-Net on 24x24 crops -> squared, truncated boxes ``[n, 4]``, best first."""
  if not len(boxes):
    return boxes
  out = run_net(rnet, crop_boxes(table, height, width, boxes, 24))
  ok = np.nonzero(out["prob"] > np.float32(THRESHOLDS[1]))[0]
  boxes, prob, offsets = boxes[ok], out["prob"][ok], out["offsets"][ok]
  keep = nms(boxes, prob, NMS_THRESHOLDS[2])
  boxes, prob = square(calibrate(boxes[keep], offsets[keep], plus_one=True)), prob[keep]
  return np.trunc(boxes[best_first(prob, ONET_K)])


def stage3(onet, table, height: int, width: int, boxes: np.ndarray):
  """O-Net on 48x48 crops -> ``(boxes [n, 4], scores [n], landmarks [n, 5, 2])``, best
  first, boxes still 1-based inclusive and landmarks 0-based pixel indices."""
  out = run_net(onet, crop_boxes(table, height, width, boxes, 48))
  ok = np.nonzero(out["prob"] > np.float32(THRESHOLDS[2]))[0]
  boxes, prob, offsets = boxes[ok], out["prob"][ok], out["offsets"][ok]
  points = out["landmarks"][ok]
  w = boxes[:, 2] - boxes[:, 0] + np.float32(1)
  h = boxes[:, 3] - boxes[:, 1] + np.float32(1)
  xs = w[:, None] * points[:, :5] + boxes[:, :1] - np.float32(1)
  ys = h[:, None] * points[:, 5:] + boxes[:, 1:2] - np.float32(1)
  landmarks = np.stack([xs, ys], axis=-1)
  boxes = calibrate(boxes, offsets, plus_one=True)
  keep = nms(boxes, prob, NMS_THRESHOLDS[3], method="min")
  keep = keep[best_first(prob[keep], MAX_FACES)]
  return boxes[keep], prob[keep], landmarks[keep]


def shrink(image: np.ndarray) -> tuple[np.ndarray, float]:
  """Images with a side over ``MAX_IMAGE_SIDE`` shrunk (box filter), and the factor back."""
  longest = max(image.shape[:2])
  if longest <= MAX_IMAGE_SIDE:
    return image, 1.0
  factor = MAX_IMAGE_SIDE / longest
  size = (max(1, round(image.shape[1] * factor)), max(1, round(image.shape[0] * factor)))
  small = np.asarray(Image.fromarray(image).resize(size, Image.Resampling.BOX))
  return small, image.shape[1] / size[0]


def detect(nets: dict, image: np.ndarray) -> dict[str, np.ndarray]:
  """Faces in a uint8 RGB image ``[H, W, 3]``.

  Returns:
    ``{"boxes": [N, 4] continuous [x1, y1, x2, y2), "scores": [N],
    "landmarks": [N, 5, 2]}``, float32, best first.
  """
  image, factor = shrink(image)
  height, width = image.shape[:2]
  empty = {"boxes": np.zeros((0, 4), np.float32), "scores": np.zeros(0, np.float32),
           "landmarks": np.zeros((0, 5, 2), np.float32)}
  if not pyramid_scales(height, width):
    return empty                                   # smaller than one P-Net window
  table = summed_area_table(image)
  boxes = stage2(nets["rnet"], table, height, width, stage1(nets["pnet"], table, height, width))
  if not len(boxes):
    return empty
  boxes, scores, landmarks = stage3(nets["onet"], table, height, width, boxes)
  boxes = boxes - np.asarray([1, 1, 0, 0], np.float32)        # to continuous [x1, y1, x2, y2)
  return {"boxes": boxes * factor, "scores": scores, "landmarks": (landmarks + 0.5) * factor}


def read_rgb(path: str | pathlib.Path) -> np.ndarray:
  """A picture file as uint8 RGB ``[H, W, 3]`` (EXIF orientation applied)."""
  with Image.open(path) as im:
    return np.asarray(ImageOps.exif_transpose(im).convert("RGB"))


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("images", nargs="+", help="picture files")
  parser.add_argument("--models", required=True, help="folder of the exported .onnx nets")
  parser.add_argument("--weights", default="published",
                      help="the weight set's name in the file names (published, wider600, ...)")
  parser.add_argument("--json", default=None, help="also write all results to this JSON file")
  args = parser.parse_args(argv)
  try:
    nets = load_nets(args.models, args.weights)
    results = {}
    for path in args.images:
      faces = detect(nets, read_rgb(path))
      results[str(path)] = {k: np.round(v.astype(np.float64), 4).tolist() for k, v in faces.items()}
      print(json.dumps({"image": str(path), **results[str(path)]}))
  except (OSError, ValueError) as e:
    print(f"error: {e}", file=sys.stderr)
    return 2
  if args.json:
    pathlib.Path(args.json).write_text(json.dumps(results, indent=1) + "\n")
  return 0


if __name__ == "__main__":
  sys.exit(main())
