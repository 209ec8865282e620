"""``espcn-upscale`` / ``python -m espcn_jax.cli``: super-resolve images from the shell.

Examples::

  espcn-upscale photo.jpg -o photo_x3.png                 # shipped x3 weights
  espcn-upscale photo.jpg -o big/                         # into a folder: big/photo_x3.png
  espcn-upscale photos/ -o big/ --model runs/espcn_x3     # a folder, own checkpoint

Colour images: Y through ESPCN, Cb/Cr bicubic. Grey images stay grey. An alpha
channel is upscaled with MATLAB bicubic and kept.
"""
from __future__ import annotations

import argparse
import os
import pathlib
import sys
import warnings

import numpy as np
from PIL import Image, UnidentifiedImageError
from tqdm.auto import tqdm

from espcn_jax import infer
from espcn_jax.checkpoint import CheckpointError
from espcn_jax.evaluate import resolve_model
from espcn_mtcnn_common import compile_cache, image_io
from espcn_mtcnn_common.cli_helpers import install_warning_format
from espcn_mtcnn_common.output_checks import check_writable_folder

__all__ = ["main", "load_params"]


def load_params(model: str, scale: int, channels: int | None = None):
  """``(params, settings)`` from ``"pretrained"`` or a training workdir.

  ``settings`` holds the keyword arguments of :func:`espcn_jax.upscale` that
  params do not record (activation, centre).
  """
  spec = resolve_model(model, scale, channels=channels)
  if spec.params is None:
    raise ValueError("--model must be 'pretrained' or a training workdir, not 'bicubic'")
  return spec.params, spec.settings


def _read_image(path: pathlib.Path) -> np.ndarray:
  """The colour (or grey) pixels of an image file: uint8 ``[H, W, 3]`` or ``[H, W]``.

  ``read_image`` warns that it drops an alpha channel; this CLI reads the
  alpha channel separately (:func:`_read_alpha`) and keeps it, so the
  warning would mislead and is not shown.
  """
  with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message=".*alpha channel dropped")
    return image_io.read_image(path)


def _read_alpha(path: pathlib.Path) -> np.ndarray | None:
  """The alpha channel of an image file, uint8 ``[H, W]``, turned upright as
  :func:`_read_image` turns the colours (EXIF orientation); ``None`` when it has none."""
  try:
    with Image.open(path) as img:
      if img.mode in ("RGBA", "LA") or (img.mode == "P" and "transparency" in img.info):
        upright = image_io._upright(img)  # pylint: disable=protected-access
        return np.asarray(upright.convert("RGBA"))[..., 3]
  except (UnidentifiedImageError, OSError):
    return None
  return None


def _upscale_file(params, settings, scale, src: pathlib.Path, dst: pathlib.Path) -> tuple:
  """Upscale one file (alpha kept: ``infer.upscale`` upscales it with MATLAB bicubic);
  returns the input and output shapes. Grey images with alpha are written as RGBA."""
  image = _read_image(src)
  alpha = _read_alpha(src)
  pixels = image if alpha is None else np.dstack([image, alpha])   # [H, W, 4] or [H, W, 2]
  out = infer.upscale(params, pixels, scale=scale, **settings)
  if out.ndim == 3 and out.shape[-1] == 2:
    out = np.dstack([np.repeat(out[..., :1], 3, -1), out[..., 1]])
  image_io.write_image(dst, out)
  return image.shape, out.shape


def _single_output(src: pathlib.Path, dst: pathlib.Path, scale: int,
                   as_folder: bool) -> pathlib.Path:
  """The output file for one input: ``dst`` itself, or ``dst/STEM_x{scale}.png`` for a folder.

  Raises:
    ValueError: the output is the input file, has an unknown suffix, or is a
      JPEG for an image with alpha.
  """
  if as_folder or dst.is_dir():
    dst = dst / f"{src.stem}_x{scale}.png"
  if dst.resolve() == src.resolve() or (dst.exists() and dst.samefile(src)):
    raise ValueError(f"the output {dst} is the input file; choose another -o "
                     "(the input is never overwritten)")
  Image.init()
  if dst.suffix.lower() not in Image.EXTENSION:
    raise ValueError(f"-o {dst}: unknown image suffix {dst.suffix!r}; use e.g. .png or .jpg, "
                     "or an existing folder")
  if dst.suffix.lower() in (".jpg", ".jpeg") and _read_alpha(src) is not None:
    raise ValueError(f"{src} has an alpha channel, which JPEG cannot store; write "
                     ".png, .webp or .tif instead")
  return dst


