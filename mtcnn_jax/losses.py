"""MTCNN's multitask loss (Zhang et al. 2016, eqs. 1-4) with online hard example mining.

Every training sample has one type (see :mod:`mtcnn_jax.sampling`), and the
type says which tasks it trains:

=========  ==================  ==============  =========
type       face classification  box regression  landmarks
=========  ==================  ==============  =========
negative   yes (target 0)       no              no
positive   yes (target 1)       yes             no
part       no                   yes             no
landmark   no                   no              yes
=========  ==================  ==============  =========

The total is ``w_det * L_det + w_box * L_box + w_landmark * L_landmark``
(paper: P-/R-Net ``1, 0.5, 0.5``; O-Net ``1, 0.5, 1``). ``L_det`` is the
cross-entropy averaged over the hardest ``keep_ratio`` (70 %) of the batch's
classification samples only (online hard example mining, paper section
II.C); ``L_box`` and ``L_landmark`` are squared Euclidean distances averaged
over the samples of their types. Averaging each term over its own samples
keeps the balance between tasks independent of the batch's composition.

Pure functions on ``jax.Array``; jit them at the caller.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

__all__ = ["NEGATIVE", "POSITIVE", "PART", "LANDMARK", "SAMPLE_TYPES", "task_masks",
           "hard_example_mask", "classification_losses", "multitask_loss"]

NEGATIVE, POSITIVE, PART, LANDMARK = 0, 1, 2, 3
"""Sample type codes (the ``labels`` of a sample set; int8 on disk)."""
SAMPLE_TYPES = ("negative", "positive", "part", "landmark")
"""Sample type names, indexed by code (``SAMPLE_TYPES[PART] == "part"``)."""


def task_masks(labels: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
  """``labels [B]`` int -> bool ``(classification [B], box [B], landmark [B])`` masks."""
  labels = jnp.asarray(labels)
  cls = (labels == NEGATIVE) | (labels == POSITIVE)
  box = (labels == POSITIVE) | (labels == PART)
  return cls, box, labels == LANDMARK


def hard_example_mask(losses: jax.Array, valid: jax.Array, keep_ratio: float) -> jax.Array:
  """The hardest ``keep_ratio`` of the valid entries: bool ``[B]``.

  Exactly ``k = max(1, floor(keep_ratio * n_valid))`` entries are kept (none
  when ``n_valid == 0``): those with the largest losses, and among equal
  losses the lower indices (a stable sort), so ties never keep more or fewer
  than ``k``.

  Args:
    losses: float ``[B]`` per-sample losses.
    valid: bool ``[B]``, which entries take part.
    keep_ratio: in (0, 1].
  """
  if not 0.0 < keep_ratio <= 1.0:
    raise ValueError(f"keep_ratio must be in (0, 1], got {keep_ratio}")
  n_valid = jnp.sum(valid)
  k = jnp.where(n_valid > 0, jnp.maximum(1, jnp.floor(keep_ratio * n_valid)), 0)
  order = jnp.argsort(jnp.where(valid, -losses, jnp.inf), stable=True)   # hardest first
  rank = jnp.zeros_like(order).at[order].set(jnp.arange(order.shape[0]))
  return valid & (rank < k)


def classification_losses(face_logits: jax.Array, labels: jax.Array) -> jax.Array:
  """Per-sample cross-entropy of the two-way face head: float32 ``[B]``.

  ``face_logits [B, 2]`` (index 1 = face, as the nets' softmax reads them);
  the target is 1 for positives and 0 otherwise (only meaningful where the
  classification mask is set).
  """
  log_p = jax.nn.log_softmax(face_logits.astype(jnp.float32), axis=-1)
  target = (labels == POSITIVE).astype(jnp.int32)
  return -jnp.take_along_axis(log_p, target[:, None], axis=-1)[:, 0]


def _masked_mean(values: jax.Array, mask: jax.Array) -> jax.Array:
  return jnp.sum(jnp.where(mask, values, 0.0)) / jnp.maximum(jnp.sum(mask), 1)


def multitask_loss(face_logits: jax.Array, box_pred: jax.Array, labels: jax.Array,
                   box_targets: jax.Array, landmark_pred: jax.Array | None = None,
                   landmark_targets: jax.Array | None = None, *,
                   weights: tuple[float, float, float] = (1.0, 0.5, 0.5),
                   keep_ratio: float = 0.7) -> tuple[jax.Array, dict[str, jax.Array]]:
  """The weighted multitask loss of one batch.

  Args:
    face_logits: float32 ``[B, 2]``, the face head before its softmax.
    box_pred: float32 ``[B, 4]`` box offsets ``(dx1, dy1, dx2, dy2)``.
    labels: int ``[B]`` sample types (:data:`NEGATIVE` ... :data:`LANDMARK`).
    box_targets: float32 ``[B, 4]`` (read only where the box mask is set).
    landmark_pred, landmark_targets: float32 ``[B, 10]`` (x1..x5, y1..y5), or
      None for nets without a landmark head (P-Net, R-Net): the term is 0.
    weights: ``(w_det, w_box, w_landmark)``.
    keep_ratio: OHEM: the fraction of classification samples kept (1 = off).

  Returns:
    ``(total, metrics)``: scalar float32 loss, and float32 scalars ``det``,
    ``box``, ``landmark`` (the unweighted terms), ``accuracy`` (classification
    samples, probability 0.5) and ``n_det``/``n_box``/``n_landmark`` (samples
    of each task in the batch).
  """
  cls_mask, box_mask, lm_mask = task_masks(labels)
  ce = classification_losses(face_logits, labels)
  keep = hard_example_mask(jax.lax.stop_gradient(ce), cls_mask, keep_ratio)
  det = _masked_mean(ce, keep)
  box = _masked_mean(jnp.sum((box_pred - box_targets) ** 2, axis=-1), box_mask)
  if landmark_pred is None:
    landmark = jnp.zeros((), jnp.float32)
  else:
    landmark = _masked_mean(jnp.sum((landmark_pred - landmark_targets) ** 2, axis=-1), lm_mask)
  w_det, w_box, w_lm = weights
  total = w_det * det + w_box * box + w_lm * landmark
  correct = (face_logits[:, 1] > face_logits[:, 0]) == (labels == POSITIVE)
  metrics = {"det": det, "box": box, "landmark": landmark,
             "accuracy": _masked_mean(correct.astype(jnp.float32), cls_mask),
             "n_det": jnp.sum(cls_mask).astype(jnp.float32),
             "n_box": jnp.sum(box_mask).astype(jnp.float32),
             "n_landmark": jnp.sum(lm_mask).astype(jnp.float32)}
  return total, metrics
