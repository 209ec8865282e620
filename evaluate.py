"""Evaluate this project's models from the shell: ``python evaluate.py TASK [flags]``.

Tasks:
  espcn   super-resolution: PSNR / SSIM / cosine similarity against bicubic,
          a table on stdout, a JSON report and figures.
  mtcnn   face detection on an annotations JSON: AP (WIDER-style), recall,
          precision, timing; detections saved in the reference format.

Run ``python evaluate.py espcn --help`` for the flags. With no flags it
evaluates the shipped x3 model (bicubic if none is shipped) on the embedded
sample photos: no downloads and no ../shared needed.
"""
from __future__ import annotations

import argparse
import pathlib
import sys
import warnings

from espcn_jax import evaluate as ev
from espcn_jax.checkpoint import CheckpointError
from espcn_mtcnn_common import compile_cache
from espcn_mtcnn_common.cli_helpers import parse_task_args
from espcn_mtcnn_common.image_io import ImageError
from espcn_mtcnn_common.output_checks import check_writable_folder
from mtcnn_jax import run_eval


def _espcn_parser(sub) -> None:
  p = sub.add_parser(
      "espcn", help="ESPCN super-resolution evaluation",
      description="Per-image and mean PSNR / SSIM / cosine similarity of a model and of the "
                  "bicubic baseline under the literature's protocol (MATLAB bicubic LR rounded "
                  "to 8 bits; Y channel BT.601; border = scale).",
      formatter_class=argparse.ArgumentDefaultsHelpFormatter)
  p.add_argument("--data", default="samples",
                 help="HR images: a folder, comma-separated folders, 'tfds:NAME[:SPLIT]' "
                      "(a prepared TFDS dataset; TFDS_DATA_DIR is honoured), or 'samples' "
                      "(embedded photos)")
  p.add_argument("--scale", type=int, default=3, choices=(2, 3, 4, 5, 6, 8),
                 help="upscaling factor")
  p.add_argument("--model", default="auto",
                 help="'bicubic', 'pretrained' (weights shipped in the package), 'auto' (shipped "
                      "weights for --scale if there are any, else bicubic) or a training workdir")
  p.add_argument("--channels", type=int, choices=(1, 3), default=None,
                 help="with 'pretrained'/'auto': the Y model (1, default) or the RGB model (3); "
                      "with a workdir: checked against the checkpoint")
  p.add_argument("--checkpoint", choices=("best", "latest"), default="best",
                 help="with a workdir: the checkpoint with the best validation PSNR, or the last")
  p.add_argument("--eval-space", choices=("y", "rgb"), default="y",
                 help="compare on BT.601 Y (the literature) or RGB (RGB models only)")
  p.add_argument("--degradation", choices=("bicubic", "gaussian", "opencv"), default="bicubic",
                 help="how LR images are made from HR: MATLAB bicubic (the literature's), 7x7 "
                      "Gaussian blur + subsampling, or cv2.resize INTER_CUBIC (no antialiasing)")
  p.add_argument("--self-ensemble", action="store_true",
                 help="average the outputs for the 8 flips/rotations of each LR image "
                      "('ESPCN+': 8x the compute; reported as its own row, model name + '+')")
  p.add_argument("--out", default="reports/espcn_eval.json", help="JSON report path")
  p.add_argument("--figures", default=None,
                 help="folder for PNG figures (default: beside --out, '<out stem>_figures'); "
                      "'none' to skip")
  p.add_argument("--save-images", default=None, metavar="DIR",
                 help="write each output as DIR/<input name>.png")
  p.add_argument("--no-progress", action="store_true", help="no progress bar")
  compile_cache.add_argument(p)


def _espcn_model(args) -> ev.ModelSpec:
  """The model ``--model`` names; ``auto``: the shipped weights for the scale, else bicubic."""
  if args.model != "auto":
    return ev.resolve_model(args.model, args.scale, which=args.checkpoint, channels=args.channels)
  try:
    return ev.resolve_model("pretrained", args.scale, channels=args.channels)
  except FileNotFoundError as e:
    warnings.warn(f"{e}; evaluating bicubic instead")
    return ev.resolve_model("bicubic", args.scale)


def _check_espcn_outputs(args, figures: pathlib.Path | None) -> None:
  """``--out``, ``--figures`` and ``--save-images`` must be writable folders (ValueError)."""
  if pathlib.Path(args.out).is_dir():
    raise ValueError(f"--out {args.out} is a folder; give a JSON file path")
  check_writable_folder(pathlib.Path(args.out).parent, "--out folder")
  for folder, what in ((figures, "--figures folder"), (args.save_images, "--save-images folder")):
    if folder is not None:
      check_writable_folder(folder, what)


