"""Reading user-supplied images, JSON files and arrays, with errors that say where the problem is.

Images given to the detector (a path, a PIL image, a uint8 or float array, or
a list of those) become uint8 RGB here (:func:`as_rgb_uint8`,
:func:`as_image_list`). Annotation files, detection files and the arrays
inside them (or passed by a caller) go through :func:`read_json` and
:func:`checked_array`. Either way a bad input names what was given (its file,
entry, field, type, shape, dtype or value range) instead of failing somewhere
deeper.
"""
from __future__ import annotations

import json
import os
import pathlib
import warnings
from typing import Any, Iterable, Union

import jax
import jax.numpy as jnp
import numpy as np
from PIL import Image

from espcn_mtcnn_common.image_io import ImageError, read_image

__all__ = ["ImageInput", "as_rgb_uint8", "as_image_list", "checked_array", "read_json"]

# One image as the detector takes it: a file path, a PIL image, or an array of
# uint8 or float pixels (NumPy, JAX; at run time anything with ``__array__``).
ImageInput = Union[str, os.PathLike, Image.Image, np.ndarray, jax.Array]

# Float images whose largest value lies in (1, _FLOAT_AMBIGUOUS) are refused:
# a little over 1 is a [0, 1] image that overshot (e.g. after bicubic
# resampling), and a [0, 255] image that dark would be black anyway.
_FLOAT_AMBIGUOUS = 2.0


def _describe(array: np.ndarray) -> str:
  return f"{array.dtype} array of shape {tuple(array.shape)}"


def _read_path(path: str | os.PathLike, where: str) -> np.ndarray:
  """An image file as uint8 ``[H, W, 3]`` (EXIF orientation applied, alpha dropped)."""
  p = pathlib.Path(path)
  if not p.exists():
    raise FileNotFoundError(f"{where}: no such file: {p}")
  if p.is_dir():
    raise ImageError(f"{where}: {p} is a folder, not an image file")
  with warnings.catch_warnings():
    # Detection ignores alpha, as it does for RGBA arrays; the warning would mislead.
    warnings.filterwarnings("ignore", message=".*alpha channel dropped")
    return read_image(p, mode="rgb")


def _pixels(image: Any, where: str) -> np.ndarray:
  """The pixel array of a path, a PIL image or an array-like (any dtype, not yet checked)."""
  if isinstance(image, (str, os.PathLike)):
    return _read_path(image, where)
  if isinstance(image, Image.Image):
    return np.asarray(image.convert("RGB"))
  if isinstance(image, (list, tuple)):
    raise TypeError(f"{where}: got a {type(image).__name__} of {len(image)} items, not one image")
  if not (isinstance(image, np.ndarray) or hasattr(image, "__array__")):
    raise TypeError(f"{where}: expected a file path, a PIL image or an [H, W, 3] array, "
                    f"got {type(image).__name__}")
  return np.asarray(image)


def _colour_channels(array: np.ndarray, where: str) -> np.ndarray:
  """``[H, W, 3]``, ``[H, W, 4]`` (alpha dropped), ``[H, W, 1]`` or ``[H, W]`` ->
  ``[H, W, 3]`` or ``[H, W]``; refuses other shapes and empty images."""
  if array.ndim == 3 and array.shape[-1] == 1:
    array = array[..., 0]
  elif array.ndim == 3 and array.shape[-1] == 4:
    array = array[..., :3]     # alpha does not take part in detection
  if not (array.ndim == 2 or (array.ndim == 3 and array.shape[-1] == 3)):
    hint = " (a batch [N, H, W, 3] goes to detect_batch)" if array.ndim == 4 else ""
    raise ValueError(f"{where}: expected one [H, W, 3] RGB image ([H, W] grey and [H, W, 4] "
                     f"RGBA are accepted), got a {_describe(array)}{hint}")
  if array.shape[0] == 0 or array.shape[1] == 0:
    raise ValueError(f"{where}: image is empty: {_describe(array)}")
  return array


def _float_to_uint8(array: np.ndarray, where: str) -> np.ndarray:
  """Float pixels -> uint8 by the rule of :func:`as_rgb_uint8` (rounded to the nearest level)."""
  if not np.all(np.isfinite(array)):
    raise ValueError(f"{where}: {_describe(array)} holds NaN or infinite values")
  low, high = float(array.min()), float(array.max())
  if low < 0.0 or high > 255.0:
    raise ValueError(f"{where}: float images must lie in [0, 1] or [0, 255]; got a "
                     f"{_describe(array)} with values in [{low:g}, {high:g}]")
  if 1.0 < high < _FLOAT_AMBIGUOUS:
    raise ValueError(f"{where}: float image with values in [{low:g}, {high:g}] "
                     f"({_describe(array)}) is ambiguous: over 1, so not [0, 1], but too dark "
                     "for [0, 255]; clip it to [0, 1] or scale it to [0, 255]")
  scale = np.float32(255.0 if high <= 1.0 else 1.0)
  return np.round(array.astype(np.float32) * scale).astype(np.uint8)


