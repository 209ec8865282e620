"""Tests of espcn_jax.metrics: PSNR, SSIM and the cosine-similarity map.

References:
* PSNR: a per-pixel loop for the MSE on the 0-255 scale, and closed forms:
  identical images give inf, a constant offset d (0-255 scale) gives
  20*log10(255/d).
* SSIM: ``_ref_ssim`` follows Wang et al.'s ``ssim_index.m`` line by line with
  loops: ``fspecial('gaussian', 11, 1.5)``, K1 = 0.01, K2 = 0.03, L = 255,
  ``filter2(window, ., 'valid')`` and ``mean2`` of the SSIM map.
* Cosine map: per pixel, the cosine of the two flattened window x window x C
  neighbourhoods, computed with loops; 1 for an image with itself or with a
  positive multiple, -1 with its negation.
"""
from __future__ import annotations

import math

from hypothesis import given, settings, strategies as st
from hypothesis.extra import numpy as hnp
import jax.numpy as jnp
import numpy as np
import pytest

from espcn_jax import metrics


def _ref_psnr(a, b, border=0):
  h, w = a.shape[:2]
  total, n = 0.0, 0
  for i in range(border, h - border):
    for j in range(border, w - border):
      for d in np.ravel((a[i, j] - b[i, j]) * 255.0):
        total += d * d
        n += 1
  mse = total / n
  return math.inf if mse == 0 else 10 * math.log10(255.0 ** 2 / mse)


def _ref_gaussian_window(size=11, sigma=1.5):
  w = np.zeros((size, size))
  c = (size - 1) / 2
  for i in range(size):
    for j in range(size):
      w[i, j] = math.exp(-((i - c) ** 2 + (j - c) ** 2) / (2 * sigma ** 2))
  return w / w.sum()


def _ref_filter2_valid(window, x):
  k = window.shape[0]
  out = np.zeros((x.shape[0] - k + 1, x.shape[1] - k + 1))
  for i in range(out.shape[0]):
    for j in range(out.shape[1]):
      total = 0.0
      for u in range(k):
        for v in range(k):
          total += window[u, v] * x[i + u, j + v]
      out[i, j] = total
  return out


def _ref_ssim_index(img1, img2):
  """Wang's ssim_index.m (default K, window, L = 255) on 0-255 images."""
  window = _ref_gaussian_window()
  c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
  mu1 = _ref_filter2_valid(window, img1)
  mu2 = _ref_filter2_valid(window, img2)
  mu1_sq, mu2_sq, mu1_mu2 = mu1 * mu1, mu2 * mu2, mu1 * mu2
  sigma1_sq = _ref_filter2_valid(window, img1 * img1) - mu1_sq
  sigma2_sq = _ref_filter2_valid(window, img2 * img2) - mu2_sq
  sigma12 = _ref_filter2_valid(window, img1 * img2) - mu1_mu2
  ssim_map = ((2 * mu1_mu2 + c1) * (2 * sigma12 + c2)) / (
      (mu1_sq + mu2_sq + c1) * (sigma1_sq + sigma2_sq + c2))
  return ssim_map.mean()


def _ref_cosine_map(a, b, window):
  if a.ndim == 2:
    a, b = a[..., None], b[..., None]
  h, w = a.shape[0] - window + 1, a.shape[1] - window + 1
  out = np.zeros((h, w))
  for i in range(h):
    for j in range(w):
      va = a[i:i + window, j:j + window].ravel() * 255.0
      vb = b[i:i + window, j:j + window].ravel() * 255.0
      na, nb = math.sqrt(sum(va * va)), math.sqrt(sum(vb * vb))
      if na == 0 and nb == 0:
        out[i, j] = 1.0
      elif na == 0 or nb == 0:
        out[i, j] = 0.0
      else:
        out[i, j] = sum(va * vb) / (na * nb)
  return out


# ----------------------------------------------------------------------------- PSNR

def test_psnr_identical_is_inf(rng):
  a = rng.random((8, 9, 3))
  assert metrics.psnr(a, a) == math.inf
  assert metrics.psnr(a, a.copy(), border=2) == math.inf


@pytest.mark.parametrize("d", [1.0, 2.0, 5.0, 10.5, 64.0])
def test_psnr_constant_offset(rng, d):
  a = rng.random((10, 7))
  assert metrics.psnr(a + d / 255.0, a) == pytest.approx(20 * math.log10(255.0 / d), abs=1e-9)


@pytest.mark.parametrize("border", [0, 1, 3])
@pytest.mark.parametrize("shape", [(10, 12), (9, 8, 3)])
def test_psnr_matches_loop(rng, shape, border):
  a, b = rng.random(shape), rng.random(shape)
  assert metrics.psnr(a, b, border=border) == pytest.approx(_ref_psnr(a, b, border), rel=1e-12)


def test_psnr_border_ignores_edge_differences(rng):
  a = rng.random((9, 9))
  b = a.copy()
  b[0, :] = 1 - b[0, :]
  b[:, -1] = 0.0
  assert metrics.psnr(b, a, border=1) == math.inf
  assert metrics.psnr(b, a) < math.inf


