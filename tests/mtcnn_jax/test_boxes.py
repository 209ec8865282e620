"""Tests for mtcnn_jax.boxes: overlap, bbreg, rerec, fix and the public convention.

References are independent of the library:
* ``_pixel_overlap``: integer boxes as explicit *sets of pixels* (MATLAB
  inclusive ranges ``x1..x2`` when ``plus_one``, unit cells ``[x1, x2)``
  otherwise), so intersection and union are literally counted;
* ``_loop_overlap``: the scalar textbook formula, one pair at a time, float64;
* ``calibrate``/``square`` against the MATLAB lines of ``detect_face.m``
  written out per box (``bbreg``, the stage-1 ``regw`` lines, ``rerec``).
"""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from mtcnn_jax import boxes as B

_iou = jax.jit(B.iou_matrix, static_argnames=("method", "plus_one"))


# ---------------------------------------------------------------- references

def _pixels(box, plus_one):
  x1, y1, x2, y2 = (int(v) for v in box)
  e = 1 if plus_one else 0
  return {(x, y) for x in range(x1, x2 + e) for y in range(y1, y2 + e)}


def _pixel_overlap(a, b, method, plus_one):
  """[N, M] overlap of integer boxes by counting pixels."""
  out = np.zeros((len(a), len(b)))
  for i, ba in enumerate(a):
    pa = _pixels(ba, plus_one)
    for j, bb in enumerate(b):
      pb = _pixels(bb, plus_one)
      inter = len(pa & pb)
      denom = len(pa | pb) if method == "union" else min(len(pa), len(pb))
      out[i, j] = inter / denom
  return out


def _loop_overlap(a, b, method, plus_one):
  """[N, M] overlap, one pair at a time in float64 (for non-integer boxes)."""
  e = 1.0 if plus_one else 0.0
  out = np.zeros((len(a), len(b)))
  for i, (ax1, ay1, ax2, ay2) in enumerate(np.asarray(a, np.float64)):
    for j, (bx1, by1, bx2, by2) in enumerate(np.asarray(b, np.float64)):
      area_a = (ax2 - ax1 + e) * (ay2 - ay1 + e)
      area_b = (bx2 - bx1 + e) * (by2 - by1 + e)
      iw = max(0.0, min(ax2, bx2) - max(ax1, bx1) + e)
      ih = max(0.0, min(ay2, by2) - max(ay1, by1) + e)
      inter = iw * ih
      denom = area_a + area_b - inter if method == "union" else min(area_a, area_b)
      out[i, j] = inter / denom
  return out


def _int_boxes(rng, n, plus_one, lo=0, hi=20, max_side=12):
  x1 = rng.integers(lo, hi, n)
  y1 = rng.integers(lo, hi, n)
  m = 0 if plus_one else 1   # plus_one=False needs a positive extent
  w = rng.integers(m, max_side, n)
  h = rng.integers(m, max_side, n)
  return np.stack([x1, y1, x1 + w, y1 + h], 1).astype(np.float32)


def _box_strategy(plus_one, lo=-20, hi=20, max_side=15):
  m = 0 if plus_one else 1
  return st.tuples(st.integers(lo, hi), st.integers(lo, hi),
                   st.integers(m, max_side), st.integers(m, max_side)).map(
                       lambda t: [t[0], t[1], t[0] + t[2], t[1] + t[3]])


# ---------------------------------------------------------------- iou_matrix

