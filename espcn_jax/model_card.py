"""Model cards and the export of a trained workdir as shipped weights.

``python -m espcn_jax.model_card WORKDIR --recipe=CONFIG`` writes a
workdir's best params into ``espcn_jax/weights/`` (loaded by
:mod:`espcn_jax.pretrained`; ``--out-dir`` for another folder) with its model
card (model spec, recipe, data, command, steps, wall time, machine, results on
the evaluation sets) and its training log. The workdir may have been trained
on any number of devices::

  python -m espcn_jax.model_card runs/espcn_x3 --recipe=espcn_jax/configs/x3.py
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import pathlib
import shutil
from typing import Sequence

import jax
import numpy as np

from espcn_jax import checkpoint, data, evaluate, pretrained
from espcn_mtcnn_common.atomic_write import atomic_path, write_json_atomic

__all__ = ["training_wall_time", "model_card", "export", "MACHINE"]

# What LR images each training degradation prepares a model for (the card's "expected_input").
EXPECTED_INPUT = {
    "bicubic": "LR made by MATLAB-style antialiased bicubic downscaling (imresize), as in the "
               "literature; on LR from cv2.resize INTER_CUBIC (no antialiasing) see the "
               "*_opencv results",
    "gaussian": "LR made by a 7x7 Gaussian blur (sigma 1.6) and subsampling",
    "opencv": "LR made by cv2.resize INTER_CUBIC (no antialiasing)",
    "bicubic+opencv": "LR made either by MATLAB-style bicubic imresize or by cv2.resize "
                      "INTER_CUBIC (trained on both)",
}
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


def _load_recipe(recipe: str | os.PathLike):
  """``get_config()`` of a config file (the recipe a workdir was trained with)."""
  spec = importlib.util.spec_from_file_location("recipe", recipe)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module.get_config()


def _results(model: evaluate.ModelSpec, scale: int, eval_sets: Sequence[str]) -> dict:
  """Mean PSNR/SSIM of ``model`` and of bicubic on each folder (Y; RGB models also in RGB),
  and on Y with LR from ``cv2.resize`` INTER_CUBIC (key suffix ``_opencv``): a degradation
  the model was not trained for, which users often feed it.

  Keys: the folder name, with ``_rgb`` or ``_opencv`` appended.
  """
  results: dict = {}
  runs = [("y", "bicubic", "")] + ([("rgb", "bicubic", "_rgb")] if model.channels == 3 else [])
  runs.append(("y", "opencv", "_opencv"))
  for folder in eval_sets:
    for space, degradation, suffix in runs:
      r = evaluate.evaluate(folder, scale, model, eval_space=space, degradation=degradation,
                            progress=False)
      results[pathlib.Path(folder).name + suffix] = {
          "psnr": round(r["mean"]["psnr"], 3), "ssim": round(r["mean"]["ssim"], 4),
          "bicubic_psnr": round(r["bicubic_mean"]["psnr"], 3),
          "bicubic_ssim": round(r["bicubic_mean"]["ssim"], 4), "protocol": r["protocol"]}
  return results


def _validation(config) -> dict:
  """The card's record of the validation split and of how the exported step was chosen."""
  selection = (f"the exported step has the best mean validation PSNR of the steps validated "
               f"(every {config.eval_every}) on these images; no evaluation set was read")
  count = data.holdout_count(config.val_data)
  if count is None:
    return {"validation_data": config.val_data, "checkpoint_selection": selection}
  return {"validation_data": (f"{config.val_data}: {count} images of the training pool held out "
                              "and never trained on (espcn_jax.data.holdout_keys)"),
          "validation_images": data.holdout_keys(data.pool_keys(config.train_data), count),
          "checkpoint_selection": selection}


