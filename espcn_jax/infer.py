"""Jitted ESPCN inference on images of any size without recompiling per size.

Inputs are zero-padded up to a *bucket* (height and width rounded up to a
multiple of ``bucket``) with a validity mask that is applied after each
layer, so a padded image gives exactly the unpadded result and all images in
one bucket share one compiled function. On CPU the network runs as
:func:`espcn_jax.banded.banded_apply` (row bands and a rational tanh, the
same function as ``ESPCN.apply`` to float rounding; chosen from CPU timings,
``benchmarks/README.md``); on other backends as the plain whole-frame
``ESPCN.apply`` (XLA's convolutions and tanh), whose GPU and TPU speed
relative to the bands has not been measured yet. ``conv_impl`` (``"auto"``
by default, ``"cpu_tuned"``, ``"xla"``; see
:func:`espcn_mtcnn_common.conv_impl.resolve_conv_impl`) chooses. For colour images and
Y-channel models, Cb/Cr are upscaled with MATLAB bicubic (:mod:`espcn_jax.resize_jax`) inside
the same jitted calls, and the colour conversion
(:func:`espcn_jax.color.rgb_to_ycbcr_planes`) and the rounding too.

Images over ``MAX_TILE_PIXELS`` (bucketed) run in overlapping square tiles of
one fixed size, so memory stays bounded and one compiled function serves
every tile of every big image: each tile carries a halo of the network's
receptive field (4 LR pixels for the 5-3-3 net; at least the bicubic's 2),
is padded and masked beyond the image as whole images are, and only its
centre is kept, in one preallocated host array. The stitched result equals
the untiled one (bit for bit in the tests, tests/espcn_jax/test_tiles.py).

``tile=N`` (:func:`upscale`, :func:`super_resolve`, ``espcn-upscale
--tile``) runs EVERY image that way, in ``N x N`` LR tiles (halo included),
so images of any size share one compiled program instead of one per bucket:
a folder of mixed-size photos compiles once, not once per bucket
(tests/espcn_jax/test_fixed_tiles.py; timings in docs/cli.md).
"""
from __future__ import annotations

import functools
import math
from typing import Any, Callable, Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from espcn_jax import color, resize, resize_jax
from espcn_jax.banded import banded_apply, receptive_radius
from espcn_jax.model import ESPCN, spec_from_params
from espcn_mtcnn_common import compile_cache, compile_notice
from espcn_mtcnn_common.conv_impl import resolve_conv_impl

__all__ = ["bucket_shape", "super_resolve", "super_resolve_self_ensemble", "upscale",
           "upscale_alpha", "DEFAULT_BUCKET", "MAX_TILE_PIXELS"]

# ESPCN params: the pytree of ``ESPCN.init(...)["params"]`` (nested dicts of arrays).
Params = Mapping[str, Any]

DEFAULT_BUCKET = 32

# LR pixels (bucketed h x w) above which an image runs in tiles, and the size
# of every tile: a square of isqrt(MAX_TILE_PIXELS) = 1024 LR pixels a side,
# halo included, so one compiled function serves every tile of every big
# image. One tile on the whole-frame XLA path: conv1 holds 64 float32 per LR
# pixel (1024^2 * 64 * 4 B = 256 MiB), conv2 32 (128 MiB), conv3 and the
# output C*r^2 (x3 Y: 36 MiB; x4 RGB: 192 MiB each); the colour path adds the
# enlarged CbCr (2 * 9 * 4 B per LR pixel at x3: 72 MiB) and RGB (108 MiB).
# So well under 1 GB per tile; the CPU row bands hold far less. Whole images
# at this budget used ~2 GB at 4000x3000 and aborted XLA at 12000x12000.
MAX_TILE_PIXELS = 1024 * 1024