@settings(max_examples=25, deadline=None)
@given(hnp.arrays(np.float64, (2, 4, 5), elements=st.floats(0.0, 1.0)))
def test_psnr_is_symmetric(pair):
  assert metrics.psnr(pair[0], pair[1]) == metrics.psnr(pair[1], pair[0])


def test_psnr_errors():
  with pytest.raises(ValueError, match="differ in shape"):
    metrics.psnr(np.zeros((4, 4)), np.zeros((4, 5)))
  with pytest.raises(ValueError, match="too small"):
    metrics.psnr(np.zeros((4, 4)), np.zeros((4, 4)), border=2)
  with pytest.raises(ValueError, match=">= 0"):
    metrics.psnr(np.zeros((4, 4)), np.zeros((4, 4)), border=-1)


# ----------------------------------------------------------------------------- SSIM

def test_gaussian_window_matches_fspecial():
  np.testing.assert_allclose(metrics._gaussian_window(), _ref_gaussian_window(), atol=1e-15)


@pytest.mark.parametrize("border", [0, 2])
def test_ssim_grey_matches_ssim_index_m(rng, border):
  a = rng.random((19, 17))
  b = np.clip(a + 0.1 * rng.standard_normal(a.shape), 0, 1)
  ref = _ref_ssim_index(metrics.shave(a, border) * 255, metrics.shave(b, border) * 255)
  assert metrics.ssim(a, b, border=border) == pytest.approx(ref, abs=1e-10)


def test_ssim_colour_is_mean_over_channels(rng):
  a = rng.random((13, 14, 3))
  b = rng.random((13, 14, 3))
  ref = np.mean([_ref_ssim_index(a[..., c] * 255, b[..., c] * 255) for c in range(3)])
  assert metrics.ssim(a, b) == pytest.approx(ref, abs=1e-10)


def test_ssim_identical_is_one_and_symmetric(rng):
  a, b = rng.random((12, 15)), rng.random((12, 15))
  assert metrics.ssim(a, a) == pytest.approx(1.0, abs=1e-12)
  assert metrics.ssim(a, b) == pytest.approx(metrics.ssim(b, a), abs=1e-12)
  assert metrics.ssim(a, b) < 0.5


def test_ssim_needs_11_pixels():
  with pytest.raises(ValueError, match="11x11"):
    metrics.ssim(np.zeros((10, 20)), np.zeros((10, 20)))
  with pytest.raises(ValueError, match="11x11"):
    metrics.ssim(np.zeros((14, 14)), np.zeros((14, 14)), border=2)


# ----------------------------------------------------------------------------- cosine

@pytest.mark.parametrize("window", [1, 3])
@pytest.mark.parametrize("shape", [(7, 6), (6, 8, 3)])
def test_cosine_map_matches_loop(rng, shape, window):
  a, b = rng.random(shape) - 0.3, rng.random(shape)
  got = metrics.cosine_similarity_map(a, b, window=window)
  assert got.shape == (shape[0] - window + 1, shape[1] - window + 1)
  np.testing.assert_allclose(got, _ref_cosine_map(a, b, window), atol=1e-12)
  assert metrics.cosine_similarity(a, b, window=window) == pytest.approx(got.mean(), abs=1e-15)


def test_cosine_map_border_shape(rng):
  a = rng.random((10, 12))
  assert metrics.cosine_similarity_map(a, a, border=2, window=3).shape == (4, 6)


@pytest.mark.parametrize("factor", [1.0, 0.5, 3.0])
def test_cosine_self_and_positive_multiple_is_one(rng, factor):
  a = rng.random((8, 9, 3)) + 0.01
  np.testing.assert_allclose(metrics.cosine_similarity_map(a * factor, a), 1.0, atol=1e-12)
  np.testing.assert_allclose(metrics.cosine_similarity_map(-a, a), -1.0, atol=1e-12)


def test_cosine_zero_vectors():
  a = np.zeros((5, 5))
  b = np.zeros((5, 5))
  b[4, 4] = 1.0
  m = metrics.cosine_similarity_map(a, b, window=1)
  assert m[4, 4] == 0.0                     # one vector zero
  np.testing.assert_array_equal(np.delete(m.ravel(), -1), 1.0)   # both zero


@pytest.mark.parametrize("metric", [metrics.psnr, metrics.ssim, metrics.cosine_similarity])
def test_uint8_images_are_refused_with_a_hint(rng, metric):
  # Issue 20: uint8 0-255 input used to give -13.9 dB / a shifted SSIM without error.
  a = rng.integers(0, 256, (16, 16, 3)).astype(np.uint8)
  with pytest.raises(ValueError, match="float images in \\[0, 1\\]; got uint8 - divide by 255"):
    metric(a, a)
  with pytest.raises(ValueError, match="got int64"):
    metric(a.astype(np.float64) / 255, a.astype(np.int64))


def test_float32_float16_and_bfloat16_images_are_accepted(rng):
  a = rng.random((16, 16)).astype(np.float32)
  assert metrics.psnr(a, a.astype(np.float16)) > 40
  assert metrics.psnr(a, np.asarray(jnp.asarray(a, jnp.bfloat16))) > 30
  assert metrics.ssim(a, a) == pytest.approx(1.0)
