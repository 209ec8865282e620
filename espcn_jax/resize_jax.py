"""MATLAB bicubic enlargement by an integer factor, jittable (the colour path's Cb/Cr).

:mod:`espcn_jax.resize` builds MATLAB's ``imresize`` as dense weight
matrices (NumPy, any scale). Enlarging by an integer ``r`` needs far less:
output pixel ``r*i + j`` depends on input pixels ``i-2 .. i+2`` only, with
weights that depend on the phase ``j`` alone. So here each axis is enlarged
by ``r`` 5-tap filters (:func:`phase_weights`, read from
:func:`espcn_jax.resize.resize_matrix`) on the axis extended with MATLAB's
symmetric border (:func:`mirror_index`). The true length lives in the
mirror indices, not in shapes, so bucket-padded inputs of different sizes
share one compiled function. Equal to ``resize.imresize(x, r)`` to float32
rounding (tests/espcn_jax/test_resize_jax.py).
"""
from __future__ import annotations

import functools

import jax
from jax import lax
import jax.numpy as jnp
import numpy as np

from espcn_jax import resize

__all__ = ["phase_weights", "mirror_index", "tile_mirror_index", "upscale_axis",
           "upscale_planes", "HALO"]

# Input pixels each side that one enlarged pixel reads (the 5-tap filters reach i-2 .. i+2).
HALO = 2


@functools.lru_cache(maxsize=8)
def phase_weights(scale: int) -> np.ndarray:
  """MATLAB bicubic enlargement by an integer ``scale`` as ``scale`` 5-tap filters.

  Output pixel ``r*i + j`` sits at input coordinate ``i + (j + 0.5)/r - 0.5``,
  so its weights on input pixels ``i-2 .. i+2`` depend on the phase ``j``
  only. Read from the rows of :func:`espcn_jax.resize.resize_matrix` away
  from the border (the border is the mirroring of :func:`mirror_index`).

  Returns:
    float32 ``[scale, 5]``; ``[j, d]`` weighs input pixel ``i + d - 2``.
  """
  n, i = 16, 8
  m = resize.resize_matrix(n, n * scale, float(scale))
  weights = np.stack([m[scale * i + j, i - 2:i + 3] for j in range(scale)])
  if not np.allclose(weights.sum(axis=1), 1.0) or np.count_nonzero(m[scale * i:scale * (i + 1)]) \
      != np.count_nonzero(weights):
    raise AssertionError(f"bicubic x{scale} does not reduce to 5-tap phase filters")
  return weights.astype(np.float32)


@functools.lru_cache(maxsize=64)
def mirror_index(n: int, padded: int) -> jax.Array:
  """Indices of a length-``n`` axis extended by 2 each side with MATLAB's symmetric border.

  ``x[mirror_index(n, padded)]`` has ``padded + 4`` entries: ``x[1], x[0]``,
  then ``x[0 .. n-1]``, then ``x[n-1], x[n-2], ...``; entries past ``n + 2``
  only feed bucket padding. Cached on device: video frames reuse it.

  Returns:
    int32 ``[padded + 4]``.
  """
  k = np.mod(np.arange(-2, padded + 2), 2 * n)
  return jnp.asarray(np.where(k < n, k, 2 * n - 1 - k).astype(np.int32))


def tile_mirror_index(n: int, start: int, length: int) -> jax.Array:
  """:func:`mirror_index` for a tile of an axis: ``length`` entries from ``start`` on.

  The tile's entry 0 is the axis' entry ``start`` (negative at the top or left
  edge, where the tile begins with padding). Entries that the axis' mirroring
  puts outside the tile are clamped into it: they only feed the ``HALO``
  pixels at the tile's edges, which callers crop. A tile starting at 0 and
  covering the whole axis gets exactly ``mirror_index(n, length)``.

  Returns:
    int32 ``[length + 4]``, indices into the tile.
  """
  k = np.mod(np.arange(start - 2, start + length + 2), 2 * n)
  local = np.where(k < n, k, 2 * n - 1 - k) - start
  return jnp.asarray(np.clip(local, 0, length - 1).astype(np.int32))


def upscale_axis(x: jax.Array, mirror: jax.Array, weights: np.ndarray, axis: int) -> jax.Array:
  """MATLAB bicubic enlargement of ``x`` along ``axis`` by ``r = len(weights)``.

  The mirrored axis is gathered once at low resolution; then each output
  phase is a sum of 5 shifted slices (static, so XLA fuses all of it into
  one vectorized loop) and the phases interleave by a reshape. A gather of 4
  taps per output pixel measured 5x slower, a product with the dense
  ``[L*r, L]`` matrix 10x slower.

  Args:
    x: ``[..., L, ...]`` float32 (``L`` = padded length along ``axis``).
    mirror: :func:`mirror_index` ``[L + 4]``.
    weights: :func:`phase_weights` ``[r, 5]``.
    axis: a non-negative axis.

  Returns:
    ``[..., L*r, ...]``.
  """
  x = jnp.take(x, mirror, axis=axis)
  length = x.shape[axis] - 4
  phases = []
  for phase in weights:
    terms = [lax.slice_in_dim(x, d, d + length, axis=axis) * w for d, w in enumerate(phase) if w]
    phases.append(functools.reduce(jnp.add, terms))
  shape = list(x.shape)
  shape[axis] = length * len(weights)
  return jnp.stack(phases, axis=axis + 1).reshape(shape)


def upscale_planes(planes: jax.Array, row_mirror: jax.Array, col_mirror: jax.Array,
                   scale: int) -> jax.Array:
  """MATLAB bicubic enlargement of a stack of planes by ``scale``: columns, then rows.

  Args:
    planes: ``[N, H, W]`` float32 (``H``, ``W`` padded lengths).
    row_mirror, col_mirror: :func:`mirror_index` ``[H + 4]`` and ``[W + 4]``.
    scale: integer factor r.

  Returns:
    ``[N, H*r, W*r]`` float32.
  """
  weights = phase_weights(scale)
  return upscale_axis(upscale_axis(planes, col_mirror, weights, axis=2), row_mirror, weights,
                      axis=1)
