"""Face detectors under one calling convention, selected by id on the command line.

A detector maps a uint8 RGB ``[H, W, 3]`` image to a dict with ``boxes``
``[N, 4]`` (continuous pixel ``[x1, y1, x2, y2)``), ``scores`` ``[N]`` and
``landmarks`` ``[N, 5, 2]`` (or ``None``).
"""
from __future__ import annotations

import dataclasses
import functools
import json
import os
import pathlib
from typing import Callable

import cv2
import jax
import numpy as np

from mtcnn_jax import __version__
from mtcnn_jax.cascade import DetectorConfig, detect
from mtcnn_jax.matching import iou_matrix
from mtcnn_jax.params import SELF_TRAINED, WEIGHTS_DIR, load_params

__all__ = ["DETECTORS", "OPTIONAL", "HAAR_FILES", "WITH_LANDMARKS", "MTCNN_WEIGHTS",
           "make_detector", "detector_settings", "is_known", "is_mtcnn", "has_landmarks",
           "mtcnn_params_source", "mtcnn_card_settings", "mtcnn_detector_name",
           "WEIGHTS_HELP"]

# MTCNN detectors by name -> their params: "published", or a shipped self-trained set
# (params.SELF_TRAINED, a folder under mtcnn_jax/weights) as "mtcnn_<name>". Any params
# folder is also a detector as "mtcnn:FOLDER" (e.g. a training workdir's params/).
MTCNN_WEIGHTS = {"mtcnn": "published", **{f"mtcnn_{name}": name for name in SELF_TRAINED}}


WEIGHTS_HELP = ("MTCNN weights: 'published' (the original cascade), "
                + "".join(f"'{name}' ({what}; see its model card), "
                          for name, what in SELF_TRAINED.items())
                + "or a folder holding pnet/rnet/onet.npz")


def is_mtcnn(name: str) -> bool:
  """An MTCNN cascade: ``mtcnn``, a shipped self-trained set, or ``mtcnn:FOLDER``."""
  return name in MTCNN_WEIGHTS or name.startswith("mtcnn:")


def mtcnn_detector_name(weights: str) -> str:
  """The detector id for a ``--weights`` value: ``published``, a shipped name, or a folder."""
  if weights in ("published", "mtcnn"):
    return "mtcnn"
  if weights in MTCNN_WEIGHTS:                       # a detector id, e.g. mtcnn_wider600
    return weights
  if f"mtcnn_{weights}" in MTCNN_WEIGHTS:
    return f"mtcnn_{weights}"
  if not os.path.isdir(weights):
    names = ", ".join(["published"] + [k[len("mtcnn_"):] for k in MTCNN_WEIGHTS if k != "mtcnn"])
    raise ValueError(f"--weights {weights!r} is neither a shipped set ({names}) nor a folder")
  return f"mtcnn:{weights}"


def mtcnn_params_source(name: str) -> str:
  """``"published"`` or the params folder of MTCNN detector ``name``."""
  if name.startswith("mtcnn:"):
    folder = name.split(":", 1)[1]
    if not folder:
      raise ValueError("detector 'mtcnn:FOLDER' needs a folder holding pnet/rnet/onet.npz")
    return folder
  source = MTCNN_WEIGHTS[name]
  if source == "published":
    return source
  return str(WEIGHTS_DIR / source)


def mtcnn_card_settings(source: str) -> dict:
  """Detector settings a params folder's ``model_card.json`` recommends (``"detector"``), or {}."""
  card = pathlib.Path(source) / "model_card.json"
  if source == "published" or not card.is_file():
    return {}
  settings = json.loads(card.read_text()).get("detector") or {}
  return {k: tuple(v) if isinstance(v, list) else v for k, v in settings.items()}


def _mtcnn(source: str = "published", **settings) -> Callable[[np.ndarray], dict]:
  params = load_params(source)
  settings = {**mtcnn_card_settings(source), **settings}

  def run(image):
    faces = detect(image, params=params, **settings)
    return {"boxes": faces.boxes, "scores": faces.scores, "landmarks": faces.landmarks}
  return run


def _empty(landmarks: bool = False) -> dict:
  return {"boxes": np.zeros((0, 4), np.float32), "scores": np.zeros((0,), np.float32),
          "landmarks": np.zeros((0, 5, 2), np.float32) if landmarks else None}


HAAR_FILES = {
    "haar_default": "haarcascade_frontalface_default.xml",
    "haar_alt": "haarcascade_frontalface_alt.xml",
    "haar_alt2": "haarcascade_frontalface_alt2.xml",
    "haar_alt_tree": "haarcascade_frontalface_alt_tree.xml",
    "haar_profile": "haarcascade_profileface.xml",
}


def _dedupe(boxes: np.ndarray, scores: np.ndarray, iou: float = 0.5) -> np.ndarray:
  """Greedy duplicate removal (host-side, for merging a cascade's two orientations)."""
  overlap = iou_matrix(boxes, boxes)
  keep: list[int] = []
  for i in np.argsort(-scores, kind="stable"):
    if all(overlap[i, j] <= iou for j in keep):
      keep.append(int(i))
  return np.asarray(keep, np.int64)


