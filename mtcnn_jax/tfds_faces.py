"""TFDS ``wider_face`` and ``celeb_a`` as training data, in the project's annotation format.

MTCNN training reads images by path, in worker processes, from annotation
files in the ``../shared/data/faces/*/annotations.json`` format. On a machine
that can download TFDS datasets, a split is written out once in that format
(the encoded images copied as stored, plus ``annotations.json``) and then
trains like the shared data::

  python train.py mtcnn --config=mtcnn_jax/configs/cascade.py --workdir=runs/mtcnn_full \\
      --config.face_annotations=tfds:wider_face:train \\
      --config.landmark_annotations=tfds:celeb_a:train

(``train.py`` calls :func:`resolve`, which writes ``<workdir>/tfds/<name>_<split>/``
on first use and reuses it afterwards), or by hand::

  python -m mtcnn_jax.tfds_faces tfds:wider_face:train --out data/wider_train

The datasets must be prepared in TFDS's ``array_record`` format (the
default of ``tfds.load``/``download_and_prepare``); nothing is downloaded here.

* ``wider_face``: boxes are TFDS's normalised ``[ymin, xmin, ymax, xmax]``
  scaled to pixels. Faces flagged invalid, heavily blurred or heavily occluded,
  or with no area, become ignore regions: the rule of the shared WIDER subsets.
* ``celeb_a``: TFDS holds the *aligned* 178x218 crops with five landmarks
  (image-left eye first, as here) and no face boxes. Each face gets a square
  box around its landmarks (:func:`box_from_landmarks`), an approximation of
  the annotated boxes the paper used.
"""
from __future__ import annotations

import argparse
import io
import json
import os
import pathlib
import sys
from typing import Any, Callable, Iterable, Mapping

import numpy as np
import tensorflow_datasets as tfds
from PIL import Image
from tqdm.auto import tqdm

from espcn_mtcnn_common import tfds_images

__all__ = ["wider_face_record", "celeb_a_record", "box_from_landmarks", "write_annotations",
           "export", "resolve", "base_split", "spec_split", "RECORD_MAKERS", "CELEB_A_POINTS"]

# celeb_a's landmark keys in the project's point order (image-left eye, right
# eye, nose, image-left and right mouth corner).
CELEB_A_POINTS = ("lefteye", "righteye", "nose", "leftmouth", "rightmouth")

# Box side over the larger spread of the five points: on aligned CelebA crops
# (eyes about 39 px apart, mouth about 41 px below them) this gives the
# ~95 px square of forehead to chin that WIDER-style boxes cover.
_BOX_PER_SPREAD = 2.3


def _ignored(faces: Mapping[str, Any], n: int) -> np.ndarray:
  """The shared WIDER subsets' rule: invalid, heavy blur, heavy occlusion."""
  def field(key):
    return np.asarray(faces.get(key, np.zeros(n)), np.int64).reshape(-1)
  return (field("invalid") == 1) | (field("blur") == 2) | (field("occlusion") == 2)


def wider_face_record(example: Mapping[str, Any], file: str, height: int, width: int) -> dict:
  """A TFDS ``wider_face`` example -> an ``annotations.json`` image entry.

  Args:
    example: with ``faces`` ``{"bbox": [N, 4] normalised [ymin, xmin, ymax,
      xmax], "invalid", "blur", "occlusion": [N] ints}`` (missing flags count 0).
    file: the image path the entry records.
    height, width: the image size in pixels.

  Returns:
    ``{"file", "width", "height", "boxes", "ignore"}`` with pixel
    ``[x1, y1, x2, y2]`` boxes.
  """
  faces = example["faces"]
  bbox = np.asarray(faces["bbox"], np.float64).reshape(-1, 4)
  xyxy = np.stack([bbox[:, 1] * width, bbox[:, 0] * height, bbox[:, 3] * width,
                   bbox[:, 2] * height], axis=1)
  empty = (xyxy[:, 2] <= xyxy[:, 0]) | (xyxy[:, 3] <= xyxy[:, 1])
  ignore = _ignored(faces, len(bbox)) | empty
  return {"file": file, "width": int(width), "height": int(height),
          "boxes": xyxy[~ignore].tolist(), "ignore": xyxy[ignore].tolist()}


