"""Data parallelism over several processes (``jax.distributed``), shared by both trainers.

Every process computes the same global batch schedule from ``(seed, step)`` and
feeds only the rows its own devices hold (:func:`process_rows`,
:func:`global_array`); process 0 alone writes logs, records and progress bars
(:func:`is_primary`), and the others wait for its files at :func:`sync` points.
With one process all of this reduces to the single-process path.
"""
from __future__ import annotations

import jax
from jax.experimental import multihost_utils
from jax.sharding import NamedSharding
import numpy as np

__all__ = ["is_primary", "sync", "check_num_devices", "process_rows", "global_array", "Quiet"]


def is_primary() -> bool:
  """Whether this is process 0, the one that writes logs, records and params."""
  return jax.process_index() == 0


def sync(name: str) -> None:
  """With several processes: wait until all reach ``name`` (e.g. after process 0 wrote)."""
  if jax.process_count() > 1:
    multihost_utils.sync_global_devices(name)


def check_num_devices(num_devices: int) -> None:
  """A run of several processes uses all their devices: ``num_devices`` must be 0 (all).

  Raises:
    ValueError: another count was asked for in a multi-process run.
  """
  if jax.process_count() > 1 and num_devices not in (0, jax.device_count()):
    raise ValueError(f"num_devices {num_devices}: a run of {jax.process_count()} "
                     "processes uses all their devices; set it to 0")


def process_rows(sharding: NamedSharding, batch_size: int) -> slice:
  """The rows of every global batch that this process holds under ``sharding``.

  One process holds them all; with ``jax.distributed`` each holds the rows of
  its own devices, a contiguous block since the mesh lists devices by process.

  Raises:
    ValueError: the rows are not contiguous (a mesh not ordered by process).
  """
  spans = sorted(idx[0].indices(batch_size)[:2]
                 for idx in sharding.addressable_devices_indices_map((batch_size,)).values())
  if any(a[1] != b[0] for a, b in zip(spans, spans[1:])):
    raise ValueError(f"this process's batch rows {spans} are not contiguous")
  return slice(spans[0][0], spans[-1][1])


def global_array(sharding: NamedSharding, local: np.ndarray, batch_size: int) -> jax.Array:
  """The global ``[batch_size, ...]`` array whose :func:`process_rows` are ``local``.

  Built with ``jax.make_array_from_process_local_data``; in one process it is
  ``local`` placed on the devices.
  """
  return jax.make_array_from_process_local_data(sharding, local,
                                                (batch_size,) + tuple(local.shape[1:]))


class Quiet:
  """Stands in for a metrics log or progress bar on processes other than 0:
  every method call does nothing."""

  def __getattr__(self, name):
    return lambda *args, **kwargs: None
