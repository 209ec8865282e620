"""Reading user-supplied JSON files and arrays, with errors that say where the problem is.

Annotation files, detection files and the arrays inside them (or passed by a
caller) go through these two functions, so a bad input names its file, its
entry and the field at fault instead of failing somewhere deeper.
"""
from __future__ import annotations

import json
import pathlib
from typing import Any

import numpy as np

__all__ = ["checked_array", "read_json"]


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
