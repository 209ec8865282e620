"""Reading and writing image files, with clear errors for bad input.

This is the only place where files become arrays. Every reader returns uint8
``[H, W]`` (single channel) or ``[H, W, 3]`` (RGB); other modes are converted
with a warning that says what was done, or refused with a reason.
"""
from __future__ import annotations

import os
import pathlib
import warnings

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from espcn_mtcnn_common import atomic_write

__all__ = ["ImageError", "read_image", "write_image", "list_images", "as_image_array",
           "IMAGE_SUFFIXES", "MAX_PIXELS"]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm")
# Larger images are refused rather than allowed to exhaust memory (about
# 16k x 16k); override with the environment variable ESPCN_JAX_MAX_PIXELS.
MAX_PIXELS = int(os.environ.get("ESPCN_JAX_MAX_PIXELS", 268_435_456))


class ImageError(ValueError):
  """An image file that cannot be used, with the reason in the message."""


def list_images(folder: str | os.PathLike) -> list[pathlib.Path]:
  """Image files directly inside ``folder``, sorted by name.

  Hidden files (names starting with ``.``) are skipped: they include the
  temporary files of writes in progress (:mod:`~espcn_mtcnn_common.atomic_write`)
  and macOS's ``._name`` resource forks.

  Raises:
    ImageError: if the folder does not exist or holds no image files.
  """
  folder = pathlib.Path(folder)
  if not folder.is_dir():
    raise ImageError(f"{folder}: not a folder")
  files = sorted(p for p in folder.iterdir()
                 if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
                 and not p.name.startswith("."))
  if not files:
    raise ImageError(f"{folder}: no image files ({', '.join(IMAGE_SUFFIXES)}) in this folder")
  return files


def _to_uint8(array: np.ndarray, path) -> np.ndarray:
  if array.dtype == np.uint8:
    return array
  if array.dtype == np.uint16 or (array.dtype.kind in "iu" and array.max(initial=0) > 255):
    warnings.warn(f"{path}: 16-bit image reduced to 8 bits (the models work on 8-bit data)",
                  stacklevel=3)
    return np.clip(np.round(array.astype(np.float64) / 257.0), 0, 255).astype(np.uint8)
  if array.dtype == bool:
    return array.astype(np.uint8) * 255
  if array.dtype.kind == "f":
    if not np.all(np.isfinite(array)):
      raise ImageError(f"{path}: image holds NaN or infinite values")
    scale = 255.0 if array.max(initial=0) <= 1.0 else 1.0
    return np.clip(np.round(array * scale), 0, 255).astype(np.uint8)
  return np.clip(array, 0, 255).astype(np.uint8)


_ORIENTATION_TAG = 0x0112


def _upright(img: Image.Image) -> Image.Image:
  """``img`` turned as its EXIF orientation tag says (unchanged without one)."""
  try:
    orientation = img.getexif().get(_ORIENTATION_TAG, 1)
  except Exception:  # pylint: disable=broad-except  (unparsable EXIF: treat as upright)
    return img
  if orientation not in range(2, 9):
    return img
  return ImageOps.exif_transpose(img)


