"""Tests for mtcnn_jax.pyramid: scales, level sizes, resizing, P-Net cells, crops.

References are plain NumPy/Python loops, ported from the original MATLAB
(Zhang et al., ``detect_face.m``) in double precision, as MATLAB computes:

* ``_scales_ref``: the ``while minl >= 12`` loop with ``m * factor^k``;
* ``_bilinear_ref``: per output pixel, ``src = (dst + 0.5) * in / out - 0.5``
  clamped to ``[0, in - 1]``, floor/ceil neighbours (half-pixel centres, no
  antialiasing);
* ``_candidates_ref``: ``generateBoundingBox`` over every cell
  (``x1 = fix((2j + 1) / scale)``, ``x2 = fix((2j + 12) / scale)``);
* ``_crop_ref``: ``tmp = zeros(bh, bw, C)``, paste the in-image part, resize.

Canvases carry NaN outside the valid region: any read of it would show.
"""
from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from mtcnn_jax import pyramid
from mtcnn_jax.nets import PNet

# The original's resampling; "area" (the Python ports') is the other method.
_resize = jax.jit(functools.partial(pyramid.resize_region, method="bilinear"),
                  static_argnames=("out_shape", "scale"))
_candidates = jax.jit(pyramid.candidate_boxes, static_argnames=("scale", "threshold", "top_k"))
_crop = jax.jit(functools.partial(pyramid.crop_and_resize, method="bilinear"),
                static_argnames=("size",))


# ---------------------------------------------------------------- references

def _scales_ref(h, w, minsize, factor):
  """detect_face.m, verbatim but for syntax."""
  m = 12 / minsize
  minl = min(h, w) * m
  scales, factor_count = [], 0
  while minl >= 12:
    scales.append(m * factor ** factor_count)
    minl = minl * factor
    factor_count += 1
  return scales


def _bilinear_ref(src, out_h, out_w):
  """Bilinear resize of ``src [h, w, C]`` with half-pixel centres, float64 loops."""
  in_h, in_w = src.shape[:2]
  src = np.asarray(src, np.float64)
  out = np.zeros((out_h, out_w, src.shape[2]))
  for i in range(out_h):
    sy = min(max((i + 0.5) * in_h / out_h - 0.5, 0.0), in_h - 1.0)
    y0, y1 = math.floor(sy), math.ceil(sy)
    for j in range(out_w):
      sx = min(max((j + 0.5) * in_w / out_w - 0.5, 0.0), in_w - 1.0)
      x0, x1 = math.floor(sx), math.ceil(sx)
      wy, wx = sy - y0, sx - x0
      out[i, j] = ((1 - wy) * ((1 - wx) * src[y0, x0] + wx * src[y0, x1])
                   + wy * ((1 - wx) * src[y1, x0] + wx * src[y1, x1]))
  return out


def _cells_ref(n):
  """P-Net cells along a side of n pixels: ceil((n - 2) / 2) - 4, at least 0."""
  return max(math.ceil((n - 2) / 2) - 4, 0)


def _candidates_ref(prob, offsets, vh, vw, scale, threshold, top_k):
  rows = []
  for i in range(min(prob.shape[0], _cells_ref(vh))):
    for j in range(min(prob.shape[1], _cells_ref(vw))):
      if prob[i, j] >= threshold:
        box = [math.trunc((2 * j + 1) / scale), math.trunc((2 * i + 1) / scale),
               math.trunc((2 * j + 12) / scale), math.trunc((2 * i + 12) / scale)]
        rows.append((float(prob[i, j]), box, offsets[i, j]))
  rows.sort(key=lambda r: -r[0])
  return rows[:top_k]


def _crop_ref(image, height, width, box, size):
  """detect_face.m crop: zero tmp of the box size, paste the in-image part, resize."""
  x1, y1, x2, y2 = (int(v) for v in box)
  bw, bh = x2 - x1 + 1, y2 - y1 + 1
  tmp = np.zeros((bh, bw, image.shape[2]))
  for r in range(bh):
    for c in range(bw):
      yy, xx = y1 - 1 + r, x1 - 1 + c          # 1-based box -> 0-based pixel
      if 0 <= yy < height and 0 <= xx < width:
        tmp[r, c] = image[yy, xx]
  return _bilinear_ref(tmp, size, size)


