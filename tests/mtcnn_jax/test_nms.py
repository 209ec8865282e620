"""Tests for mtcnn_jax.nms: fixed-slot greedy NMS with a valid mask.

The oracle ``_greedy_nms`` is the textbook loop: take the valid slots, sort by
score descending (stable, so ties keep the earlier slot first), keep the top,
drop every remaining box whose overlap with it is *greater* than the
threshold, repeat. Overlaps of integer boxes are counted pixel by pixel
(MATLAB inclusive ranges ``x1..x2`` with ``plus_one``), so the oracle shares
no arithmetic with ``mtcnn_jax.boxes.iou_matrix``.

Every call goes through ``jax.jit`` with ``threshold``/``method``/``plus_one``
static; one compile per (K, threshold, method, plus_one).
"""
from __future__ import annotations

import functools

import jax
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from mtcnn_jax.nms import nms, nms_order, valid_first

_nms = jax.jit(nms, static_argnames=("threshold", "method", "plus_one", "presorted"))
_order = jax.jit(nms_order, static_argnums=2)

K = 12                          # slot count of the property tests (one compile per setting)
THRESHOLDS = [0.0, 0.3, 0.5, 0.7]


# ---------------------------------------------------------------- oracle

def _pixels(box, plus_one):
  x1, y1, x2, y2 = (int(v) for v in box)
  e = 1 if plus_one else 0
  return frozenset((x, y) for x in range(x1, x2 + e) for y in range(y1, y2 + e))


def _overlap_pixels(a, b, method, plus_one):
  pa, pb = _pixels(a, plus_one), _pixels(b, plus_one)
  denom = len(pa | pb) if method == "union" else min(len(pa), len(pb))
  return len(pa & pb) / denom


def _overlap_formula(a, b, method, plus_one):
  """Float boxes: MATLAB areas ``(x2 - x1 + 1) * (y2 - y1 + 1)`` with ``plus_one``."""
  e = 1.0 if plus_one else 0.0
  iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]) + e)
  ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]) + e)
  area_a = (a[2] - a[0] + e) * (a[3] - a[1] + e)
  area_b = (b[2] - b[0] + e) * (b[3] - b[1] + e)
  inter = iw * ih
  return inter / (area_a + area_b - inter if method == "union" else min(area_a, area_b))


def _greedy_nms(boxes, scores, valid, threshold, method="union", plus_one=True,
                overlap=_overlap_pixels):
  boxes = np.asarray(boxes, np.float64)
  remaining = sorted((i for i in range(len(boxes)) if valid[i]), key=lambda i: -scores[i])
  keep = np.zeros(len(boxes), bool)
  while remaining:
    top = remaining.pop(0)
    keep[top] = True
    remaining = [i for i in remaining
                 if overlap(boxes[top], boxes[i], method, plus_one) <= threshold]
  return keep


# ---------------------------------------------------------------- strategies

def _box(plus_one):
  m = 0 if plus_one else 1
  return st.tuples(st.integers(0, 25), st.integers(0, 25), st.integers(m, 12),
                   st.integers(m, 12)).map(lambda t: [t[0], t[1], t[0] + t[2], t[1] + t[3]])


@st.composite
def _problem(draw, plus_one):
  boxes = np.array(draw(st.lists(_box(plus_one), min_size=K, max_size=K)), np.float32)
  # Few distinct scores, so ties are common.
  scores = np.array(draw(st.lists(st.integers(0, 6), min_size=K, max_size=K)), np.float32) / 6
  valid = np.array(draw(st.lists(st.booleans(), min_size=K, max_size=K)))
  return boxes, scores, valid


_SETTINGS = settings(max_examples=30, deadline=None)
_CASES = [("union", True), ("union", False), ("min", True), ("min", False)]


# ---------------------------------------------------------------- properties

@pytest.mark.parametrize("method, plus_one", _CASES)
@_SETTINGS
@given(data=st.data())
def test_nms_equals_greedy_oracle_and_properties(data, method, plus_one):
  boxes, scores, valid = data.draw(_problem(plus_one))
  t = data.draw(st.sampled_from(THRESHOLDS))
  keep = np.asarray(_nms(boxes, scores, valid, threshold=t, method=method, plus_one=plus_one))
  assert keep.dtype == bool and keep.shape == (K,)

  np.testing.assert_array_equal(keep, _greedy_nms(boxes, scores, valid, t, method, plus_one))
  assert not np.any(keep & ~valid), "an invalid slot was kept"
  kept = np.flatnonzero(keep)
  for a in kept:                                  # kept boxes pairwise overlap <= t
    for b in kept:
      if a != b:
        assert _overlap_pixels(boxes[a], boxes[b], method, plus_one) <= t
  if valid.any():                                 # the top valid box (earliest on ties) is kept
    top = max(np.flatnonzero(valid), key=lambda i: (scores[i], -i))
    assert keep[top]
  else:
    assert not keep.any()
  # Idempotent: NMS of the kept set keeps all of it.
  again = np.asarray(_nms(boxes, scores, keep, threshold=t, method=method, plus_one=plus_one))
  np.testing.assert_array_equal(again, keep)


