"""Tests of mtcnn_jax.training_batches: the ratio; batches are a pure function of the step."""
from __future__ import annotations

import numpy as np
import pytest

from mtcnn_jax.training_batches import StratifiedBatches, batch_composition


def test_batch_composition_follows_the_ratio():
  assert batch_composition(448, (3, 1, 1, 2)) == (192, 64, 64, 128)
  assert batch_composition(640, (3, 1, 1, 0)) == (384, 128, 128, 0)
  with pytest.raises(ValueError, match="multiple of 7"):
    batch_composition(100, (3, 1, 1, 2))
  with pytest.raises(ValueError, match="4 non-negative"):
    batch_composition(10, (3, 1, 1))


def test_stratified_batches_are_pure_and_cover_each_epoch():
  labels = np.array([0] * 9 + [1] * 4 + [2] * 5, np.int8)
  a = StratifiedBatches(labels, (3, 1, 1, 0), seed=7)
  b = StratifiedBatches(labels, (3, 1, 1, 0), seed=7)
  for step in (5, 0, 3):           # any order, fresh instance: the same batch
    np.testing.assert_array_equal(a.indices(step), b.indices(step))
  batch = a.indices(2)
  np.testing.assert_array_equal(labels[batch], [0, 0, 0, 1, 2])
  negatives = np.concatenate([a.indices(s)[:3] for s in range(3)])      # 9 = one epoch
  np.testing.assert_array_equal(np.sort(negatives), np.arange(9))
  assert not np.array_equal(a.indices(0), StratifiedBatches(labels, (3, 1, 1, 0), 8).indices(0))
  with pytest.raises(ValueError, match="landmark samples"):
    StratifiedBatches(labels, (3, 1, 1, 2), seed=0)
