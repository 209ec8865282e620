"""Tests of espcn_jax.model: the ESPCN Linen module, pixel shuffle, spec_from_params.

References:
* Pixel shuffle: loops over every output pixel in PyTorch's
  ``nn.PixelShuffle`` order ``out[b, h*r+i, w*r+j, c] = x[b, h, w, c*r*r + i*r + j]``
  and, for contrast, TensorFlow's ``depth_to_space`` order
  ``x[b, h, w, (i*r + j)*C + c]`` (the two agree only for C = 1).
* Forward pass: a NumPy loop network (input minus the fixed ``centre``, zero
  'SAME' padding cross-correlation with HWIO kernels, the activation between
  layers, the loop pixel shuffle, plus ``centre``) fed the module's own
  parameters.
* Parameter count of the paper's x3 Y model: conv1 5x5x1x64, conv2 3x3x64x32,
  conv3 3x3x32x9, each with biases, computed from those shapes.
Tiny widths ``(8, 4)`` are used elsewhere; everything runs under ``jax.jit``.
"""
from __future__ import annotations

import math

import chex
from hypothesis import given, settings, strategies as st
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from espcn_jax import model as model_lib
from espcn_jax.model import ESPCN, pixel_shuffle, spec_from_params

TINY = (8, 4)


def _ref_pixel_shuffle_torch(x: np.ndarray, r: int) -> np.ndarray:
  b, h, w, crr = x.shape
  c = crr // (r * r)
  out = np.zeros((b, h * r, w * r, c), x.dtype)
  for bb in range(b):
    for hh in range(h):
      for ww in range(w):
        for i in range(r):
          for j in range(r):
            for cc in range(c):
              out[bb, hh * r + i, ww * r + j, cc] = x[bb, hh, ww, cc * r * r + i * r + j]
  return out


def _ref_depth_to_space_tf(x: np.ndarray, r: int) -> np.ndarray:
  b, h, w, crr = x.shape
  c = crr // (r * r)
  out = np.zeros((b, h * r, w * r, c), x.dtype)
  for bb in range(b):
    for hh in range(h):
      for ww in range(w):
        for i in range(r):
          for j in range(r):
            for cc in range(c):
              out[bb, hh * r + i, ww * r + j, cc] = x[bb, hh, ww, (i * r + j) * c + cc]
  return out


def _ref_conv_same(x: np.ndarray, kernel: np.ndarray, bias: np.ndarray) -> np.ndarray:
  """[H, W, I] * [k, k, I, O] cross-correlation with zero padding, + bias."""
  k = kernel.shape[0]
  p = k // 2
  h, w, _ = x.shape
  out = np.zeros((h, w, kernel.shape[3]))
  for y in range(h):
    for xx in range(w):
      acc = bias.astype(np.float64).copy()
      for u in range(k):
        for v in range(k):
          yy, xs = y + u - p, xx + v - p
          if 0 <= yy < h and 0 <= xs < w:
            acc += x[yy, xs] @ kernel[u, v]
      out[y, xx] = acc
  return out


def _ref_espcn(params, x: np.ndarray, scale: int, act, centre: float) -> np.ndarray:
  outs = []
  for image in x:
    h = image.astype(np.float64) - centre
    for i in (1, 2, 3):
      layer = params[f"conv{i}"]
      h = _ref_conv_same(h, np.asarray(layer["kernel"], np.float64), np.asarray(layer["bias"]))
      if i < 3:
        h = act(h)
    outs.append(h)
  return _ref_pixel_shuffle_torch(np.stack(outs), scale) + centre


def _init(module: ESPCN, shape, seed=0, noise=0.1):
  """Params with random (non-zero) biases, so that padding effects are visible."""
  params = jax.jit(module.init)(jax.random.PRNGKey(seed), jnp.zeros(shape))["params"]
  rng = np.random.default_rng(seed)
  return jax.tree.map(lambda p: (p + noise * rng.standard_normal(p.shape)).astype(np.float32),
                      params)


# ----------------------------------------------------------------------------- pixel shuffle

@pytest.mark.parametrize("scale", [2, 3, 4])
@pytest.mark.parametrize("channels", [1, 3])
def test_pixel_shuffle_matches_torch_order_loop(rng, scale, channels):
  x = rng.standard_normal((2, 3, 4, channels * scale * scale)).astype(np.float32)
  out = jax.jit(pixel_shuffle, static_argnums=1)(jnp.asarray(x), scale)
  chex.assert_shape(out, (2, 3 * scale, 4 * scale, channels))
  np.testing.assert_array_equal(np.asarray(out), _ref_pixel_shuffle_torch(x, scale))


