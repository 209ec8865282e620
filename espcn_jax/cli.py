"""``espcn-upscale`` / ``python -m espcn_jax.cli``: super-resolve images from the shell.

Examples::

  espcn-upscale photo.jpg -o photo_x3.png                 # shipped x3 weights
  espcn-upscale photo.jpg -o big/                         # into a folder: big/photo_x3.png
  espcn-upscale photos/ -o big/ --model runs/espcn_x3     # a folder, own checkpoint
  espcn-upscale photos/ -o big/ --tile=none               # one program per size bucket

Colour images: Y through ESPCN, Cb/Cr bicubic. Grey images stay grey. An alpha
channel is upscaled with MATLAB bicubic and kept. A folder of many sizes runs
in overlapping 256 x 256 LR tiles (--tile auto), so images of all sizes share
one compiled program; a folder of few sizes runs one program per 32-pixel size
bucket, faster per image. The output is the same either way.
For several inputs, the next images are read and the previous ones written on
threads while one computes; outputs and messages are those of a serial run.
"""
from __future__ import annotations

import argparse
import collections
import contextlib
import os
import pathlib
import sys
import warnings
from concurrent import futures
from typing import NamedTuple

import numpy as np
from PIL import Image, UnidentifiedImageError
from tqdm.auto import tqdm

from espcn_jax import infer
from espcn_jax.checkpoint import CheckpointError
from espcn_jax.evaluate import resolve_model
from espcn_mtcnn_common import compile_cache, image_io, pipeline
from espcn_mtcnn_common.cli_helpers import install_warning_format
from espcn_mtcnn_common.output_checks import check_writable_folder

__all__ = ["main", "load_params", "choose_tile", "DEFAULT_TILE"]

# The tile side --tile=auto uses (LR pixels, halo included): one compiled program
# for every image size. Chosen by timing a cold and a warm run over 50 mixed-size
# photos and one 480x640 photo per tile size (docs/cli.md).
DEFAULT_TILE = 256
# --tile=auto tiles when the inputs' size buckets, less one, exceed this share of
# the images: a bucket costs one compile (0.3-1 s on 2 CPU cores), tiles cost about
# 0.75x more compute per image (~0.1 s for 480x640), so extra buckets pay off
# only when they are rarer than about one per 8 images (docs/cli.md).
AUTO_TILE_BUCKETS_PER_IMAGE = 1 / 8


def load_params(model: str, scale: int, channels: int | None = None):
  """``(params, settings)`` from ``"pretrained"`` or a training workdir.

  ``settings`` holds the keyword arguments of :func:`espcn_jax.upscale` that
  params do not record (activation, centre).
  """
  spec = resolve_model(model, scale, channels=channels)
  if spec.params is None:
    raise ValueError("--model must be 'pretrained' or a training workdir, not 'bicubic'")
  return spec.params, spec.settings


@contextlib.contextmanager
def _alpha_kept():
  """Hide read_image's "alpha channel dropped" in the block: this CLI reads the
  alpha channel separately (:func:`_read_alpha`) and keeps it, so the warning
  would mislead. The filters are process-wide, so worker threads reading
  inside the block are covered too; enter it on the main thread only."""
  with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message=".*alpha channel dropped")
    yield


def _read_image(path: pathlib.Path) -> np.ndarray:
  """The colour (or grey) pixels of an image file: uint8 ``[H, W, 3]`` or ``[H, W]``,
  without the misleading "alpha channel dropped" warning (:func:`_alpha_kept`)."""
  with _alpha_kept():
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


def _read_pixels(path: pathlib.Path) -> tuple[tuple, np.ndarray]:
  """``(colour shape, pixels)`` of an image file: uint8 ``[H, W]``, ``[H, W, 2]`` (grey +
  alpha), ``[H, W, 3]`` or ``[H, W, 4]`` (RGBA), upright (EXIF orientation).

  Safe on a worker thread: it does not touch the warning filters (read_image's
  "alpha channel dropped" is hidden by the caller, see :func:`_alpha_kept`).
  """
  image = image_io.read_image(path)
  alpha = _read_alpha(path)
  return image.shape, (image if alpha is None else np.dstack([image, alpha]))


