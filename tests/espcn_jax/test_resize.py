"""Tests of espcn_jax.resize: MATLAB-compatible bicubic ``imresize``.

References:
* ``_ref_contributions`` is a per-output-pixel loop port of MATLAB's
  ``imresize.m`` subfunction ``contributions`` (R2013+): Keys' cubic with
  a = -0.5, kernel widened by 1/scale when shrinking (antialiasing),
  ``u = x/scale + 0.5*(1 - 1/scale)``, ``left = floor(u - width/2)``,
  ``P = ceil(width) + 2`` taps, weights normalised per row, and the symmetric
  boundary ``aux = [1:in, in:-1:1]``.
* ``_ref_imresize`` applies those weights pixel by pixel (rows then columns)
  and, for uint8, rounds as MATLAB's uint8 conversion does (ties away from
  zero) and saturates.
* Closed-form interior weights: enlarging by 2 samples the cubic at
  0.25/0.75/1.25/1.75, giving (-3, 29, 111, -9)/128; shrinking by 2 gives
  (-3, -9, 29, 111, 111, 29, -9, -3)/256.
"""
from __future__ import annotations

import math

from hypothesis import given, settings, strategies as st
import numpy as np
import pytest

from espcn_jax import resize

SCALES = (1 / 2, 1 / 3, 1 / 4, 2.0, 3.0, 4.0)


def _ref_cubic(x: float) -> float:
  ax = abs(x)
  if ax <= 1:
    return 1.5 * ax ** 3 - 2.5 * ax ** 2 + 1.0
  if ax <= 2:
    return -0.5 * ax ** 3 + 2.5 * ax ** 2 - 4.0 * ax + 2.0
  return 0.0


def _ref_contributions(in_len: int, out_len: int, scale: float) -> np.ndarray:
  """Dense [out_len, in_len] weights, one output pixel at a time (MATLAB port)."""
  if scale < 1:
    kernel = lambda x: scale * _ref_cubic(scale * x)
    width = 4.0 / scale
  else:
    kernel = _ref_cubic
    width = 4.0
  aux = list(range(1, in_len + 1)) + list(range(in_len, 0, -1))   # 1-based
  taps = math.ceil(width) + 2
  out = np.zeros((out_len, in_len))
  for x in range(1, out_len + 1):
    u = x / scale + 0.5 * (1 - 1 / scale)
    left = math.floor(u - width / 2)
    indices = [left + p for p in range(taps)]
    weights = [kernel(u - j) for j in indices]
    total = sum(weights)
    for j, w in zip(indices, weights):
      col = aux[(j - 1) % len(aux)]        # MATLAB mod: always non-negative
      out[x - 1, col - 1] += w / total
  return out


def _matlab_round_uint8(x: np.ndarray) -> np.ndarray:
  """MATLAB's double -> uint8: round half away from zero, saturate."""
  return np.clip(np.sign(x) * np.floor(np.abs(x) + 0.5), 0, 255).astype(np.uint8)


def _ref_imresize(image: np.ndarray, scale: float) -> np.ndarray:
  """Float64 result of MATLAB imresize (before any uint8 conversion)."""
  img = image.astype(np.float64)
  if img.ndim == 2:
    img = img[..., None]
  h, w, c = img.shape
  oh, ow = math.ceil(h * scale - 1e-9), math.ceil(w * scale - 1e-9)
  wr = _ref_contributions(h, oh, scale)
  wc = _ref_contributions(w, ow, scale)
  out = np.zeros((oh, ow, c))
  for i in range(oh):
    for j in range(ow):
      for ch in range(c):
        total = 0.0
        for a in np.nonzero(wr[i])[0]:
          for b in np.nonzero(wc[j])[0]:
            total += wr[i, a] * wc[j, b] * img[a, b, ch]
        out[i, j, ch] = total
  return out if image.ndim == 3 else out[..., 0]


@pytest.mark.parametrize("scale", SCALES)
@pytest.mark.parametrize("in_len", [1, 2, 5, 9, 12])
def test_resize_matrix_matches_matlab_loop(in_len, scale):
  out_len = math.ceil(in_len * scale - 1e-9)
  got = resize.resize_matrix(in_len, out_len, scale)
  assert got.shape == (out_len, in_len)
  np.testing.assert_allclose(got, _ref_contributions(in_len, out_len, scale), rtol=0, atol=1e-12)


@pytest.mark.parametrize("scale", SCALES)
@pytest.mark.parametrize("in_len", [1, 3, 7, 11])
def test_resize_matrix_rows_sum_to_one(in_len, scale):
  out_len = math.ceil(in_len * scale - 1e-9)
  m = resize.resize_matrix(in_len, out_len, scale)
  np.testing.assert_allclose(m.sum(axis=1), 1.0, rtol=0, atol=1e-12)


def test_resize_matrix_closed_form_interior_weights():
  up = resize.resize_matrix(8, 16, 2.0)
  # Output x = 5 (1-based) sits at u = 2.75: distances 1.75, 0.75, -0.25, -1.25.
  np.testing.assert_array_equal(up[4], np.array([-3, 29, 111, -9, 0, 0, 0, 0]) / 128)
  down = resize.resize_matrix(16, 8, 0.5)
  # Output x = 4 sits at u = 7.5, between inputs 7 and 8 (1-based).
  expected = np.zeros(16)
  expected[3:11] = np.array([-3, -9, 29, 111, 111, 29, -9, -3]) / 256
  np.testing.assert_allclose(down[3], expected, rtol=0, atol=1e-15)


