"""Greedy non-maximum suppression with static shapes, written from scratch in JAX.

``nms(boxes, scores, valid, threshold)`` returns a keep mask over a fixed
number of candidate slots, so it jits once per slot count whatever the number
of real boxes (invalid slots are never kept).

Greedy NMS keeps box i (in descending score order) iff no *kept* box before
it overlaps it by more than the threshold. Boxes are visited in score order a
block at a time. Within a block, instead of a one-box-at-a-time loop, the keep
vector is the fixed point of

    keep[i] = cand[i] and not any_j<i (keep[j] and overlap[j, i] > t),

iterated from ``keep = cand``. After n iterations the first n entries are
final (each depends only on earlier ones), so this is exactly greedy NMS; it
converges in a few iterations (the longest suppression chain in the block).
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

from mtcnn_jax.boxes import iou_matrix

__all__ = ["nms", "nms_order", "valid_first"]


# nms_order sorts only a prefix of this many slots when the candidates fit in it.
# One bucket: (256, 1024, 4096) were no faster in the cascade and compiled 1 s longer.
ORDER_BUCKETS = (1024,)


def valid_first(flags):
  """Indices putting the slots whose ``flags [K]`` are set first, then the rest,
  each part in slot order (a stable partition, O(K): a cumulative sum and a scatter)."""
  n = flags.shape[0]
  before = jnp.cumsum(flags, dtype=jnp.int32)          # before[-1]: the flagged slots
  slots = jnp.arange(n, dtype=jnp.int32)
  place = jnp.where(flags, before - 1, before[-1] + slots - before)
  return jnp.zeros(n, jnp.int32).at[place].set(slots, unique_indices=True)


def nms_order(scores, valid, k: int | None = None):
  """Indices sorting valid slots by descending score (invalid last); stable.

  ``k``: only the first ``k`` of that order (default: all). Computed with
  ``lax.top_k``, whose ties keep the lower index first, so the order is the
  stable sort's (tested); on CPU it is 1.2x faster than ``argsort`` for the
  whole order and 4-5x faster for the best 8,192 of 29,000 P-Net cells.

  The candidates are usually far fewer than the slots (a few hundred of 27,000
  P-Net cells), so the slots are first partitioned, in slot order, into the
  candidates and the rest, and only the smallest prefix of ``ORDER_BUCKETS``
  slots that holds every candidate is sorted (``lax.switch``: the shapes stay
  static; with more candidates, one ``top_k`` over all slots). Same indices
  either way; 3-5x faster for a few hundred candidates among thousands of
  slots, and the cascade 3-7% faster on 640x480 photos (A/B runs on 8 WIDER
  photos; ``python benchmarks/mtcnn_bench.py`` times the cascade).
  """
  key = jnp.where(valid, scores, -jnp.inf)
  n = key.shape[0]
  k = n if k is None else k
  sizes = [m for m in ORDER_BUCKETS if m < n]
  if not sizes:
    return jax.lax.top_k(key, k)[1]

  # -inf slots sort last, in slot order, whether or not they are valid.
  head = key != -jnp.inf
  candidates = jnp.sum(head, dtype=jnp.int32)

  def sorted_prefix(m):
    def run(key):
      partition = valid_first(head)
      prefix = partition[:m]
      ranked = prefix[jax.lax.top_k(key[prefix], min(k, m))[1]]
      return jnp.concatenate([ranked, partition[m:k]]) if k > m else ranked
    return run

  which = jnp.searchsorted(jnp.asarray(sizes, jnp.int32), candidates, side="left")
  return jax.lax.switch(which, [sorted_prefix(m) for m in sizes]
                        + [lambda key: jax.lax.top_k(key, k)[1]], key)


def _block_keep(candidates, overlapping):
  """Greedy keep within one score-sorted block whose entries were not suppressed
  by earlier blocks: the fixed point of keep[i] = cand[i] & ~any_j<i(keep[j] & overlapping[j,i])."""
  b = candidates.shape[0]
  suppresses = overlapping & jnp.triu(jnp.ones((b, b), bool), k=1)

  def step(state):
    keep, _ = state
    new = candidates & ~jnp.any(suppresses & keep[:, None], axis=0)
    return new, jnp.any(new != keep)

  keep, _ = jax.lax.while_loop(lambda s: s[1], step, (candidates, jnp.array(True)))
  return keep


def nms(boxes: jax.Array, scores: jax.Array, valid: jax.Array, threshold: float, *,
        method: str = "union", plus_one: bool = True, block: int = 128,
        presorted: bool = False, groups: jax.Array | None = None) -> jax.Array:
  """Greedy NMS over fixed slots.

  Args:
    boxes: ``[K, 4]`` ``[x1, y1, x2, y2]``.
    scores: ``[K]``.
    valid: ``[K]`` bool; invalid slots are ignored and never kept.
    threshold: a box is suppressed when its overlap with a kept, higher-scored
      box is *greater* than this (the original's ``o <= threshold`` survives).
    method: ``"union"`` (IoU) or ``"min"`` (intersection over the smaller box).
    plus_one: MATLAB inclusive-pixel areas (the original's convention).
    block: boxes are processed in score order, ``block`` at a time: each block
      is first suppressed by the boxes kept in the blocks before it (one
      ``[block, block]`` overlap per earlier block), then resolved by the
      fixed point within the block. Only the blocks holding valid boxes (the
      first ones in score order) are visited, so the cost follows the number
      of real boxes, not ``K``.
    presorted: the slots are already in :func:`nms_order` (valid slots first,
      by descending score; e.g. ``lax.top_k`` output), so the sort is skipped.
      The result is the same; only use it when that order is guaranteed.
      With ``groups``, each group's slots need only be in that order among
      themselves (valid slots of every group still first).
    groups: optional ``[K]`` int group of each slot: boxes suppress only boxes
      of their own group, so the keep mask is that of a separate NMS per group
      (e.g. per pyramid level), computed in one pass: one compiled NMS instead
      of one per group.

  Returns:
    ``[K]`` bool keep mask in the input order. Ties in score keep the earlier slot.
  """
  k = boxes.shape[0]
  if k == 0:
    return jnp.zeros((0,), bool)
  block = min(block, k)
  pad = -k % block
  order = None if presorted else nms_order(scores, valid)
  sorted_boxes = jnp.pad(boxes if presorted else boxes[order], ((0, pad), (0, 0)))
  sorted_valid = jnp.pad(valid if presorted else valid[order], (0, pad))
  if groups is None:
    groups = jnp.zeros((k,), jnp.int32)
  sorted_groups = jnp.pad(groups if presorted else groups[order], (0, pad))
  n_blocks = (k + pad) // block
  # [n_blocks, block, ...] views: block b of the score order is row b.
  box_blocks = sorted_boxes.reshape(n_blocks, block, 4)
  valid_blocks = sorted_valid.reshape(n_blocks, block)
  group_blocks = sorted_groups.reshape(n_blocks, block)

  def overlapping(j, b):                  # [block, block]: box of block j would suppress one of b
    overlap = iou_matrix(box_blocks[j], box_blocks[b], method=method, plus_one=plus_one)
    return (overlap > threshold) & (group_blocks[j][:, None] == group_blocks[b][None, :])

  def visit(b, keep):                     # keep: [n_blocks, block], rows >= b still False
    def by_earlier(j, suppressed):        # the boxes kept in block j < b
      return suppressed | jnp.any(keep[j][:, None] & overlapping(j, b), axis=0)

    suppressed = jax.lax.fori_loop(0, b, by_earlier, jnp.zeros((block,), bool))
    return keep.at[b].set(_block_keep(valid_blocks[b] & ~suppressed, overlapping(b, b)))

  # Valid slots come first in score order, so only the first blocks hold any.
  n_active = (jnp.sum(sorted_valid, dtype=jnp.int32) + block - 1) // block
  keep = jax.lax.fori_loop(0, n_active, visit, jnp.zeros((n_blocks, block), bool))
  keep = keep.reshape(-1)[:k]
  return keep if presorted else jnp.zeros((k,), bool).at[order].set(keep)
