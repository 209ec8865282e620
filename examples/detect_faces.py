"""Detect faces in a photo file, print them as ipazc ``mtcnn`` dicts, save crops.

  python examples/detect_faces.py [--out DIR]

The photo is the embedded collage of six faces (``mtcnn_jax.demo_faces``; no
download), at half size (320x240) so that the cascade compiles quickly. It is
written to ``DIR/collage.png`` and detected from that path. Written to
``DIR`` (default: a new temporary folder), and nowhere else:

* ``faces.json``: the faces as ipazc's ``detect_faces`` gives them;
* ``annotated.png``: boxes, scores and landmarks drawn;
* ``crop_K.png``: 160-px crops with a 20-px margin, as facenet-pytorch's
  ``MTCNN(image_size=160, margin=20)`` cuts them (``extract_faces``);
* ``aligned_K.png``: 112-px crops aligned by the landmarks (``align_faces``).
"""
from __future__ import annotations

import argparse
import json
import pathlib
import sys
import tempfile

import numpy as np
from PIL import Image

import mtcnn_jax
from espcn_mtcnn_common.image_io import write_image
from mtcnn_jax.demo_faces import sample_faces
from mtcnn_jax.draw import draw_detections


def write_photo(folder: pathlib.Path) -> pathlib.Path:
  """The embedded collage at half size, uint8 [240, 320, 3], as ``folder/collage.png``."""
  collage = sample_faces()[1][1]
  small = np.asarray(Image.fromarray(collage).resize((320, 240), Image.Resampling.BOX))
  write_image(folder / "collage.png", small)
  return folder / "collage.png"


def main(argv: list[str] | None = None) -> int:
  parser = argparse.ArgumentParser(description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--out", help="output folder (default: a new temporary folder)")
  args = parser.parse_args(argv)
  out = pathlib.Path(args.out) if args.out else pathlib.Path(tempfile.mkdtemp(prefix="faces_"))
  out.mkdir(parents=True, exist_ok=True)
  path = write_photo(out)

  faces = mtcnn_jax.detect(path)               # a path, PIL image, uint8 or float array
  image = np.asarray(Image.open(path))         # only to clip boxes and draw
  dicts = mtcnn_jax.to_ipazc(faces, image.shape)
  for face in dicts:
    print(json.dumps(face))
  largest = mtcnn_jax.detect(path, select_largest=True, keep_all=False)
  print(f"largest face: box {mtcnn_jax.to_ipazc(largest)[0]['box']} (x, y, w, h)")

  crops = mtcnn_jax.extract_faces(path, faces, image_size=160, margin=20)   # uint8 [N, 160, 160, 3]
  aligned = mtcnn_jax.align_faces(path, faces)                              # uint8 [N, 112, 112, 3]
  for k, (crop, face) in enumerate(zip(crops, aligned)):
    write_image(out / f"crop_{k}.png", crop)
    write_image(out / f"aligned_{k}.png", face)
  write_image(out / "annotated.png", draw_detections(image, faces))
  (out / "faces.json").write_text(json.dumps(dicts, indent=1))
  print(f"{len(faces)} faces; crops, aligned faces, faces.json and annotated.png in {out}")
  return 0


if __name__ == "__main__":
  sys.exit(main())
