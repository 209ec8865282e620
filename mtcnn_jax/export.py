"""Ship a cascade trained by ``train.py mtcnn`` inside the package, with its model card.

The shipped folder ``mtcnn_jax/weights/<name>/`` holds ``pnet.npz``,
``rnet.npz`` and ``onet.npz`` (loadable by path, and by name once registered:
see :func:`export`), ``<stage>.metrics.jsonl`` (each stage's
training log) and ``model_card.json``: the training card that
:func:`mtcnn_jax.train.train_cascade` wrote (data, command, per-stage samples,
steps and times, machine, config) plus ``results``, copied from an
``evaluate.py mtcnn`` report that scored this cascade beside others::

  python evaluate.py mtcnn --data=../shared/data/faces/wider_val_dev/annotations.json \\
      --detectors=mtcnn,mtcnn:runs/mtcnn/params,haar_alt2,haar_alt,haar_default,haar_profile,haar_alt_tree \\
      --landmarks=../shared/data/faces/landmarks_sun2013_net7876 --out=reports/wider.json
  python -m mtcnn_jax.export runs/mtcnn --report=reports/wider.json --name=wider600

The card's figures are tested against a fresh evaluation
(``tests/mtcnn_jax/test_export.py``), so they cannot drift from the weights.
"""
from __future__ import annotations

import argparse
import json
import os
import pathlib
import re
import shutil
import sys

from espcn_mtcnn_common.atomic_write import write_json_atomic
from mtcnn_jax import params as params_lib

__all__ = ["export", "RESULT_KEYS"]

# Per-detector figures copied from the report into the card.
RESULT_KEYS = ("ap", "ap@0.4", "recall", "precision", "num_det", "tp", "fp", "median_ms",
               "landmark_nme", "landmark_nme_median", "landmark_failure_rate",
               "landmark_detected", "landmark_faces")


def _figures(entry: dict) -> dict:
  return {k: entry[k] for k in RESULT_KEYS if k in entry}


def export(workdir: str | os.PathLike, *, report: str | os.PathLike, name: str,
           evaluation_command: str, command: str | None = None,
           weights_dir: str | os.PathLike = params_lib.WEIGHTS_DIR) -> pathlib.Path:
  """Copy ``<workdir>/params`` to ``<weights_dir>/<name>/`` and complete its card.

  Args:
    workdir: a ``train.py mtcnn`` workdir whose whole cascade is trained.
    report: an ``evaluate.py mtcnn`` JSON report that scored
      ``mtcnn:<workdir>/params`` (the cascade's own figures) and others
      (kept under ``results.for_comparison``).
    name: folder name under ``weights_dir``. To load it by name
      (``load_params("<name>")``, detector ``mtcnn_<name>``, ``--weights=<name>``)
      add it to :data:`mtcnn_jax.params.SELF_TRAINED` (the detector ids and
      ``--weights`` derive from it); any folder also loads by path.
    evaluation_command: the command that made ``report`` (recorded in the card).
    command: replaces the card's training command (for cards written before
      ``train.py`` recorded flag overrides).
    weights_dir: where shipped weights live.

  Returns:
    The shipped folder.

  Raises:
    FileNotFoundError: params, card or report missing.
    ValueError: the report does not hold this cascade.
  """
  if not re.fullmatch(r"[a-z0-9][a-z0-9_]*", name) or name == "published":
    raise ValueError(f"name must be lower-case letters, digits and '_' (not 'published'), "
                     f"got {name!r}")
  workdir = pathlib.Path(workdir)
  source = workdir / "params"
  params_lib.load_params(source)                       # all three nets present, shapes right
  card = json.loads((source / "model_card.json").read_text())
  scored = json.loads(pathlib.Path(report).read_text())
  detectors = scored["detectors"]
  ours = [k for k in detectors if k.startswith("mtcnn:")
          and pathlib.Path(k.split(":", 1)[1]).resolve() == source.resolve()]
  if not ours:
    raise ValueError(f"{report} has no detector 'mtcnn:{source}' (it has {', '.join(detectors)})")
  detector = f"mtcnn_{name}"
  card["name"] = f"mtcnn_jax self-trained cascade '{name}' (detector {detector})"
  if command:
    card["command"] = command
  card["results"] = {
      "data": scored["data"], "num_images": scored["num_images"],
      "min_face": scored["min_face"], "protocol": scored["protocol"],
      "command": evaluation_command,
      detector: _figures(detectors[ours[0]]),
      "for_comparison": {k: _figures(v) for k, v in detectors.items() if k != ours[0]},
  }
  out = pathlib.Path(weights_dir) / name
  out.mkdir(parents=True, exist_ok=True)
  for net in params_lib.NET_NAMES:
    shutil.copyfile(source / f"{net}.npz", out / f"{net}.npz")
    log = workdir / net / "metrics.jsonl"
    if log.is_file():
      shutil.copyfile(log, out / f"{net}.metrics.jsonl")
  write_json_atomic(out / "model_card.json", card, indent=2)
  params_lib.load_params.cache_clear()
  return out


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(
      description="Ship a trained MTCNN cascade in mtcnn_jax/weights/NAME with a model card "
                  "holding an evaluate.py mtcnn report's figures.",
      formatter_class=argparse.ArgumentDefaultsHelpFormatter)
  parser.add_argument("workdir", help="train.py mtcnn workdir (its params/ are shipped)")
  parser.add_argument("--report", required=True,
                      help="evaluate.py mtcnn JSON report that scored mtcnn:WORKDIR/params")
  parser.add_argument("--name", default="wider600", help="folder under mtcnn_jax/weights")
  parser.add_argument("--evaluation-command", default="",
                      help="the command that made --report (recorded in the card)")
  parser.add_argument("--command", default=None,
                      help="replace the card's training command (e.g. add flag overrides)")
  args = parser.parse_args(argv)
  try:
    out = export(args.workdir, report=args.report, name=args.name,
                 evaluation_command=args.evaluation_command, command=args.command)
  except (FileNotFoundError, ValueError, KeyError) as e:
    print(f"error: {e}", file=sys.stderr)
    return 2
  print(f"shipped {out}")
  return 0


if __name__ == "__main__":
  sys.exit(main())
