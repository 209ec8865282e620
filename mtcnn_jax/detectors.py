"""Face detectors under one calling convention, selected by id on the command line.

A detector maps a uint8 RGB ``[H, W, 3]`` image to a dict with ``boxes``
``[N, 4]`` (continuous pixel ``[x1, y1, x2, y2)``), ``scores`` ``[N]`` and
``landmarks`` ``[N, 5, 2]`` (or ``None``).
"""
from __future__ import annotations

from typing import Callable

import numpy as np

__all__ = ["DETECTORS", "make_detector", "detector_settings"]


def _mtcnn(**settings) -> Callable[[np.ndarray], dict]:
  from mtcnn_jax.cascade import detect  # pylint: disable=import-outside-toplevel
  from mtcnn_jax.params import load_params  # pylint: disable=import-outside-toplevel
  params = load_params("published")

  def run(image):
    faces = detect(image, params=params, **settings)
    return {"boxes": faces.boxes, "scores": faces.scores, "landmarks": faces.landmarks}
  return run


DETECTORS: dict[str, Callable[..., Callable[[np.ndarray], dict]]] = {
    "mtcnn": _mtcnn,
}


def make_detector(name: str, **settings) -> Callable[[np.ndarray], dict]:
  """The detector ``name`` (see :data:`DETECTORS`), built with ``settings``."""
  if name not in DETECTORS:
    raise ValueError(f"unknown detector {name!r}; known: {', '.join(DETECTORS)}")
  return DETECTORS[name](**settings)


def detector_settings(name: str, **settings) -> dict:
  """What to record in a detection file's ``settings``."""
  import jax  # pylint: disable=import-outside-toplevel
  from mtcnn_jax import __version__  # pylint: disable=import-outside-toplevel
  from mtcnn_jax.cascade import DetectorConfig  # pylint: disable=import-outside-toplevel
  import dataclasses  # pylint: disable=import-outside-toplevel
  info = {"package": f"mtcnn_jax {__version__}", "jax": jax.__version__,
          "device": str(jax.devices()[0])}
  if name == "mtcnn":
    config = dataclasses.replace(DetectorConfig(), **settings)
    info.update(dataclasses.asdict(config), weights="published (mtcnn 1.0.0 wheel, MIT)")
  return info