def _warm_start_record(init_from: str) -> dict:
  """What a warm start came from; for a shipped-format ``.npz``, the facts of its card."""
  if not init_from:
    return {"init_from": None}
  record = {"init_from": init_from}
  card_path = pathlib.Path(init_from).with_suffix(".json")
  if init_from.endswith(".npz") and card_path.is_file():
    card = json.loads(card_path.read_text())
    record["init_from_card"] = {k: card.get(k) for k in (
        "name", "train_data", "steps", "exported_step", "validation_data", "init_from")}
  return record


def model_card(workdir: str | os.PathLike, params: dict, info: dict, *, recipe: str,
               eval_sets: Sequence[str]) -> dict:
  """The model card of a trained workdir: spec, recipe, data, time, and results.

  ``recipe`` is the config file the workdir was trained with (its fields are
  recorded); every folder in ``eval_sets`` is evaluated with the exported
  params under the literature's protocol (Y; RGB models also in RGB).
  """
  config = _load_recipe(recipe)
  name = pretrained.model_name(info["scale"], info["channels"])
  results = _results(evaluate.ModelSpec(name, params, info), info["scale"], eval_sets)
  card = {k: v for k, v in info.items() if k not in ("source",)}
  card.update(
      name=name,
      recipe=recipe,
      command=f"python train.py espcn --config={recipe} --workdir={pathlib.Path(workdir).as_posix()}",
      train_data=config.train_data,
      **({"extra_train_data": config.extra_train_data} if config.get("extra_train_data") else {}),
      scale_augment=list(config.scale_augment),
      augmentation="8 flips/90-degree rotations per patch",
      expected_input=EXPECTED_INPUT[config.degradation],
      **_warm_start_record(config.init_from),
      **_validation(config),
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
           note: str = "", out_dir: pathlib.Path = pretrained.WEIGHTS_DIR) -> pathlib.Path:
  """Write a workdir's best params, model card and training log into ``out_dir``.

  Files: ``espcn_x{r}_{y|rgb}.npz`` (float32 params), ``.json`` (the card,
  :func:`model_card`) and ``.metrics.jsonl`` (the workdir's training log).
  """
  params, info = checkpoint.load_model(workdir)
  stem = pretrained.model_name(info["scale"], info["channels"])
  out_dir.mkdir(parents=True, exist_ok=True)
  flat = {f"{layer}/{name}": np.asarray(v, np.float32)
          for layer, sub in params.items() for name, v in sub.items()}
  with atomic_path(out_dir / f"{stem}.npz") as tmp:
    np.savez(tmp, **flat)
  card = model_card(workdir, params, info, recipe=recipe, eval_sets=eval_sets)
  if note:
    card["note"] = note
  write_json_atomic(out_dir / f"{stem}.json", card, indent=2)
  # The training curve travels with the weights (docs/make_espcn_figure.py plots it).
  with atomic_path(out_dir / f"{stem}.metrics.jsonl") as tmp:
    shutil.copyfile(pathlib.Path(workdir) / "metrics.jsonl", tmp)
  return out_dir / f"{stem}.npz"


def _main(argv: Sequence[str] | None = None) -> None:
  parser = argparse.ArgumentParser(
      description="Export a training workdir's best params as shipped weights with a model card.")
  parser.add_argument("workdir")
  parser.add_argument("--recipe", required=True, help="the config file the workdir was trained with")
  parser.add_argument("--eval", default="../shared/data/sr/Set5,../shared/data/sr/Set14",
                      help="comma-separated HR folders evaluated into the card")
  parser.add_argument("--note", default="")
  parser.add_argument("--out-dir", type=pathlib.Path, default=pretrained.WEIGHTS_DIR,
                      help="where the weights, card and log go (default: the shipped weights' "
                           "folder, espcn_jax/weights)")
  args = parser.parse_args(argv)
  print(export(args.workdir, recipe=args.recipe, eval_sets=[e for e in args.eval.split(",") if e],
               note=args.note, out_dir=args.out_dir))


if __name__ == "__main__":
  _main()
