"""Tests of espcn_jax.color: MATLAB ``rgb2ycbcr``/``ycbcr2rgb`` (BT.601, studio swing).

References: the formulas of MATLAB's ``rgb2ycbcr`` documentation written out
per pixel (Y = 16 + 65.481 R + 128.553 G + 24.966 B, Cb = 128 - 37.797 R
- 74.203 G + 112 B, Cr = 128 + 112 R - 93.786 G - 18.214 B on the 0-255 scale
for R, G, B in [0, 1]) and closed-form values: Y of white 235, of black 16,
Cb/Cr of any grey 128, Cr of pure red and Cb of pure blue 240.
"""
from __future__ import annotations

from hypothesis import given, settings, strategies as st
from hypothesis.extra import numpy as hnp
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from espcn_jax import color


def _ref_ycbcr(rgb: np.ndarray) -> np.ndarray:
  flat = rgb.reshape(-1, 3)
  out = np.empty_like(flat, dtype=np.float64)
  for k, (r, g, b) in enumerate(flat):
    out[k, 0] = 16 + 65.481 * r + 128.553 * g + 24.966 * b
    out[k, 1] = 128 - 37.797 * r - 74.203 * g + 112.0 * b
    out[k, 2] = 128 + 112.0 * r - 93.786 * g - 18.214 * b
  return (out / 255.0).reshape(rgb.shape)


@pytest.mark.parametrize("rgb,expected", [
    ((1.0, 1.0, 1.0), (235, 128, 128)),
    ((0.0, 0.0, 0.0), (16, 128, 128)),
    ((0.5, 0.5, 0.5), (125.5, 128, 128)),
    ((1.0, 0.0, 0.0), (16 + 65.481, 128 - 37.797, 240)),
    ((0.0, 1.0, 0.0), (16 + 128.553, 128 - 74.203, 128 - 93.786)),
    ((0.0, 0.0, 1.0), (16 + 24.966, 240, 128 - 18.214)),
])
def test_closed_form_values(rgb, expected):
  rgb = np.array(rgb)
  np.testing.assert_allclose(color.rgb_to_ycbcr(rgb), np.array(expected) / 255.0, atol=1e-12)
  np.testing.assert_allclose(color.rgb_to_y(rgb), expected[0] / 255.0, atol=1e-12)


def test_y_range_is_studio_swing():
  assert color.rgb_to_y(np.ones(3)) == pytest.approx(235 / 255, abs=1e-12)
  assert color.rgb_to_y(np.zeros(3)) == pytest.approx(16 / 255, abs=1e-12)


def test_matches_per_pixel_formula(rng):
  rgb = rng.random((5, 4, 3))
  np.testing.assert_allclose(color.rgb_to_ycbcr(rgb), _ref_ycbcr(rgb), atol=1e-12)
  np.testing.assert_allclose(color.rgb_to_y(rgb), _ref_ycbcr(rgb)[..., 0], atol=1e-12)


@pytest.mark.parametrize("ycbcr,rgb", [
    ((235, 128, 128), (1, 1, 1)),
    ((16, 128, 128), (0, 0, 0)),
    ((16 + 65.481, 128 - 37.797, 240), (1, 0, 0)),
])
def test_inverse_closed_form(ycbcr, rgb):
  np.testing.assert_allclose(color.ycbcr_to_rgb(np.array(ycbcr) / 255.0), rgb, atol=1e-12)


def test_inverse_does_not_clip():
  out = color.ycbcr_to_rgb(np.array([255.0, 128.0, 128.0]) / 255.0)
  assert np.all(out > 1.0)


@settings(max_examples=25, deadline=None)
@given(hnp.arrays(np.float64, hnp.array_shapes(min_dims=1, max_dims=3, max_side=4).map(
    lambda s: (*s, 3)), elements=st.floats(0.0, 1.0)))
def test_round_trip_rgb_ycbcr_rgb(rgb):
  np.testing.assert_allclose(color.ycbcr_to_rgb(color.rgb_to_ycbcr(rgb)), rgb, atol=1e-12)
  np.testing.assert_allclose(color.rgb_to_ycbcr(color.ycbcr_to_rgb(rgb)), rgb, atol=1e-12)


def test_jax_arrays_under_jit(rng):
  rgb = rng.random((3, 4, 3)).astype(np.float32)
  y, ycbcr = jax.jit(lambda x: (color.rgb_to_y(x), color.rgb_to_ycbcr(x)))(jnp.asarray(rgb))
  assert isinstance(y, jax.Array) and y.dtype == jnp.float32 and y.shape == (3, 4)
  assert ycbcr.dtype == jnp.float32 and ycbcr.shape == (3, 4, 3)
  np.testing.assert_allclose(np.asarray(ycbcr), _ref_ycbcr(rgb), atol=1e-6)
  np.testing.assert_allclose(np.asarray(y), _ref_ycbcr(rgb)[..., 0], atol=1e-6)
  back = jax.jit(color.ycbcr_to_rgb)(ycbcr)
  np.testing.assert_allclose(np.asarray(back), rgb, atol=1e-5)


def test_float32_numpy_keeps_dtype_for_ycbcr():
  rgb = np.ones((2, 3), np.float32)
  assert color.rgb_to_ycbcr(rgb).dtype == np.float32
  assert color.ycbcr_to_rgb(rgb).dtype == np.float32


def test_float32_numpy_keeps_dtype_for_y():
  assert color.rgb_to_y(np.ones((2, 3), np.float32)).dtype == np.float32


def test_planes_form_equals_the_matrix_form(rng):
  # The multiply-add form (the jitted colour path's) against the 3x3 product.
  rgb = rng.random((7, 9, 3))
  planes = color.rgb_to_ycbcr_planes(rgb)
  np.testing.assert_allclose(np.stack(planes, -1), color.rgb_to_ycbcr(rgb), atol=1e-12, rtol=0)
  np.testing.assert_allclose(color.ycbcr_planes_to_rgb(*planes), rgb, atol=1e-12, rtol=0)
  as_jax = jax.jit(lambda x: color.ycbcr_planes_to_rgb(*color.rgb_to_ycbcr_planes(x)))(
      jnp.asarray(rgb, jnp.float32))
  assert as_jax.dtype == jnp.float32
  np.testing.assert_allclose(np.asarray(as_jax), rgb, atol=1e-6, rtol=0)
