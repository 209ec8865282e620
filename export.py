"""Export this project's models for deployment: ``python export.py TASK [flags]``.

Tasks:
  espcn   ESPCN super-resolution: ONNX (NCHW, dynamic batch/height/width) or a
          serialised JAX program (jax.export, symbolic batch/height/width).
  mtcnn   MTCNN: P-, R- and O-Net as ONNX (NCHW) or JAX programs, and (JAX)
          the whole cascade for a canvas size.

Each artefact gets a model card beside it (``<file>.json``): what the input
must be (colour, value range, normalisation, layout), the outputs, the opset or
platforms, the shipped protocol figures, the command, and the largest
difference from the JAX model measured after export. Examples::

  python export.py espcn --format=onnx --model=pretrained --scale=3 --out=exported/
  python export.py espcn --format=jax --model=all --out=exported/
  python export.py mtcnn --format=onnx --weights=published --out=exported/
  python export.py mtcnn --format=jax --weights=wider600 --canvas=480x640 --out=exported/

Needs the export extra: pip install -e ".[export]". Details: docs/deploy.md.
"""
from __future__ import annotations

import argparse
import json
import pathlib
import shlex
import sys

from espcn_jax import evaluate as espcn_eval
from espcn_jax import pretrained
from espcn_jax.checkpoint import CheckpointError
from espcn_jax.deploy import export_model
from espcn_mtcnn_common import compile_cache, deploy_files
from espcn_mtcnn_common.cli_helpers import parse_task_args
from espcn_mtcnn_common.output_checks import check_writable_folder
from mtcnn_jax import deploy as mtcnn_deploy
from mtcnn_jax.params import SELF_TRAINED, load_params

PLATFORMS = ("cpu", "cuda", "rocm", "tpu")
DEFAULT_CANVAS = "480x640"


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
  """Shows defaults, except None and False (whose help says what happens)."""

  def _get_help_string(self, action):
    if action.default in (None, False):
      return action.help
    return super()._get_help_string(action)


def _common_arguments(p: argparse.ArgumentParser) -> None:
  p.add_argument("--format", choices=deploy_files.FORMATS, default="onnx",
                 help="'onnx' (onnxruntime, OpenCV dnn, ...) or 'jax' (jax.export: StableHLO, "
                      "loadable with JAX alone)")
  p.add_argument("--out", default="exported", help="output folder (created)")
  p.add_argument("--platforms", default="cpu",
                 help="with --format=jax: comma-separated lowering platforms among "
                      f"{', '.join(PLATFORMS)} (one artefact serves them all)")
  p.add_argument("--no-verify", action="store_true",
                 help="skip running each artefact against the JAX model after export "
                      "(onnxruntime and OpenCV for ONNX, the deserialised program for JAX)")
  compile_cache.add_argument(p)


def _espcn_parser(sub) -> None:
  p = sub.add_parser(
      "espcn", help="export ESPCN", formatter_class=_HelpFormatter,
      description="Export an ESPCN network (weights included) for any image size. ONNX: input "
                  "'lr' float32 NCHW [batch, C, height, width] in [0, 1] -> 'sr' [batch, C, "
                  "r*height, r*width], not clipped. JAX: NHWC [b, h, w, C] -> [b, r*h, r*w, C].")
  p.add_argument("--model", default="pretrained",
                 help="'pretrained' (the shipped model for --scale and --channels), 'all' (every "
                      "shipped model), or a training workdir")
  p.add_argument("--scale", type=int, choices=(2, 3, 4, 5, 6, 8), default=None,
                 help="upscaling factor (default 3; a workdir's own scale)")
  p.add_argument("--channels", type=int, choices=(1, 3), default=None,
                 help="the Y model (1, default) or the RGB model (3)")
  p.add_argument("--checkpoint", choices=("best", "latest"), default="best",
                 help="with a workdir: the best validation checkpoint, or the last")
  _common_arguments(p)


def _mtcnn_parser(sub) -> None:
  p = sub.add_parser(
      "mtcnn", help="export MTCNN", formatter_class=_HelpFormatter,
      description="Export P-, R- and O-Net (and, with --format=jax, the whole cascade for each "
                  "--canvas). Every artefact takes RGB float32 in [0, 255] and normalises "
                  "inside. ONNX: NCHW; P-Net dynamic batch/height/width, R-/O-Net dynamic batch.")
  p.add_argument("--weights", default="published",
                 help=f"'published', a shipped self-trained set ({', '.join(SELF_TRAINED)}), or a "
                      "folder holding pnet.npz, rnet.npz and onet.npz")
  p.add_argument("--canvas", default=None,
                 help="with --format=jax: comma-separated HEIGHTxWIDTH canvases for the cascade "
                      "(images up to that size; mtcnn_jax.detect rounds sides up to 128), or "
                      f"'none' for the nets alone (default: {DEFAULT_CANVAS})")
  _common_arguments(p)