def as_rgb_uint8(image: ImageInput, where: str = "image") -> np.ndarray:
  """One image of any accepted form -> uint8 ``[H, W, 3]`` RGB.

  Accepted: a path (``str`` or ``os.PathLike``; read with
  :func:`espcn_mtcnn_common.image_io.read_image`, EXIF orientation applied),
  a PIL image (converted to RGB as it is, no EXIF rotation), or an array
  (NumPy, JAX, anything with ``__array__``) ``[H, W, 3]`` RGB, ``[H, W]`` or
  ``[H, W, 1]`` grey (repeated to RGB), ``[H, W, 4]`` RGBA (alpha ignored).

  Array dtypes: uint8 as it is; float by its largest value: at most 1 means
  [0, 1] (times 255), at least 2 means [0, 255]; either way rounded to the
  nearest 8-bit level, so ``uint8_image / 255`` gives back exactly
  ``uint8_image``. Refused (ValueError naming dtype, shape and range):
  negative values, values over 255, NaN/inf, and a largest value between 1
  and 2 (a [0, 1] image that overshot, or a nearly black [0, 255] one: clip
  or scale it). Other dtypes (ints, bool) are refused: convert with
  ``.astype(np.uint8)`` if they hold 0..255.

  Args:
    image: the image.
    where: names the input in error messages (e.g. ``"images[3]"``).

  Raises:
    FileNotFoundError: a path that does not exist.
    espcn_mtcnn_common.image_io.ImageError: a file that cannot be read.
    TypeError: not an image (a list, None, bytes, ...).
    ValueError: a bad shape, dtype or value range.
  """
  array = _colour_channels(_pixels(image, where), where)
  if array.dtype != np.uint8:
    if not jnp.issubdtype(array.dtype, jnp.floating):     # bfloat16 included
      raise ValueError(f"{where}: expected uint8, or float in [0, 1] or [0, 255]; got a "
                       f"{_describe(array)} (convert 0..255 integers with .astype(np.uint8))")
    array = _float_to_uint8(array, where)
  return np.repeat(array[..., None], 3, axis=-1) if array.ndim == 2 else array


def as_image_list(images: Iterable[ImageInput] | np.ndarray, what: str = "detect_batch") -> list:
  """The images of a batch: a list or tuple (or other iterable) of images, or an
  ``[N, H, W, C]`` array. The images themselves are checked later
  (:func:`as_rgb_uint8`).

  Raises:
    TypeError: one image (a path, a PIL image, an array of fewer than 4
      dimensions) or something that is not a collection; ``what`` names the caller.
  """
  if isinstance(images, (str, os.PathLike, Image.Image)) or (
      hasattr(images, "ndim") and getattr(images, "ndim") < 4):
    kind = (_describe(np.asarray(images)) if hasattr(images, "ndim")
            else type(images).__name__)
    raise TypeError(f"{what} takes several images (a list, or an [N, H, W, 3] array); "
                    f"got one image ({kind}): use detect for a single image")
  try:
    return list(images)
  except TypeError:
    raise TypeError(f"{what} takes a list of images, got {type(images).__name__}") from None


def checked_array(value, shape_tail: tuple[int, ...], where: str, what: str,
                  dtype=np.float64) -> np.ndarray:
  """``value`` as an array of shape ``[K, *shape_tail]``; empty lists give K = 0.

  Args:
    value: anything ``np.asarray`` takes (None counts as empty).
    shape_tail: the shape after the first axis, e.g. ``(4,)`` for boxes.
    where, what: the input and the field, for error messages.
    dtype: the array's dtype (float64 by default).

  Raises:
    ValueError: not numeric, the wrong shape, or NaN in a float array.
  """
  try:
    arr = np.asarray(value if value is not None else [], dtype)
  except (TypeError, ValueError) as e:
    raise ValueError(f"{where}: {what} is not a numeric array ({e})") from None
  if arr.size == 0:
    return arr.reshape((0,) + shape_tail)
  if arr.ndim != 1 + len(shape_tail) or arr.shape[1:] != shape_tail:
    want = "[K, " + ", ".join(map(str, shape_tail)) + "]"
    raise ValueError(f"{where}: {what} has shape {list(arr.shape)}, expected {want}")
  if np.issubdtype(arr.dtype, np.floating) and np.isnan(arr).any():
    raise ValueError(f"{where}: {what} contains NaN")
  return arr


def read_json(path, kind: str) -> Any:
  """The parsed JSON of ``path``; ``kind`` ("annotation", "detection") names it in errors.

  Raises:
    FileNotFoundError: no such file.
    ValueError: not valid JSON (or not UTF-8).
  """
  path = pathlib.Path(path)
  if not path.is_file():
    raise FileNotFoundError(f"{kind} file {path} does not exist")
  try:
    with open(path, encoding="utf-8") as f:
      return json.load(f)
  except (json.JSONDecodeError, UnicodeDecodeError) as e:
    raise ValueError(f"{kind} file {path} is not valid JSON: {e}") from None
