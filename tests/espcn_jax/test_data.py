"""Tests of espcn_jax.data: the degradation protocol, image pairs and patches.

References:
* ``mod_crop``/``to_model_space``: their definitions (top-left crop to a
  multiple of r; x/255; BT.601 Y written out as 16 + 65.481 R + 128.553 G +
  24.966 B on the 0-255 scale; grey images used as Y unchanged).
* ``"gaussian"`` degradation: ``_ref_gaussian_degrade``, a loop over output
  pixels of a 7x7 Gaussian (sigma 1.6) with edge replication (index clamping),
  then MATLAB ``imresize(.., 1/r, 'nearest')`` positions, derived from its mapping.
* Bicubic degradation/upscaling are compositions of ``resize.imresize``
  (tested against a MATLAB loop port in test_resize.py) and 8-bit rounding.
* PatchSampler alignment: an HR image that is exactly the nearest-neighbour
  upsampling ``np.kron(LR, ones((r, r, 1)))`` of its LR image must give HR
  patches equal to the kron of their LR patches under every flip/rotation.

Only generated images (in ``tmp_path``) and the embedded ``"samples"`` set are
used; nothing here reads ../shared/data.
"""
from __future__ import annotations

import math
import warnings

from hypothesis import given, settings, strategies as st
import numpy as np
from PIL import Image
import pytest

from espcn_jax import data, resize, samples
from espcn_mtcnn_common.image_io import ImageError


def _ref_y(rgb_uint8: np.ndarray) -> np.ndarray:
  h, w, _ = rgb_uint8.shape
  out = np.zeros((h, w))
  for i in range(h):
    for j in range(w):
      r, g, b = (float(v) / 255 for v in rgb_uint8[i, j])
      out[i, j] = (16 + 65.481 * r + 128.553 * g + 24.966 * b) / 255
  return out


