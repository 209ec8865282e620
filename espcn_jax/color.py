"""BT.601 colour conversion identical to MATLAB's ``rgb2ycbcr``/``ycbcr2rgb``.

MATLAB's conversion (and so every published SR table) uses studio swing:
Y in [16, 235], Cb/Cr in [16, 240] on a 0-255 scale. Here images are float in
[0, 1], so the offsets are divided by 255: Y of white is 235/255, of black
16/255. Works on NumPy and JAX arrays alike (``xp`` is taken from the input).
"""
from __future__ import annotations

import numpy as np

__all__ = ["rgb_to_ycbcr", "ycbcr_to_rgb", "rgb_to_y", "RGB_TO_YCBCR", "YCBCR_OFFSET"]

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


def _xp(x):
  return np if isinstance(x, np.ndarray) or np.isscalar(x) else __import__("jax").numpy


def rgb_to_ycbcr(rgb):
  """``[..., 3]`` RGB in [0, 1] -> ``[..., 3]`` YCbCr in [0, 1] (BT.601, MATLAB)."""
  xp = _xp(rgb)
  m = xp.asarray(RGB_TO_YCBCR, dtype=rgb.dtype)
  return rgb @ m.T + xp.asarray(YCBCR_OFFSET, dtype=rgb.dtype)


def rgb_to_y(rgb):
  """``[..., 3]`` RGB in [0, 1] -> ``[...]`` luma Y in [16/255, 235/255]."""
  xp = _xp(rgb)
  m = xp.asarray(RGB_TO_YCBCR[0], dtype=rgb.dtype)
  return rgb @ m + xp.asarray(YCBCR_OFFSET[0], dtype=rgb.dtype)


def ycbcr_to_rgb(ycbcr):
  """``[..., 3]`` YCbCr in [0, 1] -> ``[..., 3]`` RGB (not clipped)."""
  xp = _xp(ycbcr)
  m = xp.asarray(_YCBCR_TO_RGB, dtype=ycbcr.dtype)
  return (ycbcr - xp.asarray(YCBCR_OFFSET, dtype=ycbcr.dtype)) @ m.T
