"""The MTCNN speed changes of sessions 4 to 8, A/B in one process, on 640x480 frames.

Usage::

  python benchmarks/mtcnn_ab.py [--images 8] [--rounds 7] [--stored-size] [--out PATH]

Nine builds of the whole cascade (``detect_padded``, published weights), jitted
side by side and timed interleaved on the first ``--images`` photos of
../shared/data/faces/wider_val_dev at 640x480 (as ``mtcnn_bench.py`` makes them), or
as stored (1024 px wide) with ``--stored-size``, each on its canvas:

* ``before``: the candidate order by a full stable ``argsort`` and max pooling
  by ``lax.reduce_window``, with R-Net chunks of 64 (session 3's code);
* ``+ top_k order``: ``nms_order`` by one ``lax.top_k`` over all slots (sessions 4-7);
* ``+ sliced pooling``: also pooling as strided-slice maxima (shipped);
* ``+ R-Net chunks of 32``: session 4's cascade, P-Net on whole levels;
* ``+ P-Net row bands``: session 5's cascade (large levels in
  ``cascade.PNET_ROW_BANDS`` row bands);
* ``+ P-Net conv1 in blocks``: session 6's cascade (P-Net's conv1 computed in
  its 2x2 pooling blocks as one stride-2 convolution, ``nets.BlockConv``);
* ``+ R-Net conv1/conv2``: session 7's cascade (R-Net's conv1 matrix padded to
  32 columns, ``nets.PATCH_FEATURE_MULTIPLE``, and its conv2 on the crops laid
  side by side, ``nets.SideBySideConv``);
* ``+ R-Net 32 channels``: R-Net's conv1 keeps those 32 columns, zeros past
  its 28 channels, through its PReLU, pooling and conv2 (session 8);
* ``+ sorted prefix``: the shipped cascade (``nms_order`` sorts only the first
  ``nms.ORDER_BUCKETS`` slots, after a partition, when the candidates fit
  there; also for P-Net's cells; session 8).

The builds swap the old functions in before tracing, so one process measures
all of them; every build's detections are checked against the shipped one's
(same boxes kept, coordinates within 1e-3 px).
"""
from __future__ import annotations

import argparse
import dataclasses
import functools
import importlib
import pathlib
import statistics
import sys
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

import flax.linen as nn  # noqa: E402
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from espcn_jax.image_io import read_image  # noqa: E402
from mtcnn_bench import DATA, _to_640x480  # noqa: E402
from mtcnn_stages import write_results  # noqa: E402
from mtcnn_jax import cascade, evaluation, nets, pyramid  # noqa: E402
from mtcnn_jax.params import load_params  # noqa: E402

nms_module = importlib.import_module("mtcnn_jax.nms")


def reduce_window_pool(x, window: int, stride: int):
  """Session 3's ``max_pool_ceil``: one ``lax.reduce_window``."""
  _, _, pad_h, pad_w = nets._pool_padding(x.shape, window, stride)
  return jax.lax.reduce_window(x, -jnp.inf, jax.lax.max, (1, window, window, 1),
                               (1, stride, stride, 1), ((0, 0), (0, pad_h), (0, pad_w), (0, 0)))


class PlainConv1PNet(nets.PNet):
  """Session 5's P-Net: conv1 as a plain 3x3 convolution, then ``max_pool_ceil``."""

  @nn.compact
  def __call__(self, x, valid_size=None):
    x = nets.ChannelPReLU(name="prelu1")(nets._conv(10, 3, "conv1")(x))
    if valid_size is not None:
      rows = jnp.arange(x.shape[1])[:, None] < valid_size[0] - 2
      cols = jnp.arange(x.shape[2])[None, :] < valid_size[1] - 2
      x = jnp.where((rows & cols)[None, :, :, None], x, -jnp.inf)
    x = nets.max_pool_ceil(x, 2, 2)
    x = nets.ChannelPReLU(name="prelu2")(nets._conv(16, 3, "conv2")(x))
    x = nets.ChannelPReLU(name="prelu3")(nets._conv(32, 3, "conv3")(x))
    box = nets._conv(4, 1, "box")(x)
    return nets._face_prob(nets._conv(2, 1, "face")(x)), box