def _ref_gaussian_degrade(hr: np.ndarray, r: int, sigma: float = 1.6, size: int = 7) -> np.ndarray:
  half = size // 2
  kernel = np.zeros((size, size))
  for u in range(size):
    for v in range(size):
      kernel[u, v] = math.exp(-((u - half) ** 2 + (v - half) ** 2) / (2 * sigma ** 2))
  kernel /= kernel.sum()
  h, w, c = hr.shape

  def matlab_nearest(n_out):
    # imresize(.., 1/r, 'nearest'): 1-based output i maps to u = i*r + 0.5*(1 - r);
    # the box kernel (-0.5 <= u - k < 0.5) picks k = floor(u + 0.5); 0-based k - 1.
    return [math.floor(i * r + 0.5 * (1 - r) + 0.5) - 1 for i in range(1, n_out + 1)]

  out = np.zeros((h // r, w // r, c))
  for oi, y in enumerate(matlab_nearest(h // r)):
    for oj, x in enumerate(matlab_nearest(w // r)):
      for ch in range(c):
        total = 0.0
        for u in range(size):
          for v in range(size):
            yy = min(max(y + u - half, 0), h - 1)
            xx = min(max(x + v - half, 0), w - 1)
            total += kernel[u, v] * hr[yy, xx, ch]
        out[oi, oj, ch] = total
  return out


def _is_8bit(x: np.ndarray) -> bool:
  return bool(np.all(np.abs(x * 255 - np.round(x * 255)) < 1e-6))


def _dihedral(patch: np.ndarray) -> list[np.ndarray]:
  """The 8 flips/rotations of a [p, p, ...] patch."""
  return [np.rot90(q, k) for q in (patch, patch[:, ::-1]) for k in range(4)]


# ----------------------------------------------------------------------------- mod_crop

@settings(max_examples=25, deadline=None)
@given(h=st.integers(1, 20), w=st.integers(1, 20), scale=st.integers(1, 5),
       channels=st.sampled_from([None, 1, 3]))
def test_mod_crop(h, w, scale, channels):
  shape = (h, w) if channels is None else (h, w, channels)
  image = np.arange(math.prod(shape)).reshape(shape)
  out = data.mod_crop(image, scale)
  assert out.shape[0] == h - h % scale and out.shape[1] == w - w % scale
  assert out.shape[2:] == shape[2:]
  np.testing.assert_array_equal(out, image[: out.shape[0], : out.shape[1]])


# ----------------------------------------------------------------------------- to_model_space

def test_grey_is_used_as_y_directly(rng):
  grey = rng.integers(0, 256, (4, 5), dtype=np.uint8)
  grey[0, 0], grey[0, 1] = 0, 255
  for round_y in (False, True):
    out = data.to_model_space(grey, 1, round_y=round_y)
    assert out.shape == (4, 5, 1)
    np.testing.assert_array_equal(out[..., 0], grey / 255.0)
  assert out[0, 0, 0] == 0.0 and out[0, 1, 0] == 1.0   # not 16/255 and 235/255


def test_rgb_to_y(rng):
  rgb = rng.integers(0, 256, (4, 3, 3), dtype=np.uint8)
  out = data.to_model_space(rgb, 1)
  assert out.shape == (4, 3, 1)
  np.testing.assert_allclose(out[..., 0], _ref_y(rgb), atol=1e-12)
  rounded = data.to_model_space(rgb, 1, round_y=True)
  assert _is_8bit(rounded)
  np.testing.assert_allclose(rounded[..., 0], np.round(_ref_y(rgb) * 255) / 255, atol=1e-12)


def test_three_channels(rng):
  rgb = rng.integers(0, 256, (4, 3, 3), dtype=np.uint8)
  np.testing.assert_array_equal(data.to_model_space(rgb, 3), rgb / 255.0)
  grey = rng.integers(0, 256, (4, 3), dtype=np.uint8)
  out = data.to_model_space(grey, 3)
  assert out.shape == (4, 3, 3)
  for c in range(3):
    np.testing.assert_array_equal(out[..., c], grey / 255.0)


def test_to_model_space_errors():
  with pytest.raises(ValueError, match="uint8"):
    data.to_model_space(np.zeros((2, 2)), 1)
  with pytest.raises(ValueError, match="channels must be 1 or 3"):
    data.to_model_space(np.zeros((2, 2), np.uint8), 2)


# ----------------------------------------------------------------------------- degrade

@pytest.mark.parametrize("method", data.DEGRADATIONS)
@pytest.mark.parametrize("scale", [2, 3, 4])
def test_degrade_shapes_and_quantisation(rng, scale, method):
  hr = rng.random((12, 24, 3))
  lr = data.degrade(hr, scale, method=method)
  assert lr.shape == (12 // scale, 24 // scale, 3)
  assert lr.dtype == np.float64
  assert _is_8bit(lr) and lr.min() >= 0 and lr.max() <= 1
  raw = data.degrade(hr, scale, method=method, quantize=False)
  np.testing.assert_allclose(lr, np.clip(raw, 0, 1), atol=0.5 / 255 + 1e-12)


@pytest.mark.parametrize("scale", [2, 3])
def test_degrade_bicubic_is_imresize(rng, scale):
  hr = rng.random((12, 18, 1))
  raw = data.degrade(hr, scale, quantize=False)
  np.testing.assert_allclose(raw, resize.imresize(hr, 1 / scale), atol=1e-12)


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_degrade_gaussian_matches_loop(rng, scale):
  hr = rng.random((12, 24, 2))
  ref = _ref_gaussian_degrade(hr, scale)
  got = data.degrade(hr, scale, method="gaussian", quantize=False)
  assert got.shape == ref.shape
  np.testing.assert_allclose(got, ref, rtol=0, atol=1e-12)
  np.testing.assert_allclose(data.degrade(hr, scale, method="gaussian"),
                             np.round(ref * 255) / 255, rtol=0, atol=1e-12)


@pytest.mark.parametrize("method", data.DEGRADATIONS)
def test_degrade_constant_stays_constant(method):
  hr = np.full((12, 12, 1), 100 / 255)
  np.testing.assert_allclose(data.degrade(hr, 3, method=method), 100 / 255, atol=1e-12)


def test_degrade_errors(rng):
  with pytest.raises(ValueError, match="mod_crop"):
    data.degrade(rng.random((10, 9, 1)), 3)
  with pytest.raises(ValueError, match="mod_crop"):
    data.degrade(rng.random((9, 10, 1)), 3)
  with pytest.raises(ValueError, match="degradation must be one of"):
    data.degrade(rng.random((9, 9, 1)), 3, method="nearest")


# ----------------------------------------------------------------------------- bicubic_upscale

@pytest.mark.parametrize("scale", [2, 3, 4])
def test_bicubic_upscale_is_8bit(rng, scale):
  lr = np.round(rng.random((5, 4, 1)) * 255) / 255
  up = data.bicubic_upscale(lr, scale)
  assert up.shape == (5 * scale, 4 * scale, 1)
  assert _is_8bit(up) and up.min() >= 0 and up.max() <= 1
  raw = data.bicubic_upscale(lr, scale, quantize=False)
  np.testing.assert_allclose(raw, resize.imresize(lr, float(scale)), atol=1e-12)
  assert raw.min() < 0 or raw.max() > 1          # random noise overshoots
  np.testing.assert_allclose(up, np.clip(np.round(raw * 255), 0, 255) / 255, atol=1e-12)


# ----------------------------------------------------------------------------- make_pair

@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("degradation", data.DEGRADATIONS)
def test_make_pair(rng, channels, degradation):
  image = rng.integers(0, 256, (13, 11, 3), dtype=np.uint8)
  pair = data.make_pair("img", image, 3, channels, degradation=degradation)
  assert pair.name == "img"
  assert pair.hr.shape == (12, 9, channels) and pair.lr.shape == (4, 3, channels)
  assert pair.hr.dtype == np.float32 and pair.lr.dtype == np.float32
  hr = data.to_model_space(image[:12, :9], channels)
  np.testing.assert_allclose(pair.hr, hr, atol=1e-7)
  np.testing.assert_allclose(pair.lr, data.degrade(hr, 3, method=degradation), atol=1e-7)


@pytest.mark.parametrize("shape", [(2, 9), (9, 2), (2, 2, 3)])
def test_make_pair_too_small(shape):
  with pytest.raises(ImageError, match="tiny.*too small for scale 3"):
    data.make_pair("tiny", np.zeros(shape, np.uint8), 3, 1)


# ----------------------------------------------------------------------------- load_pairs

def _write(folder, name, image):
  folder.mkdir(parents=True, exist_ok=True)
  Image.fromarray(image).save(folder / name)


def test_load_pairs_from_folder(tmp_path, rng):
  rgb = rng.integers(0, 256, (13, 14, 3), dtype=np.uint8)
  grey = rng.integers(0, 256, (9, 10), dtype=np.uint8)
  _write(tmp_path / "a", "x_rgb.png", rgb)
  _write(tmp_path / "a", "y_grey.png", grey)
  (tmp_path / "a" / "readme.txt").write_text("not an image")
  pairs = data.load_pairs(str(tmp_path / "a"), 3, 1)
  assert [p.name for p in pairs] == ["x_rgb", "y_grey"]
  assert pairs[0].hr.shape == (12, 12, 1) and pairs[0].lr.shape == (4, 4, 1)
  assert pairs[1].hr.shape == (9, 9, 1) and pairs[1].lr.shape == (3, 3, 1)
  np.testing.assert_allclose(pairs[0].hr[..., 0], _ref_y(rgb[:12, :12]), atol=1e-6)
  np.testing.assert_allclose(pairs[1].hr[..., 0], grey[:9, :9] / 255, atol=1e-7)
  for pair in pairs:
    np.testing.assert_allclose(pair.lr, data.degrade(pair.hr.astype(np.float64), 3), atol=1e-6)


def test_load_pairs_several_sources(tmp_path, rng):
  _write(tmp_path / "a", "one.png", rng.integers(0, 256, (8, 8, 3), dtype=np.uint8))
  _write(tmp_path / "b", "two.png", rng.integers(0, 256, (6, 10, 3), dtype=np.uint8))
  joined = data.load_pairs(f"{tmp_path / 'a'},{tmp_path / 'b'}", 2, 3)
  listed = data.load_pairs([str(tmp_path / "a"), str(tmp_path / "b")], 2, 3)
  assert [p.name for p in joined] == [p.name for p in listed] == ["one", "two"]
  assert joined[1].lr.shape == (3, 5, 3)
  np.testing.assert_array_equal(joined[1].hr, listed[1].hr)


def test_load_pairs_skips_small_images_with_warning(tmp_path, rng):
  _write(tmp_path, "big.png", rng.integers(0, 256, (12, 12, 3), dtype=np.uint8))
  _write(tmp_path, "tiny.png", rng.integers(0, 256, (2, 5, 3), dtype=np.uint8))
  with pytest.warns(UserWarning, match="tiny.*too small for scale 3"):
    pairs = data.load_pairs(tmp_path, 3, 1)
  assert [p.name for p in pairs] == ["big"]
  with pytest.warns(UserWarning, match="too small") as record:
    with pytest.raises(ImageError, match="no usable images"):
      data.load_pairs(tmp_path, 3, 1, min_lr_size=5)
  assert sorted(str(w.message).split(": ")[0].rsplit("/", 1)[-1] for w in record) == ["big", "tiny"]


def test_load_pairs_empty_folder(tmp_path):
  with pytest.raises(ImageError, match="no image files"):
    data.load_pairs(tmp_path, 2, 1)


def test_load_pairs_samples():
  with warnings.catch_warnings():
    warnings.simplefilter("error", UserWarning)
    pairs = data.load_pairs("samples", 3, 1)
  assert [p.name for p in pairs] == list(samples.SAMPLE_NAMES)
  for pair in pairs:
    assert pair.lr.ndim == 3 and pair.lr.shape[-1] == 1 and pair.lr.dtype == np.float32
    assert pair.hr.shape == (pair.lr.shape[0] * 3, pair.lr.shape[1] * 3, 1)
    assert 0 <= pair.lr.min() and pair.lr.max() <= 1


# ----------------------------------------------------------------------------- PatchSampler

def _kron_pair(rng, name, h, w, r, c):
  lr = rng.random((h, w, c)).astype(np.float32)
  return data.SRPair(name, lr, np.kron(lr, np.ones((r, r, 1), np.float32)))


def test_sampler_is_a_function_of_seed_and_step(rng):
  pairs = [_kron_pair(rng, "a", 9, 7, 2, 1), _kron_pair(rng, "b", 6, 8, 2, 1)]
  s1 = data.PatchSampler(pairs, 2, 4, 5, seed=7)
  s2 = data.PatchSampler(pairs, 2, 4, 5, seed=7)
  lr, hr = s1.batch(3)
  assert lr.shape == (5, 4, 4, 1) and hr.shape == (5, 8, 8, 1)
  assert lr.dtype == np.float32 and hr.dtype == np.float32
  s1.batch(10)   # no hidden state: order of calls does not matter
  for got, want in zip(s2.batch(3), (lr, hr)):
    np.testing.assert_array_equal(got, want)
  assert not np.array_equal(s1.batch(4)[0], lr)
  assert not np.array_equal(data.PatchSampler(pairs, 2, 4, 5, seed=8).batch(3)[0], lr)


@pytest.mark.parametrize("scale,channels", [(2, 1), (3, 3), (4, 1)])
def test_sampler_patches_stay_aligned_under_augmentation(rng, scale, channels):
  pairs = [_kron_pair(rng, "a", 7, 9, scale, channels),
           _kron_pair(rng, "b", 10, 5, scale, channels)]
  sampler = data.PatchSampler(pairs, scale, 3, 8, seed=0)
  ones = np.ones((scale, scale, 1), np.float32)
  for step in range(40):
    lr, hr = sampler.batch(step)
    for k in range(lr.shape[0]):
      np.testing.assert_array_equal(hr[k], np.kron(lr[k], ones), err_msg=f"step {step}, item {k}")


def test_sampler_patches_are_crops_with_all_eight_transforms():
  lr = np.arange(5 * 6, dtype=np.float32).reshape(5, 6, 1)   # unique values locate a patch
  pair = data.SRPair("u", lr, np.kron(lr, np.ones((2, 2, 1), np.float32)))
  sampler = data.PatchSampler([pair], 2, 2, 8, seed=1)
  crops = {(y, x): lr[y:y + 2, x:x + 2] for y in range(4) for x in range(5)}
  seen_positions, seen_transforms = set(), set()
  for step in range(40):
    for patch in sampler.batch(step)[0]:
      matches = [(pos, t) for pos, crop in crops.items()
                 for t, view in enumerate(_dihedral(crop)) if np.array_equal(patch, view)]
      assert len(matches) == 1, patch[..., 0]
      seen_positions.add(matches[0][0])
      seen_transforms.add(matches[0][1])
  assert seen_positions == set(crops)         # every position of the image is sampled
  assert seen_transforms == set(range(8))


def test_sampler_without_augmentation_gives_plain_crops():
  lr = np.arange(5 * 6, dtype=np.float32).reshape(5, 6, 1)
  pair = data.SRPair("u", lr, np.kron(lr, np.ones((3, 3, 1), np.float32)))
  sampler = data.PatchSampler([pair], 3, 2, 8, seed=2, augment=False)
  seen = set()
  for step in range(40):
    for patch in sampler.batch(step)[0]:
      y, x = np.unravel_index(int(patch[0, 0, 0]), (5, 6))
      np.testing.assert_array_equal(patch, lr[y:y + 2, x:x + 2])
      seen.add((int(y), int(x)))
  assert seen == {(y, x) for y in range(4) for x in range(5)}


def test_sampler_covers_every_image_in_proportion():
  sizes = [(6, 6), (6, 6), (9, 6), (4, 4), (3, 10)]  # last one is narrower than the patch
  pairs = []
  for k, (h, w) in enumerate(sizes):
    lr = np.full((h, w, 1), k, np.float32)
    pairs.append(data.SRPair(str(k), lr, np.kron(lr, np.ones((2, 2, 1), np.float32))))
  sampler = data.PatchSampler(pairs, 2, 4, 16, seed=3)
  counts = np.array([(h - 3) * (w - 3) for h, w in sizes[:4]], np.float64)
  np.testing.assert_allclose(sampler.probs, counts / counts.sum())
  ids = np.concatenate([sampler.batch(s)[0][:, 0, 0, 0] for s in range(150)]).astype(int)
  freq = np.bincount(ids, minlength=5) / len(ids)
  assert freq[4] == 0                                    # too small: never used
  assert np.all(freq[:4] > 0)                            # every usable image is sampled
  np.testing.assert_allclose(freq[:4], counts / counts.sum(), atol=0.04)


def test_sampler_refuses_when_no_image_fits(rng):
  with pytest.raises(ImageError, match="patch size 8"):
    data.PatchSampler([_kron_pair(rng, "a", 7, 20, 2, 1)], 2, 8, 4, seed=0)


def test_sampler_iterate_matches_batch(rng):
  sampler = data.PatchSampler([_kron_pair(rng, "a", 8, 8, 2, 1)], 2, 3, 2, seed=5)
  got = list(sampler.iterate(3, 7, prefetch=2))
  assert [step for step, _ in got] == [3, 4, 5, 6]
  for step, (lr, hr) in got:
    want_lr, want_hr = sampler.batch(step)
    np.testing.assert_array_equal(lr, want_lr)
    np.testing.assert_array_equal(hr, want_hr)
  it = sampler.iterate(0, 1000, prefetch=1)   # stopping early must not hang
  assert next(it)[0] == 0
  it.close()


def test_sampler_rows_are_those_rows_of_the_whole_batch(rng):
  """A process cuts only its rows of every global batch, and they equal the whole batch's."""
  sampler = data.PatchSampler([_kron_pair(rng, "a", 9, 7, 2, 1), _kron_pair(rng, "b", 6, 8, 2, 1)],
                              2, 4, 6, seed=3)
  for step in (0, 5):
    whole = sampler.batch(step)
    for rows in (slice(0, 3), slice(3, 6), slice(2, 3)):
      for got, want in zip(sampler.batch(step, rows), whole):
        np.testing.assert_array_equal(got, want[rows])
  (_, (lr, _)), = list(sampler.iterate(5, 6, rows=slice(3, 6)))
  np.testing.assert_array_equal(lr, sampler.batch(5)[0][3:6])


def test_scale_augment_adds_shrunk_copies(tmp_path, rng):
  image = rng.integers(0, 256, (30, 42, 3), dtype=np.uint8)
  _write(tmp_path, "a.png", image)
  pairs = data.load_pairs(tmp_path, 2, 1, scale_augment=(1.0, 0.5))
  assert [p.name for p in pairs] == ["a", "a@0.5"]
  # The copy is MATLAB imresize(image, 0.5) as 8-bit, then the same protocol.
  expected = data.make_pair("a@0.5", resize.imresize(image, 0.5), 2, 1)
  np.testing.assert_array_equal(pairs[1].hr, expected.hr)
  np.testing.assert_array_equal(pairs[1].lr, expected.lr)
  assert pairs[1].hr.shape == (14, 20, 1)


def test_scale_augment_drops_copies_that_get_too_small_silently(tmp_path, rng):
  _write(tmp_path, "a.png", rng.integers(0, 256, (12, 12, 3), dtype=np.uint8))
  with warnings.catch_warnings():
    warnings.simplefilter("error")
    pairs = data.load_pairs(tmp_path, 3, 1, min_lr_size=4, scale_augment=(1.0, 0.5))
  assert [p.name for p in pairs] == ["a"]


@pytest.mark.parametrize("factors", [(), (1.0, 1.5), (0.0,), (-0.5,)])
def test_scale_augment_factors_are_checked(tmp_path, rng, factors):
  _write(tmp_path, "a.png", rng.integers(0, 256, (12, 12, 3), dtype=np.uint8))
  with pytest.raises(ValueError, match="scale_augment"):
    data.load_pairs(tmp_path, 2, 1, scale_augment=factors)


# --- Validation held out of the training pool -------------------------------------------------

def test_holdout_keys_are_fixed_by_name_not_by_order():
  keys = [f"T91/t{i}" for i in range(40)] + [f"BSDS200/{i}" for i in range(60)]
  held = data.holdout_keys(keys, 10)
  assert held == data.holdout_keys(list(reversed(keys)), 10) == sorted(held)
  assert len(set(held)) == 10 and set(held) <= set(keys)
  # Adding images to the pool never moves an image from validation into training.
  grown = data.holdout_keys(keys + [f"BSDS500_test200/{i}" for i in range(50)], 10)
  assert set(grown) - set(held) <= {k for k in grown if k.startswith("BSDS500")}


def test_holdout_must_leave_images_to_train_on():
  with pytest.raises(ValueError, match="leaves none of the 3"):
    data.holdout_keys(["a/1", "a/2", "a/3"], 3)


@pytest.mark.parametrize("text, count", [("holdout:20", 20), ("../shared/data/sr/T91", None),
                                         ("", None)])
def test_holdout_count_reads_the_spec(text, count):
  assert data.holdout_count(text) == count


@pytest.mark.parametrize("text", ["holdout:", "holdout:0", "holdout:-3", "holdout:ten"])
def test_malformed_holdout_spec_is_refused(text):
  with pytest.raises(ValueError, match="expected 'holdout:N'"):
    data.holdout_count(text)


def test_holdout_split_is_disjoint_and_covers_the_pool(tmp_path, rng):
  for i in range(6):
    Image.fromarray(rng.integers(0, 256, (30 + i, 33, 3), dtype=np.uint8)).save(
        tmp_path / f"im{i}.png")
  keys = data.pool_keys(str(tmp_path))
  assert keys == [f"{tmp_path.name}/im{i}" for i in range(6)]
  held = {k.split("/")[1] for k in data.holdout_keys(keys, 2)}
  train = data.load_pairs(str(tmp_path), 3, 1, holdout=2, scale_augment=(1.0, 0.8))
  val = data.load_pairs(str(tmp_path), 3, 1, holdout=2, part="holdout")
  assert {p.name for p in val} == held
  # No copy of a held-out image (scale-augmented or not) is trained on.
  assert {p.name.split("@")[0] for p in train} == {f"im{i}" for i in range(6)} - held
  assert len(train) == 2 * 4


def test_opencv_degradation_is_cv2_resize_inter_cubic(rng):
  import cv2   # the reference itself
  hr = rng.random((24, 33, 1))
  lr = data.degrade(hr, 3, method="opencv", quantize=False)
  ref = cv2.resize(hr[..., 0].astype(np.float32), (11, 8), interpolation=cv2.INTER_CUBIC)
  np.testing.assert_allclose(lr[..., 0], np.clip(ref, 0, 1), atol=1e-6)
  assert lr.shape == (8, 11, 1)
  # It is not the antialiased MATLAB bicubic (which averages over a wider kernel).
  assert np.abs(lr - data.degrade(hr, 3, quantize=False)).max() > 0.05


def test_mixed_degradation_gives_one_pair_per_degradation():
  pairs = data.load_pairs("samples", 3, 1, degradation="bicubic+opencv")
  names = [p.name for p in pairs]
  assert names[:2] == ["grace_hopper", "grace_hopper#opencv"] and len(names) == 6
  np.testing.assert_array_equal(pairs[0].hr, pairs[1].hr)
  assert not np.array_equal(pairs[0].lr, pairs[1].lr)


# --- Extra training images (trained on, never held out) ----------------------------------------

@pytest.mark.parametrize("spec, parsed", [("photos/*@0.5", ("photos/*", 0.5)),
                                          ("photos", ("photos", 1.0)),
                                          ("a@b/x@1", ("a@b/x", 1.0))])
def test_parse_extra_source(spec, parsed):
  assert data.parse_extra_source(spec) == parsed


@pytest.mark.parametrize("spec", ["photos@0", "photos@1.5", "photos@half", "photos@"])
def test_parse_extra_source_refuses_bad_factors(spec):
  with pytest.raises(ValueError, match="factor after '@' must be a number in \\(0, 1\\]"):
    data.parse_extra_source(spec)


def test_load_extra_pairs_shrinks_every_image_of_every_matching_folder(tmp_path, rng):
  images = {}
  for event in ("1--Parade", "2--Demo"):
    images[event] = rng.integers(0, 256, (40, 36, 3), dtype=np.uint8)
    _write(tmp_path / "images" / event, "p.png", images[event])
  (tmp_path / "images" / "notes.txt").write_text("not a folder of images")
  pairs = data.load_extra_pairs(f"{tmp_path}/images/*@0.5", 2, 1, scale_augment=(1.0, 0.5))
  assert [p.name for p in pairs] == ["1--Parade/p", "1--Parade/p@0.5", "2--Demo/p", "2--Demo/p@0.5"]
  # Shrunk first (MATLAB imresize), then the protocol of any HR image.
  expected = data.make_pair("x", resize.imresize(images["2--Demo"], 0.5), 2, 1)
  np.testing.assert_array_equal(pairs[2].hr, expected.hr)
  np.testing.assert_array_equal(pairs[2].lr, expected.lr)
  assert pairs[2].hr.shape == (20, 18, 1)


def test_load_extra_pairs_names_a_glob_that_matches_nothing(tmp_path):
  with pytest.raises(ImageError, match="no folder matches"):
    data.load_extra_pairs(f"{tmp_path}/missing/*@0.5", 2, 1)
