"""ESPCN weights shipped inside the package, each with a model card.

Files: ``espcn_jax/weights/espcn_x{scale}_{y|rgb}.npz`` (params, float32,
keys ``conv1/kernel`` ...) and ``.json`` beside it (the model card: model
spec, data, command, steps, wall time, machine, results).

Export a training workdir's best checkpoint with::

  python -m espcn_jax.pretrained runs/espcn_x3 --note "..."
"""
from __future__ import annotations

import argparse
import json
import pathlib

import numpy as np

from espcn_jax import checkpoint

__all__ = ["load_pretrained", "available", "export", "WEIGHTS_DIR"]

WEIGHTS_DIR = pathlib.Path(__file__).parent / "weights"


def _stem(scale: int, channels: int) -> str:
  return f"espcn_x{scale}_{'y' if channels == 1 else 'rgb'}"


def available() -> list[str]:
  """Names of the shipped models, e.g. ``['espcn_x3_y']``."""
  return sorted(p.stem for p in WEIGHTS_DIR.glob("espcn_x*.npz"))


def load_pretrained(scale: int, channels: int = 1) -> tuple[dict, dict]:
  """Shipped ``(params, model_card)`` for ``scale`` and ``channels`` (1 = Y, 3 = RGB).

  Raises:
    FileNotFoundError: no shipped model for that scale/channel count (the
      message lists those that exist).
  """
  stem = _stem(scale, channels)
  path = WEIGHTS_DIR / f"{stem}.npz"
  if not path.is_file():
    raise FileNotFoundError(f"no shipped ESPCN weights for x{scale} with {channels} channel(s) "
                            f"(shipped: {', '.join(available()) or 'none'})")
  with np.load(path) as f:
    params: dict = {}
    for key in f.files:
      layer, name = key.split("/")
      params.setdefault(layer, {})[name] = f[key].astype(np.float32)
  card = json.loads((WEIGHTS_DIR / f"{stem}.json").read_text())
  return params, card


def export(workdir: str, *, note: str = "", extra: dict | None = None,
           out_dir: pathlib.Path = WEIGHTS_DIR) -> pathlib.Path:
  """Write a workdir's best params and its model card into ``out_dir``."""
  params, info = checkpoint.load_model(workdir)
  stem = _stem(info["scale"], info["channels"])
  out_dir.mkdir(parents=True, exist_ok=True)
  flat = {f"{layer}/{name}": np.asarray(v, np.float32)
          for layer, sub in params.items() for name, v in sub.items()}
  np.savez(out_dir / f"{stem}.npz", **flat)
  card = {k: v for k, v in info.items() if k not in ("source",)}
  card.update(note=note, **(extra or {}))
  (out_dir / f"{stem}.json").write_text(json.dumps(card, indent=2) + "\n")
  return out_dir / f"{stem}.npz"


def _main() -> None:
  parser = argparse.ArgumentParser(description="Export a training workdir's best params as shipped weights.")
  parser.add_argument("workdir")
  parser.add_argument("--note", default="")
  parser.add_argument("--card", default=None, help="JSON file merged into the model card")
  args = parser.parse_args()
  extra = json.loads(pathlib.Path(args.card).read_text()) if args.card else None
  print(export(args.workdir, note=args.note, extra=extra))


if __name__ == "__main__":
  _main()