def _run_espcn(args) -> int:
  try:
    figures = None if args.figures == "none" else pathlib.Path(
        args.figures or pathlib.Path(args.out).with_suffix("").as_posix() + "_figures")
    _check_espcn_outputs(args, figures)   # before the model and the work
    model = _espcn_model(args)
    result = ev.evaluate(args.data, args.scale, model, eval_space=args.eval_space,
                         degradation=args.degradation, self_ensemble=args.self_ensemble,
                         save_images=args.save_images,
                         progress=not args.no_progress, keep_outputs=figures is not None)
  except (ImageError, CheckpointError, ValueError, FileNotFoundError) as e:
    print(f"error: {e}", file=sys.stderr)
    return 2
  print(ev.format_table(result))
  ev.save_json(result, args.out)
  print(f"\nreport: {args.out}")
  if figures is not None:
    log = pathlib.Path(model.workdir) / "metrics.jsonl" if model.workdir else None
    paths = ev.write_figures(result, figures, metrics_log=log)
    print(f"figures: {figures}/ ({len(paths)} PNG files)")
  return 0


def _mtcnn_parser(sub) -> None:
  p = sub.add_parser(
      "mtcnn", help="face detection evaluation",
      description="Run face detectors over an annotated image set and score them WIDER-style "
                  "(IoU matching, ignore regions neither TP nor FP, all-point AP).",
      formatter_class=argparse.ArgumentDefaultsHelpFormatter)
  p.add_argument("--data", default="samples",
                 help="annotations JSON (the ../shared/data/faces/*/annotations.json format), a "
                      "folder holding annotations.json (image paths relative to it), 'samples' "
                      "(embedded photos with hand-checked boxes), or 'tfds:wider_face[:SPLIT]' "
                      "(a prepared TFDS dataset; validation split by default)")
  p.add_argument("--detectors", default="mtcnn,haar_default,haar_alt,haar_alt2,haar_alt_tree,"
                 "haar_profile",
                 help="comma-separated ids: mtcnn, haar_default, haar_alt, haar_alt2, "
                      "haar_alt_tree, haar_profile (image + mirror), and when installed "
                      "dlib_hog, facenet_pytorch")
  p.add_argument("--landmarks", default="",
                 help="landmark annotations (e.g. ../shared/data/faces/landmarks_sun2013_net7876"
                      "); its test split gives the landmark error (NME, inter-ocular)")
  p.add_argument("--figures", default=None,
                 help="folder for PR/ROC/sample figures and report.md (default: beside --out); "
                      "'none' to skip")
  p.add_argument("--sample-images", type=int, default=4, help="images in the side-by-side figure")
  p.add_argument("--reference", default="",
                 help="comma-separated detection files (reference format) to score beside them")
  p.add_argument("--min-face", type=float, default=20.0,
                 help="GT faces shorter than this become ignore regions (0 = keep all)")
  p.add_argument("--min-face-size", type=float, default=20.0, help="MTCNN's smallest face searched")
  p.add_argument("--limit", type=int, default=0, help="only the first N images (0 = all)")
  p.add_argument("--save-detections", default=None, metavar="DIR",
                 help="write DIR/<detector>.json in the reference format")
  p.add_argument("--wider-ground-truth", default=None, metavar="FOLDER",
                 help="folder of the official WIDER FACE val ground truth (wider_face_val.mat and "
                      "wider_{easy,medium,hard}_val.mat, e.g. ../shared/data/faces/"
                      "wider_eval_ground_truth): adds easy / medium / hard AP under the official "
                      "protocol for WIDER val images")
  p.add_argument("--out", default="reports/mtcnn_eval.json", help="JSON report path")
  p.add_argument("--no-progress", action="store_true", help="no progress bar")
  compile_cache.add_argument(p)


def _run_mtcnn(args) -> int:
  try:
    report = run_eval.run(args)
  except (ValueError, FileNotFoundError) as e:
    print(f"error: {e}", file=sys.stderr)
    return 2
  print(run_eval.format_table(report))
  print(f"\nreport: {args.out}")
  if report.get("figures"):
    print(f"figures and report.md: {pathlib.Path(report['figures']['report']).parent}/")
  return 0


_TASKS = {"espcn": (_espcn_parser, _run_espcn), "mtcnn": (_mtcnn_parser, _run_mtcnn)}


def main(argv=None) -> int:
  args = parse_task_args(__doc__, [make for make, _ in _TASKS.values()], argv)
  return _TASKS[args.task][1](args)


if __name__ == "__main__":
  sys.exit(main())