def _canvas(rng, shape, height, width, c=3):
  """Random image in ``[:height, :width]``, NaN garbage elsewhere in the canvas."""
  img = np.full(shape + (c,), np.nan, np.float32)
  img[:height, :width] = rng.uniform(0, 1, (height, width, c))
  return img


# ---------------------------------------------------------------- pyramid_scales, level_shape

@pytest.mark.parametrize("h, w, minsize, factor", [
    (480, 640, 20, 0.709), (100, 100, 20, 0.709), (12, 500, 12, 0.709),
    (1000, 37, 40, 0.5), (250, 250, 12.5, 0.9), (19, 19, 20, 0.709), (11, 11, 12, 0.709),
    (24, 24, 24, 0.709)])
def test_pyramid_scales_match_original_loop(h, w, minsize, factor):
  got = pyramid.pyramid_scales(h, w, minsize, factor)
  want = _scales_ref(h, w, minsize, factor)
  assert isinstance(got, tuple) and len(got) == len(want)
  np.testing.assert_allclose(got, want, rtol=1e-12)
  assert all(min(h, w) * s >= 12 - 1e-9 for s in got)


def test_pyramid_scales_default_values():
  got = pyramid.pyramid_scales(100, 120)
  # m = 0.6, min side 60 -> 60, 42.5, 30.2, 21.4, 15.2 >= 12; 10.7 stops.
  np.testing.assert_allclose(got, [0.6 * 0.709 ** k for k in range(5)], rtol=1e-12)
  assert pyramid.pyramid_scales(19, 500) == ()        # smaller than a 20 px face


@pytest.mark.parametrize("minsize", [11.99, 5, 0])
def test_pyramid_scales_rejects_small_min_face(minsize):
  with pytest.raises(ValueError, match="min_face_size"):
    pyramid.pyramid_scales(100, 100, minsize)


@pytest.mark.parametrize("factor", [0.0, 1.0, 1.5, -0.5])
def test_pyramid_scales_rejects_bad_factor(factor):
  with pytest.raises(ValueError, match="factor"):
    pyramid.pyramid_scales(100, 100, 20, factor)


def test_level_shape_is_ceil():
  for scale in pyramid.pyramid_scales(700, 900) + (1.0, 0.5, 0.333):
    for h, w in [(700, 900), (37, 12), (123, 456), (1, 1)]:
      assert pyramid.level_shape(h, w, scale) == (math.ceil(h * scale), math.ceil(w * scale))
  assert pyramid.level_shape(100, 100, 0.6) == (60, 60)   # exact: 100 * 0.6 == 60.0 in double
  assert pyramid.level_shape(10, 10, 0.61) == (7, 7)


# ---------------------------------------------------------------- resize_region

_CANVAS = (40, 52)


@pytest.mark.parametrize("scale", [1.0, 0.709, 0.5, 0.42539999999999994, 0.30160859999999995])
def test_resize_region_matches_loop_and_ignores_canvas(rng, scale):
  out_shape = pyramid.level_shape(*_CANVAS, scale)
  for height, width in [(40, 52), (33, 52), (40, 17), (12, 13), (25, 31), (1, 1)]:
    img = _canvas(rng, _CANVAS, height, width)
    out, vh, vw = _resize(img, jnp.int32(height), jnp.int32(width), out_shape=out_shape,
                          scale=scale)
    vh, vw = int(vh), int(vw)
    assert out.shape == out_shape + (3,)
    assert (vh, vw) == pyramid.level_shape(height, width, scale)
    want = _bilinear_ref(img[:height, :width], vh, vw)
    np.testing.assert_allclose(np.asarray(out)[:vh, :vw], want, rtol=0, atol=1e-5)


