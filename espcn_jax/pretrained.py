"""ESPCN weights shipped inside the package, each with a model card.

Files: ``espcn_jax/weights/espcn_x{scale}_{y|rgb}.npz`` (params, float32,
keys ``conv1/kernel`` ...) and ``.json`` beside it (the model card: model
spec, data, command, steps, wall time, machine, results).
:mod:`espcn_jax.model_card` writes them from a training workdir::

  python -m espcn_jax.model_card runs/espcn_x3 --recipe=espcn_jax/configs/x3.py
"""
from __future__ import annotations

import json
import os
import pathlib

import numpy as np

__all__ = ["load_pretrained", "available", "model_name", "WEIGHTS_DIR"]

WEIGHTS_DIR = pathlib.Path(__file__).parent / "weights"


def model_name(scale: int, channels: int) -> str:
  """File stem of a shipped model: ``espcn_x{scale}_y`` (channels 1) or ``espcn_x{scale}_rgb``."""
  return f"espcn_x{scale}_{'y' if channels == 1 else 'rgb'}"


def available(weights_dir: str | os.PathLike = WEIGHTS_DIR) -> list[str]:
  """Names of the shipped models, e.g. ``['espcn_x2_y', 'espcn_x3_rgb', ...]``."""
  return sorted(p.stem for p in pathlib.Path(weights_dir).glob("espcn_x*.npz"))


def load_pretrained(scale: int, channels: int = 1, *,
                    weights_dir: str | os.PathLike = WEIGHTS_DIR) -> tuple[dict, dict]:
  """Shipped ``(params, model_card)`` for ``scale`` and ``channels`` (1 = Y, 3 = RGB).

  Raises:
    ValueError: ``channels`` is not 1 or 3, or ``scale`` is not an integer >= 2.
    FileNotFoundError: no shipped model for that scale/channel count (the
      message lists those that exist).
  """
  if isinstance(channels, bool) or channels not in (1, 3):
    raise ValueError(f"channels must be 1 (Y) or 3 (RGB), got {channels!r}")
  if isinstance(scale, bool) or not isinstance(scale, (int, np.integer)) or scale < 2:
    raise ValueError(f"scale must be an integer >= 2, got {scale!r} "
                     f"(shipped: {', '.join(available(weights_dir)) or 'none'})")
  stem = model_name(scale, channels)
  weights_dir = pathlib.Path(weights_dir)
  path = weights_dir / f"{stem}.npz"
  if not path.is_file():
    raise FileNotFoundError(f"no shipped ESPCN weights for x{scale} with {channels} channel(s) "
                            f"(shipped: {', '.join(available(weights_dir)) or 'none'})")
  with np.load(path) as f:
    params: dict = {}
    for key in f.files:
      layer, name = key.split("/")
      params.setdefault(layer, {})[name] = f[key].astype(np.float32)
  card = json.loads((weights_dir / f"{stem}.json").read_text())
  return params, card