@pytest.mark.parametrize("method", ["union", "min"])
@pytest.mark.parametrize("plus_one", [True, False])
def test_iou_matrix_matches_pixel_count(rng, method, plus_one):
  a = _int_boxes(rng, 7, plus_one)
  b = _int_boxes(rng, 5, plus_one)
  got = np.asarray(_iou(a, b, method=method, plus_one=plus_one))
  assert got.shape == (7, 5)
  np.testing.assert_allclose(got, _pixel_overlap(a, b, method, plus_one), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("method", ["union", "min"])
@pytest.mark.parametrize("plus_one", [True, False])
def test_iou_matrix_matches_loop_on_float_boxes(rng, method, plus_one):
  xy = rng.uniform(0, 50, (2, 9, 2))
  wh = rng.uniform(0.5, 30, (2, 9, 2))
  a, b = (np.concatenate([xy[k], xy[k] + wh[k]], 1).astype(np.float32) for k in range(2))
  got = np.asarray(_iou(a, b, method=method, plus_one=plus_one))
  np.testing.assert_allclose(got, _loop_overlap(a, b, method, plus_one), rtol=1e-5, atol=1e-6)


def test_iou_matrix_hand_values():
  a = np.array([[1, 1, 10, 10]], np.float32)             # 10x10 pixels (MATLAB)
  b = np.array([[6, 1, 15, 10],                          # 5x10 shared: 50 / 150
                [1, 1, 5, 5],                            # inside: 25/100, min 25/25
                [11, 1, 20, 10]], np.float32)            # touching only: 0
  np.testing.assert_allclose(np.asarray(_iou(a, b, method="union", plus_one=True)),
                             [[1 / 3, 0.25, 0.0]], rtol=1e-6)
  np.testing.assert_allclose(np.asarray(_iou(a, b, method="min", plus_one=True)),
                             [[0.5, 1.0, 0.0]], rtol=1e-6)
  # Continuous: a is 9x9, the first overlap is 4x9 = 36 of 81 + 81 - 36.
  np.testing.assert_allclose(np.asarray(_iou(a, b, method="union", plus_one=False)),
                             [[36 / 126, 16 / 81, 0.0]], rtol=1e-6)


def test_iou_matrix_rejects_unknown_method():
  a = np.zeros((1, 4), np.float32)
  with pytest.raises(ValueError, match="method"):
    B.iou_matrix(a, a, method="max")


def test_iou_matrix_accepts_numpy_and_empty():
  a = np.array([[0, 0, 4, 4]], np.float64)
  np.testing.assert_allclose(np.asarray(B.iou_matrix(a, a)), [[1.0]])
  assert B.iou_matrix(a, np.zeros((0, 4))).shape == (1, 0)


@settings(max_examples=30, deadline=None)
@given(data=st.data(), method=st.sampled_from(["union", "min"]), plus_one=st.booleans())
def test_iou_properties(data, method, plus_one):
  """Symmetric, in [0, 1], 1 on the diagonal, translation invariant, = pixel count."""
  box = _box_strategy(plus_one)
  a = np.array(data.draw(st.lists(box, min_size=1, max_size=4)), np.float32)
  b = np.array(data.draw(st.lists(box, min_size=1, max_size=4)), np.float32)
  dx, dy = data.draw(st.integers(-100, 100)), data.draw(st.integers(-100, 100))
  shift = np.array([dx, dy, dx, dy], np.float32)
  ab = np.asarray(_iou(a, b, method=method, plus_one=plus_one))
  ba = np.asarray(_iou(b, a, method=method, plus_one=plus_one))
  aa = np.asarray(_iou(a, a, method=method, plus_one=plus_one))
  moved = np.asarray(_iou(a + shift, b + shift, method=method, plus_one=plus_one))
  np.testing.assert_allclose(ab, ba.T, rtol=1e-6, atol=1e-7)
  assert np.all(ab >= 0) and np.all(ab <= 1 + 1e-6)
  np.testing.assert_allclose(np.diag(aa), 1.0, rtol=1e-6)
  np.testing.assert_allclose(moved, ab, rtol=1e-6, atol=1e-7)
  np.testing.assert_allclose(ab, _pixel_overlap(a, b, method, plus_one), rtol=1e-5, atol=1e-6)


@settings(max_examples=30, deadline=None)
@given(data=st.data(), method=st.sampled_from(["union", "min"]),
       s=st.sampled_from([0.25, 0.5, 2.0, 3.0, 7.5]))
def test_iou_is_scale_invariant_without_plus_one(data, method, s):
  box = _box_strategy(False)
  a = np.array(data.draw(st.lists(box, min_size=1, max_size=4)), np.float32)
  b = np.array(data.draw(st.lists(box, min_size=1, max_size=4)), np.float32)
  ab = np.asarray(_iou(a, b, method=method, plus_one=False))
  scaled = np.asarray(_iou(a * s, b * s, method=method, plus_one=False))
  np.testing.assert_allclose(scaled, ab, rtol=1e-5, atol=1e-6)


def test_iou_is_not_scale_invariant_with_plus_one():
  """The +1 is a pixel, not a length: scaling changes MATLAB overlaps (a sanity check)."""
  a = np.array([[0, 0, 9, 9]], np.float32)
  b = np.array([[5, 0, 14, 9]], np.float32)
  small = float(_iou(a, b, method="union", plus_one=True)[0, 0])
  big = float(_iou(a * 2, b * 2, method="union", plus_one=True)[0, 0])
  # 10x10 boxes sharing 5x10 pixels; doubled: 19x19 boxes sharing 9x19 pixels.
  assert small == pytest.approx(50 / 150) and big == pytest.approx(171 / (2 * 361 - 171))


# ---------------------------------------------------------------- calibrate (bbreg)

def _bbreg_matlab(boxes, reg, plus_one):
  """detect_face.m: ``bbreg`` (w = x2 - x1 + 1) or the stage-1 ``regw = x2 - x1`` lines."""
  out = np.zeros_like(boxes, np.float64)
  for k in range(len(boxes)):
    x1, y1, x2, y2 = (float(v) for v in boxes[k])
    w = x2 - x1 + (1 if plus_one else 0)
    h = y2 - y1 + (1 if plus_one else 0)
    out[k] = [x1 + reg[k, 0] * w, y1 + reg[k, 1] * h, x2 + reg[k, 2] * w, y2 + reg[k, 3] * h]
  return out


def test_calibrate_by_hand():
  box = np.array([[10, 20, 29, 59]], np.float32)       # x2 - x1 = 19, y2 - y1 = 39
  reg = np.array([[0.1, -0.1, 0.2, 0.5]], np.float32)
  np.testing.assert_allclose(np.asarray(B.calibrate(box, reg, plus_one=False)),
                             [[10 + 1.9, 20 - 3.9, 29 + 3.8, 59 + 19.5]], rtol=1e-6)
  np.testing.assert_allclose(np.asarray(B.calibrate(box, reg, plus_one=True)),
                             [[10 + 2.0, 20 - 4.0, 29 + 4.0, 59 + 20.0]], rtol=1e-6)


@pytest.mark.parametrize("plus_one", [True, False])
def test_calibrate_matches_matlab_loop(rng, plus_one):
  boxes = np.concatenate([rng.uniform(0, 100, (20, 2)), rng.uniform(100, 200, (20, 2))],
                         1).astype(np.float32)
  reg = rng.normal(0, 0.2, (20, 4)).astype(np.float32)
  f = jax.jit(functools.partial(B.calibrate, plus_one=plus_one))
  np.testing.assert_allclose(np.asarray(f(boxes, reg)), _bbreg_matlab(boxes, reg, plus_one),
                             rtol=1e-5, atol=1e-4)


def test_calibrate_zero_offsets_is_identity_and_batches():
  boxes = np.arange(2 * 3 * 4, dtype=np.float32).reshape(2, 3, 4) * np.array([1, 1, 2, 2])
  np.testing.assert_array_equal(
      np.asarray(B.calibrate(boxes, np.zeros_like(boxes), plus_one=True)), boxes)


# ---------------------------------------------------------------- square (rerec)

def _rerec_matlab(boxes):
  out = np.zeros_like(boxes, np.float64)
  for k in range(len(boxes)):
    x1, y1, x2, y2 = (float(v) for v in boxes[k])
    w, h = x2 - x1, y2 - y1
    side = max(w, h)
    nx1, ny1 = x1 + w * 0.5 - side * 0.5, y1 + h * 0.5 - side * 0.5
    out[k] = [nx1, ny1, nx1 + side, ny1 + side]
  return out


def test_square_by_hand():
  got = np.asarray(B.square(np.array([[10, 20, 30, 60], [0, 0, 8, 2]], np.float32)))
  np.testing.assert_allclose(got, [[0, 20, 40, 60], [0, -3, 8, 5]])


@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(st.floats(-100, 100), st.floats(-100, 100),
                          st.floats(0, 80), st.floats(0, 80)), min_size=1, max_size=6))
