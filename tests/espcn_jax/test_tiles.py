"""Big images in tiles (issue 20): bounded memory, one compiled tile shape, the untiled result.

``MAX_TILE_PIXELS`` is shrunk to 32x32 here, so a 100x130 image runs as 5x6
tiles (24-pixel cores plus a 4-pixel halo each side).
"""
from __future__ import annotations

import chex
import numpy as np
import pytest

import espcn_jax
from espcn_jax import banded, infer, resize_jax
from tests.espcn_jax.helpers import paper_params, trace_upscale_once

TINY_BUDGET = 32 * 32


@pytest.fixture(scope="module")
def models():
  return {c: espcn_jax.load_pretrained(3, channels=c)[0] for c in (1, 3)}


def _untiled_and_tiled(monkeypatch, fn):
  """``fn()`` with the default budget (one whole-image call) and with the tiny one."""
  whole = fn()
  monkeypatch.setattr(infer, "MAX_TILE_PIXELS", TINY_BUDGET)
  tiled = fn()
  monkeypatch.undo()
  return whole, tiled


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("size", [(100, 130), (41, 77)])
def test_tiled_super_resolve_is_bit_identical(monkeypatch, rng, models, channels, size):
  lr = rng.random((*size, channels)).astype(np.float32)
  whole, tiled = _untiled_and_tiled(monkeypatch,
                                    lambda: infer.super_resolve(models[channels], lr))
  assert tiled.shape == (3 * size[0], 3 * size[1], channels) and tiled.dtype == np.float32
  np.testing.assert_array_equal(tiled, whole)


@pytest.mark.parametrize("channels", [1, 3])
def test_tiled_upscale_equals_untiled(monkeypatch, rng, models, channels):
  params = models[channels]
  image = rng.integers(0, 256, (101, 131, 3), dtype=np.uint8)
  for x in (image, image[..., 0], image.astype(np.float32) / 255):    # RGB, grey, float RGB
    whole, tiled = _untiled_and_tiled(monkeypatch, lambda: infer.upscale(params, x))
    assert tiled.shape == whole.shape == (303, 393, *x.shape[2:]) and tiled.dtype == whole.dtype
    if x.dtype == np.uint8:
      assert np.abs(tiled.astype(int) - whole.astype(int)).max() <= 1
    np.testing.assert_allclose(tiled, whole, rtol=0, atol=1e-6)


def test_tiled_xla_form_equals_untiled(monkeypatch, rng, models):
  lr = rng.random((70, 90, 1)).astype(np.float32)
  whole, tiled = _untiled_and_tiled(
      monkeypatch, lambda: infer.super_resolve(models[1], lr, conv_impl="xla"))
  np.testing.assert_allclose(tiled, whole, rtol=0, atol=1e-6)


def test_one_compiled_tile_serves_every_big_image(monkeypatch, rng, models):
  monkeypatch.setattr(infer, "MAX_TILE_PIXELS", TINY_BUDGET)
  trace_upscale_once(monkeypatch)
  try:
    for h, w in [(100, 130), (67, 45), (33, 200)]:                  # different buckets
      assert infer.upscale(models[1], rng.integers(0, 256, (h, w, 3), np.uint8)).shape == (
          3 * h, 3 * w, 3)
  finally:
    chex.clear_trace_counter()


def test_tile_halo_is_the_receptive_field():
  _, params = paper_params(seed=0)                      # 5-3-3
  assert banded.receptive_radius(params) == 4 == infer._tile_halo(params)


def test_tile_mirror_index():
  # A tile holding the whole axis is the axis' own mirroring.
  np.testing.assert_array_equal(resize_jax.tile_mirror_index(13, 0, 32),
                                resize_jax.mirror_index(13, 32))
  # A tile further in: the same global pixels, shifted into the tile and clamped to it.
  idx = np.asarray(resize_jax.tile_mirror_index(100, 40, 16))
  np.testing.assert_array_equal(idx, np.clip(np.arange(-2, 18), 0, 15))


def test_tile_starts_cover_the_axis_and_stay_inside():
  for n, core in [(100, 24), (24, 24), (5, 24), (49, 24)]:
    starts = infer._tile_starts(n, core)
    covered = np.zeros(n, bool)
    for s in starts:
      assert 0 <= s and (s + core <= n or s == 0)
      covered[s:s + core] = True
    assert covered.all()


def test_tiles_too_small_for_the_halo_are_refused(monkeypatch, models):
  monkeypatch.setattr(infer, "MAX_TILE_PIXELS", 8 * 8)
  with pytest.raises(ValueError, match="cannot hold a halo of 4"):
    infer.super_resolve(models[1], np.zeros((20, 20, 1), np.float32))
