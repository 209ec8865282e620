"""Ground truth of face images: the annotation files of ``../shared/data/faces``.

Boxes are ``[x1, y1, x2, y2]`` float pixels in continuous coordinates
(``x2 = x1 + width``), the convention of the annotation files and of the
reference detections.

Two layouts are read (:func:`load_annotations`): WIDER style (``boxes``,
``ignore``, ``box_attrs``, ``ignore_attrs`` per image) and the landmark
set's (``faces: [{"box", "landmarks"}]`` per image).

``min_face`` (:func:`apply_min_face`): GT faces whose box *height*
``y2 - y1`` is below ``min_face`` move to the ignore boxes. WIDER boxes are
usually taller than wide, so height is the face's larger side, the one
MTCNN's ``min_face_size`` (the side of its square windows) is closest to.

Boxes are checked on load (:func:`load_annotations`): a face box needs
``x2 > x1`` and ``y2 > y1`` and must overlap the image, or the file is
rejected (ValueError naming the file, image and box index); a box partly
outside the image is clipped to it (``0 <= x <= width``, ``0 <= y <= height``),
since detections never leave the image and an unclipped box could not reach
IoU 0.5 with them. Ignore regions follow the same rules, except that empty
ones (``x2 == x1`` or ``y2 == y1``: the WIDER files hold a few) are kept: they
cover nothing.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Mapping

import numpy as np

from mtcnn_jax.input_checks import checked_array, read_json

__all__ = ["ImageAnnotation", "load_annotations", "apply_min_face"]


@dataclasses.dataclass(frozen=True, eq=False)
class ImageAnnotation:
  """Ground truth of one image.

  Attributes:
    file: image path relative to the annotation file (the key detection files use).
    width, height: image size in pixels.
    boxes: float64 ``[N, 4]`` scored faces, xyxy.
    ignore: float64 ``[M, 4]`` ignore regions, xyxy.
    landmarks: float64 ``[N, 5, 2]`` (left eye, right eye, nose, mouth left,
      mouth right; "left" = image left), or None.
    box_attrs, ignore_attrs: int ``[N, A]`` / ``[M, A]`` per-box attributes
      (WIDER: blur, expression, illumination, invalid, occlusion, pose), or None.
    split: "train"/"test" where the file assigns one, else None.
  """
  file: str
  width: int
  height: int
  boxes: np.ndarray
  ignore: np.ndarray
  landmarks: np.ndarray | None = None
  box_attrs: np.ndarray | None = None
  ignore_attrs: np.ndarray | None = None
  split: str | None = None


def _boxes_and_landmarks(entry: Mapping, where: str) -> tuple[np.ndarray, np.ndarray | None]:
  """An image entry's face boxes ``[N, 4]`` and landmarks ``[N, 5, 2]`` (or None), either layout."""
  landmarks = None
  if "faces" in entry:  # landmark sets: [{"box": [...], "landmarks": [[x, y] x 5]}, ...]
    faces = entry["faces"]
    if not isinstance(faces, list) or not all(isinstance(f, Mapping) and "box" in f
                                              for f in faces):
      raise ValueError(f"{where}: 'faces' must be a list of objects with a 'box'")
    boxes = checked_array([f["box"] for f in faces], (4,), where, "faces[].box")
    if faces and all("landmarks" in f for f in faces):
      landmarks = checked_array([f["landmarks"] for f in faces], (5, 2), where,
                                "faces[].landmarks")
  elif "boxes" in entry:
    boxes = checked_array(entry["boxes"], (4,), where, "boxes")
    if entry.get("landmarks") is not None:
      landmarks = checked_array(entry["landmarks"], (5, 2), where, "landmarks")
  else:
    raise ValueError(f"{where}: needs 'boxes' (or 'faces')")
  return boxes, landmarks


def _attributes(entry: Mapping, boxes: np.ndarray, ignore: np.ndarray,
                where: str) -> dict[str, np.ndarray | None]:
  """``{"box_attrs", "ignore_attrs"}``: int ``[N, A]`` / ``[M, A]`` rows parallel to the
  boxes and ignore boxes, or None."""
  attrs = {}
  for key, parallel in (("box_attrs", boxes), ("ignore_attrs", ignore)):
    value = entry.get(key)
    if value is None:
      attrs[key] = None
      continue
    arr = np.asarray(value, np.int64)
    if arr.size == 0:
      arr = arr.reshape(0, 0)
    if arr.ndim != 2 or len(arr) != len(parallel):
      raise ValueError(f"{where}: {key} has shape {list(arr.shape)}, expected "
                       f"{len(parallel)} rows parallel to the boxes")
    attrs[key] = arr
  if attrs["box_attrs"] is not None and attrs["ignore_attrs"] is not None:
    # An empty list carries no width: borrow the other one's, so both stack.
    width = max(attrs["box_attrs"].shape[1], attrs["ignore_attrs"].shape[1])
    for key in ("box_attrs", "ignore_attrs"):
      if attrs[key].size == 0:
        attrs[key] = attrs[key].reshape(0, width)
  return attrs