@pytest.mark.parametrize("scale", [2, 3])
def test_pixel_shuffle_vs_depth_to_space_order(rng, scale):
  x1 = rng.standard_normal((1, 3, 2, scale * scale)).astype(np.float32)
  np.testing.assert_array_equal(np.asarray(pixel_shuffle(jnp.asarray(x1), scale)),
                                _ref_depth_to_space_tf(x1, scale))
  x3 = rng.standard_normal((1, 3, 2, 3 * scale * scale)).astype(np.float32)
  assert not np.array_equal(np.asarray(pixel_shuffle(jnp.asarray(x3), scale)),
                            _ref_depth_to_space_tf(x3, scale))


@settings(max_examples=20, deadline=None)
@given(b=st.integers(1, 2), h=st.integers(1, 4), w=st.integers(1, 4), c=st.integers(1, 3),
       r=st.integers(1, 4), seed=st.integers(0, 2 ** 16))
def test_pixel_shuffle_is_a_permutation(b, h, w, c, r, seed):
  n = b * h * w * c * r * r
  x = np.random.default_rng(seed).permutation(n).astype(np.int32).reshape(b, h, w, c * r * r)
  # pixel_shuffle only uses .reshape/.transpose, so NumPy input keeps this fast
  # (no compile per shape); the JAX path is checked under jit above.
  out = np.asarray(pixel_shuffle(x, r))
  assert out.shape == (b, h * r, w * r, c)
  np.testing.assert_array_equal(np.sort(out.ravel()), np.arange(n))


def test_pixel_shuffle_keeps_dtype_and_checks_channels():
  x = jnp.ones((1, 2, 2, 8), jnp.bfloat16)
  assert pixel_shuffle(x, 2).dtype == jnp.bfloat16
  with pytest.raises(ValueError, match="not divisible"):
    pixel_shuffle(jnp.ones((1, 2, 2, 8)), 3)


# ----------------------------------------------------------------------------- ESPCN

@pytest.mark.parametrize("scale", [2, 3, 4])
@pytest.mark.parametrize("channels", [1, 3])
def test_output_shapes(scale, channels):
  module = ESPCN(scale=scale, channels=channels, features=TINY)
  x = jax.ShapeDtypeStruct((2, 5, 6, channels), jnp.float32)
  variables = jax.eval_shape(module.init, jax.random.PRNGKey(0), x)
  out = jax.eval_shape(jax.jit(module.apply), variables, x)
  chex.assert_shape(out, (2, 5 * scale, 6 * scale, channels))
  assert out.dtype == jnp.float32


def test_paper_x3_parameter_count():
  shapes = jax.eval_shape(ESPCN(scale=3, channels=1).init, jax.random.PRNGKey(0),
                          jnp.zeros((1, 8, 8, 1)))["params"]
  layers = [(5, 1, 64), (3, 64, 32), (3, 32, 3 * 3 * 1)]
  expected = sum(k * k * cin * cout + cout for k, cin, cout in layers)
  for i, (k, cin, cout) in enumerate(layers, start=1):
    assert shapes[f"conv{i}"]["kernel"].shape == (k, k, cin, cout)
    assert shapes[f"conv{i}"]["bias"].shape == (cout,)
  assert sum(math.prod(leaf.shape) for leaf in jax.tree.leaves(shapes)) == expected


@pytest.mark.parametrize("scale,channels,activation,centre", [
    (2, 3, "tanh", None), (3, 1, "relu", 0.0)])
def test_forward_matches_numpy_loop(rng, scale, channels, activation, centre):
  use_centre = centre is not None and "centre" in ESPCN.__dataclass_fields__
  kwargs = {"centre": centre} if use_centre else {}
  module = ESPCN(scale=scale, channels=channels, features=(4, 3), activation=activation, **kwargs)
  act = {"tanh": np.tanh, "relu": lambda v: np.maximum(v, 0.0)}[activation]
  x = rng.random((2, 5, 4, channels)).astype(np.float32)
  params = _init(module, x.shape)
  out = jax.jit(module.apply)({"params": params}, jnp.asarray(x))
  ref = _ref_espcn(params, x, scale, act, getattr(module, "centre", 0.0))
  np.testing.assert_allclose(np.asarray(out), ref, atol=1e-5)


