"""Tiny generated face and landmark sets for the MTCNN training tests (no ../shared needed).

Made from the embedded images of :mod:`mtcnn_jax.demo_faces` (the public-domain
portrait and the collage of its face with exact boxes), halved in size so
that mining compiles quickly. The landmark points are rough hand placements
on the portrait: good enough for plumbing, not for accuracy.
"""
from __future__ import annotations

import json
import pathlib

import numpy as np
from PIL import Image

from mtcnn_jax.configs import cascade
from mtcnn_jax.demo_faces import HOPPER_BOX, sample_faces

REPO = pathlib.Path(__file__).resolve().parents[2]

# Eye centres, nose tip, mouth corners on the portrait (image-left first), pixels.
HOPPER_POINTS = np.array([[228.0, 204.0], [300.0, 206.0], [264.0, 246.0], [234.0, 286.0],
                          [294.0, 288.0]])


def _half(image: np.ndarray) -> np.ndarray:
  h, w = image.shape[:2]
  return np.asarray(Image.fromarray(image).resize((w // 2, h // 2), Image.Resampling.BOX))


def write_face_set(folder: pathlib.Path) -> pathlib.Path:
  """``folder/annotations.json`` + 3 images (portrait, collage, mirrored collage), halved."""
  folder.mkdir(parents=True, exist_ok=True)
  entries = []
  items = sample_faces()
  collage_ann, collage = items[1]
  items.append((collage_ann, collage[:, ::-1]))
  for i, (ann, image) in enumerate(items):
    small = _half(image)
    boxes = ann.boxes / 2.0
    if i == 2:   # the mirrored collage
      boxes = np.stack([small.shape[1] - boxes[:, 2], boxes[:, 1], small.shape[1] - boxes[:, 0],
                        boxes[:, 3]], 1)
    name = f"images/face{i}.png"
    (folder / "images").mkdir(exist_ok=True)
    Image.fromarray(small).save(folder / name)
    entries.append({"file": name, "width": small.shape[1], "height": small.shape[0],
                    "boxes": np.round(boxes, 2).tolist(), "ignore": []})
  (folder / "annotations.json").write_text(json.dumps({"images": entries}))
  return folder / "annotations.json"


def write_landmark_set(folder: pathlib.Path) -> pathlib.Path:
  """``folder/annotations.json``: the halved portrait and its mirror (train), and one test image."""
  folder.mkdir(parents=True, exist_ok=True)
  (folder / "images").mkdir(exist_ok=True)
  hopper = _half(sample_faces()[0][1])
  width = hopper.shape[1]
  box, points = HOPPER_BOX / 2.0, HOPPER_POINTS / 2.0
  mirrored_box = [width - box[2], box[1], width - box[0], box[3]]
  mirrored_points = np.stack([width - points[[1, 0, 2, 4, 3], 0], points[[1, 0, 2, 4, 3], 1]], 1)
  entries = []
  for name, image, b, p, split in (("a.png", hopper, box, points, "train"),
                                   ("b.png", hopper[:, ::-1], mirrored_box, mirrored_points,
                                    "train"),
                                   ("c.png", hopper, box, points, "test")):
    Image.fromarray(np.ascontiguousarray(image)).save(folder / "images" / name)
    entries.append({"file": f"images/{name}", "width": width, "height": hopper.shape[0],
                    "split": split, "faces": [{"box": list(map(float, b)),
                                               "landmarks": np.asarray(p).tolist()}]})
  (folder / "annotations.json").write_text(json.dumps({"images": entries}))
  return folder / "annotations.json"


def smoke_config(face_annotations, landmark_annotations="", **overrides):
  """The cascade config's ``smoke`` variant on the given files."""
  c = cascade.get_config("smoke")
  c.face_annotations = str(face_annotations)
  c.landmark_annotations = str(landmark_annotations)
  for key, value in overrides.items():
    node = c
    *parents, leaf = key.split(".")
    for p in parents:
      node = node[p]
    node[leaf] = value
  return c
