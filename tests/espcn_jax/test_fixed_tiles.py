"""``tile=N``: every image in fixed N x N tiles, one compiled program for every size.

The outputs must equal the bucketed path's (uint8 byte for byte, float bit for
bit), every size must reuse one trace, and bad tiles must be refused. Tiles of
40 LR pixels (32-pixel cores plus a 4-pixel halo each side) keep the tests
small while still cutting every image below into several tiles.
"""
from __future__ import annotations

import chex
import numpy as np
import pytest

import espcn_jax
from espcn_jax import infer
from espcn_mtcnn_common import compile_notice
from tests.espcn_jax.helpers import trace_upscale_once

TILE = 40
SIZES = [(37, 53), (70, 41), (9, 100), (5, 7)]          # odd sizes; the last one fits one core


@pytest.fixture(scope="module")
def models():
  return {c: espcn_jax.load_pretrained(3, channels=c)[0] for c in (1, 3)}


@pytest.mark.parametrize("channels", [1, 3])
def test_upscale_in_tiles_equals_the_bucketed_path(rng, models, channels):
  params = models[channels]
  for h, w in SIZES:
    image = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    rgba = np.dstack([image, rng.integers(0, 256, (h, w), dtype=np.uint8)])
    for x in (image, image[..., 0], rgba, image / np.float32(255)):   # RGB, grey, RGBA, float
      want = infer.upscale(params, x)
      got = infer.upscale(params, x, tile=TILE)
      assert got.dtype == want.dtype and got.shape == want.shape == (3 * h, 3 * w, *x.shape[2:])
      np.testing.assert_array_equal(got, want, err_msg=f"{channels=} {x.shape} {x.dtype}")


@pytest.mark.parametrize("channels", [1, 3])
def test_super_resolve_in_tiles_is_bit_identical(rng, models, channels):
  for h, w in SIZES:
    lr = rng.random((h, w, channels), dtype=np.float32)
    got = infer.super_resolve(models[channels], lr, tile=TILE)
    assert got.dtype == np.float32 and got.shape == (3 * h, 3 * w, channels)
    np.testing.assert_array_equal(got, infer.super_resolve(models[channels], lr))


def test_a_batch_in_tiles_equals_the_bucketed_batch(rng, models):
  batch = rng.integers(0, 256, (3, 45, 38, 3), dtype=np.uint8)
  np.testing.assert_array_equal(infer.upscale(models[1], batch, tile=TILE),
                                infer.upscale(models[1], batch))
  np.testing.assert_array_equal(infer.upscale(models[1], list(batch), tile=TILE),
                                infer.upscale(models[1], batch))


def test_one_trace_serves_every_size(monkeypatch, rng, models):
  trace_upscale_once(monkeypatch)
  try:
    for h, w in [*SIZES, (100, 130), (33, 200)]:           # 6 sizes, 6 different buckets
      image = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
      assert infer.upscale(models[1], image, tile=TILE).shape == (3 * h, 3 * w, 3)
      # The grey (model) path and super_resolve share the one _forward trace.
      assert infer.upscale(models[1], image[..., 0], tile=TILE).shape == (3 * h, 3 * w)
      lr = image[..., :1] / np.float32(255)
      assert infer.super_resolve(models[1], lr, tile=TILE).shape == (3 * h, 3 * w, 1)
  finally:
    chex.clear_trace_counter()


def test_one_compile_line_per_tile_shape(monkeypatch, capsys, rng, models):
  monkeypatch.setattr(compile_notice, "_announced", set())   # as in a new process
  monkeypatch.delenv(compile_notice.QUIET_ENV_VAR, raising=False)
  for h, w in SIZES:
    infer.upscale(models[1], rng.integers(0, 256, (h, w, 3), dtype=np.uint8), tile=TILE)
  assert capsys.readouterr().err.splitlines() == [
      f"espcn_jax: compiling x3 for colour tiles of {TILE}x{TILE} "
      f"(once per size; {compile_notice.QUIET_ENV_VAR}=1 hides this line)"]
  infer.upscale(models[1], np.zeros((50, 60, 3), np.uint8), tile=TILE + 8)   # another tile
  assert f"colour tiles of {TILE + 8}x{TILE + 8}" in capsys.readouterr().err


@pytest.mark.parametrize("tile", [0, 8, -40, 1025, 40.0, True, "64", np.float32(40)])
def test_bad_tiles_are_refused(models, tile):
  # The 5-3-3 net's halo is 4, so a tile needs 9 pixels; 1024 = isqrt(MAX_TILE_PIXELS).
  with pytest.raises(ValueError, match=r"tile must be None or an integer from 9 to 1024"):
    infer.upscale(models[1], np.zeros((20, 20, 3), np.uint8), tile=tile)
  with pytest.raises(ValueError, match=r"tile must be None or an integer from 9 to 1024"):
    infer.super_resolve(models[1], np.zeros((20, 20, 1), np.float32), tile=tile)


def test_smallest_and_numpy_int_tiles_work(rng, models):
  image = rng.integers(0, 256, (13, 11, 3), dtype=np.uint8)
  want = infer.upscale(models[1], image)
  np.testing.assert_array_equal(infer.upscale(models[1], image, tile=9), want)   # 1-pixel cores
  np.testing.assert_array_equal(infer.upscale(models[1], image, tile=np.int64(TILE)), want)
