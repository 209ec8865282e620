"""The images training reads: faces to learn from, regions that must not be negatives, landmarks.

Read from annotation files in the ``../shared/data/faces/*/annotations.json``
format (a file, or a folder holding ``annotations.json``); image paths are
relative to the file.
"""
from __future__ import annotations

import dataclasses
import pathlib

import numpy as np

from mtcnn_jax.annotations import load_annotations

__all__ = ["FaceImage", "annotation_file", "load_face_annotations", "load_landmark_annotations"]


@dataclasses.dataclass(frozen=True)
class FaceImage:
  """One training image: its path, usable faces, no-negative regions and landmarks.

  ``faces [F, 4]`` and ``others [M, 4]`` are continuous pixel boxes;
  ``points [F, 5, 2]`` the faces' landmarks, or None.
  """
  path: pathlib.Path
  faces: np.ndarray
  others: np.ndarray
  points: np.ndarray | None = None


def annotation_file(path) -> pathlib.Path:
  """``path`` itself, or ``path/annotations.json`` when it is a folder."""
  path = pathlib.Path(path)
  if path.is_dir():
    path = path / "annotations.json"
  return path


def _check_images(images: list[FaceImage], path: pathlib.Path) -> None:
  missing = [str(im.path) for im in images if not im.path.is_file()]
  if missing:
    raise FileNotFoundError(f"{path}: {len(missing)} of {len(images)} images are missing, e.g. "
                            + ", ".join(missing[:3]))


def load_face_annotations(path, min_face_side: float = 20.0) -> list[FaceImage]:
  """Box annotations (the ``../shared/data/faces/*/annotations.json`` format) for training.

  Faces with ``max(w, h) >= min_face_side`` are usable; smaller faces and
  ignore regions become no-negative regions.

  Raises:
    FileNotFoundError: no annotation file, or images it lists are missing.
    ValueError: no images, or no usable face in any image.
  """
  path = annotation_file(path)
  annotations = load_annotations(path)
  if not annotations:
    raise ValueError(f"{path}: the annotation file lists no images")
  images = []
  for ann in annotations:
    w, h = ann.boxes[:, 2] - ann.boxes[:, 0], ann.boxes[:, 3] - ann.boxes[:, 1]
    usable = np.maximum(w, h) >= min_face_side
    images.append(FaceImage(path.parent / ann.file, ann.boxes[usable],
                            np.concatenate([ann.ignore, ann.boxes[~usable]]).reshape(-1, 4)))
  if not any(len(im.faces) for im in images):
    raise ValueError(f"{path}: no face of at least {min_face_side} px in any of its "
                     f"{len(images)} images; nothing to learn faces from")
  _check_images(images, path)
  return images


def load_landmark_annotations(path, split: str = "train") -> list[FaceImage]:
  """Faces with 5-point landmarks (the landmark set's ``annotations.json``), one split.

  Raises:
    FileNotFoundError: no annotation file, or missing images.
    ValueError: no image of ``split`` carries landmarks.
  """
  path = annotation_file(path)
  annotations = [a for a in load_annotations(path)
                 if a.landmarks is not None and len(a.boxes) and a.split in (None, split)]
  if not annotations:
    raise ValueError(f"{path}: no image of split {split!r} has faces with landmarks")
  images = [FaceImage(path.parent / a.file, a.boxes, a.ignore, a.landmarks) for a in annotations]
  _check_images(images, path)
  return images
