"""Jitted ESPCN inference on images of any size without recompiling per size.

Inputs are zero-padded up to a *bucket* (height and width rounded up to a
multiple of ``bucket``) with a validity mask that the model applies after each
layer, so a padded image gives exactly the unpadded result and all images in
one bucket share one compiled function. For colour images and Y-channel
models, Cb/Cr are upscaled with MATLAB bicubic inside the same jitted call,
as products with resize matrices padded to the bucket.
"""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from espcn_jax import color, resize
from espcn_jax.model import ESPCN, spec_from_params

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


@functools.lru_cache(maxsize=64)
def _padded_resize_matrix(n: int, padded: int, scale: int) -> jax.Array:
  """MATLAB bicubic ``[n*r, n]`` matrix embedded in zeros ``[padded*r, padded]``, on device.

  Cached: video frames and repeated sizes reuse the uploaded matrix.
  """
  m = np.zeros((padded * scale, padded), np.float32)
  m[: n * scale, :n] = resize.resize_matrix(n, n * scale, float(scale))
  return jnp.asarray(m)


def _model(params, activation: str, centre: float) -> ESPCN:
  spec = spec_from_params(params)
  return ESPCN(scale=spec["scale"], channels=spec["channels"], features=spec["features"],
               kernel_sizes=spec["kernel_sizes"], activation=activation, centre=centre)


@functools.partial(jax.jit, static_argnames=("activation", "centre"))
def _forward(params, x, mask, *, activation, centre):
  """``x``: ``[B, H, W, C]`` padded, ``mask``: ``[B, H, W, 1]`` -> ``[B, H*r, W*r, C]``."""
  return _model(params, activation, centre).apply({"params": params}, x, mask)


@functools.partial(jax.jit, static_argnames=("activation", "centre"))
def _forward_ycbcr(params, ycbcr, mask, rows, cols, *, activation, centre):
  """Y through ESPCN, Cb/Cr bicubic; ``ycbcr`` ``[H, W, 3]`` padded -> RGB ``[H*r, W*r, 3]`` in [0, 1]."""
  y = _model(params, activation, centre).apply({"params": params}, ycbcr[None, ..., :1], mask[None])[0]
  y = jnp.clip(y, 0.0, 1.0)   # as super_resolve does
  # rows: [H*r, H], cols: [W*r, W] (zero outside the real image).
  cbcr = jnp.einsum("oh,hwc,pw->opc", rows, ycbcr[..., 1:], cols)
  rgb = color.ycbcr_to_rgb(jnp.concatenate([y, cbcr], axis=-1))
  return jnp.clip(rgb, 0.0, 1.0)


def _check_params(params, scale: int | None):
  spec = spec_from_params(params)
  if scale is not None and spec["scale"] != scale:
    raise ValueError(f"these params are for x{spec['scale']}, but scale={scale} was asked for")
  return spec


def super_resolve(params, lr: np.ndarray, *, activation: str = "tanh", centre: float = 0.5,
                  bucket: int = DEFAULT_BUCKET, scale: int | None = None) -> np.ndarray:
  """Run ESPCN on one image in model space.

  Args:
    params: ESPCN params pytree (scale and channels are read from it).
    lr: float ``[h, w, C]`` in [0, 1], C matching the model.
    activation, centre: the model's settings that params do not record
      (see :class:`espcn_jax.model.ESPCN`; a checkpoint's ``model.json`` has them).
    bucket: padding multiple; sizes in one bucket share a compiled function.
    scale: optional check that the params are for this scale.

  Returns:
    float32 ``[h*r, w*r, C]``, clipped to [0, 1] (not quantized).
  """
  spec = _check_params(params, scale)
  lr = np.asarray(lr, np.float32)
  if lr.ndim == 2:
    lr = lr[..., None]
  if lr.ndim != 3 or lr.shape[-1] != spec["channels"]:
    raise ValueError(f"model expects [h, w, {spec['channels']}] input, got shape {lr.shape}")
  h, w = lr.shape[:2]
  shape = bucket_shape(h, w, bucket)
  out = _forward(params, _pad_to(lr, shape)[None], _mask(h, w, shape)[None],
                 activation=activation, centre=float(centre))
  r = spec["scale"]
  return np.clip(np.asarray(out[0, : h * r, : w * r]), 0.0, 1.0)


def _as_float_image(image) -> tuple[np.ndarray, bool]:
  """uint8 or float image -> float32 [0, 1], and whether the input was uint8."""
  image = np.asarray(image)
  if image.dtype == np.uint8:
    return image.astype(np.float32) / 255.0, True
  if image.dtype.kind != "f":
    raise ValueError(f"image must be uint8 or float in [0, 1], got {image.dtype}")
  if not np.all(np.isfinite(image)):
    raise ValueError("image holds NaN or infinite values")
  if image.min(initial=0) < 0 or image.max(initial=0) > 1:
    raise ValueError("float images must lie in [0, 1]")
  return image.astype(np.float32), False


def upscale(params, image, *, activation: str = "tanh", centre: float = 0.5,
            scale: int | None = None, bucket: int = DEFAULT_BUCKET) -> np.ndarray:
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

  Returns:
    ``[H*r, W*r, 3]`` (or ``[H*r, W*r]``), uint8 for uint8 input, else float32.
  """
  spec = _check_params(params, scale)
  x, was_uint8 = _as_float_image(image)
  if x.ndim == 3 and x.shape[-1] == 1:
    x = x[..., 0]
  if x.ndim not in (2, 3) or (x.ndim == 3 and x.shape[-1] != 3):
    raise ValueError(f"image must be [H, W, 3] RGB or [H, W] grey, got shape {x.shape}")
  if x.shape[0] < 1 or x.shape[1] < 1:
    raise ValueError(f"image has no pixels: shape {x.shape}")
  r = spec["scale"]
  h, w = x.shape[:2]
  grey = x.ndim == 2
  if spec["channels"] == 3 or grey:
    model_in = np.repeat(x[..., None], 3, -1) if grey and spec["channels"] == 3 else (
        x[..., None] if grey else x)
    out = super_resolve(params, model_in, activation=activation, centre=centre, bucket=bucket)
    if grey and spec["channels"] == 3:
      out = out.mean(axis=-1)
    elif grey:
      out = out[..., 0]
  else:
    shape = bucket_shape(h, w, bucket)
    ycbcr = _pad_to(color.rgb_to_ycbcr(x), shape)
    rows = _padded_resize_matrix(h, shape[0], r)
    cols = _padded_resize_matrix(w, shape[1], r)
    out = _forward_ycbcr(params, ycbcr, _mask(h, w, shape), rows, cols,
                         activation=activation, centre=float(centre))
    out = np.asarray(out[: h * r, : w * r])
  if was_uint8:
    return np.round(out * 255.0).astype(np.uint8)
  return out.astype(np.float32)
