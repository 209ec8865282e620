"""Where ESPCN models live on disk, and loading them back safely.

A training workdir holds:

* ``model.json`` — what the params are for: scale, channels, features,
  kernel sizes, activation, degradation;
* ``ckpt/<step>/`` — the latest full train states (orbax, for resuming);
* ``best/<step>/`` — the params with the best validation PSNR (orbax);
* ``metrics.jsonl`` — one JSON object per logged step
  (:class:`espcn_mtcnn_common.metrics_log.MetricsLog`).

:func:`load_model` reads a workdir (best, else latest) and checks it against
the scale and channel count the caller wants, so that a checkpoint made for
another scale is refused with a clear message rather than producing garbage.
It restores into host NumPy arrays against a target read from the
checkpoint's own metadata, so a workdir trained on any number of devices (or
another backend) loads anywhere.
"""
from __future__ import annotations

import json
import os
import pathlib

import jax
import numpy as np
import orbax.checkpoint as ocp

from espcn_mtcnn_common.atomic_write import write_json_atomic

__all__ = ["ModelInfo", "write_model_info", "read_model_info", "restore_params", "load_model",
           "CheckpointError"]

MODEL_INFO = "model.json"


class CheckpointError(ValueError):
  """A checkpoint folder that is missing, incomplete or for another model."""


ModelInfo = dict  # {"scale", "channels", "features", "kernel_sizes", "activation", "degradation"}


def write_model_info(workdir: str | os.PathLike, info: ModelInfo) -> None:
  path = pathlib.Path(workdir) / MODEL_INFO
  path.parent.mkdir(parents=True, exist_ok=True)
  write_json_atomic(path, info, indent=2)


def read_model_info(workdir: str | os.PathLike) -> ModelInfo:
  path = pathlib.Path(workdir) / MODEL_INFO
  if not path.is_file():
    raise CheckpointError(f"{workdir}: not an ESPCN checkpoint folder (no {MODEL_INFO})")
  try:
    info = json.loads(path.read_text())
  except (json.JSONDecodeError, UnicodeDecodeError) as e:
    raise CheckpointError(f"{path}: corrupt ({e})") from e
  if not isinstance(info, dict) or not all(k in info for k in ("scale", "channels")):
    raise CheckpointError(f"{path}: not an ESPCN model description (needs 'scale' and 'channels')")
  if info.get("task", "espcn") != "espcn":
    raise CheckpointError(f"{workdir}: a checkpoint for task {info.get('task')!r}, not ESPCN")
  return info


def _latest_step(folder: pathlib.Path) -> int | None:
  if not folder.is_dir():
    return None
  steps = [int(p.name) for p in folder.iterdir() if p.is_dir() and p.name.isdigit()]
  return max(steps) if steps else None


def restore_params(folder: str | os.PathLike, step: int) -> dict:
  """The ``params`` of checkpoint ``folder/<step>`` as host float32 NumPy arrays.

  Works for the params-only ``best/`` checkpoints and the full train states in
  ``ckpt/`` alike (only ``params`` is read), whatever devices saved them: the
  restore target is the checkpoint's own metadata with NumPy as the restore
  type, so no device layout is involved.

  Raises:
    Any orbax error for a damaged folder (:func:`load_model` wraps them).
  """
  with ocp.CheckpointManager(pathlib.Path(folder),
                             item_handlers=ocp.PyTreeCheckpointHandler()) as mgr:
    metadata = mgr.item_metadata(step)
    if metadata is None:
      raise FileNotFoundError("no array metadata (incomplete or damaged)")
    tree = metadata.tree
    if "params" not in tree:
      raise KeyError("no 'params' in the checkpoint")
    item = {"params": jax.tree.map(lambda m: jax.ShapeDtypeStruct(m.shape, m.dtype),
                                   tree["params"])}
    restore_args = jax.tree.map(lambda _: ocp.RestoreArgs(restore_type=np.ndarray), item)
    restored = mgr.restore(step, args=ocp.args.PyTreeRestore(
        item=item, restore_args=restore_args, partial_restore=True))
  return jax.tree.map(lambda a: np.asarray(a, np.float32), restored["params"])


def load_model(workdir: str | os.PathLike, *, scale: int | None = None,
               channels: int | None = None, which: str = "best") -> tuple[dict, ModelInfo]:
  """Restore ``(params, info)`` from a training workdir.

  Args:
    workdir: the folder given to training.
    scale, channels: when given, the checkpoint must be for these.
    which: ``"best"`` (best validation PSNR; falls back to the latest) or
      ``"latest"``.

  Raises:
    CheckpointError: missing folder, no checkpoint, or a model for another
      scale/channel count.
  """
  workdir = pathlib.Path(workdir).resolve()
  if not workdir.is_dir():
    raise CheckpointError(f"{workdir}: no such checkpoint folder")
  info = read_model_info(workdir)
  if scale is not None and info["scale"] != scale:
    raise CheckpointError(f"{workdir}: checkpoint is for x{info['scale']}, not x{scale}")
  if channels is not None and info["channels"] != channels:
    raise CheckpointError(f"{workdir}: checkpoint is for {info['channels']}-channel images, "
                          f"not {channels}-channel")
  candidates = (["best", "ckpt"] if which == "best" else ["ckpt"])
  for sub in candidates:
    step = _latest_step(workdir / sub)
    if step is None:
      continue
    try:
      params = restore_params(workdir / sub, step)
    except Exception as e:  # orbax raises many types for damaged folders
      raise CheckpointError(f"{workdir / sub / str(step)}: unreadable checkpoint "
                            f"({type(e).__name__}: {str(e)[:200]})") from e
    return params, dict(info, step=step, source=sub)
  raise CheckpointError(f"{workdir}: holds no checkpoint yet (no {'/'.join(candidates)} steps)")
