"""Which samples make training batch ``s``: a fixed number per type, a pure function of (seed, s).

A batch holds ``ratio`` (negative:positive:part:landmark) of the sample
types; each type's samples are visited in a fresh permutation per epoch, so
a resumed run sees exactly the batches of an uninterrupted one.
"""
from __future__ import annotations

import numpy as np

from mtcnn_jax.losses import SAMPLE_TYPES
from mtcnn_jax.sampling.sample_set import SampleSet

__all__ = ["batch_composition", "StratifiedBatches", "gather_batch"]


def batch_composition(batch_size: int, ratio) -> tuple[int, int, int, int]:
  """Samples of each type (negative, positive, part, landmark) in a batch.

  Raises:
    ValueError: the ratio does not divide the batch into whole samples.
  """
  ratio = tuple(int(r) for r in ratio)
  if len(ratio) != 4 or min(ratio) < 0 or sum(ratio) == 0:
    raise ValueError(f"ratio must be 4 non-negative integers (negative:positive:part:landmark), "
                     f"got {ratio}")
  if batch_size % sum(ratio):
    raise ValueError(f"batch_size {batch_size} does not split {':'.join(map(str, ratio))} into "
                     f"whole samples; use a multiple of {sum(ratio)}")
  unit = batch_size // sum(ratio)
  return tuple(unit * r for r in ratio)  # type: ignore[return-value]


class StratifiedBatches:
  """Index batches with a fixed number of samples of each type.

  Each type's samples are visited in a fresh permutation per epoch, where
  permutation ``e`` of type ``t`` is drawn from ``(seed, t, e)``: batch
  ``step`` is a pure function of ``(seed, step)``.
  """

  def __init__(self, labels: np.ndarray, composition, seed: int):
    self.pools = [np.flatnonzero(labels == t) for t in range(4)]
    self.composition = tuple(int(n) for n in composition)
    self.seed = seed
    self._perms: dict[tuple[int, int], np.ndarray] = {}
    for t, (pool, n) in enumerate(zip(self.pools, self.composition)):
      if n and not len(pool):
        raise ValueError(f"batches need {n} {SAMPLE_TYPES[t]} samples each, but the sample set "
                         f"has none (counts: {[len(p) for p in self.pools]})")

  def _perm(self, t: int, epoch: int) -> np.ndarray:
    key = (t, epoch)
    if key not in self._perms:
      if len(self._perms) > 16:
        self._perms.clear()
      self._perms[key] = np.random.default_rng([self.seed, t, epoch]).permutation(
          len(self.pools[t]))
    return self._perms[key]

  def indices(self, step: int) -> np.ndarray:
    """int64 ``[batch_size]`` sample indices of batch ``step``, grouped by type."""
    out = []
    for t, n in enumerate(self.composition):
      if not n:
        continue
      size = len(self.pools[t])
      q = step * n + np.arange(n)
      epochs, within = q // size, q % size
      picked = np.empty(n, np.int64)
      for e in np.unique(epochs):
        sel = epochs == e
        picked[sel] = self.pools[t][self._perm(t, int(e))[within[sel]]]
      out.append(picked)
    return np.concatenate(out)


def gather_batch(samples: SampleSet, index: np.ndarray) -> dict[str, np.ndarray]:
  """The batch ``index`` selects: ``images`` uint8 ``[B, s, s, 3]``, ``labels`` int8 ``[B]``,
  ``boxes`` float32 ``[B, 4]``, ``landmarks`` float32 ``[B, 10]``."""
  return {"images": samples.images[index], "labels": samples.labels[index],
          "boxes": samples.boxes[index], "landmarks": samples.landmarks[index]}