@pytest.mark.parametrize("scale,channels", [(2, 1), (3, 3)])
def test_masked_padded_input_equals_unpadded(rng, scale, channels):
  module = ESPCN(scale=scale, channels=channels, features=TINY)
  sizes = [(5, 6), (4, 3)]
  bucket = (8, 9)
  params = _init(module, (1, *bucket, channels))
  apply = jax.jit(module.apply)
  images = [rng.random((1, h, w, channels)).astype(np.float32) for h, w in sizes]
  padded = np.zeros((len(sizes), *bucket, channels), np.float32)
  mask = np.zeros((len(sizes), *bucket, 1), np.float32)
  for k, ((h, w), image) in enumerate(zip(sizes, images)):
    padded[k, :h, :w] = image[0]
    mask[k, :h, :w] = 1.0
  out_masked = np.asarray(apply({"params": params}, jnp.asarray(padded), jnp.asarray(mask)))
  # An all-ones mask is the same as no mask (and reuses the compiled program).
  out_plain = np.asarray(apply({"params": params}, jnp.asarray(padded), jnp.ones_like(mask)))
  for k, ((h, w), image) in enumerate(zip(sizes, images)):
    want = np.asarray(apply({"params": params}, jnp.asarray(image)))[0]
    np.testing.assert_allclose(out_masked[k, :h * scale, :w * scale], want, rtol=0, atol=1e-6)
    # Without the mask the non-zero biases leak through the padding at the border.
    assert np.abs(out_plain[k, :h * scale, :w * scale] - want).max() > 1e-4


def test_invalid_activation():
  with pytest.raises(ValueError, match="activation must be one of"):
    jax.eval_shape(ESPCN(activation="gelu").init, jax.random.PRNGKey(0), jnp.zeros((1, 4, 4, 1)))
  assert set(model_lib.ACTIVATIONS) == {"tanh", "relu"}


def test_mismatched_features_and_kernel_sizes_raise():
  with pytest.raises(ValueError, match="one entry more"):
    jax.eval_shape(ESPCN(scale=3, channels=1, features=(8, 4, 9)).init,
                   jax.random.PRNGKey(0), jnp.zeros((1, 4, 4, 1)))


# ----------------------------------------------------------------------------- spec_from_params

@pytest.mark.parametrize("spec", [
    dict(scale=3, channels=1, features=(64, 32), kernel_sizes=(5, 3, 3)),
    dict(scale=2, channels=3, features=TINY, kernel_sizes=(5, 3, 3)),
    dict(scale=4, channels=1, features=(6, 5), kernel_sizes=(3, 3, 1)),
    dict(scale=4, channels=3, features=TINY, kernel_sizes=(7, 5, 3)),
])
def test_spec_from_params_round_trip(spec):
  module = ESPCN(**spec)
  shape = (1, 6, 6, spec["channels"])
  params = jax.eval_shape(module.init, jax.random.PRNGKey(0), jnp.zeros(shape))["params"]
  assert spec_from_params(params) == spec
  # The recovered spec rebuilds a module with the same parameter structure.
  rebuilt = jax.eval_shape(ESPCN(**spec_from_params(params)).init, jax.random.PRNGKey(0),
                           jnp.zeros(shape))["params"]
  assert jax.tree.map(lambda a: a.shape, rebuilt) == jax.tree.map(lambda a: a.shape, params)


def test_spec_from_params_on_real_arrays():
  params = _init(ESPCN(scale=2, channels=3, features=TINY), (1, 4, 4, 3))
  expected = dict(scale=2, channels=3, features=TINY, kernel_sizes=(5, 3, 3))
  assert spec_from_params(params) == expected
  numpy_params = jax.tree.map(np.asarray, params)
  assert spec_from_params(numpy_params)["scale"] == 2


def test_spec_from_params_rejects_non_espcn():
  params = jax.eval_shape(ESPCN(features=TINY).init, jax.random.PRNGKey(0), jnp.zeros((1, 4, 4, 1)))
  with pytest.raises(ValueError, match="not ESPCN params.*'params'"):
    spec_from_params(params)                     # the variables dict, not params
  with pytest.raises(ValueError, match="not ESPCN params"):
    spec_from_params({"dense": {"kernel": np.zeros((3, 4))}})
  with pytest.raises(ValueError, match="not ESPCN params"):
    spec_from_params({"conv1": {"kernel": np.zeros((5, 5, 1, 8))}})
  with pytest.raises(ValueError, match="not ESPCN params"):
    spec_from_params([1, 2, 3])
  bad = {"conv1": {"kernel": np.zeros((5, 5, 1, 8))}, "conv2": {"kernel": np.zeros((3, 3, 8, 4))},
         "conv3": {"kernel": np.zeros((3, 3, 4, 5))}}
  with pytest.raises(ValueError, match="5 outputs"):
    spec_from_params(bad)
