"""The jittable MATLAB bicubic enlargement (resize_jax) against resize.resize_matrix."""
from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest

from espcn_jax import resize, resize_jax


@pytest.mark.parametrize("n, scale", [(1, 3), (2, 3), (3, 2), (7, 4), (31, 3)])
def test_phase_filters_equal_the_bicubic_matrix(rng, n, scale):
  padded = -(-n // 8) * 8 + 8
  x = np.zeros((padded, 2), np.float32)
  x[:n] = rng.random((n, 2))
  got = resize_jax.upscale_axis(jnp.asarray(x), resize_jax.mirror_index(n, padded),
                                resize_jax.phase_weights(scale), axis=0)
  want = resize.resize_matrix(n, n * scale, float(scale)) @ x[:n].astype(np.float64)
  assert got.shape == (padded * scale, 2)
  np.testing.assert_allclose(got[: n * scale], want, atol=1e-6, rtol=0)


def test_upscale_planes_is_columns_then_rows(rng):
  # The colour path's two passes, as one call: equal to imresize on each plane.
  h, w, scale = 11, 14, 3
  planes = np.zeros((2, 16, 16), np.float32)
  planes[:, :h, :w] = rng.random((2, h, w))
  got = resize_jax.upscale_planes(jnp.asarray(planes), resize_jax.mirror_index(h, 16),
                                  resize_jax.mirror_index(w, 16), scale)
  assert got.shape == (2, 48, 48)
  want = resize.imresize(planes[:, :h, :w].transpose(1, 2, 0).astype(np.float64), float(scale))
  np.testing.assert_allclose(np.asarray(got)[:, : h * scale, : w * scale],
                             want.transpose(2, 0, 1), atol=1e-6, rtol=0)
