"""``mtcnn-detect`` / ``python -m mtcnn_jax.cli``: detect faces in images from the shell.

Examples::

  mtcnn-detect photo.jpg -o out/                 # out/detections.json, out/photo.jpg (annotated)
  mtcnn-detect photos/ -o out/ --aligned         # plus out/aligned/<name>_<k>.png (112x112)
  mtcnn-detect photo.jpg -o out/ --weights=wider600   # the cascade this project trained

The JSON uses the reference format: ``{"detector", "settings", "images": {name:
{"boxes", "scores", "landmarks", "ms"}}}``, boxes ``[x1, y1, x2, y2]`` in pixels.
"""
from __future__ import annotations

import argparse
import pathlib
import sys
import time

from tqdm.auto import tqdm

from espcn_mtcnn_common import compile_cache, image_io
from espcn_mtcnn_common.cli_helpers import install_warning_format
from espcn_mtcnn_common.output_checks import check_writable_folder
from mtcnn_jax import detectors, draw
from mtcnn_jax.cascade import DetectorConfig, check_config, detect
from mtcnn_jax.detection_files import save_detections
from mtcnn_jax.params import load_params

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
  parser = argparse.ArgumentParser(prog="mtcnn-detect", description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("input", help="an image file or a folder of images")
  parser.add_argument("-o", "--output", required=True,
                      help="output folder (created; it must not be where an annotated copy "
                      "<stem>.jpg would replace an input image)")
  parser.add_argument("--min-face-size", type=float, default=20.0, help="smallest face, pixels")
  parser.add_argument("--thresholds", type=float, nargs=3, default=(0.6, 0.7, 0.7),
                      metavar=("P", "R", "O"), help="P-, R-, O-Net face thresholds")
  parser.add_argument("--weights", default="published", help=detectors.WEIGHTS_HELP)
  parser.add_argument("--aligned", action="store_true", help="also write 112x112 aligned crops")
  parser.add_argument("--no-annotated", action="store_true", help="do not write annotated images")
  parser.add_argument("--no-progress", action="store_true")
  compile_cache.add_argument(parser)
  return parser


def _input_files(src: pathlib.Path, out: pathlib.Path) -> list[pathlib.Path]:
  """The images to read: a folder's images, or the one file (read once to check it).

  Raises:
    ValueError: images sharing a name stem, or the output folder is the input.
    image_io.ImageError: a single input that is not a readable image.
  """
  if not src.is_dir():
    image_io.read_image(src)      # a single unreadable input is a usage error (exit 2)
    return [src]
  files = image_io.list_images(src)
  if len({f.stem for f in files}) != len(files):
    raise ValueError(f"{src}: several images share a name stem; outputs would overwrite "
                     "each other")
  if out.resolve() == src.resolve():
    raise ValueError("the output folder must differ from the input folder")
  return files


def _check_no_overwrite(files: list[pathlib.Path], out: pathlib.Path, args) -> None:
  """Refuses outputs that would replace an input image.

  Raises:
    ValueError: an annotated copy ``<out>/<stem>.jpg`` or an aligned crop folder
      ``<out>/aligned`` that is (or holds) an input file.
  """
  inputs = {f.resolve() for f in files}
  for f in files:
    target = (out / f"{f.stem}.jpg").resolve()
    if not args.no_annotated and target in inputs:
      raise ValueError(f"the annotated copy {out / f'{f.stem}.jpg'} would overwrite the input "
                       f"{f}; choose another output folder (-o)")
  aligned = (out / "aligned").resolve()
  if args.aligned and any(f.parent == aligned for f in inputs):
    raise ValueError(f"the aligned crops in {out / 'aligned'} could overwrite input images; "
                     "choose another output folder (-o)")


def _write_images(out: pathlib.Path, file: pathlib.Path, image, faces, args) -> None:
  """The annotated image and (with ``--aligned``) the aligned face crops of one input."""
  if not args.no_annotated:
    image_io.write_image(out / f"{file.stem}.jpg", draw.draw_detections(image, faces))
  if args.aligned and len(faces):
    for k, crop in enumerate(draw.align_faces(image, faces.landmarks)):
      image_io.write_image(out / "aligned" / f"{file.stem}_{k}.png", crop)


def _detect_files(files: list[pathlib.Path], out: pathlib.Path, params, settings: dict,
                  args) -> tuple[dict, int, int]:
  """Detects faces in every file: ``(records by file name, failed files, faces found)``."""
  results, failed, total = {}, 0, 0
  for f in tqdm(files, desc="detect", unit="img", disable=args.no_progress or len(files) == 1):
    try:
      image = image_io.read_image(f, mode="rgb")
      start = time.perf_counter()
      faces = detect(image, params=params, **settings)
      ms = (time.perf_counter() - start) * 1e3
    except (image_io.ImageError, ValueError) as e:
      failed += 1
      print(f"error: {e}", file=sys.stderr)
      continue
    total += len(faces)
    results[f.name] = {"boxes": faces.boxes, "scores": faces.scores,
                       "landmarks": faces.landmarks, "ms": ms}
    _write_images(out, f, image, faces, args)
    if len(files) == 1:
      print(f"{f}: {len(faces)} face(s) in {ms:.0f} ms (first call includes compilation)")
  return results, failed, total


def main(argv=None) -> int:
  install_warning_format()
  args = _parser().parse_args(argv)
  compile_cache.enable(args.compile_cache)
  src, out = pathlib.Path(args.input), pathlib.Path(args.output)
  try:
    settings = {"min_face_size": args.min_face_size, "thresholds": tuple(args.thresholds)}
    check_config(DetectorConfig(**settings))
    files = _input_files(src, out)
    _check_no_overwrite(files, out, args)
    name = detectors.mtcnn_detector_name(args.weights)
    params = load_params(detectors.mtcnn_params_source(name))
    record = detectors.detector_settings(name, **settings)
    check_writable_folder(out)
  except (image_io.ImageError, ValueError, FileNotFoundError) as e:
    print(f"error: {e}", file=sys.stderr)
    return 2
  results, failed, total = _detect_files(files, out, params, settings, args)
  out.mkdir(parents=True, exist_ok=True)
  save_detections(out / "detections.json",
                  "mtcnn_jax" if name == "mtcnn" else f"mtcnn_jax ({name})", record, results)
  print(f"{total} face(s) in {len(results)} image(s); {out / 'detections.json'}")
  return 1 if failed else 0


if __name__ == "__main__":
  sys.exit(main())
