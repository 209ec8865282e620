"""Inference: bucketing without recompiles, exactness of padding, the colour path."""
from __future__ import annotations

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from espcn_jax import color, infer, resize
from espcn_jax.model import ESPCN
from tests.espcn_jax.helpers import paper_params


def _params(scale=3, channels=1, seed=0):
  model = ESPCN(scale=scale, channels=channels, features=(8, 4))
  return model.init(jax.random.key(seed), jnp.zeros((1, 8, 8, channels)))["params"]


def test_padded_bucket_gives_exactly_the_unpadded_result(rng):
  params = _params()
  lr = rng.random((37, 45, 1)).astype(np.float32)
  bucketed = infer.super_resolve(params, lr, bucket=32)          # padded to 64x64
  unpadded = infer.super_resolve(params, lr, bucket=1)
  assert bucketed.shape == (111, 135, 1)
  np.testing.assert_array_equal(bucketed, unpadded)


@pytest.mark.parametrize("conv_impl", ["auto", "xla"])
def test_sizes_in_one_bucket_compile_once(rng, conv_impl):
  params = _params(seed=1)
  traced = chex.assert_max_traces(n=1)(infer._forward.__wrapped__)   # the raw function
  forward = jax.jit(traced, static_argnames=("activation", "centre", "conv_impl"))
  original = infer._forward
  infer._forward = forward
  try:
    for h, w in [(33, 40), (50, 64), (64, 35), (41, 41)]:           # all in the 64x64 bucket
      out = infer.super_resolve(params, rng.random((h, w, 1)).astype(np.float32),
                                conv_impl=conv_impl)
      assert out.shape == (3 * h, 3 * w, 1)
  finally:
    infer._forward = original
    chex.clear_trace_counter()


def test_colour_upscale_compiles_once_per_bucket(rng):
  params = _params(seed=2)
  originals = {name: getattr(infer, name) for name in ("_split_ycbcr", "_forward", "_merge_chroma")}
  statics = {"_split_ycbcr": (), "_forward": ("activation", "centre", "conv_impl"),
             "_merge_chroma": ("scale", "quantize")}
  for name, f in originals.items():
    setattr(infer, name, jax.jit(chex.assert_max_traces(n=1)(f.__wrapped__),
                                 static_argnames=statics[name]))
  try:
    for h, w in [(20, 30), (32, 17), (9, 32)]:                       # all in the 32x32 bucket
      out = infer.upscale(params, rng.integers(0, 256, (h, w, 3), dtype=np.uint8))
      assert out.shape == (3 * h, 3 * w, 3) and out.dtype == np.uint8
  finally:
    for name, f in originals.items():
      setattr(infer, name, f)
    chex.clear_trace_counter()


def test_colour_path_is_y_through_espcn_and_bicubic_chroma(rng):
  params = _params(seed=3)
  image = rng.random((21, 26, 3)).astype(np.float32)
  out = infer.upscale(params, image)
  # Reference composed on the host from independent pieces.
  ycbcr = color.rgb_to_ycbcr(image.astype(np.float64))
  y = infer.super_resolve(params, ycbcr[..., :1].astype(np.float32), bucket=1)
  cbcr = resize.imresize(ycbcr[..., 1:], 3.0)
  expected = np.clip(color.ycbcr_to_rgb(np.concatenate([y, cbcr], -1)), 0, 1)
  np.testing.assert_allclose(out, expected, atol=2e-5)


def test_rgb_model_and_grey_images(rng):
  rgb_params = _params(scale=2, channels=3)
  assert infer.upscale(rgb_params, rng.random((10, 12, 3)).astype(np.float32)).shape == (20, 24, 3)
  assert infer.upscale(rgb_params, rng.random((10, 12)).astype(np.float32)).shape == (20, 24)
  grey = rng.integers(0, 256, (10, 12), dtype=np.uint8)
  out = infer.upscale(_params(), grey)
  assert out.shape == (30, 36) and out.dtype == np.uint8
  # A grey image is Y as it is: the same as running ESPCN on it directly.
  direct = infer.super_resolve(_params(), grey[..., None] / np.float32(255))[..., 0]
  np.testing.assert_array_equal(out, np.round(direct * 255).astype(np.uint8))


@pytest.mark.parametrize("bad, message", [
    (np.zeros((0, 5, 3), np.uint8), "no pixels"),
    (np.zeros((5, 5, 5), np.uint8), r"\[H, W, 3\]"),
    (np.full((5, 5, 3), np.nan, np.float32), "NaN"),
    (np.full((5, 5, 3), 2.0, np.float32), r"\[0, 1\]"),
    (np.zeros((5, 5, 3), np.int32), "uint8 or float"),
])
def test_bad_images_are_refused_clearly(bad, message):
  with pytest.raises(ValueError, match=message):
    infer.upscale(_params(), bad)


def test_params_for_another_scale_are_refused():
  with pytest.raises(ValueError, match="for x3, but scale=2"):
    infer.upscale(_params(scale=3), np.zeros((8, 8, 3), np.uint8), scale=2)
  with pytest.raises(ValueError, match="not ESPCN params"):
    infer.upscale({"dense": {}}, np.zeros((8, 8, 3), np.uint8))