def test_square_properties(rows):
  boxes = np.array([[x, y, x + w, y + h] for x, y, w, h in rows], np.float32)
  got = np.asarray(B.square(boxes), np.float64)
  w, h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
  side = np.maximum(w, h)
  np.testing.assert_allclose(got[:, 2] - got[:, 0], side, atol=1e-4)
  np.testing.assert_allclose(got[:, 3] - got[:, 1], side, atol=1e-4)
  np.testing.assert_allclose((got[:, 0] + got[:, 2]) / 2, (boxes[:, 0] + boxes[:, 2]) / 2,
                             atol=1e-4)
  np.testing.assert_allclose((got[:, 1] + got[:, 3]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2,
                             atol=1e-4)
  np.testing.assert_allclose(got, _rerec_matlab(boxes), atol=1e-4)


# ---------------------------------------------------------------- truncate (fix), to_continuous

def test_truncate_rounds_toward_zero():
  x = np.array([[-2.7, -0.5, 0.5, 2.7], [-1.0, 3.0, -0.0, 9.999]], np.float32)
  got = np.asarray(jax.jit(B.truncate)(x))
  np.testing.assert_array_equal(got, [[-2, 0, 0, 2], [-1, 3, 0, 9]])
  np.testing.assert_array_equal(got, np.fix(x))


def test_to_continuous_shifts_only_the_top_left():
  boxes = np.array([[1, 1, 10, 20], [5.5, -3, 7, 8]], np.float32)
  got = np.asarray(jax.jit(B.to_continuous)(boxes))
  np.testing.assert_array_equal(got, [[0, 0, 10, 20], [4.5, -4, 7, 8]])
  # A 1-based inclusive pixel range x1..x2 has x2 - x1 + 1 pixels = the continuous width.
  np.testing.assert_array_equal(got[:, 2] - got[:, 0], boxes[:, 2] - boxes[:, 0] + 1)
  assert B.to_continuous(jnp.zeros((2, 3, 4))).shape == (2, 3, 4)


def test_continuous_landmarks_adds_half_a_pixel():
  pts = np.array([[0.0, 3.0], [10.0, -1.0]], np.float32)
  np.testing.assert_array_equal(np.asarray(B.continuous_landmarks(pts)), pts + 0.5)