def box_from_landmarks(points: np.ndarray, height: int, width: int) -> list[float]:
  """A square face box around five landmarks ``[5, 2]`` (x, y), clipped to the image.

  Centred on the points' mean; side ``2.3 x`` the larger of their x and y
  spreads.
  """
  points = np.asarray(points, np.float64)
  cx, cy = points.mean(axis=0)
  half = 0.5 * _BOX_PER_SPREAD * max(np.ptp(points[:, 0]), np.ptp(points[:, 1]), 1.0)
  return [float(np.clip(cx - half, 0, width)), float(np.clip(cy - half, 0, height)),
          float(np.clip(cx + half, 0, width)), float(np.clip(cy + half, 0, height))]


def celeb_a_record(example: Mapping[str, Any], file: str, height: int, width: int,
                   split: str = "train") -> dict:
  """A TFDS ``celeb_a`` example -> an ``annotations.json`` entry with one landmarked face.

  Args:
    example: with ``landmarks`` ``{"lefteye_x", "lefteye_y", ...}`` in pixels.
    file, height, width: as for :func:`wider_face_record`.
    split: the split the entry records (the landmark loader filters on it).
  """
  marks = example["landmarks"]
  points = np.array([[float(marks[f"{p}_x"]), float(marks[f"{p}_y"])] for p in CELEB_A_POINTS])
  return {"file": file, "width": int(width), "height": int(height), "split": split,
          "faces": [{"box": box_from_landmarks(points, height, width),
                     "landmarks": points.tolist()}]}


RECORD_MAKERS: dict[str, Callable[..., dict]] = {"wider_face": wider_face_record,
                                                 "celeb_a": celeb_a_record}
"""TFDS dataset name (without version) -> its entry maker."""


def _record_maker(name: str) -> Callable[..., dict]:
  """The entry maker of TFDS dataset ``name`` (version and config ignored), or ``ValueError``."""
  base = name.split(":")[0].split("/")[0]
  if base not in RECORD_MAKERS:
    raise ValueError(f"no annotation mapping for TFDS dataset {name!r}; known: "
                     f"{', '.join(RECORD_MAKERS)}")
  return RECORD_MAKERS[base]


def _suffix(data: bytes) -> str:
  if data.startswith(b"\x89PNG"):
    return ".png"
  if data.startswith(b"\xff\xd8"):
    return ".jpg"
  raise ValueError("an example's image is neither JPEG nor PNG")


def base_split(split: str) -> str:
  """A TFDS split without slicing: ``"train[:20000]"`` -> ``"train"``."""
  return split.split("[", 1)[0]


def spec_split(annotations: str) -> str | None:
  """The base split a ``tfds:`` spec names (``None`` for annotation files)."""
  if not annotations.startswith("tfds:"):
    return None
  return base_split(tfds_images.parse_tfds_spec(annotations)[1])