class Session6RNet(nets.RNet):
  """Session 6's R-Net: conv2 as a batched ``nn.Conv`` (the build also turns off
  ``PatchConv``'s column padding)."""
  conv2 = staticmethod(lambda: nets._conv(48, 3, "conv2"))

  @nn.compact
  def __call__(self, x):
    x = nets.ChannelPReLU(name="prelu1")(nets.PatchConv(28, 3, name="conv1")(x))
    x = nets.max_pool_ceil(x, 3, 2)
    x = nets.ChannelPReLU(name="prelu2")(self.conv2()(x))
    x = nets.max_pool_ceil(x, 3, 2)
    x = nets.ChannelPReLU(name="prelu3")(nets._conv(64, 2, "conv3")(x))
    x = nets.ChannelPReLU(name="prelu4")(nn.Dense(128, name="fc4")(nets.flatten_whc(x)))
    return nets._face_prob(nn.Dense(2, name="face")(x)), nn.Dense(4, name="box")(x)


class Session7RNet(Session6RNet):
  """Session 7's R-Net: conv2 on the crops side by side; conv1's four padding
  channels still sliced off at once."""
  conv2 = staticmethod(lambda: nets.SideBySideConv(48, 3, name="conv2"))


def topk_order(scores, valid, k=None):
  """Sessions 4-7's ``nms_order``: one ``lax.top_k`` over all slots."""
  key = jnp.where(valid, scores, -jnp.inf)
  return jax.lax.top_k(key, key.shape[0] if k is None else k)[1]


def argsort_order(scores, valid, k=None):
  """Session 3's ``nms_order``: a full stable argsort."""
  order = jnp.argsort(-jnp.where(valid, scores, -jnp.inf), stable=True)
  return order if k is None else order[:k]