def test_resize_region_identity_and_constant(rng):
  img = _canvas(rng, _CANVAS, 30, 20)
  out, vh, vw = _resize(img, jnp.int32(30), jnp.int32(20), out_shape=_CANVAS, scale=1.0)
  np.testing.assert_array_equal(np.asarray(out)[:30, :20], img[:30, :20])
  const = np.where(np.isnan(img), np.nan, 0.25).astype(np.float32)
  out, vh, vw = _resize(const, jnp.int32(30), jnp.int32(20), out_shape=(29, 37), scale=0.709)
  np.testing.assert_allclose(np.asarray(out)[:int(vh), :int(vw)], 0.25, atol=1e-7)


def test_resize_region_valid_size_matches_level_shape_at_default_scale(rng):
  img = _canvas(rng, (100, 100), 100, 100)
  shape = pyramid.level_shape(100, 100, 0.6)                         # (60, 60)
  out, vh, vw = _resize(img, jnp.int32(100), jnp.int32(100), out_shape=shape, scale=0.6)
  assert (int(vh), int(vw)) == shape
  # 100/60 is inexact in float32: sampling positions differ from float64 by ~1e-6 px.
  np.testing.assert_allclose(np.asarray(out), _bilinear_ref(img, 60, 60), atol=1e-5)


def test_resize_region_accepts_python_ints(rng):
  img = _canvas(rng, (20, 30), 20, 30)
  out, vh, vw = pyramid.resize_region(img, 20, 30, (20, 30), 1.0, method="bilinear")
  np.testing.assert_array_equal(np.asarray(out), img)


def test_resize_methods_reject_unknown_names(rng):
  img = _canvas(rng, (20, 30), 20, 30)
  with pytest.raises(ValueError, match="method"):
    pyramid.resize_region(img, jnp.int32(20), jnp.int32(30), (20, 30), 1.0, method="nearest")
  with pytest.raises(ValueError, match="method"):
    pyramid.crop_and_resize(img, jnp.int32(20), jnp.int32(30), np.ones((1, 4), np.float32), 24,
                            method="nearest")


# ---------------------------------------------------------------- pnet_output_size

def test_pnet_output_size_formula():
  for n in range(0, 200):
    assert int(pyramid.pnet_output_size(n)) == _cells_ref(n), n
  got = jax.jit(pyramid.pnet_output_size)(jnp.arange(200))
  np.testing.assert_array_equal(np.asarray(got), [_cells_ref(n) for n in range(200)])


@pytest.mark.parametrize("h, w", [(12, 12), (13, 14), (15, 16), (24, 37), (37, 24), (50, 51),
                                  (101, 12)])
def test_pnet_output_size_matches_pnet(h, w):
  x = jax.ShapeDtypeStruct((1, h, w, 3), jnp.float32)
  (face, box), _ = jax.eval_shape(PNet().init_with_output, jax.random.key(0), x)
  want = (int(pyramid.pnet_output_size(h)), int(pyramid.pnet_output_size(w)))
  assert face.shape == (1,) + want and box.shape == (1,) + want + (4,)
  assert want == (math.ceil((h - 2) / 2) - 4, math.ceil((w - 2) / 2) - 4)


# ---------------------------------------------------------------- candidate_boxes

def _heatmap(rng, shape, vh, vw, threshold):
  """Distinct scores; one cell exactly at the threshold; high scores and NaN offsets
  in the masked cells (which must never come out)."""
  h, w = shape
  prob = (rng.permutation(h * w).reshape(h, w) / (h * w)).astype(np.float32)
  offsets = rng.normal(0, 0.1, (h, w, 4)).astype(np.float32)
  ch, cw = _cells_ref(vh), _cells_ref(vw)
  masked = ~((np.arange(h)[:, None] < ch) & (np.arange(w)[None, :] < cw))
  prob[masked] = 0.99 + rng.uniform(0, 0.01, masked.sum())
  offsets[masked] = np.nan
  if ch and cw:
    prob[ch - 1, cw - 1] = np.float32(threshold)
  return prob, offsets


