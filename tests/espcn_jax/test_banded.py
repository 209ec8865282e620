"""The banded fast path (banded.banded_apply) against the plain ESPCN.apply, and fast_tanh."""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from espcn_jax import banded, infer
from tests.espcn_jax.helpers import paper_params


@pytest.mark.parametrize("scale, channels, kernel_sizes, activation, band_pixels", [
    (3, 1, (5, 3, 3), "tanh", 8 * 64),     # the paper's model, several bands, last one shifted
    (2, 3, (5, 3, 3), "relu", 5 * 64),
    (4, 1, (3, 3, 3), "tanh", 64 * 64),    # one band
    (3, 1, (4, 3, 2), "tanh", 7 * 64),     # even kernels: 'SAME' pads unevenly
])
def test_banded_apply_equals_model_apply(rng, monkeypatch, scale, channels, kernel_sizes,
                                         activation, band_pixels):
  monkeypatch.setattr(banded, "MIN_BAND_ROWS", 1)               # thin bands: many band edges
  model, params = paper_params(scale, channels, kernel_sizes, activation)
  h, w = 37, 45                                                  # odd sizes, padded to 64x64
  shape = infer.bucket_shape(h, w, 32)
  x = infer._pad_to(rng.random((h, w, channels)).astype(np.float32), shape)[None]
  mask = infer._mask(h, w, shape)[None]
  want = jax.jit(model.apply)({"params": params}, x, mask)
  forward = jax.jit(functools.partial(banded.banded_apply, activation=activation,
                                      band_pixels=band_pixels))
  got = forward(params, x, mask)
  assert got.shape == want.shape
  np.testing.assert_allclose(got[:, : h * scale, : w * scale], want[:, : h * scale, : w * scale],
                             atol=1e-5, rtol=0)
  # Bands below the last valid row are skipped (zero), which callers crop.
  rows = banded.band_rows(*shape, band_pixels)
  assert np.all(np.asarray(got)[:, -(-h // rows) * rows * scale:] == 0)


def test_banded_apply_on_a_full_unpadded_frame(rng):
  model, params = paper_params(seed=4)
  x = rng.random((2, 23, 30, 1)).astype(np.float32)               # a batch, no padding
  assert banded.band_rows(23, 30, 6 * 30) == 16                   # bands at rows 0 and 7
  mask = np.ones((2, 23, 30, 1), np.float32)
  want = jax.jit(model.apply)({"params": params}, x, mask)
  got = jax.jit(functools.partial(banded.banded_apply, band_pixels=6 * 30))(params, x, mask)
  np.testing.assert_allclose(got, want, atol=1e-5, rtol=0)


@pytest.mark.parametrize("chains", [1, 2, 3, 5, 40])
def test_banded_apply_does_not_depend_on_the_chains_per_step(rng, monkeypatch, chains):
  # 37 valid rows in bands of 4: 10 bands, so most chain counts leave a last
  # step with repeated bands; 40 chains is more than the 16 bands of the canvas.
  monkeypatch.setattr(banded, "MIN_BAND_ROWS", 1)
  _, params = paper_params(seed=6)
  shape = infer.bucket_shape(37, 45, 32)
  x = infer._pad_to(rng.random((37, 45, 1)).astype(np.float32), shape)[None]
  mask = infer._mask(37, 45, shape)[None]
  one = functools.partial(banded.banded_apply, band_pixels=4 * 64, clip=True)
  want = np.asarray(jax.jit(functools.partial(one, chains=1))(params, x, mask))
  got = np.asarray(jax.jit(functools.partial(one, chains=chains))(params, x, mask))
  np.testing.assert_array_equal(got, want)          # the same operations on every band
  assert np.all(want[:, 40 * 3:] == 0) and np.any(want[:, 36 * 3:37 * 3] != 0)
  empty = jax.jit(functools.partial(one, chains=chains))(params, x, np.zeros_like(mask))
  assert not np.any(np.asarray(empty))              # no valid row: no band at all


def test_fast_tanh_is_within_1e_6_of_tanh():
  x = np.concatenate([np.linspace(-30, 30, 600_001), [0.0, 1e-30, -1e-8, 7.9, 7.91, 100.0]])
  got = np.asarray(banded.fast_tanh(jnp.asarray(x, jnp.float32)), np.float64)
  np.testing.assert_allclose(got, np.tanh(x.astype(np.float32).astype(np.float64)), atol=1e-6,
                             rtol=0)
  assert np.all(np.abs(got) <= 1.0)
  assert np.isnan(banded.fast_tanh(jnp.float32(np.nan)))