def test_resize_matrix_without_antialias_uses_plain_cubic():
  m = resize.resize_matrix(16, 8, 0.5, antialias=False)
  # u = 7.5: plain cubic at distances +-0.5, +-1.5 -> (-1, 9, 9, -1) / 16.
  expected = np.zeros(16)
  expected[5:9] = np.array([-1, 9, 9, -1]) / 16
  np.testing.assert_allclose(m[3], expected, rtol=0, atol=1e-15)


def test_resize_matrix_is_read_only_and_rejects_empty():
  m = resize.resize_matrix(5, 10, 2.0)
  with pytest.raises(ValueError):
    m[0, 0] = 1.0
  with pytest.raises(ValueError, match="positive"):
    resize.resize_matrix(0, 3, 2.0)


@pytest.mark.parametrize("scale", SCALES)
@pytest.mark.parametrize("shape", [(7, 5, 3), (9, 11), (6, 4, 1)])
def test_imresize_float_matches_matlab_loop(rng, shape, scale):
  image = rng.random(shape)
  got = resize.imresize(image, scale)
  ref = _ref_imresize(image, scale)
  assert got.dtype == np.float64
  assert got.shape == ref.shape
  np.testing.assert_allclose(got, ref, rtol=0, atol=1e-12)


@pytest.mark.parametrize("scale", SCALES)
def test_imresize_uint8_matches_matlab_loop(rng, scale):
  image = rng.integers(0, 256, (9, 7, 3), dtype=np.uint8)
  got = resize.imresize(image, scale)
  ref = _ref_imresize(image, scale)
  assert got.dtype == np.uint8
  np.testing.assert_array_equal(got, _matlab_round_uint8(ref))


_TIE_CASES = [
    # Shrinking [[0, 1], [0, 1]] by 2 gives exactly 0.5 -> MATLAB 1.
    (np.array([[0, 1], [0, 1]], np.uint8), 0.5),
    # Enlarging by 2 weights row 1 by 29/128: 29 * 64 / 128 = 14.5 -> MATLAB 15.
    (np.pad(np.full((1, 3), 64, np.uint8), ((1, 2), (0, 0))), 2.0),
]


@pytest.mark.parametrize("image,scale", _TIE_CASES)
def test_tie_cases_really_tie(image, scale):
  ref = _ref_imresize(image, scale)
  assert np.any(np.abs(ref - np.floor(ref) - 0.5) < 1e-12)


@pytest.mark.parametrize("image,scale", _TIE_CASES)
def test_imresize_uint8_rounds_ties_like_matlab(image, scale):
  np.testing.assert_array_equal(resize.imresize(image, scale),
                                _matlab_round_uint8(_ref_imresize(image, scale)))


@pytest.mark.parametrize("dtype", [np.uint8, np.float64])
def test_imresize_scale_one_is_identity(rng, dtype):
  image = rng.integers(0, 256, (6, 9, 3)).astype(dtype)
  out = resize.imresize(image, 1.0)
  assert out.dtype == dtype
  np.testing.assert_array_equal(out, image)


@settings(max_examples=20, deadline=None)
@given(h=st.integers(1, 12), w=st.integers(1, 12), value=st.integers(0, 255),
       scale=st.sampled_from(SCALES))
def test_constant_image_stays_constant(h, w, value, scale):
  image = np.full((h, w), value, np.uint8)
  out = resize.imresize(image, scale)
  assert out.shape == (math.ceil(h * scale - 1e-9), math.ceil(w * scale - 1e-9))
  np.testing.assert_array_equal(out, value)
  np.testing.assert_allclose(resize.imresize(image / 255.0, scale), value / 255.0, atol=1e-12)


@pytest.mark.parametrize("in_len,scale,expected", [
    (10, 1 / 3, 4), (9, 1 / 3, 3), (5, 0.5, 3), (12, 1 / 4, 3), (7, 3.0, 21), (1, 4.0, 4)])
def test_output_size_is_matlab_ceil(in_len, scale, expected):
  assert resize.output_size(in_len, scale) == expected
  assert resize.imresize(np.zeros((in_len, 2)), scale).shape[0] == expected


def test_imresize_output_shape_override(rng):
  image = rng.random((6, 6))
  out = resize.imresize(image, 0.5, output_shape=(4, 2))
  assert out.shape == (4, 2)


@pytest.mark.parametrize("shape", [(5,), (2, 3, 4, 1)])
def test_imresize_rejects_bad_rank(shape):
  with pytest.raises(ValueError, match="imresize expects"):
    resize.imresize(np.zeros(shape), 2.0)


def test_uint8_output_is_clipped():
  # Overshoot of the cubic around a sharp edge must saturate, not wrap.
  image = np.zeros((8, 8), np.uint8)
  image[:, 4:] = 255
  ref = _ref_imresize(image, 2.0)
  assert ref.max() > 255 and ref.min() < 0
  out = resize.imresize(image, 2.0)
  assert out.max() == 255 and out.min() == 0