def _upscale_pixels(params, settings, scale, pixels: np.ndarray,
                    tile: int | None = None) -> np.ndarray:
  """``infer.upscale`` of :func:`_read_pixels`' pixels (alpha: MATLAB bicubic), uint8
  ``[H*s, W*s(, C)]``; grey with alpha comes back as RGBA ``[H*s, W*s, 4]``."""
  out = infer.upscale(params, pixels, scale=scale, tile=tile, **settings)
  if out.ndim == 3 and out.shape[-1] == 2:
    out = np.dstack([np.repeat(out[..., :1], 3, -1), out[..., 1]])
  return out


def _upscale_file(params, settings, scale, src: pathlib.Path, dst: pathlib.Path,
                  tile: int | None = None) -> tuple:
  """Upscale one file (alpha kept: ``infer.upscale`` upscales it with MATLAB bicubic);
  returns the input and output shapes. Grey images with alpha are written as RGBA.
  ``tile``: as :func:`espcn_jax.upscale` takes it (``--tile``)."""
  with _alpha_kept():
    shape, pixels = _read_pixels(src)
  out = _upscale_pixels(params, settings, scale, pixels, tile)
  image_io.write_image(dst, out)
  return shape, out.shape


# Images in flight between the stages of a folder run, per queue: a 1920-px
# output is ~10 MB, and 2 already keeps both cores busy.
_QUEUE_SIZE = 2
# Threads writing outputs at once: PNG encoding is the slowest stage of a folder
# run and releases the GIL, so a second writer shortens it (50 photos: 17.6 s ->
# 13.6 s on 2 cores); more only add outputs held in memory.
_WRITERS = 2


class _Job(NamedTuple):
  """One input on its way through :func:`_upscale_folder`: ``data`` is the pixels
  (after decoding), the output (after compute), or the ``error`` that ended it."""
  src: pathlib.Path
  dst: pathlib.Path
  data: np.ndarray | None = None
  error: Exception | None = None


def _write_job(job: _Job) -> Exception | None:
  """Write ``job``'s output (atomically); the error that ended the job, if any.
  Other exceptions (e.g. ``OSError``: disk full) propagate and stop the run."""
  if job.error is not None:
    return job.error
  try:
    image_io.write_image(job.dst, job.data)
  except (image_io.ImageError, ValueError) as e:
    return e
  return None


class _OrderedWriter:
  """Writes jobs on a thread pool, at most ``workers`` at a time, and reports each
  in input order (``error: ...`` on stderr, one step of ``bar``), so several
  writers print what the serial loop printed."""

  def __init__(self, pool: futures.Executor, bar, workers: int):
    self._pool, self._bar, self._workers = pool, bar, workers
    self._pending: collections.deque = collections.deque()
    self.failed = 0

  def submit(self, job: _Job) -> None:
    """Start writing ``job``; blocks while ``workers`` writes are unfinished."""
    self._pending.append(self._pool.submit(_write_job, job))
    while self._pending and (len(self._pending) > self._workers or self._pending[0].done()):
      self._report(self._pending.popleft().result())

  def drain(self) -> None:
    """Wait for and report every write still pending."""
    while self._pending:
      self._report(self._pending.popleft().result())

  def _report(self, error: Exception | None) -> None:
    if error is not None:
      self.failed += 1
      print(f"error: {error}", file=sys.stderr)
    self._bar.update(1)