def _jobs(src: pathlib.Path, dst: pathlib.Path, scale: int,
          dst_is_folder: bool = False) -> list[tuple[pathlib.Path, pathlib.Path]]:
  """``(input, output)`` paths: one file, or every image of a folder as ``dst/STEM.png``.

  Raises:
    ImageError: a single input that cannot be read; ValueError: name clashes
      in a folder, the output folder is the input folder or an existing file,
      or a single output would overwrite its input.
  """
  if not src.is_dir():
    _read_image(src)      # a single unreadable input is a usage error (exit 2)
    return [(src, _single_output(src, dst, scale, dst_is_folder))]
  if dst.exists() and not dst.is_dir():
    raise ValueError(f"-o {dst} is an existing file; a folder input needs an output folder")
  files = image_io.list_images(src)
  stems = [f.stem for f in files]
  if len(set(stems)) != len(stems):
    raise ValueError(f"{src}: several images share a name stem; outputs would overwrite "
                     "each other")
  if dst.resolve() == src.resolve():
    raise ValueError("the output folder must differ from the input folder")
  return [(f, dst / f"{f.stem}.png") for f in files]


def _parser() -> argparse.ArgumentParser:
  parser = argparse.ArgumentParser(
      prog="espcn-upscale", description=__doc__,
      formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("input", help="an image file or a folder of images")
  parser.add_argument("-o", "--output", required=True,
                      help="output file (for one image) or folder (for a folder). One image "
                           "with -o an existing folder (or a path ending in /) is written "
                           "there as STEM_x{scale}.png. The input is never overwritten; "
                           "images with alpha need .png, .webp or .tif, not .jpg")
  parser.add_argument("--scale", type=int, default=3, help="upscaling factor of the model")
  parser.add_argument("--model", default="pretrained",
                      help="'pretrained' (shipped weights) or a training workdir")
  parser.add_argument("--channels", type=int, choices=(1, 3), default=None,
                      help="with 'pretrained': the Y model (1, default: Y through ESPCN, Cb/Cr "
                           "bicubic) or the RGB model (3: every channel through ESPCN)")
  parser.add_argument("--no-progress", action="store_true")
  compile_cache.add_argument(parser)
  return parser


def main(argv=None) -> int:
  install_warning_format()
  args = _parser().parse_args(argv)
  compile_cache.enable(args.compile_cache)
  src, dst = pathlib.Path(args.input), pathlib.Path(args.output)
  try:
    jobs = _jobs(src, dst, args.scale, dst_is_folder=args.output.endswith(("/", os.sep)))
    # Before the (slow) model load and the work.
    check_writable_folder(jobs[0][1].parent, "the output folder", create=True)
    params, settings = load_params(args.model, args.scale, args.channels)
  except (image_io.ImageError, CheckpointError, FileNotFoundError, ValueError) as e:
    print(f"error: {e}", file=sys.stderr)
    return 2
  failed = 0
  for f, out_path in tqdm(jobs, desc=f"upscale x{args.scale}", unit="img",
                          disable=args.no_progress or len(jobs) == 1):
    try:
      shape_in, shape_out = _upscale_file(params, settings, args.scale, f, out_path)
      if len(jobs) == 1:
        print(f"{f} {shape_in[1]}x{shape_in[0]} -> {out_path} {shape_out[1]}x{shape_out[0]}")
    except (image_io.ImageError, ValueError) as e:
      failed += 1
      print(f"error: {e}", file=sys.stderr)
  if len(jobs) > 1:
    print(f"{len(jobs) - failed} of {len(jobs)} images written to {dst}")
  return 1 if failed else 0


if __name__ == "__main__":
  sys.exit(main())