@_SETTINGS
@given(data=st.data())
def test_nms_does_not_depend_on_slot_order(data):
  boxes, scores, valid = data.draw(_problem(True))
  scores = scores + np.arange(K, dtype=np.float32) * 1e-3     # distinct: no tie-breaking by slot
  perm = np.array(data.draw(st.permutations(range(K))))
  keep = np.asarray(_nms(boxes, scores, valid, threshold=0.5, method="union", plus_one=True))
  keep_p = np.asarray(_nms(boxes[perm], scores[perm], valid[perm], threshold=0.5,
                           method="union", plus_one=True))
  np.testing.assert_array_equal(keep_p, keep[perm])


@pytest.mark.parametrize("method", ["union", "min"])
@pytest.mark.parametrize("plus_one", [True, False])
def test_nms_float_boxes_match_oracle(rng, method, plus_one):
  """Many non-integer boxes (as P-Net/R-Net produce), K=64, several thresholds."""
  n = 64   # jittered copies of 6 boxes, as P-Net's neighbouring cells give
  base = np.concatenate([rng.uniform(0, 60, (6, 2)), rng.uniform(8, 30, (6, 2))], 1)
  c = base[rng.integers(0, 6, n)]
  xy = c[:, :2] + rng.normal(0, 2.0, (n, 2))
  wh = c[:, 2:] * rng.uniform(0.7, 1.3, (n, 2))
  boxes = np.concatenate([xy, xy + wh], 1).astype(np.float32)
  scores = rng.uniform(size=n).astype(np.float32)
  valid = rng.uniform(size=n) < 0.8
  for t in (0.3, 0.7):
    keep = np.asarray(_nms(boxes, scores, valid, threshold=t, method=method, plus_one=plus_one))
    want = _greedy_nms(boxes, scores, valid, t, method, plus_one, overlap=_overlap_formula)
    np.testing.assert_array_equal(keep, want)
    assert 0 < keep.sum() < valid.sum()


# ---------------------------------------------------------------- edge cases

def test_all_invalid_keeps_nothing(rng):
  boxes = np.tile(np.array([[0, 0, 10, 10]], np.float32), (K, 1))
  keep = np.asarray(_nms(boxes, rng.uniform(size=K).astype(np.float32), np.zeros(K, bool),
                         threshold=0.5, method="union", plus_one=True))
  assert not keep.any()


@pytest.mark.parametrize("valid", [True, False])
def test_single_slot(valid):
  keep = _nms(np.array([[3, 4, 9, 9]], np.float32), np.array([0.1], np.float32),
              np.array([valid]), threshold=0.0, method="min", plus_one=True)
  np.testing.assert_array_equal(np.asarray(keep), [valid])


def test_zero_slots():
  keep = nms(np.zeros((0, 4), np.float32), np.zeros((0,), np.float32), np.zeros((0,), bool), 0.5)
  assert keep.shape == (0,) and keep.dtype == bool


def test_identical_boxes_with_tied_scores_keep_the_earlier_slot():
  boxes = np.array([[9, 9, 20, 20]] * 3 + [[50, 50, 60, 60]] * 3 + [[0, 0, 5, 5]] * 6,
                   np.float32)
  scores = np.array([0.5] * 3 + [0.9] * 3 + [0.2] * 6, np.float32)
  valid = np.array([True] * 6 + [False, True, False, True, True, False])
  keep = np.asarray(_nms(boxes, scores, valid, threshold=0.5, method="union", plus_one=True))
  np.testing.assert_array_equal(np.flatnonzero(keep), [0, 3, 7])


def test_invalid_high_score_box_does_not_suppress():
  boxes = np.array([[0, 0, 10, 10], [0, 0, 10, 10], [1, 1, 10, 10]] + [[90, 90, 95, 95]] * 9,
                   np.float32)
  scores = np.array([1.0, 0.5, 0.4] + [0.0] * 9, np.float32)
  valid = np.array([False, True, True] + [False] * 9)
  keep = np.asarray(_nms(boxes, scores, valid, threshold=0.5, method="union", plus_one=True))
  np.testing.assert_array_equal(np.flatnonzero(keep), [1])