def _platforms(text: str) -> tuple[str, ...]:
  platforms = tuple(p.strip() for p in text.split(",") if p.strip())
  unknown = [p for p in platforms if p not in PLATFORMS]
  if not platforms or unknown:
    raise ValueError(f"--platforms must be among {', '.join(PLATFORMS)}, got {text!r}")
  return platforms


def _check_settings(args) -> tuple[pathlib.Path, tuple[str, ...]]:
  """The output folder (checked, created) and platforms; the extra's packages present."""
  platforms = _platforms(args.platforms)
  if args.format != "jax" and args.platforms != "cpu":
    raise ValueError("--platforms applies to --format=jax only")
  needs = (["onnx"] + ([] if args.no_verify else ["onnxruntime"]) if args.format == "onnx"
           else ["flatbuffers"])
  for module in needs:
    deploy_files.require_optional(module)
  return check_writable_folder(args.out, "--out folder", create=True), platforms


def _espcn_models(args) -> list[tuple[str, dict, dict, str]]:
  """``(file stem, params, info, source)`` for each model ``--model`` names."""
  if args.model == "all":
    if args.scale is not None or args.channels is not None:
      raise ValueError("--model=all exports every shipped model; drop --scale and --channels")
    found = []
    for stem in pretrained.available():
      scale, kind = stem.split("_")[1:3]
      params, card = pretrained.load_pretrained(int(scale[1:]), 3 if kind == "rgb" else 1)
      found.append((stem, params, card, f"espcn_jax/weights/{stem}.npz"))
    return found
  if args.model == "bicubic":
    raise ValueError("--model=bicubic has no network to export; use 'pretrained', 'all' or a "
                     "training workdir")
  if args.model == "pretrained":
    scale, channels = args.scale or 3, args.channels or 1
    params, card = pretrained.load_pretrained(scale, channels)
    stem = pretrained.model_name(scale, channels)
    return [(stem, params, card, f"espcn_jax/weights/{stem}.npz")]
  spec = espcn_eval.resolve_model(args.model, args.scale, which=args.checkpoint,
                                  channels=args.channels)
  info = {**spec.info, **spec.settings}
  kind = "y" if info["channels"] == 1 else "rgb"
  stem = f"espcn_{pathlib.Path(args.model).resolve().name}_x{info['scale']}_{kind}"
  return [(stem, spec.params, info, f"{args.model} ({args.checkpoint} checkpoint)")]


def _report(path: pathlib.Path) -> None:
  """One line per artefact: its path and the verification figures of its card."""
  card = json.loads(deploy_files.card_path(path).read_text())
  checked = card.get("verification")
  detail = (", ".join(f"{k} {v:.2g}" if isinstance(v, float) else f"{k} {v}"
                      for k, v in checked.items()) if checked else "not verified")
  print(f"{path}  (max |diff| from JAX: {detail})")


def _run_espcn(args, command: str) -> int:
  try:
    out, platforms = _check_settings(args)
    models = _espcn_models(args)
    for stem, params, info, source in models:
      path = export_model(params, info, fmt=args.format, out_dir=out, name=stem,
                          command=command, verify=not args.no_verify, platforms=platforms,
                          source=source)
      _report(path)
  except (CheckpointError, ValueError, FileNotFoundError, ImportError) as e:
    print(f"error: {e}", file=sys.stderr)
    return 2
  return 0


def _canvases(args) -> list[tuple[int, int]]:
  """The cascade canvases ``--canvas`` names (``--format=jax`` only)."""
  if args.format != "jax":
    if args.canvas is not None:
      raise ValueError("--canvas applies to --format=jax only (ONNX exports the nets alone)")
    return []
  text = args.canvas or DEFAULT_CANVAS
  if text.strip().lower() == "none":
    return []
  return [mtcnn_deploy.parse_canvas(part) for part in text.split(",") if part.strip()]


def _run_mtcnn(args, command: str) -> int:
  try:
    out, platforms = _check_settings(args)
    canvases = _canvases(args)
    params = load_params(args.weights)
    paths = mtcnn_deploy.export_nets(params, fmt=args.format, out_dir=out, weights=args.weights,
                                     command=command, verify=not args.no_verify,
                                     platforms=platforms)
    for path in paths:
      _report(path)
    for canvas in canvases:
      _report(mtcnn_deploy.export_cascade(params, canvas, out_dir=out, weights=args.weights,
                                          command=command, verify=not args.no_verify,
                                          platforms=platforms))
  except (ValueError, FileNotFoundError, ImportError) as e:
    print(f"error: {e}", file=sys.stderr)
    return 2
  return 0


_TASKS = {"espcn": (_espcn_parser, _run_espcn), "mtcnn": (_mtcnn_parser, _run_mtcnn)}


def main(argv=None) -> int:
  argv = sys.argv[1:] if argv is None else list(argv)
  args = parse_task_args(__doc__, [make for make, _ in _TASKS.values()], argv)
  return _TASKS[args.task][1](args, "python export.py " + shlex.join(argv))


if __name__ == "__main__":
  sys.exit(main())
