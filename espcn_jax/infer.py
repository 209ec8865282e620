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
"""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from espcn_jax import color, resize_jax
from espcn_jax.banded import banded_apply
from espcn_jax.model import ESPCN, spec_from_params
from espcn_mtcnn_common.conv_impl import resolve_conv_impl

__all__ = ["bucket_shape", "super_resolve", "upscale", "DEFAULT_BUCKET"]

DEFAULT_BUCKET = 32


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


def _check_params(params, scale: int | None):
  spec = spec_from_params(params)
  if scale is not None and spec["scale"] != scale:
    raise ValueError(f"these params are for x{spec['scale']}, but scale={scale} was asked for")
  return spec


def super_resolve(params, lr: np.ndarray, *, activation: str = "tanh", centre: float = 0.5,
                  bucket: int = DEFAULT_BUCKET, scale: int | None = None,
                  conv_impl: str = "auto") -> np.ndarray:
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

  Returns:
    float32 ``[h*r, w*r, C]``, clipped to [0, 1] (not quantized).

  Raises:
    ValueError: bad input shape, params for another scale, or an unknown
      ``conv_impl``.
  """
  spec = _check_params(params, scale)
  conv_impl = resolve_conv_impl(conv_impl)
  lr = np.asarray(lr, np.float32)
  if lr.ndim == 2:
    lr = lr[..., None]
  if lr.ndim != 3 or lr.shape[-1] != spec["channels"]:
    raise ValueError(f"model expects [h, w, {spec['channels']}] input, got shape {lr.shape}")
  h, w = lr.shape[:2]
  shape = bucket_shape(h, w, bucket)
  out = _forward(params, _pad_to(lr, shape)[None], _mask(h, w, shape)[None],
                 activation=activation, centre=float(centre), conv_impl=conv_impl)
  r = spec["scale"]
  # Crop on the host (a view) and copy: a fresh writable array, as before.
  return np.array(np.asarray(out)[0, : h * r, : w * r])


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


def upscale(params, image, *, activation: str = "tanh", centre: float = 0.5,
            scale: int | None = None, bucket: int = DEFAULT_BUCKET,
            conv_impl: str = "auto") -> np.ndarray:
  """Super-resolve a photo: RGB in, RGB out.

  With a Y-channel model (C = 1), Y goes through ESPCN and Cb/Cr are
  upscaled with MATLAB bicubic; with an RGB model (C = 3), RGB goes through it
  directly. Single-channel images are treated as Y and come back
  single-channel. Images of different sizes in one bucket reuse one compiled
  function.

  Args:
    params: ESPCN params pytree (scale and channels are read from it).
    image: ``[H, W, 3]`` RGB or ``[H, W]`` grey; uint8, or float in [0, 1].
    activation, centre: the model's settings that params do not record
      (defaults match this project's training; a checkpoint's ``model.json``
      and the shipped model cards have them).
    scale: optional check that the params are for this scale.
    bucket: padding multiple for the compiled shapes.
    conv_impl: the network's form, as in :func:`super_resolve` (default
      ``"auto"``: CPU-tuned row bands on CPU, plain ``ESPCN.apply`` elsewhere).

  Returns:
    ``[H*r, W*r, 3]`` (or ``[H*r, W*r]``), uint8 for uint8 input, else float32.
  """
  spec = _check_params(params, scale)
  conv_impl = resolve_conv_impl(conv_impl)
  x = _checked_image(image)
  was_uint8 = x.dtype == np.uint8
  if x.ndim == 3 and x.shape[-1] == 1:
    x = x[..., 0]
  if x.ndim not in (2, 3) or (x.ndim == 3 and x.shape[-1] != 3):
    raise ValueError(f"image must be [H, W, 3] RGB or [H, W] grey, got shape {x.shape}")
  if x.shape[0] < 1 or x.shape[1] < 1:
    raise ValueError(f"image has no pixels: shape {x.shape}")
  r = spec["scale"]
  h, w = x.shape[:2]
  grey = x.ndim == 2
  if spec["channels"] == 1 and not grey:
    # The whole colour path, quantization included, runs in one jitted call.
    shape = bucket_shape(h, w, bucket)
    out = _forward_ycbcr(params, _pad_to(x, shape), _mask(h, w, shape),
                         resize_jax.mirror_index(h, shape[0]),
                         resize_jax.mirror_index(w, shape[1]),
                         activation=activation, centre=float(centre), conv_impl=conv_impl)
    return np.array(np.asarray(out)[: h * r, : w * r])
  if was_uint8:
    x = x.astype(np.float32) / 255.0
  model_in = np.repeat(x[..., None], 3, -1) if grey and spec["channels"] == 3 else (
      x[..., None] if grey else x)
  out = super_resolve(params, model_in, activation=activation, centre=centre, bucket=bucket,
                      conv_impl=conv_impl)
  if grey and spec["channels"] == 3:
    out = out.mean(axis=-1)
  elif grey:
    out = out[..., 0]
  if was_uint8:
    return np.round(out * 255.0).astype(np.uint8)
  return out.astype(np.float32)