def write_annotations(name: str, split: str, examples: Iterable[Mapping[str, Any]],
                      out_dir: str | os.PathLike, *, total: int | None = None,
                      progress: bool = True) -> pathlib.Path:
  """Write ``examples`` (TFDS examples with encoded ``image`` bytes) as images + annotations.

  Images go to ``out_dir/images/<split>_<index>.<jpg|png>`` byte for byte;
  ``annotations.json`` is written last (atomically), so its presence marks a
  complete export.

  Returns:
    The ``annotations.json`` path.

  Raises:
    ValueError: an unknown dataset, an undecodable image, or no examples.
  """
  make = _record_maker(name)
  out = pathlib.Path(out_dir)
  (out / "images").mkdir(parents=True, exist_ok=True)
  safe_split = "".join(c if c.isalnum() else "_" for c in split)
  entries = []
  for i, example in enumerate(tqdm(examples, total=total, desc=f"{name}:{split}", unit="img",
                                   disable=not progress)):
    data = example["image"]
    data = data if isinstance(data, bytes) else bytes(np.asarray(data).tobytes())
    try:
      with Image.open(io.BytesIO(data)) as img:          # the header only
        width, height = img.size
      file = f"images/{safe_split}_{i:06d}{_suffix(data)}"
    except (OSError, ValueError) as e:
      raise ValueError(f"{name}:{split} example {i}: unreadable image ({e})") from e
    (out / file).write_bytes(data)
    extra = {"split": base_split(split)} if make is celeb_a_record else {}
    entries.append(make(example, file, height, width, **extra))
  if not entries:
    raise ValueError(f"{name}:{split} has no examples")
  path = out / "annotations.json"
  tmp = path.with_suffix(".json.tmp")
  tmp.write_text(json.dumps({"dataset": f"tfds:{name}:{split}",
                             "source": "written by mtcnn_jax.tfds_faces",
                             "box_format": "x1,y1,x2,y2 in pixels",
                             "images": entries}) + "\n")
  tmp.replace(path)
  return path


def export(spec: str, out_dir: str | os.PathLike, *, data_dir: str | None = None,
           progress: bool = True) -> pathlib.Path:
  """Write a prepared TFDS split (``"tfds:wider_face:train"``, ``"tfds:celeb_a:train"``).

  Raises:
    ValueError: not a TFDS spec, an unknown dataset, or the dataset is not
      prepared (it is never downloaded here).
  """
  parsed = tfds_images.parse_tfds_spec(spec)
  if parsed is None:
    raise ValueError(f"not a TFDS spec (tfds:NAME[:SPLIT]): {spec!r}")
  name, split = parsed
  _record_maker(name)                      # an unknown dataset fails before TFDS is touched
  data_dir = data_dir or os.environ.get("TFDS_DATA_DIR")
  source = tfds_images.open_data_source(name, split, data_dir,
                                        decoders={"image": tfds.decode.SkipDecoding()})
  return write_annotations(name, split, (source[i] for i in range(len(source))), out_dir,
                           total=len(source), progress=progress)


def resolve(annotations: str, cache_root: str | os.PathLike, *, progress: bool = True) -> str:
  """An annotation file or folder as it is; a TFDS spec written out under ``cache_root`` once.

  Returns:
    A path :func:`mtcnn_jax.sampling.training_images.load_face_annotations` (or the
    landmark loader) reads; ``""`` stays ``""``.
  """
  if not annotations.startswith("tfds:"):
    return annotations
  name, split = tfds_images.parse_tfds_spec(annotations)
  folder = pathlib.Path(cache_root) / "".join(
      c if c.isalnum() or c in "._-" else "_" for c in f"{name}_{split}")
  if not (folder / "annotations.json").is_file():
    export(annotations, folder, progress=progress)
  return str(folder / "annotations.json")


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(
      prog="python -m mtcnn_jax.tfds_faces",
      description="Write a prepared TFDS wider_face or celeb_a split as images plus an "
                  "annotations.json that train.py mtcnn and evaluate.py mtcnn read.")
  parser.add_argument("spec", help="tfds:wider_face[:SPLIT] or tfds:celeb_a[:SPLIT]")
  parser.add_argument("--out", required=True, help="output folder")
  parser.add_argument("--data-dir", help="TFDS data_dir (default: $TFDS_DATA_DIR or "
                      "~/tensorflow_datasets)")
  parser.add_argument("--no-progress", action="store_true")
  args = parser.parse_args(argv)
  try:
    path = export(args.spec, args.out, data_dir=args.data_dir, progress=not args.no_progress)
  except ValueError as e:
    print(f"error: {e}", file=sys.stderr)
    return 2
  print(f"wrote {path}")
  return 0


if __name__ == "__main__":
  sys.exit(main())