def _upscale_folder(params, settings, scale, jobs, tile, bar) -> int:
  """Upscale several files: the next ones decode and the previous ones encode
  while one computes (``pipeline.run_pipeline``; Pillow releases the GIL, so
  the stages overlap on 2 cores). A file that cannot be read, upscaled or
  written is reported as ``error: ...`` in input order and skipped; returns
  how many failed."""
  def decode():
    for src, dst in jobs:
      try:
        yield _Job(src, dst, _read_pixels(src)[1])
      except (image_io.ImageError, ValueError) as e:
        yield _Job(src, dst, error=e)

  def compute(job: _Job) -> _Job:
    if job.error is not None:
      return job
    try:
      return job._replace(data=_upscale_pixels(params, settings, scale, job.data, tile))
    except (image_io.ImageError, ValueError) as e:
      return job._replace(data=None, error=e)

  pool = futures.ThreadPoolExecutor(_WRITERS, thread_name_prefix="espcn-upscale-write")
  writer = _OrderedWriter(pool, bar, _WRITERS)
  try:
    with _alpha_kept():
      pipeline.run_pipeline(decode(), compute, writer.submit, queue_size=_QUEUE_SIZE)
    writer.drain()
  finally:
    pool.shutdown(wait=True, cancel_futures=True)   # writes already started finish whole
  return writer.failed


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
  parser.add_argument("--tile", type=_tile_arg, default="auto", metavar="auto|N|none",
                      help="N: run every image in overlapping N x N LR tiles (halo included; "
                           "9 to 1024 for the 5-3-3 net), through ONE compiled program for "
                           "every image size, so a folder of mixed sizes compiles once. "
                           "'none': one program per 32-pixel size bucket, each compiled on "
                           "first use (faster per image once compiled; images over 1024^2 LR "
                           "pixels still run in 1024 tiles). 'auto' (default): "
                           f"{DEFAULT_TILE} when the inputs fall into more than one size "
                           "bucket per 8 images (plus one), else 'none'. Same output either way")
  parser.add_argument("--no-progress", action="store_true")
  compile_cache.add_argument(parser)
  return parser


def _tile_arg(text: str) -> int | str | None:
  """``--tile``: ``auto``, ``none`` or an integer (its range is checked by
  ``infer.check_tile``)."""
  if text.strip().lower() in ("none", "auto"):
    return None if text.strip().lower() == "none" else "auto"
  try:
    return int(text)
  except ValueError:
    raise argparse.ArgumentTypeError(f"expected an integer or 'none', got {text!r}") from None


def _size_bucket(path: pathlib.Path) -> tuple[int, int] | None:
  """The 32-pixel bucket of an image file's stored size, from its header only
  (``None`` when unreadable: the work reports it later)."""
  try:
    with Image.open(path) as im:
      w, h = im.size
  except (OSError, UnidentifiedImageError, ValueError):
    return None
  return infer.bucket_shape(h, w)


def choose_tile(paths: list[pathlib.Path]) -> int | None:
  """``--tile=auto``: :data:`DEFAULT_TILE` when the images fall into more size
  buckets than ``1 + len(paths) * AUTO_TILE_BUCKETS_PER_IMAGE``, else ``None``
  (one compiled program per bucket). One image: ``None``."""
  buckets = {b for b in map(_size_bucket, paths) if b is not None}
  return DEFAULT_TILE if len(buckets) - 1 > len(paths) * AUTO_TILE_BUCKETS_PER_IMAGE else None


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
    if args.tile == "auto":
      args.tile = choose_tile([f for f, _ in jobs])
    # A bad --tile is a usage error before any image (its bounds need the model's halo).
    infer.check_tile(args.tile, params)
  except (image_io.ImageError, CheckpointError, FileNotFoundError, ValueError) as e:
    print(f"error: {e}", file=sys.stderr)
    return 2
  if len(jobs) == 1:               # one image: no threads to start
    (f, out_path), = jobs
    try:
      shape_in, shape_out = _upscale_file(params, settings, args.scale, f, out_path, args.tile)
    except (image_io.ImageError, ValueError) as e:
      print(f"error: {e}", file=sys.stderr)
      return 1
    print(f"{f} {shape_in[1]}x{shape_in[0]} -> {out_path} {shape_out[1]}x{shape_out[0]}")
    return 0
  with tqdm(total=len(jobs), desc=f"upscale x{args.scale}", unit="img",
            disable=args.no_progress) as bar:
    failed = _upscale_folder(params, settings, args.scale, jobs, args.tile, bar)
  print(f"{len(jobs) - failed} of {len(jobs)} images written to {dst}")
  return 1 if failed else 0


if __name__ == "__main__":
  sys.exit(main())