def test_threshold_is_strict_greater():
  """Overlap exactly equal to the threshold survives (the original keeps ``o <= t``)."""
  boxes = np.array([[1, 1, 10, 10], [1, 1, 10, 5]] + [[90, 90, 95, 95]] * 10, np.float32)
  scores = np.array([0.9, 0.8] + [0.0] * 10, np.float32)
  valid = np.array([True, True] + [False] * 10)
  # IoU = 50 / 100 = 0.5 exactly; 'min' = 50 / 50 = 1.
  keep = _nms(boxes, scores, valid, threshold=0.5, method="union", plus_one=True)
  np.testing.assert_array_equal(np.flatnonzero(np.asarray(keep)), [0, 1])
  keep = _nms(boxes, scores, valid, threshold=0.7, method="min", plus_one=True)
  np.testing.assert_array_equal(np.flatnonzero(np.asarray(keep)), [0])


@pytest.mark.parametrize("length", [2, 3, 9, 12])
def test_long_suppression_chain(length):
  """A chain where box i suppresses box i + 1 but not box i + 2.

  10x10 boxes 2 px apart: consecutive IoU = 80 / 120 > 0.5, two apart 60 / 140 <= 0.5.
  Greedy keeps 0, 2, 4, ... (a suppressed box suppresses nothing); "fast NMS"
  (suppressed by any higher-scored box) would keep only box 0. The slots are
  shuffled so the chain is not in slot order.
  """
  rng = np.random.default_rng(length)
  chain = np.array([[1 + 2 * i, 1, 10 + 2 * i, 10] for i in range(length)], np.float32)
  chain_scores = np.linspace(1.0, 0.5, length).astype(np.float32)
  pad = K - length
  boxes = np.concatenate([chain, np.tile([[200, 200, 210, 210]], (pad, 1))]).astype(np.float32)
  scores = np.concatenate([chain_scores, np.zeros(pad)]).astype(np.float32)
  valid = np.arange(K) < length
  perm = rng.permutation(K)
  keep = np.asarray(_nms(boxes[perm], scores[perm], valid[perm], threshold=0.5,
                         method="union", plus_one=True))
  unperm = np.empty(K, bool)
  unperm[perm] = keep
  np.testing.assert_array_equal(np.flatnonzero(unperm), np.arange(0, length, 2))
  np.testing.assert_array_equal(unperm, _greedy_nms(boxes, scores, valid, 0.5))


def test_nms_order_sorts_valid_by_score_then_slot():
  scores = np.array([0.3, 0.9, 0.3, 5.0, 0.9], np.float32)
  valid = np.array([True, True, True, False, True])
  np.testing.assert_array_equal(np.asarray(jax.jit(nms_order)(scores, valid)), [1, 4, 0, 2, 3])


def _stable_order(scores, valid):
  """Valid slots by descending score, ties and invalid slots in slot order (NumPy)."""
  return np.argsort(-np.where(valid, scores.astype(np.float64), -np.inf), kind="stable")


@pytest.mark.parametrize("n, k", [(1, 1), (50, 50), (300, 17), (3000, 1000)])
def test_nms_order_is_numpys_stable_sort_with_many_ties(rng, n, k):
  """The top_k order against an obviously correct stable sort: valid slots by
  descending score, ties (scores drawn from 5 values) and invalid slots in slot order."""
  scores = rng.choice(np.float32([0.61, 0.7, 0.7001, 0.95, 1.0]), n)
  valid = rng.uniform(size=n) < 0.6
  np.testing.assert_array_equal(np.asarray(_order(scores, valid, k)),
                                _stable_order(scores, valid)[:k])


@pytest.mark.parametrize("count", [0, 1, 1023, 1024, 1025, 6000])
@pytest.mark.parametrize("k", [100, 1500, 5000, None])
def test_nms_order_buckets_match_a_stable_sort(rng, count, k):
  """The sorted-prefix bucket (ORDER_BUCKETS = (1024,)), at and across its edge, with
  ties and any k: the same indices as NumPy's stable sort over all 8,000 slots."""
  n = 8000
  scores = rng.choice(np.float32([0.61, 0.7, 0.7001, 0.95, 1.0]), n)
  valid = np.zeros(n, bool)
  valid[rng.choice(n, count, replace=False)] = True
  np.testing.assert_array_equal(np.asarray(_order(scores, valid, k)),
                                _stable_order(scores, valid)[:k])