def test_super_resolve_equals_the_reference_forward(rng):
  _, params = paper_params(seed=5)
  lr = rng.random((29, 51, 1)).astype(np.float32)
  shape = infer.bucket_shape(29, 51)
  want = infer._reference_forward(params, infer._pad_to(lr, shape)[None],
                                  infer._mask(29, 51, shape)[None], activation="tanh", centre=0.5)
  want = np.clip(np.asarray(want)[0, :87, :153], 0, 1)
  np.testing.assert_allclose(infer.super_resolve(params, lr), want, atol=1e-5, rtol=0)


def test_forward_compiles_once_per_bucket(rng):
  # jit's own cache, as a second view next to the chex trace counts above.
  params = _params(seed=6)
  fns = (infer._forward, infer._split_ycbcr, infer._merge_chroma)
  for f in fns:
    f.clear_cache()
  sizes = None
  for h, w in [(33, 40), (50, 64), (64, 35), (41, 41)]:              # all in the 64x64 bucket
    infer.super_resolve(params, rng.random((h, w, 1)).astype(np.float32))
    infer.upscale(params, rng.integers(0, 256, (h, w, 3), dtype=np.uint8))
    sizes = sizes or [f._cache_size() for f in fns]
    assert [f._cache_size() for f in fns] == sizes, (h, w)
  # _forward has one entry for host arrays (super_resolve) and one for the device
  # array that _split_ycbcr hands it (upscale); jax traces and compiles it once for both.
  assert sizes == [2, 1, 1]


def test_uint8_colour_path_rounds_like_the_float_path(rng):
  # uint8 output is quantized inside the jitted call; the two compiled
  # programs may round the last float bit differently (fused multiply-adds),
  # which moves a value sitting on a rounding tie by one level, rarely.
  params = _params(seed=7)
  image = rng.integers(0, 256, (19, 23, 3), dtype=np.uint8)
  as_float = infer.upscale(params, image.astype(np.float32) / 255)
  out = infer.upscale(params, image)
  assert out.dtype == np.uint8 and out.flags.writeable and out.shape == (57, 69, 3)
  diff = np.abs(out.astype(int) - np.round(as_float * 255).astype(int))
  assert diff.max() <= 1 and np.mean(diff) < 0.01


def test_conv_impls_give_the_same_images(rng):
  """The CPU-tuned row bands and the plain whole-frame ESPCN.apply; "auto" is
  the CPU-tuned form exactly (on CPU)."""
  assert jax.default_backend() == "cpu"
  _, params = paper_params(seed=8)
  lr = rng.random((29, 51, 1)).astype(np.float32)
  sr = {c: infer.super_resolve(params, lr, conv_impl=c) for c in ("auto", "cpu_tuned", "xla")}
  np.testing.assert_array_equal(sr["auto"], sr["cpu_tuned"])
  np.testing.assert_allclose(sr["xla"], sr["auto"], rtol=0, atol=1e-5)
  image = rng.integers(0, 256, (23, 37, 3), dtype=np.uint8)
  up = {c: infer.upscale(params, image, conv_impl=c) for c in ("auto", "cpu_tuned", "xla")}
  np.testing.assert_array_equal(up["auto"], up["cpu_tuned"])
  assert up["xla"].dtype == np.uint8 and up["xla"].shape == up["auto"].shape
  assert np.abs(up["xla"].astype(int) - up["auto"].astype(int)).max() <= 1


def test_unknown_conv_impl_is_refused():
  image = np.zeros((8, 8, 3), np.uint8)
  with pytest.raises(ValueError, match=r"conv_impl must be one of .*'gpu'"):
    infer.upscale(_params(), image, conv_impl="gpu")
  with pytest.raises(ValueError, match="conv_impl must be one of"):
    infer.super_resolve(_params(), image[..., :1] / np.float32(255), conv_impl="banded")


def test_self_ensemble_is_equivariant_and_averages_the_eight_passes(rng):
  # Each of the 8 passes is mapped back before averaging, so transforming the
  # input transforms the output the same way (a pass mapped back wrongly breaks this).
  _, params = paper_params(scale=2)
  lr = rng.random((9, 14, 1)).astype(np.float32)
  out = infer.super_resolve_self_ensemble(params, lr)
  assert out.shape == (18, 28, 1) and out.dtype == np.float32
  np.testing.assert_allclose(infer.super_resolve_self_ensemble(params, np.rot90(lr).copy()),
                             np.rot90(out), atol=1e-6)
  np.testing.assert_allclose(infer.super_resolve_self_ensemble(params, lr[::-1].copy()),
                             out[::-1], atol=1e-6)
  # Independent reference: the dihedral group as row flip x column flip x transpose.
  passes = []
  for flip_rows in (False, True):
    for flip_cols in (False, True):
      for transpose in (False, True):
        x = lr[::-1] if flip_rows else lr
        x = x[:, ::-1] if flip_cols else x
        x = x.transpose(1, 0, 2) if transpose else x
        y = infer.super_resolve(params, x.copy())
        y = y.transpose(1, 0, 2) if transpose else y
        y = y[:, ::-1] if flip_cols else y
        passes.append(y[::-1] if flip_rows else y)
  np.testing.assert_allclose(out, np.mean(passes, axis=0), atol=1e-6)
  single = infer.super_resolve(params, lr)
  assert np.abs(out - single).max() > 1e-4   # random weights: not equivariant on their own