def _haar(name: str, *, min_face_size: float = 20.0, scale_factor: float = 1.1,
          min_neighbors: int = 3) -> Callable[[np.ndarray], dict]:
  """OpenCV Viola-Jones cascade; scores are ``detectMultiScale3`` level weights.

  ``haar_profile`` runs the (left-)profile cascade on the image and on its
  mirror, so faces turned either way are found; duplicates are merged.
  """
  if not hasattr(cv2, "CascadeClassifier"):
    raise RuntimeError("this OpenCV has no CascadeClassifier (OpenCV 5 dropped it): "
                       "install opencv-python>=4.8,<5")
  cascade = cv2.CascadeClassifier(cv2.data.haarcascades + HAAR_FILES[name])
  if cascade.empty():
    raise RuntimeError(f"cannot load {HAAR_FILES[name]} from {cv2.data.haarcascades}")
  size = int(round(min_face_size))

  def once(grey):
    rects, _, weights = cascade.detectMultiScale3(
        grey, scaleFactor=scale_factor, minNeighbors=min_neighbors, minSize=(size, size),
        outputRejectLevels=True)
    rects = np.asarray(rects, np.float32).reshape(-1, 4)
    boxes = np.concatenate([rects[:, :2], rects[:, :2] + rects[:, 2:]], axis=1)
    return boxes, np.asarray(weights, np.float32).reshape(-1)

  def run(image):
    grey = cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2GRAY)
    boxes, scores = once(grey)
    if name == "haar_profile":
      mirrored, mscores = once(np.ascontiguousarray(grey[:, ::-1]))
      width = grey.shape[1]
      mirrored = np.stack([width - mirrored[:, 2], mirrored[:, 1], width - mirrored[:, 0],
                           mirrored[:, 3]], axis=1)
      boxes = np.concatenate([boxes, mirrored])
      scores = np.concatenate([scores, mscores])
      keep = _dedupe(boxes, scores)
      boxes, scores = boxes[keep], scores[keep]
    return {"boxes": boxes.reshape(-1, 4), "scores": scores, "landmarks": None}
  return run


def _dlib_hog(*, upsample: int = 1, **_) -> Callable[[np.ndarray], dict]:
  # optional dependency: imported only when this detector is built
  import dlib  # pylint: disable=import-outside-toplevel
  hog = dlib.get_frontal_face_detector()

  def run(image):
    rects, scores, _ = hog.run(np.ascontiguousarray(image), upsample, -1.0)
    boxes = np.array([[r.left(), r.top(), r.right() + 1, r.bottom() + 1] for r in rects],
                     np.float32).reshape(-1, 4)
    return {"boxes": boxes, "scores": np.asarray(scores, np.float32), "landmarks": None}
  return run


def _facenet_pytorch(*, min_face_size: float = 20.0, **_) -> Callable[[np.ndarray], dict]:
  # optional dependencies: imported only when this detector is built
  import torch  # pylint: disable=import-outside-toplevel
  from facenet_pytorch import MTCNN  # pylint: disable=import-outside-toplevel
  net = MTCNN(keep_all=True, device="cpu", min_face_size=min_face_size)

  def run(image):
    with torch.inference_mode():
      boxes, probs, points = net.detect(image, landmarks=True)
    if boxes is None:
      return _empty(landmarks=True)
    return {"boxes": np.asarray(boxes, np.float32), "scores": np.asarray(probs, np.float32),
            "landmarks": np.asarray(points, np.float32)}
  return run


DETECTORS: dict[str, Callable[..., Callable[[np.ndarray], dict]]] = {
    **{name: functools.partial(_mtcnn, mtcnn_params_source(name)) for name in MTCNN_WEIGHTS},
    **{name: functools.partial(_haar, name) for name in HAAR_FILES},
    "dlib_hog": _dlib_hog,
    "facenet_pytorch": _facenet_pytorch,
}
WITH_LANDMARKS = (*MTCNN_WEIGHTS, "facenet_pytorch")     # detectors that output 5 landmarks
OPTIONAL = {"dlib_hog": "dlib (pip install dlib-bin)",
            "facenet_pytorch": "facenet-pytorch and torch (see benchmarks/README.md)"}


def is_known(name: str) -> bool:
  return name in DETECTORS or name.startswith("mtcnn:")


def has_landmarks(name: str) -> bool:
  return name in WITH_LANDMARKS or is_mtcnn(name)


def make_detector(name: str, **settings) -> Callable[[np.ndarray], dict]:
  """The detector ``name`` (see :data:`DETECTORS`, or ``mtcnn:FOLDER``), built with ``settings``."""
  if not is_known(name):
    raise ValueError(f"unknown detector {name!r}; known: {', '.join(DETECTORS)}, mtcnn:FOLDER")
  if name.startswith("mtcnn:"):
    return _mtcnn(mtcnn_params_source(name), **settings)
  try:
    return DETECTORS[name](**settings)
  except ImportError as e:
    raise ValueError(f"detector {name!r} needs {OPTIONAL.get(name, e.name)}, which is not "
                     f"installed (optional peers are never project dependencies)") from e


def detector_settings(name: str, **settings) -> dict:
  """What to record in a detection file's ``settings``."""
  info = {"package": f"mtcnn_jax {__version__}", "jax": jax.__version__,
          "device": str(jax.devices()[0])}
  if is_mtcnn(name):
    source = mtcnn_params_source(name)
    config = dataclasses.replace(DetectorConfig(), **{**mtcnn_card_settings(source), **settings})
    info.update(dataclasses.asdict(config),
                weights="published (mtcnn 1.0.0 wheel, MIT)" if source == "published"
                else f"self-trained ({source})")
  elif name in HAAR_FILES:
    info.update(opencv=cv2.__version__, cascade=HAAR_FILES[name], scaleFactor=1.1,
                minNeighbors=3, minSize=settings.get("min_face_size", 20.0),
                score="detectMultiScale3 levelWeights",
                mirrored=name == "haar_profile")
  return info