def _check_candidates(got, want, top_k):
  boxes, scores, offs, valid = (np.asarray(g) for g in got)
  n = len(want)
  assert boxes.shape == (top_k, 4) and scores.shape == (top_k,) and offs.shape == (top_k, 4)
  np.testing.assert_array_equal(valid, np.arange(top_k) < n)
  np.testing.assert_array_equal(boxes[:n], np.array([r[1] for r in want]).reshape(n, 4))
  np.testing.assert_array_equal(scores[:n], [r[0] for r in want])
  np.testing.assert_array_equal(offs[:n], np.array([r[2] for r in want]).reshape(n, 4))
  np.testing.assert_array_equal(scores[n:], 0.0)
  np.testing.assert_array_equal(offs[n:], 0.0)
  assert np.all(np.isfinite(boxes)) and np.all(np.isfinite(offs))


@pytest.mark.parametrize("scale", [1.0, 0.5, 0.42539999999999994, 0.21384049739999994])
def test_candidate_boxes_match_generate_bounding_box(rng, scale):
  shape, top_k, threshold = (15, 20), 40, 0.6      # a 40x50 canvas level
  for vh, vw in [(40, 50), (30, 41), (12, 50), (13, 14), (10, 50)]:
    prob, offsets = _heatmap(rng, shape, vh, vw, threshold)
    got = _candidates(prob, offsets, jnp.int32(vh), jnp.int32(vw), scale=scale,
                      threshold=threshold, top_k=top_k)
    want = _candidates_ref(prob, offsets, vh, vw, scale, threshold, top_k)
    _check_candidates(got, want, top_k)
  assert len(want) == 0                            # (10, 50): no row of cells at all


def test_candidate_boxes_top_k_keeps_the_best(rng):
  prob, offsets = _heatmap(rng, (15, 20), 40, 50, 0.0)
  got = _candidates(prob, offsets, jnp.int32(40), jnp.int32(50), scale=0.5, threshold=0.0,
                    top_k=7)
  want = _candidates_ref(prob, offsets, 40, 50, 0.5, 0.0, 7)
  assert len(want) == 7
  _check_candidates(got, want, 7)
  assert np.all(np.diff(np.asarray(got[1])) < 0)   # best first


def test_candidate_boxes_by_hand():
  prob = np.zeros((3, 4), np.float32)
  prob[1, 2] = 0.9                                  # cell row 1, column 2
  prob[2, 0] = 0.7
  offsets = np.arange(48, dtype=np.float32).reshape(3, 4, 4)
  boxes, scores, offs, valid = (np.asarray(a) for a in _candidates(
      prob, offsets, jnp.int32(100), jnp.int32(100), scale=0.5, threshold=0.7, top_k=4))
  # x1 = fix((2*2 + 1) / 0.5) = 10, y1 = fix(3 / 0.5) = 6, x2 = fix(16 / 0.5) = 32, y2 = 28.
  np.testing.assert_array_equal(boxes[:2], [[10, 6, 32, 28], [2, 10, 24, 32]])
  np.testing.assert_allclose(scores, [0.9, 0.7, 0, 0])
  np.testing.assert_array_equal(offs[:2], [offsets[1, 2], offsets[2, 0]])
  np.testing.assert_array_equal(valid, [True, True, False, False])


@pytest.mark.parametrize("shape, vh, vw", [((1, 1), 12, 12), ((2, 3), 14, 16), ((2, 3), 12, 16)])
def test_candidate_boxes_tiny_level_pads_slots(rng, shape, vh, vw):
  top_k = 8                                         # more slots than cells
  prob, offsets = _heatmap(rng, shape, vh, vw, 0.0)
  got = _candidates(prob, offsets, jnp.int32(vh), jnp.int32(vw), scale=0.709, threshold=0.0,
                    top_k=top_k)
  want = _candidates_ref(prob, offsets, vh, vw, 0.709, 0.0, top_k)
  assert len(want) == _cells_ref(vh) * _cells_ref(vw) < top_k
  _check_candidates(got, want, top_k)


