"""BT.601 colour conversion identical to MATLAB's ``rgb2ycbcr``/``ycbcr2rgb``.

MATLAB's conversion (and so every published SR table) uses studio swing:
Y in [16, 235], Cb/Cr in [16, 240] on a 0-255 scale. Here images are float in
[0, 1], so the offsets are divided by 255: Y of white is 235/255, of black
16/255. Works on NumPy and JAX arrays alike (``xp`` is taken from the input).

Two forms of the same conversion:

* :func:`rgb_to_ycbcr` / :func:`ycbcr_to_rgb` on ``[..., 3]`` arrays, as a
  product with the 3x3 matrix (data generation, evaluation);
* :func:`rgb_to_ycbcr_planes` / :func:`ycbcr_planes_to_rgb` with Y, Cb and
  Cr as separate planes, written out as multiply-adds. Inside a jitted
  function (:mod:`espcn_jax.infer`'s colour path) XLA fuses these with the
  resize, the clip and the rounding around them; the matrix form would be a
  separate, memory-bound dot.
"""
from __future__ import annotations

from typing import TypeVar

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["rgb_to_ycbcr", "ycbcr_to_rgb", "rgb_to_y", "rgb_to_ycbcr_planes",
           "ycbcr_planes_to_rgb", "RGB_TO_YCBCR", "YCBCR_OFFSET"]

# Rows: Y, Cb, Cr. Coefficients of MATLAB's rgb2ycbcr for inputs in [0, 1]
# giving outputs on the 0-255 scale; divided by 255 below to stay in [0, 1].
_MATLAB_RGB_TO_YCBCR = np.array([
    [65.481, 128.553, 24.966],
    [-37.797, -74.203, 112.0],
    [112.0, -93.786, -18.214],
])
RGB_TO_YCBCR = _MATLAB_RGB_TO_YCBCR / 255.0
YCBCR_OFFSET = np.array([16.0, 128.0, 128.0]) / 255.0
_YCBCR_TO_RGB = np.linalg.inv(RGB_TO_YCBCR)

# NumPy in, NumPy out; JAX in, JAX out.
Array = TypeVar("Array", np.ndarray, jax.Array)


def _xp(x):
  """The array module of ``x``: NumPy for NumPy arrays and scalars, else ``jax.numpy``."""
  return np if isinstance(x, np.ndarray) or np.isscalar(x) else jnp


def rgb_to_ycbcr(rgb: Array) -> Array:
  """``[..., 3]`` RGB in [0, 1] -> ``[..., 3]`` YCbCr in [0, 1] (BT.601, MATLAB)."""
  xp = _xp(rgb)
  m = xp.asarray(RGB_TO_YCBCR, dtype=rgb.dtype)
  return rgb @ m.T + xp.asarray(YCBCR_OFFSET, dtype=rgb.dtype)


def rgb_to_y(rgb: Array) -> Array:
  """``[..., 3]`` RGB in [0, 1] -> ``[...]`` luma Y in [16/255, 235/255]."""
  xp = _xp(rgb)
  m = xp.asarray(RGB_TO_YCBCR[0], dtype=rgb.dtype)
  return rgb @ m + xp.asarray(YCBCR_OFFSET[0], dtype=rgb.dtype)


def ycbcr_to_rgb(ycbcr: Array) -> Array:
  """``[..., 3]`` YCbCr in [0, 1] -> ``[..., 3]`` RGB (not clipped)."""
  xp = _xp(ycbcr)
  m = xp.asarray(_YCBCR_TO_RGB, dtype=ycbcr.dtype)
  return (ycbcr - xp.asarray(YCBCR_OFFSET, dtype=ycbcr.dtype)) @ m.T


def rgb_to_ycbcr_planes(rgb):
  """:func:`rgb_to_ycbcr` as multiply-adds: ``[..., 3]`` RGB -> Y, Cb, Cr planes ``[...]``.

  The coefficients are cast to ``rgb``'s dtype (float32 in the jitted colour path).
  """
  m = RGB_TO_YCBCR.astype(rgb.dtype)
  offset = YCBCR_OFFSET.astype(rgb.dtype)
  r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
  return tuple(m[i, 0] * r + m[i, 1] * g + m[i, 2] * b + offset[i] for i in range(3))


def ycbcr_planes_to_rgb(y, cb, cr):
  """:func:`ycbcr_to_rgb` as multiply-adds: Y, Cb, Cr planes ``[...]`` -> ``[..., 3]`` RGB.

  Not clipped. The coefficients are cast to ``y``'s dtype.
  """
  m = _YCBCR_TO_RGB.astype(y.dtype)
  offset = YCBCR_OFFSET.astype(y.dtype)
  y, cb, cr = (v - o for v, o in zip((y, cb, cr), offset))
  return _xp(y).stack([m[i, 0] * y + m[i, 1] * cb + m[i, 2] * cr for i in range(3)], axis=-1)