def _checked_boxes(boxes: np.ndarray, width: int, height: int, where: str, what: str,
                   allow_empty: bool = False) -> np.ndarray:
  """``boxes`` clipped to the image, after checking each is a real box that overlaps it.

  Raises:
    ValueError: an inverted (or, unless ``allow_empty``, empty) box, or a
      non-empty box entirely outside the ``width`` x ``height`` image; the
      message names ``where`` and the box's index.
  """
  x1, y1, x2, y2 = boxes.T
  bad = ((x2 < x1) | (y2 < y1)) if allow_empty else ~((x2 > x1) & (y2 > y1))
  if bad.any():
    i = int(np.argmax(bad))
    raise ValueError(f"{where}: {what}[{i}] {boxes[i].tolist()} is inverted or empty "
                     "(needs x2 > x1 and y2 > y1)")
  outside = (x2 > x1) & (y2 > y1) & ((x2 <= 0) | (y2 <= 0) | (x1 >= width) | (y1 >= height))
  if outside.any():
    i = int(np.argmax(outside))
    raise ValueError(f"{where}: {what}[{i}] {boxes[i].tolist()} lies entirely outside the "
                     f"{width}x{height} image")
  return np.clip(boxes, 0.0, [width, height, width, height])


def _image_size(entry: Mapping, where: str) -> tuple[int, int]:
  """The entry's ``(width, height)``, positive integers."""
  try:
    width, height = int(entry["width"]), int(entry["height"])
  except (TypeError, ValueError):
    raise ValueError(f"{where}: width and height must be integers") from None
  if width < 1 or height < 1:
    raise ValueError(f"{where}: image size {width}x{height} is not positive")
  return width, height


def _parse_annotation(entry: Any, where: str) -> ImageAnnotation:
  if not isinstance(entry, Mapping):
    raise ValueError(f"{where}: expected an object, got {type(entry).__name__}")
  for key in ("file", "width", "height"):
    if key not in entry:
      raise ValueError(f"{where}: missing key {key!r}")
  where = f"{where} ({entry['file']})"
  width, height = _image_size(entry, where)
  boxes, landmarks = _boxes_and_landmarks(entry, where)
  boxes = _checked_boxes(boxes, width, height, where, "box")
  ignore = _checked_boxes(checked_array(entry.get("ignore"), (4,), where, "ignore"),
                          width, height, where, "ignore", allow_empty=True)
  if landmarks is not None and len(landmarks) != len(boxes):
    raise ValueError(f"{where}: {len(landmarks)} landmark sets for {len(boxes)} boxes")
  attrs = _attributes(entry, boxes, ignore, where)
  return ImageAnnotation(file=str(entry["file"]), width=width, height=height, boxes=boxes,
                         ignore=ignore,
                         landmarks=landmarks, split=entry.get("split"), **attrs)


def load_annotations(path) -> list[ImageAnnotation]:
  """Reads a ground-truth file of ``../shared/data/faces``.

  Accepts both layouts found there: WIDER style (``boxes``, ``ignore``,
  ``box_attrs``, ``ignore_attrs`` per image) and the landmark set's
  (``faces: [{"box", "landmarks"}]`` per image).

  Raises:
    FileNotFoundError: no such file.
    ValueError: not JSON, not an object with an ``images`` list, or an image
      entry with missing keys, badly shaped arrays, an inverted box or one
      entirely outside its image (the message names it). Boxes partly outside
      are clipped to the image (see the module docstring).
  """
  data = read_json(path, "annotation")
  if not isinstance(data, Mapping) or "images" not in data:
    raise ValueError(f"annotation file {path}: expected a JSON object with an 'images' list")
  images = data["images"]
  if isinstance(images, Mapping):
    raise ValueError(f"annotation file {path}: 'images' is a mapping, which is the detection "
                     "file layout; use load_detections for detection files")
  if not isinstance(images, list):
    raise ValueError(f"annotation file {path}: 'images' must be a list")
  out = [_parse_annotation(e, f"annotation file {path}, images[{i}]")
         for i, e in enumerate(images)]
  seen = set()
  for a in out:
    if a.file in seen:
      raise ValueError(f"annotation file {path}: image {a.file!r} appears twice")
    seen.add(a.file)
  return out


def apply_min_face(annotation: ImageAnnotation, min_face: float | None) -> ImageAnnotation:
  """Moves GT faces whose box height ``y2 - y1`` is below ``min_face`` into ``ignore``.

  Landmarks of moved faces are dropped; attributes follow their box when both
  ``box_attrs`` and ``ignore_attrs`` exist. ``None`` or 0 returns the input.
  """
  if not min_face:
    return annotation
  small = (annotation.boxes[:, 3] - annotation.boxes[:, 1]) < min_face
  if not small.any():
    return annotation
  keep = ~small
  box_attrs, ignore_attrs = annotation.box_attrs, annotation.ignore_attrs
  if (box_attrs is not None and ignore_attrs is not None
      and box_attrs.shape[1] == ignore_attrs.shape[1]):
    ignore_attrs = np.concatenate([ignore_attrs, box_attrs[small]])
  else:
    ignore_attrs = None
  return dataclasses.replace(
      annotation,
      boxes=annotation.boxes[keep],
      ignore=np.concatenate([annotation.ignore, annotation.boxes[small]]),
      landmarks=None if annotation.landmarks is None else annotation.landmarks[keep],
      box_attrs=None if box_attrs is None else box_attrs[keep],
      ignore_attrs=ignore_attrs)