def test_candidate_boxes_box_formula_in_double_at_default_scales():
  scale = pyramid.pyramid_scales(1000, 1000)[4]
  assert scale == 0.6 * 0.709 ** 4
  prob = np.zeros((2, 30), np.float32)
  prob[0, 23] = 0.9
  boxes, _, _, valid = _candidates(prob, np.zeros((2, 30, 4), np.float32), jnp.int32(100),
                                   jnp.int32(100), scale=scale, threshold=0.6, top_k=1)
  assert bool(valid[0])
  want = [math.trunc(47 / scale), math.trunc(1 / scale), math.trunc(58 / scale),
          math.trunc(12 / scale)]
  assert want == [309, 6, 382, 79]
  np.testing.assert_array_equal(np.asarray(boxes[0]), want)


# ---------------------------------------------------------------- crop_and_resize

_IMG_H, _IMG_W = 20, 30                 # valid image inside a (32, 40) canvas of NaN
_BOXES = {
    "inside": [5, 3, 16, 14],
    "inside_wide": [2, 4, 29, 9],
    "whole_image": [1, 1, 30, 20],
    "left": [-4, 5, 8, 15],
    "right": [25, 2, 36, 12],
    "top": [3, -5, 14, 6],
    "bottom": [10, 15, 22, 27],
    "all_sides": [-5, -5, 40, 30],
    "outside_in_canvas": [32, 1, 39, 9],      # beyond width but inside the NaN canvas
    "outside_negative": [-20, -20, -10, -10],
    "outside_below": [1, 21, 10, 30],
    "pixel_top_left": [1, 1, 1, 1],
    "pixel_bottom_right": [30, 20, 30, 20],
    "pixel_outside": [31, 1, 31, 1],
    "tall_thin": [7, 2, 7, 19],
}


@pytest.mark.parametrize("size", [24, 7])
def test_crop_and_resize_matches_original(rng, size):
  img = _canvas(rng, (32, 40), _IMG_H, _IMG_W)
  boxes = np.array(list(_BOXES.values()), np.float32)
  got = np.asarray(_crop(img, jnp.int32(_IMG_H), jnp.int32(_IMG_W), boxes, size=size))
  assert got.shape == (len(boxes), size, size, 3)
  for k, name in enumerate(_BOXES):
    want = _crop_ref(img, _IMG_H, _IMG_W, boxes[k], size)
    np.testing.assert_allclose(got[k], want, rtol=0, atol=1e-5, err_msg=name)
  for name in ("outside_in_canvas", "outside_negative", "outside_below", "pixel_outside"):
    np.testing.assert_array_equal(got[list(_BOXES).index(name)], 0.0, err_msg=name)
  k = list(_BOXES).index("pixel_top_left")
  np.testing.assert_array_equal(got[k], np.broadcast_to(img[0, 0], (size, size, 3)))


def test_crop_and_resize_whole_image_at_its_own_size_is_identity(rng):
  img = _canvas(rng, (24, 24), 24, 24)
  got = _crop(img, jnp.int32(24), jnp.int32(24), np.array([[1, 1, 24, 24]], np.float32),
              size=24)
  np.testing.assert_allclose(np.asarray(got[0]), img, atol=1e-6)


@settings(max_examples=20, deadline=None)
@given(st.lists(st.tuples(st.integers(-15, 35), st.integers(-15, 25), st.integers(0, 30),
                          st.integers(0, 30)), min_size=5, max_size=5))
def test_crop_and_resize_random_boxes(rows):
  rng = np.random.default_rng(1)
  img = _canvas(rng, (32, 40), _IMG_H, _IMG_W)
  boxes = np.array([[x, y, x + w, y + h] for x, y, w, h in rows], np.float32)
  got = np.asarray(_crop(img, jnp.int32(_IMG_H), jnp.int32(_IMG_W), boxes, size=7))
  for k in range(len(boxes)):
    np.testing.assert_allclose(got[k], _crop_ref(img, _IMG_H, _IMG_W, boxes[k], 7),
                               rtol=0, atol=1e-5)