def read_image(path: str | os.PathLike, *, mode: str = "auto") -> np.ndarray:
  """Read an image file as uint8.

  Args:
    path: image file.
    mode: ``"auto"`` keeps single-channel images single-channel (``[H, W]``)
      and returns colour as ``[H, W, 3]`` RGB; ``"rgb"`` always returns
      ``[H, W, 3]``; ``"gray"`` always ``[H, W]`` (via BT.601 luma).

  An EXIF orientation tag (2-8) is applied as photo viewers do, so the array
  is the upright picture. Palette images are expanded; alpha channels are
  dropped with a warning (composite them yourself if the background matters);
  16-bit images are reduced to 8 bits with a warning.

  Raises:
    ImageError: missing, empty, unreadable or corrupt files, images with a
      zero-size side, or images larger than ``MAX_PIXELS``.
  """
  path = pathlib.Path(path)
  if not path.is_file():
    raise ImageError(f"{path}: no such file")
  if path.stat().st_size == 0:
    raise ImageError(f"{path}: file is empty")
  try:
    with Image.open(path) as img:
      if img.width * img.height > MAX_PIXELS:
        raise ImageError(f"{path}: {img.width}x{img.height} is larger than the "
                         f"{MAX_PIXELS}-pixel limit (set ESPCN_JAX_MAX_PIXELS to raise it)")
      img.load()
      img = _upright(img)
      if img.mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
      if img.mode in ("RGBA", "LA", "PA"):
        warnings.warn(f"{path}: alpha channel dropped", stacklevel=2)
        img = img.convert("RGB" if img.mode == "RGBA" else "L")
      if img.mode in ("CMYK", "YCbCr", "LAB", "HSV", "RGBX", "RGBa"):
        img = img.convert("RGB")
      if img.mode == "1":
        img = img.convert("L")
      array = np.asarray(img)
  except ImageError:
    raise
  except Image.DecompressionBombError as e:
    raise ImageError(f"{path}: refused by PIL's decompression-bomb guard ({e})") from e
  except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
    raise ImageError(f"{path}: cannot read image ({e})") from e
  if array.size == 0:
    raise ImageError(f"{path}: image has no pixels")
  if array.ndim == 3 and array.shape[-1] == 1:
    array = array[..., 0]
  if array.ndim == 3 and array.shape[-1] != 3:
    raise ImageError(f"{path}: unsupported channel count {array.shape[-1]}")
  array = _to_uint8(array, path)
  if mode == "rgb" and array.ndim == 2:
    array = np.repeat(array[..., None], 3, axis=-1)
  elif mode == "gray" and array.ndim == 3:
    # Full-range BT.601 luma for a grey view of a colour image.
    array = np.round(array.astype(np.float64) @ np.array([0.299, 0.587, 0.114])).astype(np.uint8)
  elif mode not in ("auto", "rgb", "gray"):
    raise ValueError(f"mode must be 'auto', 'rgb' or 'gray', got {mode!r}")
  return np.ascontiguousarray(array)


def as_image_array(array: np.ndarray, source: str) -> np.ndarray:
  """Decoded pixels from anywhere (e.g. TFDS) -> uint8 ``[H, W]`` or ``[H, W, 3]``.

  The rules of :func:`read_image`: a single channel is squeezed, alpha is
  dropped with a warning, 16-bit and float data become 8-bit.
  """
  array = np.asarray(array)
  if array.ndim == 3 and array.shape[-1] in (2, 4):
    warnings.warn(f"{source}: alpha channel dropped", stacklevel=2)
    array = array[..., 0] if array.shape[-1] == 2 else array[..., :3]
  if array.ndim == 3 and array.shape[-1] == 1:
    array = array[..., 0]
  if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[-1] != 3) or array.size == 0:
    raise ImageError(f"{source}: unsupported image shape {array.shape}")
  return np.ascontiguousarray(_to_uint8(array, source))


def _format_for(path: pathlib.Path) -> str:
  """PIL's format name for ``path``'s suffix, with a clear error for unknown ones."""
  Image.init()
  fmt = Image.EXTENSION.get(path.suffix.lower())
  if fmt is None:
    raise ValueError(f"{path}: unknown image suffix {path.suffix!r}; use e.g. .png or .jpg")
  return fmt


def write_image(path: str | os.PathLike, image: np.ndarray) -> None:
  """Write a uint8 ``[H, W]`` or ``[H, W, 3]`` image (format from the suffix).

  The file is written under a temporary name in the same folder and renamed
  into place, so concurrent writers or a failure never leave a partial file.
  """
  image = np.asarray(image)
  if image.dtype != np.uint8:
    raise ValueError(f"write_image expects uint8, got {image.dtype}")
  path = pathlib.Path(path)
  with atomic_write.atomic_path(path) as tmp:
    Image.fromarray(image).save(tmp, format=_format_for(path))
