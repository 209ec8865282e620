"""The multitask loss: masks per sample type, task weights and OHEM, against NumPy by hand."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mtcnn_jax import losses
from mtcnn_jax.losses import LANDMARK, NEGATIVE, PART, POSITIVE


def _reference(logits, box_pred, labels, box_t, lm_pred, lm_t, weights, keep_ratio):
  """An independent NumPy loop over the samples."""
  ce, cls_idx = [], []
  for i, lab in enumerate(labels):
    if lab in (NEGATIVE, POSITIVE):
      z = logits[i] - logits[i].max()
      log_p = z - np.log(np.exp(z).sum())
      ce.append(-log_p[1 if lab == POSITIVE else 0])
      cls_idx.append(i)
  ce = np.array(ce)
  k = max(1, int(np.floor(keep_ratio * len(ce)))) if len(ce) else 0
  det = np.sort(ce)[::-1][:k].mean() if k else 0.0
  box = [np.sum((box_pred[i] - box_t[i]) ** 2) for i, lab in enumerate(labels) if lab in (POSITIVE,
                                                                                         PART)]
  lm = [np.sum((lm_pred[i] - lm_t[i]) ** 2) for i, lab in enumerate(labels) if lab == LANDMARK]
  box = np.mean(box) if box else 0.0
  lm = np.mean(lm) if lm else 0.0
  return weights[0] * det + weights[1] * box + weights[2] * lm, det, box, lm


@pytest.fixture
def batch(rng):
  labels = np.array([NEGATIVE, NEGATIVE, POSITIVE, PART, LANDMARK, NEGATIVE, POSITIVE, LANDMARK,
                     PART, NEGATIVE, NEGATIVE, POSITIVE], np.int8)
  b = len(labels)
  return dict(logits=rng.normal(0, 2, (b, 2)).astype(np.float32),
              box_pred=rng.normal(0, 0.2, (b, 4)).astype(np.float32),
              labels=labels,
              box_t=rng.normal(0, 0.2, (b, 4)).astype(np.float32),
              lm_pred=rng.uniform(0, 1, (b, 10)).astype(np.float32),
              lm_t=rng.uniform(0, 1, (b, 10)).astype(np.float32))


def test_task_masks_by_type():
  cls, box, lm = losses.task_masks(jnp.array([NEGATIVE, POSITIVE, PART, LANDMARK, -1]))
  np.testing.assert_array_equal(cls, [1, 1, 0, 0, 0])
  np.testing.assert_array_equal(box, [0, 1, 1, 0, 0])
  np.testing.assert_array_equal(lm, [0, 0, 0, 1, 0])


@pytest.mark.parametrize("weights,keep_ratio", [((1.0, 0.5, 0.5), 0.7), ((1.0, 0.5, 1.0), 0.7),
                                                ((1.0, 0.5, 1.0), 1.0)])
def test_loss_matches_numpy_reference(batch, weights, keep_ratio):
  fn = jax.jit(lambda *a: losses.multitask_loss(*a, weights=weights, keep_ratio=keep_ratio))
  total, m = fn(batch["logits"], batch["box_pred"], batch["labels"], batch["box_t"],
                batch["lm_pred"], batch["lm_t"])
  want, det, box, lm = _reference(batch["logits"], batch["box_pred"], batch["labels"],
                                  batch["box_t"], batch["lm_pred"], batch["lm_t"], weights,
                                  keep_ratio)
  np.testing.assert_allclose([total, m["det"], m["box"], m["landmark"]], [want, det, box, lm],
                             rtol=1e-5)
  assert (m["n_det"], m["n_box"], m["n_landmark"]) == (8, 5, 2)


def test_targets_of_other_types_do_not_matter(batch):
  """Box targets of negatives/landmark samples and landmark targets of faces are masked out."""
  labels = batch["labels"]
  box_t = batch["box_t"].copy()
  lm_t = batch["lm_t"].copy()
  box_t[(labels == NEGATIVE) | (labels == LANDMARK)] = 1e6
  lm_t[labels != LANDMARK] = -1e6
  args = (batch["logits"], batch["box_pred"], labels)
  a, _ = losses.multitask_loss(*args, batch["box_t"], batch["lm_pred"], batch["lm_t"])
  b, _ = losses.multitask_loss(*args, box_t, batch["lm_pred"], lm_t)
  np.testing.assert_allclose(a, b, rtol=1e-6)


def test_no_landmark_head_gives_a_zero_landmark_term(batch):
  total, m = losses.multitask_loss(batch["logits"], batch["box_pred"], batch["labels"],
                                   batch["box_t"], weights=(1.0, 0.5, 0.5))
  assert float(m["landmark"]) == 0.0
  np.testing.assert_allclose(total, m["det"] + 0.5 * m["box"], rtol=1e-6)


def test_gradient_reaches_only_the_kept_hard_examples(batch):
  """With OHEM the easiest 30 % of the classification samples give no gradient."""
  labels = batch["labels"]

  def loss(logits):
    return losses.multitask_loss(logits, batch["box_pred"], labels, batch["box_t"],
                                 keep_ratio=0.7)[0]
  grad = np.asarray(jax.grad(loss)(jnp.asarray(batch["logits"])))
  ce = np.asarray(losses.classification_losses(jnp.asarray(batch["logits"]), jnp.asarray(labels)))
  cls = np.flatnonzero((labels == NEGATIVE) | (labels == POSITIVE))
  kept = cls[np.argsort(-ce[cls], kind="stable")[:5]]          # floor(0.7 * 8) = 5
  has_grad = np.abs(grad).sum(axis=1) > 0
  np.testing.assert_array_equal(np.flatnonzero(has_grad), np.sort(kept))


@pytest.mark.parametrize("n_valid,ratio,k", [(10, 0.7, 7), (7, 0.7, 4), (1, 0.7, 1), (3, 0.7, 2),
                                             (5, 1.0, 5), (0, 0.7, 0)])
def test_ohem_keeps_exactly_the_top_fraction(rng, n_valid, ratio, k):
  n = 12
  loss = rng.uniform(0, 1, n).astype(np.float32)
  valid = np.zeros(n, bool)
  valid[rng.choice(n, n_valid, replace=False)] = True
  keep = np.asarray(jax.jit(losses.hard_example_mask, static_argnums=2)(loss, valid, ratio))
  assert keep.sum() == k and not (keep & ~valid).any()
  if k:
    assert loss[keep].min() >= loss[valid & ~keep].max(initial=-1.0)


def test_ohem_ties_keep_exactly_k_lowest_indices_first():
  loss = np.array([0.5, 0.9, 0.5, 0.5, 0.5, 0.1, 0.5, 0.5, 0.5, 0.5], np.float32)
  valid = np.ones(10, bool)
  keep = np.asarray(losses.hard_example_mask(loss, valid, 0.7))
  assert keep.sum() == 7
  # 0.9 first, then six of the eight tied 0.5s in index order; 0.1 and the last 0.5 dropped.
  np.testing.assert_array_equal(np.flatnonzero(keep), [0, 1, 2, 3, 4, 6, 7])


def test_ohem_refuses_a_bad_ratio():
  with pytest.raises(ValueError, match="keep_ratio"):
    losses.hard_example_mask(jnp.zeros(3), jnp.ones(3, bool), 0.0)
