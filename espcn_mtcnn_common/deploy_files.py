"""Deployment artefacts on disk: optional dependencies, serialised JAX programs, model cards.

Shared by :mod:`espcn_jax.deploy` and :mod:`mtcnn_jax.deploy` (and ``export.py``);
imports neither model package.

* The exporters need the ``export`` extra (``onnx``, ``onnxruntime``,
  ``flatbuffers``), which plain installs lack: :func:`require_optional`
  imports one of them or raises an ``ImportError`` naming
  ``pip install -e ".[export]"``.
* A ``jax.export.Exported`` serialises to bytes (StableHLO plus the calling
  convention, a flatbuffer: it needs ``flatbuffers``). :func:`load_exported`
  reads it back; a deployer needs nothing but JAX for that::

    from jax import export
    program = export.deserialize(bytearray(open("espcn_x3_y.jaxexport", "rb").read()))
    hr = program.call(lr)          # lr: float32 [B, h, w, 1]

* Every artefact gets a model card beside it, ``<artefact name>.json``
  (:func:`card_path`), written atomically after the artefact
  (:func:`write_artefact`).
"""
from __future__ import annotations

import importlib
import os
import pathlib
import platform
from typing import Any

import jax
import numpy as np

from espcn_mtcnn_common.atomic_write import write_bytes_atomic, write_json_atomic

__all__ = ["EXPORT_EXTRA_HINT", "JAX_EXPORT_SUFFIX", "ONNX_SUFFIX", "FORMATS",
           "require_optional", "serialize_exported", "load_exported", "card_path",
           "write_artefact", "versions", "max_abs_diff"]

EXPORT_EXTRA_HINT = 'pip install -e ".[export]"'
JAX_EXPORT_SUFFIX = ".jaxexport"
ONNX_SUFFIX = ".onnx"
FORMATS = ("onnx", "jax")
"""Artefact formats: ``"onnx"`` (ONNX graphs) and ``"jax"`` (``jax.export``, StableHLO)."""

# Import name -> pip distribution, for the error message.
_DISTRIBUTIONS = {"onnx": "onnx", "onnxruntime": "onnxruntime", "flatbuffers": "flatbuffers",
                  "cv2": "opencv-python"}


def require_optional(module: str):
  """Import an optional dependency of the exporters, or fail with the install command.

  Args:
    module: import name, e.g. ``"onnx"``, ``"onnxruntime"``, ``"flatbuffers"``.

  Returns:
    The imported module.

  Raises:
    ImportError: it is not installed; the message names the missing package
      and ``pip install -e ".[export]"``.
  """
  try:
    return importlib.import_module(module)
  except ImportError as e:
    dist = _DISTRIBUTIONS.get(module, module)
    raise ImportError(f"exporting models needs the '{dist}' package, which is not installed; "
                      f"install the export extra: {EXPORT_EXTRA_HINT} "
                      f"(or pip install {dist})", name=module) from e


def serialize_exported(exported: jax.export.Exported) -> bytes:
  """``exported.serialize()``, with a clear error when ``flatbuffers`` is missing."""
  require_optional("flatbuffers")   # jax.export imports it only when serialising
  return bytes(exported.serialize())


def load_exported(path: str | os.PathLike) -> jax.export.Exported:
  """Read a serialised ``jax.export`` artefact (``.jaxexport``); call it with ``.call(...)``.

  Raises:
    FileNotFoundError: no such file.
    ValueError: the file is not a serialised JAX program.
  """
  path = pathlib.Path(path)
  data = path.read_bytes()
  require_optional("flatbuffers")
  try:
    return jax.export.deserialize(bytearray(data))
  except Exception as e:  # flatbuffers raises assorted errors on foreign bytes
    raise ValueError(f"{path}: not a serialised jax.export program ({type(e).__name__})") from None


def card_path(artefact: str | os.PathLike) -> pathlib.Path:
  """The model card beside an artefact: ``model.onnx`` -> ``model.onnx.json``."""
  artefact = pathlib.Path(artefact)
  return artefact.with_name(artefact.name + ".json")


def write_artefact(path: str | os.PathLike, data: bytes, card: dict[str, Any]) -> pathlib.Path:
  """Write ``data`` to ``path`` and ``card`` to :func:`card_path` ``(path)``, each atomically.

  The artefact is written first, so a card never describes a file that is
  not there. Returns ``path``.
  """
  path = pathlib.Path(path)
  write_bytes_atomic(path, data)
  write_json_atomic(card_path(path), card, indent=2)
  return path


def versions() -> dict[str, str | None]:
  """Versions of the packages that made (and read) the artefacts, for the cards."""
  out: dict[str, str | None] = {"python": platform.python_version(), "jax": jax.__version__,
                                "numpy": np.__version__}
  for name in ("onnx", "onnxruntime", "cv2"):
    try:
      out[name] = importlib.import_module(name).__version__
    except ImportError:
      out[name] = None
  return out


def max_abs_diff(a, b) -> float:
  """``max |a - b|`` as a Python float (float64), 0.0 for empty arrays.

  Raises:
    ValueError: the shapes differ (a wrong layout must not pass as a small difference).
  """
  a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
  if a.shape != b.shape:
    raise ValueError(f"shapes differ: {a.shape} vs {b.shape}")
  return float(np.max(np.abs(a - b))) if a.size else 0.0