@pytest.mark.parametrize("shape, height, width", [((64, 48, 3), 64, 48), ((64, 48, 3), 50, 33),
                                                  ((37, 29, 3), 30, 29), ((8, 8, 1), 1, 1)])
def test_summed_area_table_matches_numpy_prefix_sums(rng, shape, height, width):
  image = rng.integers(0, 256, shape).astype(np.float32)
  got = np.asarray(jax.jit(pyramid.summed_area_table)(image, height, width))
  valid = np.zeros(shape, np.int64)
  valid[:height, :width] = image[:height, :width]
  want = np.pad(valid.cumsum(0).cumsum(1), ((1, 0), (1, 0), (0, 0)))
  assert got.dtype == np.int32 and got.shape == want.shape
  np.testing.assert_array_equal(got, want)


# ---------------------------------------------------------------- level_candidates

_LEVEL_SHAPES = [(40, 50), (28, 35), (20, 25), (14, 17), (3, 4)]
_LEVEL_SCALES = [0.6 * 0.709 ** k for k in range(len(_LEVEL_SHAPES))]


@pytest.mark.parametrize("buckets", [(4096,), (16, 64, 256)])   # prefixes; every cell
@pytest.mark.parametrize("threshold, top_k", [(0.6, 50), (0.3, 5000), (0.0, 100), (0.95, 7)])
def test_level_candidates_are_the_levels_candidates_concatenated(monkeypatch, buckets, threshold,
                                                                top_k):
  # Coarse probabilities (ties), per-level caps, NaN offsets and high scores in masked cells.
  monkeypatch.setattr(pyramid, "CANDIDATE_BUCKETS", buckets)
  rng = np.random.default_rng(top_k)
  probs = [np.round(rng.uniform(size=s), 2).astype(np.float32) for s in _LEVEL_SHAPES]
  offsets = [rng.normal(size=s + (4,)).astype(np.float32) for s in _LEVEL_SHAPES]
  valid_sizes = [(2 * h + 10 - int(rng.integers(0, 6)), 2 * w + 10 - int(rng.integers(0, 6)))
                 for h, w in _LEVEL_SHAPES]
  for p, o, (vh, vw) in zip(probs, offsets, valid_sizes):
    p[_cells_ref(vh):] = 0.99
    o[_cells_ref(vh):] = np.nan
  got = jax.jit(lambda p, o: pyramid.level_candidates(p, o, valid_sizes, _LEVEL_SCALES, threshold,
                                                      top_k))(probs, offsets)
  boxes, scores, offs, valid, levels = (np.asarray(g) for g in got)
  # The NumPy reference per level (a stable sort: ties keep cell order), levels in order.
  want = [(level, row) for level, (p, o, (vh, vw), scale) in enumerate(
      zip(probs, offsets, valid_sizes, _LEVEL_SCALES))
      for row in _candidates_ref(p, o, vh, vw, scale, threshold, top_k)]
  want_levels = np.array([level for level, _ in want])
  want_scores = np.array([row[0] for _, row in want], np.float32)
  want_boxes = np.array([row[1] for _, row in want], np.float32)
  want_offs = np.array([row[2] for _, row in want], np.float32)
  n = len(want)
  assert valid.shape == (sum(min(top_k, h * w) for h, w in _LEVEL_SHAPES),)
  np.testing.assert_array_equal(valid, np.arange(valid.size) < n)
  np.testing.assert_array_equal(boxes[:n], want_boxes)
  np.testing.assert_array_equal(scores[:n], want_scores)
  np.testing.assert_array_equal(offs[:n], want_offs)
  np.testing.assert_array_equal(levels[:n], want_levels)
  assert not np.any(boxes[n:]) and not np.any(scores[n:]) and np.isfinite(offs).all()