def build(pool, order, config, canvases, bands: int = cascade.PNET_ROW_BANDS,
          pnet=PlainConv1PNet, rnet=Session6RNet, onet=nets.ONet, patch_multiple: int = 1):
  """Compile ``detect_padded`` for each canvas shape with these pooling and ordering
  functions, P-Net bands, modules and ``PatchConv`` column padding; returns a
  function that picks by the image's shape."""
  # P-Net's cells were ranked by lax.top_k up to session 7, also in "before".
  cell_order = order if order is nms_module.nms_order else topk_order
  shipped = (nets.max_pool_ceil, nms_module.nms_order, cascade.nms_order, pyramid.nms_order,
             cascade.PNET_ROW_BANDS, cascade.PNet, cascade.RNet, cascade.ONet,
             nets.PATCH_FEATURE_MULTIPLE)
  (nets.max_pool_ceil, nms_module.nms_order, cascade.nms_order, pyramid.nms_order,
   cascade.PNET_ROW_BANDS, cascade.PNet, cascade.RNet, cascade.ONet,
   nets.PATCH_FEATURE_MULTIPLE) = (pool, order, order, cell_order, bands, pnet, rnet, onet,
                                   patch_multiple)
  try:
    f = jax.jit(functools.partial(cascade.detect_padded, config=config))
    compiled = {shape: f.lower(load_params("published"), jnp.zeros(shape, jnp.float32),
                               jnp.int32(1), jnp.int32(1)).compile()
                for shape in canvases}
    return lambda params, image, *size: compiled[image.shape](params, image, *size)
  finally:
    (nets.max_pool_ceil, nms_module.nms_order, cascade.nms_order, pyramid.nms_order,
     cascade.PNET_ROW_BANDS, cascade.PNet, cascade.RNet, cascade.ONet,
     nets.PATCH_FEATURE_MULTIPLE) = shipped


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--images", type=int, default=8)
  parser.add_argument("--rounds", type=int, default=7)
  parser.add_argument("--stored-size", action="store_true",
                      help="the photos as stored (1024 px wide), not resized to 640x480")
  parser.add_argument("--out", default=None,
                      help="default: benchmarks/results/mtcnn_ab_cpu.json, or "
                           "mtcnn_ab_1024_cpu.json with --stored-size")
  args = parser.parse_args()
  out = args.out or ("benchmarks/results/mtcnn_ab_1024_cpu.json" if args.stored_size
                     else "benchmarks/results/mtcnn_ab_cpu.json")
  annotations = evaluation.load_annotations(DATA / "annotations.json")[: args.images]
  photos = [read_image(DATA / a.file, mode="rgb") for a in annotations]
  if not args.stored_size:
    photos = [_to_640x480(p) for p in photos]
  images, sizes = [], []
  for photo in photos:
    h, w = photo.shape[:2]
    ch, cw = cascade.canvas_shape(h, w)
    images.append(jnp.asarray(np.pad(photo, ((0, ch - h), (0, cw - w), (0, 0))).astype(np.float32)))
    sizes.append((jnp.int32(h), jnp.int32(w)))
  canvases = sorted({tuple(im.shape) for im in images})
  shipped = cascade.DetectorConfig()
  old_chunks = dataclasses.replace(shipped, rnet_chunk=64)
  builds = {
      "before": build(reduce_window_pool, argsort_order, old_chunks, canvases, bands=1),
      "+ top_k order": build(reduce_window_pool, topk_order, old_chunks, canvases,
                             bands=1),
      "+ sliced pooling": build(nets.max_pool_ceil, topk_order, old_chunks, canvases,
                                bands=1),
      "+ R-Net chunks of 32": build(nets.max_pool_ceil, topk_order, shipped, canvases,
                                    bands=1),
      "+ P-Net row bands": build(nets.max_pool_ceil, topk_order, shipped, canvases),
      "+ P-Net conv1 in blocks": build(nets.max_pool_ceil, topk_order, shipped,
                                       canvases, pnet=nets.PNet),
      "+ R-Net conv1/conv2": build(nets.max_pool_ceil, topk_order, shipped, canvases,
                                   pnet=nets.PNet, rnet=Session7RNet,
                                   patch_multiple=nets.PATCH_FEATURE_MULTIPLE),
      "+ R-Net 32 channels": build(nets.max_pool_ceil, topk_order, shipped, canvases,
                                   pnet=nets.PNet, rnet=nets.RNet,
                                   patch_multiple=nets.PATCH_FEATURE_MULTIPLE),
      "+ sorted prefix": build(nets.max_pool_ceil, nms_module.nms_order, shipped, canvases,
                               pnet=nets.PNet, rnet=nets.RNet,
                               patch_multiple=nets.PATCH_FEATURE_MULTIPLE),
  }
  params = load_params("published")
  want = [builds["+ sorted prefix"](params, im, *size) for im, size in zip(images, sizes)]
  for name, f in builds.items():
    for im, size, w in zip(images, sizes, want):
      got = f(params, im, *size)
      assert np.array_equal(np.asarray(got.valid), np.asarray(w.valid)), name
      assert np.abs(np.asarray(got.boxes) - np.asarray(w.boxes)).max() < 1e-3, name
  times = {name: [[] for _ in images] for name in builds}
  for _ in range(args.rounds):
    for i, (im, size) in enumerate(zip(images, sizes)):
      for name, f in builds.items():
        start = time.perf_counter()
        jax.block_until_ready(f(params, im, *size))
        times[name][i].append((time.perf_counter() - start) * 1e3)
  where = "as stored (1024 px wide)" if args.stored_size else "at 640x480"
  print(f"MTCNN A/B, {len(images)} WIDER photos {where} (canvases {canvases}), median over "
        f"images of the median of {args.rounds} interleaved rounds (jax {jax.__version__})")
  rows = []
  for name in builds:
    ms = statistics.median(statistics.median(t) for t in times[name])
    rows.append({"build": name, "ms": ms})
    print(f"{name:<24} {ms:7.1f} ms")
  write_results(out, annotations, args.rounds, rows)


if __name__ == "__main__":
  main()
