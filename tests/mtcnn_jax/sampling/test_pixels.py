"""Tests of mtcnn_jax.sampling.pixels: training crops equal the cascade's crops."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mtcnn_jax import pyramid
from mtcnn_jax.sampling.pixels import crop_and_resize, integral_image


@pytest.mark.parametrize("size", [12, 24, 48])
def test_crops_equal_the_cascades_crops(rng, size):
  image = rng.integers(0, 256, (37, 53, 3)).astype(np.uint8)
  boxes = np.array([[3, 4, 20, 21], [-5, -3, 10, 12], [40, 30, 70, 60], [0, 0, 53, 37],
                    [10, 2, 11, 30], [45, 1, 60, 16]])
  ours = crop_and_resize(integral_image(image), boxes, size)
  crop = jax.jit(pyramid.crop_and_resize, static_argnums=(4, 5))
  theirs = crop(jnp.asarray(image, jnp.float32), 37, 53,
                jnp.asarray(boxes + np.array([1, 1, 0, 0]), jnp.float32), size, "area")
  np.testing.assert_allclose(ours, theirs, atol=1e-4)
  np.testing.assert_array_equal(ours[1, :3, :3], 0.0)        # outside the image: zero