def test_jit_with_partial_static_arguments():
  """``functools.partial`` binding the static settings also jits (as detect.py uses it)."""
  f = jax.jit(functools.partial(nms, threshold=0.5, method="min", plus_one=False))
  boxes = np.array([[0, 0, 10, 10], [0, 0, 4, 4], [20, 20, 30, 30]], np.float32)
  keep = f(boxes, np.array([0.1, 0.9, 0.5], np.float32), np.ones(3, bool))
  np.testing.assert_array_equal(np.asarray(keep), [False, True, True])


@pytest.mark.parametrize("block", [1, 8, 13, 128])
def test_blocked_nms_matches_oracle_across_block_boundaries(rng, block):
  """Several score-sorted blocks: suppression must carry from earlier blocks."""
  n = 70
  base = np.concatenate([rng.uniform(0, 60, (9, 2)), rng.uniform(8, 30, (9, 2))], 1)
  c = base[rng.integers(0, 9, n)]
  xy = c[:, :2] + rng.normal(0, 2.0, (n, 2))
  boxes = np.concatenate([xy, xy + c[:, 2:] * rng.uniform(0.7, 1.3, (n, 2))], 1)
  boxes = boxes.astype(np.float32)
  scores = rng.uniform(size=n).astype(np.float32)
  valid = rng.uniform(size=n) < 0.85
  run = jax.jit(functools.partial(nms, threshold=0.5, block=block))
  keep = np.asarray(run(boxes, scores, valid))
  np.testing.assert_array_equal(keep, _greedy_nms(boxes, scores, valid, 0.5,
                                                  overlap=_overlap_formula))


@pytest.mark.parametrize("block", [4, 128])
@_SETTINGS
@given(data=st.data())
def test_presorted_input_skips_the_sort_with_the_same_result(data, block):
  """Slots already in nms_order (valid first, by descending score; ties kept in slot order),
  as lax.top_k leaves them: presorted=True must give exactly the sorted run's mask."""
  boxes, scores, valid = data.draw(_problem(False))
  order = np.asarray(nms_order(scores, valid))
  boxes, scores, valid = boxes[order], scores[order], valid[order]
  run = jax.jit(functools.partial(nms, threshold=0.5, plus_one=False, block=block),
                static_argnames=("presorted",))
  np.testing.assert_array_equal(np.asarray(run(boxes, scores, valid, presorted=True)),
                                np.asarray(run(boxes, scores, valid)))
  np.testing.assert_array_equal(np.asarray(run(boxes, scores, valid, presorted=True)),
                                _greedy_nms(boxes, scores, valid, 0.5, "union", False))


# ---------------------------------------------------------------- groups (same-level NMS)

@_SETTINGS
@given(data=st.data())
def test_grouped_nms_is_one_greedy_nms_per_group(data):
  boxes, scores, valid = data.draw(_problem(True))
  groups = np.array(data.draw(st.lists(st.integers(0, 2), min_size=K, max_size=K)), np.int32)
  t = data.draw(st.sampled_from(THRESHOLDS))
  keep = np.asarray(_nms(boxes, scores, valid, threshold=t, method="union", plus_one=True,
                         groups=groups))
  want = np.zeros(K, bool)
  for g in range(3):
    want |= _greedy_nms(boxes, scores, valid & (groups == g), t)
  np.testing.assert_array_equal(keep, want)


@_SETTINGS
@given(data=st.data())
def test_grouped_nms_presorted_needs_only_each_groups_order(data):
  # Each group's valid slots in NMS order (as the levels' top_k outputs are), the groups
  # interleaved arbitrarily, valid slots first: the same keep mask as sorting globally.
  boxes, scores, valid = data.draw(_problem(False))
  groups = np.array(data.draw(st.lists(st.integers(0, 2), min_size=K, max_size=K)), np.int32)
  interleave = data.draw(st.permutations(range(K)))
  by_group = {g: sorted(np.flatnonzero(valid & (groups == g)), key=lambda i: (-scores[i], i))
              for g in range(3)}
  slot_groups = [groups[i] for i in interleave if valid[i]]
  order = [by_group[g].pop(0) for g in slot_groups] + list(np.flatnonzero(~valid))
  order = np.array(order)
  keep = np.asarray(_nms(boxes[order], scores[order], valid[order], threshold=0.5,
                         method="union", plus_one=False, presorted=True, groups=groups[order]))
  want = np.asarray(_nms(boxes, scores, valid, threshold=0.5, method="union", plus_one=False,
                         groups=groups))
  np.testing.assert_array_equal(keep, want[order])


def test_valid_first_is_a_stable_partition():
  flags = np.array([0, 1, 1, 0, 1, 0, 0, 1], bool)
  np.testing.assert_array_equal(np.asarray(valid_first(flags)), [1, 2, 4, 7, 0, 3, 5, 6])
