"""ESPCN weights shipped inside the package, each with a model card.

Files: ``espcn_jax/weights/espcn_x{scale}_{y|rgb}.npz`` (params, float32,
keys ``conv1/kernel`` ...) and ``.json`` beside it (the model card: model
spec, data, command, steps, wall time, machine, results).

Export a training workdir's best checkpoint with::

  python -m espcn_jax.pretrained runs/espcn_x3 --recipe=espcn_jax/configs/x3.py
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import pathlib
import shutil
from typing import Sequence

import numpy as np

from espcn_jax import checkpoint

__all__ = ["load_pretrained", "available", "export", "WEIGHTS_DIR"]

WEIGHTS_DIR = pathlib.Path(__file__).parent / "weights"


def _stem(scale: int, channels: int) -> str:
  return f"espcn_x{scale}_{'y' if channels == 1 else 'rgb'}"


def available(weights_dir: str | os.PathLike = WEIGHTS_DIR) -> list[str]:
  """Names of the shipped models, e.g. ``['espcn_x2_y', 'espcn_x3_rgb', ...]``."""
  return sorted(p.stem for p in pathlib.Path(weights_dir).glob("espcn_x*.npz"))


def load_pretrained(scale: int, channels: int = 1, *,
                    weights_dir: str | os.PathLike = WEIGHTS_DIR) -> tuple[dict, dict]:
  """Shipped ``(params, model_card)`` for ``scale`` and ``channels`` (1 = Y, 3 = RGB).

  Raises:
    FileNotFoundError: no shipped model for that scale/channel count (the
      message lists those that exist).
  """
  stem = _stem(scale, channels)
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


MACHINE = "2-core x86-64 CPU (AVX-512), 24 GiB, JAX {jax} on CPU, no GPU"


def training_wall_time(workdir: str | os.PathLike) -> float:
  """Seconds of training in ``workdir/metrics.jsonl`` (steps / measured steps-per-second).

  Sums every logged interval, so time spent loading data and compiling before
  the first step is excluded, and a resumed run counts only its steps.
  """
  path = pathlib.Path(workdir) / "metrics.jsonl"
  total, last_step = 0.0, 0
  for line in path.read_text().splitlines():
    record = json.loads(line)
    total += (record["step"] - last_step) / max(record["steps_per_sec"], 1e-9)
    last_step = record["step"]
  return total


def model_card(workdir: str | os.PathLike, params: dict, info: dict, *, recipe: str,
               eval_sets: Sequence[str]) -> dict:
  """The model card of a trained workdir: spec, recipe, data, time, and results.

  ``recipe`` is the config file the workdir was trained with (its fields are
  recorded); every folder in ``eval_sets`` is evaluated with the exported
  params under the literature's protocol (Y; RGB models also in RGB).
  """
  import jax  # pylint: disable=import-outside-toplevel
  from espcn_jax import evaluate  # pylint: disable=import-outside-toplevel

  spec = importlib.util.spec_from_file_location("recipe", recipe)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  config = module.get_config()
  name = _stem(info["scale"], info["channels"])
  model = evaluate.ModelSpec(name, params, info)
  results: dict = {}
  spaces = ("y", "rgb") if info["channels"] == 3 else ("y",)
  for folder in eval_sets:
    for space in spaces:
      r = evaluate.evaluate(folder, info["scale"], model, eval_space=space, progress=False)
      key = pathlib.Path(folder).name + ("" if space == "y" else "_rgb")
      results[key] = {"psnr": round(r["mean"]["psnr"], 3), "ssim": round(r["mean"]["ssim"], 4),
                      "bicubic_psnr": round(r["bicubic_mean"]["psnr"], 3),
                      "bicubic_ssim": round(r["bicubic_mean"]["ssim"], 4),
                      "protocol": r["protocol"]}
  card = {k: v for k, v in info.items() if k not in ("source",)}
  card.update(
      name=name,
      recipe=recipe,
      command=f"python train.py espcn --config={recipe} --workdir={pathlib.Path(workdir).as_posix()}",
      train_data=config.train_data,
      scale_augment=list(config.scale_augment),
      augmentation="8 flips/90-degree rotations per patch",
      init_from=config.init_from or None,
      validation_data=f"{config.val_data} (best-checkpoint selection)",
      patch_size_lr=config.patch_size,
      batch_size=config.batch_size,
      steps=config.num_steps,
      exported_step=info["step"],
      optimiser=(f"Adam lr {config.learning_rate:g} {config.schedule} to "
                 f"{config.final_lr_fraction:g}x, last layer x{config.last_layer_lr_scale:g}, "
                 f"loss {config.loss}"),
      wall_time_s=round(training_wall_time(workdir)),
      machine=MACHINE.format(jax=jax.__version__),
      results=results,
      reproduce_results=(f"python evaluate.py espcn --data=../shared/data/sr/Set5 --scale={info['scale']} "
                         f"--model=pretrained" + (" --channels=3" if info["channels"] == 3 else "")),
  )
  return card


def export(workdir: str, *, recipe: str, eval_sets: Sequence[str] = (),
           note: str = "", out_dir: pathlib.Path = WEIGHTS_DIR) -> pathlib.Path:
  """Write a workdir's best params, model card and training log into ``out_dir``.

  Files: ``espcn_x{r}_{y|rgb}.npz`` (float32 params), ``.json`` (the card,
  :func:`model_card`) and ``.metrics.jsonl`` (the workdir's training log).
  """
  params, info = checkpoint.load_model(workdir)
  stem = _stem(info["scale"], info["channels"])
  out_dir.mkdir(parents=True, exist_ok=True)
  flat = {f"{layer}/{name}": np.asarray(v, np.float32)
          for layer, sub in params.items() for name, v in sub.items()}
  np.savez(out_dir / f"{stem}.npz", **flat)
  card = model_card(workdir, params, info, recipe=recipe, eval_sets=eval_sets)
  if note:
    card["note"] = note
  (out_dir / f"{stem}.json").write_text(json.dumps(card, indent=2) + "\n")
  # The training curve travels with the weights (docs/make_espcn_figure.py plots it).
  shutil.copyfile(pathlib.Path(workdir) / "metrics.jsonl", out_dir / f"{stem}.metrics.jsonl")
  return out_dir / f"{stem}.npz"


def _main() -> None:
  parser = argparse.ArgumentParser(
      description="Export a training workdir's best params as shipped weights with a model card.")
  parser.add_argument("workdir")
  parser.add_argument("--recipe", required=True, help="the config file the workdir was trained with")
  parser.add_argument("--eval", default="../shared/data/sr/Set5,../shared/data/sr/Set14",
                      help="comma-separated HR folders evaluated into the card")
  parser.add_argument("--note", default="")
  args = parser.parse_args()
  print(export(args.workdir, recipe=args.recipe, eval_sets=[e for e in args.eval.split(",") if e],
               note=args.note))


if __name__ == "__main__":
  _main()