def bucket_shape(height: int, width: int, bucket: int = DEFAULT_BUCKET) -> tuple[int, int]:
  """Round ``(height, width)`` up to multiples of ``bucket``."""
  return (-(-height // bucket) * bucket, -(-width // bucket) * bucket)


def _pad_to(x: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
  return np.pad(x, ((0, shape[0] - x.shape[0]), (0, shape[1] - x.shape[1]), (0, 0)))


def _mask(h: int, w: int, shape: tuple[int, int]) -> np.ndarray:
  m = np.zeros((*shape, 1), np.float32)
  m[:h, :w] = 1.0
  return m


def _model(params, activation: str, centre: float) -> ESPCN:
  spec = spec_from_params(params)
  return ESPCN(scale=spec["scale"], channels=spec["channels"], features=spec["features"],
               kernel_sizes=spec["kernel_sizes"], activation=activation, centre=centre)


@functools.partial(jax.jit, static_argnames=("activation", "centre"))
def _reference_forward(params, x, mask, *, activation, centre):
  """The plain whole-frame ``ESPCN.apply`` (reference for tests and benchmarks)."""
  return _model(params, activation, centre).apply({"params": params}, x, mask)


@functools.partial(jax.jit, static_argnames=("activation", "centre", "conv_impl"))
def _forward(params, x, mask, *, activation, centre, conv_impl="auto"):
  """``x``: ``[B, H, W, C]`` padded, ``mask``: ``[B, H, W, 1]`` -> ``[B, H*r, W*r, C]`` in [0, 1].

  ``conv_impl`` resolving to ``"cpu_tuned"``: :func:`banded_apply`; ``"xla"``:
  the whole-frame ``ESPCN.apply``, clipped (padding rows hold bias-only
  values, not zeros; callers crop them).
  """
  if resolve_conv_impl(conv_impl) == "cpu_tuned":
    return banded_apply(params, x, mask, activation=activation, centre=centre, clip=True)
  return jnp.clip(_model(params, activation, centre).apply({"params": params}, x, mask), 0.0, 1.0)


@jax.jit
def _split_ycbcr(image):
  """RGB ``[H, W, 3]`` (uint8, or float32 in [0, 1]) -> Y ``[1, H, W, 1]`` and CbCr
  planes ``[2, H, W]``, float32 in [0, 1]."""
  rgb = image.astype(jnp.float32) / 255.0 if image.dtype == jnp.uint8 else image
  y, cb, cr = color.rgb_to_ycbcr_planes(rgb)
  return y[None, ..., None], jnp.stack([cb, cr])   # planes: rows vectorize


@functools.partial(jax.jit, static_argnames=("scale", "quantize"))
def _merge_chroma(y, cbcr, row_mirror, col_mirror, *, scale: int, quantize: bool):
  """The CbCr planes upscaled by MATLAB bicubic, joined with the super-resolved Y.

  Args:
    y: ``[1, H*r, W*r, 1]`` float32, clipped to [0, 1] (from ``_forward``).
    cbcr: ``[2, H, W]`` float32 (from ``_split_ycbcr``), padded to the bucket.
    row_mirror, col_mirror: :func:`espcn_jax.resize_jax.mirror_index` for
      the rows ``[H + 4]`` and the columns ``[W + 4]`` (the true size is in
      their values, so sizes in one bucket share the compiled function).
    scale: r.
    quantize: return uint8 (rounded) rather than float32.

  Returns:
    RGB ``[H*r, W*r, 3]``, clipped: uint8 when ``quantize``, else float32 in
    [0, 1]. Quantizing here fuses it with the colour conversion; on the host it
    took longer than the whole chroma path.
  """
  cbcr = resize_jax.upscale_planes(cbcr, row_mirror, col_mirror, scale)
  out = jnp.clip(color.ycbcr_planes_to_rgb(y[0, ..., 0], cbcr[0], cbcr[1]), 0.0, 1.0)
  if quantize:
    return jnp.round(out * 255.0).astype(jnp.uint8)
  return out


def _forward_ycbcr(params, image, mask, row_mirror, col_mirror, *, activation, centre,
                   conv_impl):
  """RGB through YCbCr: Y by ESPCN, Cb/Cr by bicubic, back to RGB.

  Three jitted calls (colour split; the network, as ``super_resolve`` runs
  it, banded on CPU; chroma upscaling and the merge), each compiled once per
  bucket.
  As one jitted function it measured 23% slower (50.5 vs 39.1 ms for
  640x360 -> 1080p on the project's 2-core CPU): in traces of it the band
  loop ran on a thread-pool thread, where each band's 5x5 convolution took
  2.8 ms instead of 0.4-0.6 ms, and its time jumped between about 41 and
  50-61 ms from run to run. ``python benchmarks/espcn_realtime_bench.py``
  times this path (the row "ours: upscale RGB uint8 (public)").

  Args:
    params: ESPCN params of a Y model.
    image: ``[H, W, 3]`` RGB padded to the bucket; uint8, or float32 in [0, 1].
    mask: ``[H, W, 1]`` float32.
    row_mirror, col_mirror: as in :func:`_merge_chroma`.
    conv_impl: the network's form, as in :func:`_forward`.

  Returns:
    RGB ``[H*r, W*r, 3]``, clipped: uint8 (rounded) for uint8 input, else
    float32 in [0, 1].
  """
  y, cbcr = _split_ycbcr(image)
  y = _forward(params, y, mask[None], activation=activation, centre=centre, conv_impl=conv_impl)
  return _merge_chroma(y, cbcr, row_mirror, col_mirror, scale=spec_from_params(params)["scale"],
                       quantize=image.dtype == np.uint8)


def _tile_starts(n: int, core: int) -> list[int]:
  """Starts of the tile cores covering ``[0, n)``; the last one ends at ``n`` (overlapping)."""
  return [max(0, min(k * core, n - core)) for k in range(-(-n // core))]


def _tile_at(x: np.ndarray, top: int, left: int, side: int) -> tuple[np.ndarray, np.ndarray]:
  """The ``[side, side]`` window of ``x`` at ``(top, left)`` (may be negative), zero outside.

  Returns:
    The window ``[side, side, C]`` (``x``'s dtype) and its validity mask
    ``[side, side, 1]`` float32, as ``_pad_to`` and ``_mask`` pad whole images.
  """
  h, w = x.shape[:2]
  tile = np.zeros((side, side, x.shape[2]), x.dtype)
  mask = np.zeros((side, side, 1), np.float32)
  r0, r1, c0, c1 = max(top, 0), min(top + side, h), max(left, 0), min(left + side, w)
  tile[r0 - top:r1 - top, c0 - left:c1 - left] = x[r0:r1, c0:c1]
  mask[r0 - top:r1 - top, c0 - left:c1 - left] = 1.0
  return tile, mask


def _needs_tiles(h: int, w: int, bucket: int) -> bool:
  height, width = bucket_shape(h, w, bucket)
  return height * width > MAX_TILE_PIXELS


def _check_tile(tile: int | None, halo: int) -> None:
  """Refuse a ``tile`` that is not ``None`` or an int in ``(2 * halo, isqrt(MAX_TILE_PIXELS)]``.

  The upper bound keeps a tile within the memory budget of the big-image
  tiles; below ``2 * halo + 1`` a tile would have no core left.
  """
  if tile is None:
    return
  low, high = 2 * halo + 1, math.isqrt(MAX_TILE_PIXELS)
  # bool is an int subclass, and numpy ints are not ints: both said plainly.
  if isinstance(tile, bool) or not isinstance(tile, (int, np.integer)) or not low <= tile <= high:
    raise ValueError(f"tile must be None or an integer from {low} to {high} (LR pixels a side, "
                     f"a halo of {halo} each side included), got {tile!r}")


def check_tile(tile: int | None, params: Params) -> None:
  """Raise ValueError unless ``tile`` suits :func:`upscale` with ``params`` (``None``, or an
  int from ``2 * halo + 1`` to ``isqrt(MAX_TILE_PIXELS)``; the halo is the network's)."""
  _check_tile(tile, _tile_halo(params))


def _tile_side(h: int, w: int, bucket: int, tile: int | None) -> int | None:
  """The LR side of the tiles an ``[h, w]`` image runs in, halo included; ``None``: whole.

  ``tile`` (checked by :func:`_check_tile`) always tiles; without it only
  images over ``MAX_TILE_PIXELS`` (bucketed) do, in tiles of its square root.
  """
  if tile is not None:
    return int(tile)
  return math.isqrt(MAX_TILE_PIXELS) if _needs_tiles(h, w, bucket) else None


def _run_tiles(x: np.ndarray, run_tile: Callable, *, side: int, scale: int, halo: int,
               channels: int, dtype) -> np.ndarray:
  """An image in overlapping tiles of one fixed shape, the centres stitched together.

  Every tile is ``side`` pixels a side: a core plus ``halo`` pixels each side
  (zero and masked beyond the image, as the whole image is padded), so each
  output pixel sees the same inputs as untiled. An image smaller than a
  core is one tile, zero-padded.

  Args:
    x: ``[h, w, C_in]`` host image, any dtype.
    run_tile: ``(tile [S, S, C_in], mask [S, S, 1], top, left) -> [S*r, S*r, channels]``,
      ``top``/``left`` the tile's position in ``x`` (negative at the edges).
    side: S, LR pixels, halo included.
    scale: r.
    halo: context pixels each side (the receptive field radius, at least).
    channels, dtype: of the output.

  Returns:
    ``[h*r, w*r, channels]`` of ``dtype``, assembled in one preallocated array.
  """
  core = side - 2 * halo
  if core < 1:
    raise ValueError(f"tiles of {side} pixels cannot hold a halo of {halo}")
  h, w = x.shape[:2]
  r = scale
  out = np.empty((h * r, w * r, channels), dtype)
  for top in _tile_starts(h, core):
    for left in _tile_starts(w, core):
      tile, mask = _tile_at(x, top - halo, left - halo, side)
      y = np.asarray(run_tile(tile, mask, top - halo, left - halo))
      rows, cols = min(core, h - top) * r, min(core, w - left) * r
      out[top * r:top * r + rows, left * r:left * r + cols] = (
          y[halo * r:halo * r + rows, halo * r:halo * r + cols])
  return out


def _announce(shape: tuple[int, int], spec: dict, kind: str) -> None:
  """One stderr line the first time a bucket (or tile) shape is compiled for
  (:mod:`espcn_mtcnn_common.compile_notice`)."""
  compile_notice.announce(
      ("espcn_jax", kind, tuple(shape), spec["scale"], spec["channels"]),
      f"espcn_jax: compiling x{spec['scale']} for {kind} {shape[0]}x{shape[1]} "
      f"(once per size; {compile_notice.QUIET_ENV_VAR}=1 hides this line)")


def _check_params(params, scale: int | None):
  # Every public entry point checks its params first: the place to turn the
  # persistent compilation cache on (espcn_mtcnn_common.compile_cache).
  compile_cache.enable_default()
  spec = spec_from_params(params)
  if scale is not None and spec["scale"] != scale:
    raise ValueError(f"these params are for x{spec['scale']}, but scale={scale} was asked for")
  return spec


def super_resolve(params: Params, lr: np.ndarray, *, activation: str = "tanh", centre: float = 0.5,
                  bucket: int = DEFAULT_BUCKET, scale: int | None = None,
                  conv_impl: str = "auto", tile: int | None = None) -> np.ndarray:
  """Run ESPCN on one image in model space.

  Args:
    params: ESPCN params pytree (scale and channels are read from it).
    lr: float ``[h, w, C]`` in [0, 1], C matching the model.
    activation, centre: the model's settings that params do not record
      (see :class:`espcn_jax.model.ESPCN`; a checkpoint's ``model.json`` has them).
    bucket: padding multiple; sizes in one bucket share a compiled function.
    scale: optional check that the params are for this scale.
    conv_impl: ``"auto"`` (default: the row bands tuned on XLA:CPU when
      ``jax.default_backend() == "cpu"``, the plain ``ESPCN.apply``
      elsewhere; GPU/TPU timings not measured yet), ``"cpu_tuned"`` or
      ``"xla"``. Both compute the same function (differences below 1e-5).
    tile: ``None`` (default): one compiled program per bucket. An int N:
      every image runs in overlapping ``N x N`` LR tiles, halo included
      (N from ``2 * halo + 1`` = 9 for the 5-3-3 net to
      ``isqrt(MAX_TILE_PIXELS)`` = 1024), so images of every size share one
      compiled program; ``bucket`` is then unused. Same result (bit for bit
      in the tests); costs the tiles' overlap in compute
      (``espcn-upscale --tile``).

  Returns:
    float32 ``[h*r, w*r, C]``, clipped to [0, 1] (not quantized). Images
    over ``MAX_TILE_PIXELS`` (bucketed) run in tiles of one fixed shape,
    in bounded memory, with the same result.

  Raises:
    ValueError: bad input shape, params for another scale, an unknown
      ``conv_impl``, or a bad ``tile``.
  """
  spec = _check_params(params, scale)
  conv_impl = resolve_conv_impl(conv_impl)
  _check_tile(tile, _tile_halo(params))
  lr = np.asarray(lr, np.float32)
  if lr.ndim == 2:
    lr = lr[..., None]
  if lr.ndim != 3 or lr.shape[-1] != spec["channels"]:
    raise ValueError(f"model expects [h, w, {spec['channels']}] input, got shape {lr.shape}")
  h, w = lr.shape[:2]
  r = spec["scale"]
  forward = functools.partial(_forward, params, activation=activation, centre=float(centre),
                              conv_impl=conv_impl)
  side = _tile_side(h, w, bucket, tile)
  if side is not None:
    _announce((side, side), spec, "tiles of")
    return _run_tiles(lr, lambda t, m, *_: np.asarray(forward(t[None], m[None]))[0], side=side,
                      scale=r, halo=_tile_halo(params), channels=spec["channels"],
                      dtype=np.float32)
  shape = bucket_shape(h, w, bucket)
  _announce(shape, spec, "LR images of bucket")
  out = forward(_pad_to(lr, shape)[None], _mask(h, w, shape)[None])
  # Crop on the host (a view) and copy: a fresh writable array, as before.
  return np.array(np.asarray(out)[0, : h * r, : w * r])


def super_resolve_self_ensemble(params, lr: np.ndarray, **kwargs) -> np.ndarray:
  """Test-time geometric self-ensemble ("ESPCN+"): :func:`super_resolve` of
  the 8 flips/90-degree rotations of ``lr``, each mapped back, averaged.

  Eight times the compute of one pass. Same arguments and result shape as
  :func:`super_resolve`: ``lr`` float ``[h, w, C]`` in [0, 1] ->
  float32 ``[h*r, w*r, C]`` in [0, 1] (not quantized).
  """
  lr = np.asarray(lr, np.float32)
  if lr.ndim == 2:
    lr = lr[..., None]
  total = None
  for turns in range(4):
    for flip in (False, True):
      x = np.rot90(lr, turns)
      x = x[:, ::-1] if flip else x
      y = super_resolve(params, np.ascontiguousarray(x), **kwargs)
      y = np.rot90(y[:, ::-1] if flip else y, -turns)
      total = y.astype(np.float64) if total is None else total + y
  return (total / 8).astype(np.float32)


def _checked_image(image) -> np.ndarray:
  """uint8 image as it is, or float image as float32 in [0, 1]; refuses anything else."""
  image = np.asarray(image)
  if image.dtype == np.uint8:
    return image
  if image.dtype.kind != "f":
    raise ValueError(f"image must be uint8 or float in [0, 1], got {image.dtype}")
  if not np.all(np.isfinite(image)):
    raise ValueError("image holds NaN or infinite values")
  if image.min(initial=0) < 0 or image.max(initial=0) > 1:
    raise ValueError("float images must lie in [0, 1]")
  return image.astype(np.float32)


def upscale(params: Params, image: np.ndarray | jax.Array | Sequence[np.ndarray], *,
            activation: str = "tanh", centre: float = 0.5, scale: int | None = None,
            bucket: int = DEFAULT_BUCKET, conv_impl: str = "auto",
            tile: int | None = None) -> np.ndarray:
  """Super-resolve a photo (or a batch of same-size photos): RGB in, RGB out.

  With a Y-channel model (C = 1), Y goes through ESPCN and Cb/Cr are
  upscaled with MATLAB bicubic; with an RGB model (C = 3), RGB goes through it
  directly. Single-channel images are treated as Y and come back
  single-channel. An alpha channel is upscaled with MATLAB bicubic
  (:func:`upscale_alpha`, as ``espcn-upscale`` does) and kept. Images of
  different sizes in one bucket reuse one compiled function; with ``tile``,
  images of every size do.

  Args:
    params: ESPCN params pytree (scale and channels are read from it).
    image: one image: ``[H, W, 3]`` RGB, ``[H, W]`` (or ``[H, W, 1]``) grey,
      ``[H, W, 4]`` RGBA or ``[H, W, 2]`` grey + alpha; uint8, or float in
      [0, 1]. Or a batch of same-size images: an ``[N, H, W, C]`` array, or a
      list/tuple of same-shape, same-dtype images of any form above; they run
      one after another through the same compiled functions (one compilation
      for every N), each exactly as alone.
    activation, centre: the model's settings that params do not record
      (defaults match this project's training; a checkpoint's ``model.json``
      and the shipped model cards have them).
    scale: optional check that the params are for this scale.
    bucket: padding multiple for the compiled shapes.
    conv_impl: the network's form, as in :func:`super_resolve` (default
      ``"auto"``: CPU-tuned row bands on CPU, plain ``ESPCN.apply`` elsewhere).
    tile: ``None`` (default): one compiled program per bucket. An int N:
      every image runs in overlapping ``N x N`` LR tiles (halo included, N
      from 9 to 1024 for the 5-3-3 net), through one compiled program for
      every size; the same pixels (uint8: byte for byte in the tests). For
      folders of mixed sizes, where compiling per bucket dominates
      (``espcn-upscale`` uses ``--tile=256`` by default). Once compiled,
      tiles cost more per image (1.7-1.8x for 480x640 on 2 CPU cores,
      docs/cli.md), so the default stays per bucket.

  Returns:
    ``[H*r, W*r, C]`` with the input's channels (``[H*r, W*r]`` for grey),
    uint8 for uint8 input, else float32 in [0, 1]; a batch gives
    ``[N, ...]`` of those (``out[i]`` equals ``upscale(params, image[i])``).
    Images over ``MAX_TILE_PIXELS`` (bucketed) run in tiles, in bounded
    memory, with the same result.

  Raises:
    ValueError: a bad shape, dtype or value range (the message names it), an
      empty or mixed batch, params for another scale, an unknown ``conv_impl``,
      a bad ``tile``.
  """
  spec = _check_params(params, scale)
  settings = dict(activation=activation, centre=float(centre),
                  conv_impl=resolve_conv_impl(conv_impl))
  _check_tile(tile, _tile_halo(params))
  sizing = (bucket, tile)
  if isinstance(image, (list, tuple)) or np.ndim(image) == 4:
    return _upscale_batch(params, image, spec, sizing, settings)
  return _upscale_one(params, _checked_image(image), spec, sizing, settings)


def upscale_alpha(alpha: np.ndarray, scale: int, shape: tuple[int, int]) -> np.ndarray:
  """An alpha channel ``[H, W]`` upscaled to ``shape`` with MATLAB bicubic
  (:func:`espcn_jax.resize.imresize`): uint8 in, uint8 out (rounded, clipped);
  float in, float32 out, clipped to [0, 1]."""
  up = resize.imresize(alpha, float(scale), output_shape=shape)
  return up if alpha.dtype == np.uint8 else np.clip(up, 0.0, 1.0).astype(np.float32)


def _split_alpha(x: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
  """``[H, W, 4]`` -> RGB and alpha; ``[H, W, 2]`` -> grey and alpha; else ``(x, None)``."""
  if x.ndim == 3 and x.shape[-1] in (2, 4):
    return (x[..., :3] if x.shape[-1] == 4 else x[..., 0]), x[..., -1]
  return x, None


def _upscale_one(params, x: np.ndarray, spec: dict, sizing: tuple, settings: dict) -> np.ndarray:
  """One checked image (uint8, or float32 in [0, 1]), alpha kept.

  ``sizing``: ``(bucket, tile)`` as :func:`upscale` takes them.
  """
  if x.ndim == 3 and x.shape[-1] == 1:
    x = x[..., 0]
  colour, alpha = _split_alpha(x)
  out = _upscale_pixels(params, colour, spec, sizing, settings)
  if alpha is None:
    return out
  return np.dstack([out, upscale_alpha(alpha, spec["scale"], out.shape[:2])])


def _checked_batch(images) -> np.ndarray:
  """A list/tuple of same-shape, same-dtype images or an ``[N, ...]`` array, checked as
  :func:`_checked_image` checks one image."""
  if isinstance(images, (list, tuple)):
    arrays = [np.asarray(im) for im in images]
    shapes = sorted({a.shape for a in arrays})
    dtypes = sorted({str(a.dtype) for a in arrays})
    if len(shapes) > 1 or len(dtypes) > 1:
      raise ValueError(f"a batch needs images of one shape and dtype, got shapes {shapes} and "
                       f"dtypes {dtypes}; call upscale on each image for mixed sizes")
    images = np.stack(arrays) if arrays else np.zeros((0, 1, 1, 3), np.uint8)
  batch = _checked_image(images)
  if batch.shape[0] == 0:
    raise ValueError(f"the batch holds no images: shape {batch.shape}")
  return batch


def _upscale_batch(params, images, spec: dict, sizing: tuple, settings: dict) -> np.ndarray:
  """Same-size images one after another (one compiled function), stacked ``[N, ...]``."""
  batch = _checked_batch(images)
  first = _upscale_one(params, batch[0], spec, sizing, settings)
  out = np.empty((len(batch), *first.shape), first.dtype)
  out[0] = first
  for i in range(1, len(batch)):
    out[i] = _upscale_one(params, batch[i], spec, sizing, settings)
  return out


def _upscale_pixels(params, x: np.ndarray, spec: dict, sizing: tuple,
                    settings: dict) -> np.ndarray:
  """The network on one checked ``[H, W, 3]`` or ``[H, W]`` image (no alpha).

  ``sizing``: ``(bucket, tile)``. Returns ``[H*r, W*r, 3]`` or ``[H*r, W*r]``,
  uint8 for uint8 input, else float32.
  """
  was_uint8 = x.dtype == np.uint8
  if x.ndim not in (2, 3) or (x.ndim == 3 and x.shape[-1] != 3):
    raise ValueError("image must be [H, W, 3] RGB, [H, W] grey, [H, W, 4] RGBA or [H, W, 2] "
                     f"grey + alpha (or a batch [N, H, W, C] of them), got shape {x.shape}")
  if x.shape[0] < 1 or x.shape[1] < 1:
    raise ValueError(f"image has no pixels: shape {x.shape}")
  r = spec["scale"]
  h, w = x.shape[:2]
  grey = x.ndim == 2
  bucket, tile = sizing
  side = _tile_side(h, w, bucket, tile)
  if spec["channels"] == 1 and not grey:
    # The whole colour path, quantization included, runs in one jitted call (per tile).
    _announce((side, side) if side else bucket_shape(h, w, bucket), spec,
              "colour tiles of" if side else "colour images of bucket")
    if side:
      def colour_tile(t, mask, top, left):
        return _forward_ycbcr(params, t, mask, resize_jax.tile_mirror_index(h, top, side),
                              resize_jax.tile_mirror_index(w, left, side), **settings)
      return _run_tiles(x, colour_tile, side=side, scale=r, halo=_tile_halo(params),
                        channels=3, dtype=x.dtype)
    shape = bucket_shape(h, w, bucket)
    out = _forward_ycbcr(params, _pad_to(x, shape), _mask(h, w, shape),
                         resize_jax.mirror_index(h, shape[0]),
                         resize_jax.mirror_index(w, shape[1]), **settings)
    return np.array(np.asarray(out)[: h * r, : w * r])
  x = x[..., None] if grey else x
  channels = spec["channels"]
  if side:
    _announce((side, side), spec, "tiles of")

    def model_tile(t, mask, *_):
      y = _forward(params, _model_input(t, channels)[None], mask[None], **settings)
      return _model_output(np.asarray(y)[0], was_uint8, grey)
    out = _run_tiles(x, model_tile, side=side, scale=r, halo=_tile_halo(params),
                     channels=x.shape[-1], dtype=np.uint8 if was_uint8 else np.float32)
  else:
    out = _model_output(super_resolve(params, _model_input(x, channels), bucket=bucket,
                                      **settings), was_uint8, grey)
  return out[..., 0] if grey else out


def _tile_halo(params) -> int:
  """Context pixels each side of a tile: the network's receptive field (4 for 5-3-3),
  at least the bicubic's 2."""
  return max(receptive_radius(params), resize_jax.HALO)


def _model_input(x: np.ndarray, channels: int) -> np.ndarray:
  """``[h, w, 1 or 3]`` uint8 or float32 image -> float32 model input ``[h, w, channels]``."""
  if x.dtype == np.uint8:
    x = x.astype(np.float32) / 255.0
  return np.repeat(x, 3, -1) if x.shape[-1] == 1 and channels == 3 else x


def _model_output(out: np.ndarray, was_uint8: bool, grey: bool) -> np.ndarray:
  """Model output ``[H, W, C]`` in [0, 1] -> the image ``[H, W, 1 if grey else C]``.

  A grey image through an RGB model comes back as the mean of the channels;
  uint8 input comes back rounded to uint8, float input as float32.
  """
  if grey and out.shape[-1] == 3:
    out = out.mean(axis=-1, keepdims=True)
  return np.round(out * 255.0).astype(np.uint8) if was_uint8 else out.astype(np.float32)
