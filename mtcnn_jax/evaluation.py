"""Face-detection evaluation: AP, operating-point figures, ROC, landmark NME, parity.

Host-side, pure NumPy. Boxes are ``[x1, y1, x2, y2]`` float pixels in
continuous coordinates (``x2 = x1 + width``), the convention of the annotation
files in ``../shared/data/faces`` and of the reference detections; IoU has no
``+1``.

Scoring protocol (the one ``wider_val_dev/reference/README.md`` states):

* Matching, per image: detections in descending score (ties keep file order);
  each takes the best still-unmatched ground-truth (GT) face with
  IoU >= ``iou_threshold`` (0.5) and is a true positive (TP). A detection that
  takes no GT but has IoU >= ``iou_threshold`` with an ``ignore`` box is
  neither TP nor false positive (FP); any number of detections may land on one
  ignore box. Everything else is a FP, duplicates on an already-taken GT
  included. The ignore test is IoU, as the README says, not
  intersection-over-detection-area (which would also excuse small detections
  inside a large ignore box).
* ``min_face``: GT faces whose box *height* ``y2 - y1`` is below ``min_face``
  move to the ignore boxes (``apply_min_face``). WIDER boxes are usually taller
  than wide, so height is the face's larger side, the one MTCNN's
  ``min_face_size`` (the side of its square windows) is closest to.
* AP: all-point interpolation (PASCAL VOC 2010+) of the precision/recall curve
  of the pooled, non-ignored detections of every image. The recall denominator
  is the number of non-ignored GT faces, including those of images the
  detections do not mention (they count as images with no detections). The
  curve is sampled at each distinct score, so tied scores enter or leave
  together and AP does not depend on the order of tied detections.
"""
from __future__ import annotations

import dataclasses
import json
import math
import pathlib
from typing import Any, Mapping

import numpy as np

__all__ = [
    "ImageAnnotation",
    "load_annotations",
    "apply_min_face",
    "load_detections",
    "save_detections",
    "shift_detections",
    "iou_matrix",
    "match_image",
    "evaluate_detections",
    "evaluate_file",
    "summarize",
    "landmark_error",
    "evaluate_landmarks",
    "agreement",
    "FPPI_LEVELS",
]

FPPI_LEVELS = (0.1, 0.5, 1.0)
_FROM_SETTINGS = "settings"


# --------------------------------------------------------------------------
# Ground truth


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


def _array(value, shape_tail: tuple[int, ...], where: str, what: str,
           dtype=np.float64) -> np.ndarray:
  """``value`` as an array of shape ``[K, *shape_tail]``; empty lists give K = 0."""
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


def _read_json(path, kind: str) -> Any:
  path = pathlib.Path(path)
  if not path.is_file():
    raise FileNotFoundError(f"{kind} file {path} does not exist")
  try:
    with open(path, encoding="utf-8") as f:
      return json.load(f)
  except (json.JSONDecodeError, UnicodeDecodeError) as e:
    raise ValueError(f"{kind} file {path} is not valid JSON: {e}") from None


def _parse_annotation(entry: Any, where: str) -> ImageAnnotation:
  if not isinstance(entry, Mapping):
    raise ValueError(f"{where}: expected an object, got {type(entry).__name__}")
  for key in ("file", "width", "height"):
    if key not in entry:
      raise ValueError(f"{where}: missing key {key!r}")
  where = f"{where} ({entry['file']})"
  landmarks = None
  if "faces" in entry:  # landmark sets: [{"box": [...], "landmarks": [[x, y] x 5]}, ...]
    faces = entry["faces"]
    if not isinstance(faces, list) or not all(isinstance(f, Mapping) and "box" in f
                                              for f in faces):
      raise ValueError(f"{where}: 'faces' must be a list of objects with a 'box'")
    boxes = _array([f["box"] for f in faces], (4,), where, "faces[].box")
    if faces and all("landmarks" in f for f in faces):
      landmarks = _array([f["landmarks"] for f in faces], (5, 2), where, "faces[].landmarks")
  elif "boxes" in entry:
    boxes = _array(entry["boxes"], (4,), where, "boxes")
    if entry.get("landmarks") is not None:
      landmarks = _array(entry["landmarks"], (5, 2), where, "landmarks")
  else:
    raise ValueError(f"{where}: needs 'boxes' (or 'faces')")
  ignore = _array(entry.get("ignore"), (4,), where, "ignore")
  if landmarks is not None and len(landmarks) != len(boxes):
    raise ValueError(f"{where}: {len(landmarks)} landmark sets for {len(boxes)} boxes")
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
  return ImageAnnotation(file=str(entry["file"]), width=int(entry["width"]),
                         height=int(entry["height"]), boxes=boxes, ignore=ignore,
                         landmarks=landmarks, split=entry.get("split"), **attrs)


def load_annotations(path) -> list[ImageAnnotation]:
  """Reads a ground-truth file of ``../shared/data/faces``.

  Accepts both layouts found there: WIDER style (``boxes``, ``ignore``,
  ``box_attrs``, ``ignore_attrs`` per image) and the landmark set's
  (``faces: [{"box", "landmarks"}]`` per image).

  Raises:
    FileNotFoundError: no such file.
    ValueError: not JSON, not an object with an ``images`` list, or an image
      entry with missing keys or badly shaped arrays (the message names it).
  """
  data = _read_json(path, "annotation")
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


# --------------------------------------------------------------------------
# Detection files


def _field(det: Any, key: str):
  if isinstance(det, Mapping):
    return det.get(key)
  return getattr(det, key, None)


def _as_detection(det: Any, where: str = "detections") -> dict:
  """Normalises a detection record (mapping or object with attributes).

  Input fields: ``boxes [K, 4]``, ``scores [K]``, optional ``landmarks [K, 5, 2]``,
  optional ``ms`` and optional boolean ``valid [K]`` (padded outputs: only valid
  rows are kept). Returns a dict with float64 ``boxes``, ``scores``,
  ``landmarks`` (or None) and ``ms`` (float or None).
  """
  boxes = _field(det, "boxes")
  scores = _field(det, "scores")
  if boxes is None or scores is None:
    raise ValueError(f"{where}: needs 'boxes' and 'scores'")
  boxes = _array(np.asarray(boxes), (4,), where, "boxes")
  scores = _array(np.asarray(scores).reshape(-1), (), where, "scores")
  landmarks = _field(det, "landmarks")
  if landmarks is not None:
    landmarks = _array(np.asarray(landmarks), (5, 2), where, "landmarks")
  valid = _field(det, "valid")
  if valid is not None:
    valid = np.asarray(valid, bool).reshape(-1)
    if len(valid) != len(boxes):
      raise ValueError(f"{where}: 'valid' has {len(valid)} entries for {len(boxes)} boxes")
    boxes, scores = boxes[valid], scores[valid]
    landmarks = None if landmarks is None else landmarks[valid]
  if len(scores) != len(boxes):
    raise ValueError(f"{where}: {len(scores)} scores for {len(boxes)} boxes")
  if landmarks is not None and len(landmarks) != len(boxes):
    if len(landmarks) == 0:
      landmarks = None  # "landmarks": [] written alongside boxes by some tools
    else:
      raise ValueError(f"{where}: {len(landmarks)} landmark sets for {len(boxes)} boxes")
  ms = _field(det, "ms")
  if ms is not None:
    try:
      ms = float(ms)
    except (TypeError, ValueError):
      raise ValueError(f"{where}: 'ms' must be a number or null, got {ms!r}") from None
  return {"boxes": boxes, "scores": scores, "landmarks": landmarks, "ms": ms}


def load_detections(path) -> tuple[str, dict, dict[str, dict]]:
  """Reads a detection file in the reference format.

  Format: ``{"detector": str, "settings": {...}, "images": {file: {"boxes":
  [[x1, y1, x2, y2], ...], "scores": [...], "landmarks": [[[x, y] x 5], ...]
  (optional), "ms": float (optional)}}}``.

  Returns:
    ``(detector, settings, per_image)``; ``per_image[file]`` is a dict with
    float64 ``boxes [K, 4]``, ``scores [K]``, ``landmarks [K, 5, 2]`` or None,
    and ``ms`` (float or None).
  """
  data = _read_json(path, "detection")
  if not isinstance(data, Mapping) or not isinstance(data.get("images"), Mapping):
    hint = (" ('images' is a list: this looks like an annotation file)"
            if isinstance(data, Mapping) and isinstance(data.get("images"), list) else "")
    raise ValueError(f"detection file {path}: expected a JSON object with 'detector', "
                     f"'settings' and an 'images' mapping{hint}")
  settings = data.get("settings") or {}
  if not isinstance(settings, Mapping):
    raise ValueError(f"detection file {path}: 'settings' must be an object")
  per_image = {str(f): _as_detection(d if isinstance(d, Mapping) else {},
                                     f"detection file {path}, image {f!r}")
               for f, d in data["images"].items()}
  return str(data.get("detector", "")), dict(settings), per_image


def save_detections(path, detector: str, settings: Mapping | None,
                    per_image: Mapping[str, Any]) -> None:
  """Writes detections in the reference format (see ``load_detections``).

  ``per_image`` maps image file -> detection record (a mapping or an object
  with ``boxes``, ``scores``, optional ``landmarks``, ``ms`` and ``valid``).
  Boxes and landmarks are rounded to 4 decimals, ``ms`` to 3; scores are kept
  in full. The JSON is compact with a final newline, like the reference files
  (loading and saving one reproduces it byte for byte); ``landmarks`` is
  written only where present and ``ms`` always (null when unknown).
  """
  images = {}
  for file, det in per_image.items():
    d = _as_detection(det, f"detections for {file!r}")
    record = {"boxes": np.round(d["boxes"], 4).tolist(),
              "scores": d["scores"].tolist()}
    if d["landmarks"] is not None:
      record["landmarks"] = np.round(d["landmarks"], 4).tolist()
    record["ms"] = None if d["ms"] is None else round(d["ms"], 3)
    images[str(file)] = record
  text = json.dumps({"detector": detector, "settings": dict(settings or {}), "images": images},
                    separators=(",", ":"), allow_nan=False)
  pathlib.Path(path).write_text(text + "\n", encoding="utf-8")


def shift_detections(per_image: Mapping[str, Any], dx: float, dy: float) -> dict[str, dict]:
  """Translates every box and landmark by ``(dx, dy)`` pixels.

  ``shift_detections(facenet, -1, -1)`` moves facenet-pytorch's 1-based
  output onto the 0-based convention (reference README).
  """
  out = {}
  for file, det in per_image.items():
    d = _as_detection(det, f"detections for {file!r}")
    d["boxes"] = d["boxes"] + np.array([dx, dy, dx, dy])
    if d["landmarks"] is not None:
      d["landmarks"] = d["landmarks"] + np.array([dx, dy])
    out[file] = d
  return out


# --------------------------------------------------------------------------
# Matching


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
  """Intersection over union of every pair, continuous coordinates (no ``+1``).

  Args:
    a: ``[N, 4]`` xyxy boxes. b: ``[M, 4]`` xyxy boxes.

  Returns:
    float64 ``[N, M]`` in [0, 1]. Boxes with no area have IoU 0 with everything.
  """
  a = _array(a, (4,), "iou_matrix", "a")
  b = _array(b, (4,), "iou_matrix", "b")
  iw = np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0])
  ih = np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1])
  inter = np.clip(iw, 0, None) * np.clip(ih, 0, None)
  area_a = np.clip(a[:, 2] - a[:, 0], 0, None) * np.clip(a[:, 3] - a[:, 1], 0, None)
  area_b = np.clip(b[:, 2] - b[:, 0], 0, None) * np.clip(b[:, 3] - b[:, 1], 0, None)
  union = area_a[:, None] + area_b[None, :] - inter
  return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def _score_order(scores: np.ndarray) -> np.ndarray:
  return np.argsort(-np.asarray(scores, np.float64), kind="stable")


def _greedy_assign(order: np.ndarray, iou: np.ndarray, threshold: float) -> np.ndarray:
  """Rows in ``order`` each take the free column of highest IoU >= threshold.

  Returns int64 ``[rows]``: the column taken, or -1.
  """
  taken = np.zeros(iou.shape[1], bool)
  assigned = np.full(iou.shape[0], -1, np.int64)
  if iou.shape[1] == 0:
    return assigned
  for k in order:
    row = np.where(taken, -1.0, iou[k])
    j = int(np.argmax(row))
    if row[j] >= threshold:
      assigned[k] = j
      taken[j] = True
  return assigned


def match_image(det_boxes: np.ndarray, det_scores: np.ndarray, gt_boxes: np.ndarray,
                ignore_boxes: np.ndarray, iou_threshold: float = 0.5) -> np.ndarray:
  """Labels one image's detections: 1 TP, 0 FP, -1 ignored.

  Greedy in descending score (ties in input order): each detection takes the
  still-unmatched GT box of highest IoU >= ``iou_threshold`` (TP). One that
  takes none but has IoU >= ``iou_threshold`` with some ignore box is ignored
  (-1); ignore boxes may absorb any number of detections. The rest are FP.

  Args:
    det_boxes: ``[K, 4]``; det_scores: ``[K]``; gt_boxes: ``[N, 4]``;
    ignore_boxes: ``[M, 4]``, all xyxy.

  Returns:
    int64 ``[K]`` labels in the input order of the detections.
  """
  det_boxes = _array(det_boxes, (4,), "match_image", "det_boxes")
  det_scores = _array(det_scores, (), "match_image", "det_scores")
  if len(det_scores) != len(det_boxes):
    raise ValueError(f"match_image: {len(det_scores)} scores for {len(det_boxes)} boxes")
  assigned = _greedy_assign(_score_order(det_scores), iou_matrix(det_boxes, gt_boxes),
                            iou_threshold)
  labels = np.where(assigned >= 0, 1, 0).astype(np.int64)
  ignore_boxes = _array(ignore_boxes, (4,), "match_image", "ignore_boxes")
  if len(ignore_boxes) and len(det_boxes):
    on_ignore = (iou_matrix(det_boxes, ignore_boxes) >= iou_threshold).any(axis=1)
    labels[(assigned < 0) & on_ignore] = -1
  return labels


# --------------------------------------------------------------------------
# Detection metrics


def _curve(scores: np.ndarray, labels: np.ndarray):
  """Cumulative TP/FP at each distinct score, highest first (labels in {0, 1})."""
  order = _score_order(scores)
  s, tp_flags = scores[order], labels[order] == 1
  tp = np.cumsum(tp_flags)
  fp = np.cumsum(~tp_flags)
  last = np.r_[s[1:] != s[:-1], True] if len(s) else np.zeros(0, bool)
  return s[last], tp[last].astype(np.int64), fp[last].astype(np.int64)


def _average_precision(recall: np.ndarray, precision: np.ndarray) -> tuple[float, np.ndarray]:
  """All-point interpolated AP and the monotone precision envelope."""
  if len(recall) == 0:
    return 0.0, np.zeros(0)
  envelope = np.maximum.accumulate(precision[::-1])[::-1]
  steps = np.diff(np.r_[0.0, recall])
  return float(np.sum(steps * envelope)), envelope


def evaluate_detections(annotations: list[ImageAnnotation],
                        detections_by_file: Mapping[str, Any],
                        iou_threshold: float = 0.5,
                        min_face: float | None = None,
                        operating_threshold: float | None = None,
                        fppi_levels: tuple[float, ...] = FPPI_LEVELS) -> dict:
  """Scores detections against ground truth (protocol in the module docstring).

  Args:
    annotations: from ``load_annotations``.
    detections_by_file: image file -> detection record (``load_detections``'s
      third output, or anything ``boxes``/``scores`` records). Annotated images
      absent from it count as having no detections; files that are not
      annotated are skipped (counted in ``num_images_unannotated``).
    iou_threshold: IoU needed to match a GT face or an ignore box.
    min_face: GT faces with height below this become ignore boxes (None: keep all).
    operating_threshold: detections with score >= this make the operating
      point (``tp``, ``fp``, ``recall``, ``precision``); None uses them all.
      AP and the curves always use every detection.
    fppi_levels: false positives per image for ``recall_at_fp_per_image``.

  Returns:
    A dict with
      ap: all-point interpolated average precision.
      num_images, num_images_missing, missing_files, num_images_unannotated,
      num_gt (non-ignored GT faces), num_ignore (ignore boxes),
      num_det, num_det_ignored, tp, fp, recall, precision, fp_per_image: the
        operating point (num_det = tp + fp + num_det_ignored; precision is NaN
        without detections), operating_threshold, iou_threshold, min_face.
      max_recall: recall with every detection.
      pr_thresholds: float64 ``[T]`` distinct scores, descending; the curves
        below are sampled at "score >= threshold".
      pr_recall, pr_precision, pr_precision_interp: ``[T]``; the last is the
        monotone envelope AP integrates.
      roc_tp, roc_fp: int64 ``[T]`` cumulative TP and FP counts (FDDB-style
        discrete ROC, but with this greedy matching).
      recall_at_fp_per_image: {fppi: highest recall reached with at most
        ``fppi * num_images`` FP}.
      median_ms, per_image_ms: timing over the annotated images that carry
        ``ms`` (None and {} when none do).
  """
  if not annotations:
    raise ValueError("evaluate_detections: no annotations")
  missing = [a.file for a in annotations if a.file not in detections_by_file]
  if len(missing) == len(annotations):
    first = next(iter(detections_by_file), None)
    raise ValueError(
        f"the detections cover none of the {len(annotations)} annotated images (first "
        f"annotated file {annotations[0].file!r}, first detection key {first!r}); detection "
        "keys must be the annotation 'file' fields")
  annotated = {a.file for a in annotations}
  num_gt = num_ignore = 0
  all_scores, all_labels, per_image_ms = [], [], {}
  for ann in annotations:
    ann = apply_min_face(ann, min_face)
    num_gt += len(ann.boxes)
    num_ignore += len(ann.ignore)
    if ann.file not in detections_by_file:
      continue
    det = _as_detection(detections_by_file[ann.file], f"detections for {ann.file!r}")
    all_scores.append(det["scores"])
    all_labels.append(match_image(det["boxes"], det["scores"], ann.boxes, ann.ignore,
                                  iou_threshold))
    if det["ms"] is not None:
      per_image_ms[ann.file] = det["ms"]
  scores = np.concatenate(all_scores)
  labels = np.concatenate(all_labels)
  scored = labels >= 0
  thresholds, roc_tp, roc_fp = _curve(scores[scored], labels[scored])
  denom = num_gt if num_gt else math.nan
  pr_recall = roc_tp / denom
  pr_precision = roc_tp / np.maximum(roc_tp + roc_fp, 1)
  ap, envelope = _average_precision(pr_recall, pr_precision)
  if not num_gt:
    ap = math.nan

  op = np.ones(len(scores), bool) if operating_threshold is None else (
      scores >= operating_threshold)
  tp = int(np.sum(op & (labels == 1)))
  fp = int(np.sum(op & (labels == 0)))
  num_images = len(annotations)
  fppi = {}
  for level in fppi_levels:
    within = roc_fp <= level * num_images
    fppi[level] = float(roc_tp[within].max(initial=0) / denom)
  return {
      "ap": ap,
      "iou_threshold": iou_threshold,
      "min_face": min_face,
      "operating_threshold": operating_threshold,
      "num_images": num_images,
      "num_images_missing": len(missing),
      "missing_files": missing,
      "num_images_unannotated": sum(1 for f in detections_by_file if f not in annotated),
      "num_gt": num_gt,
      "num_ignore": num_ignore,
      "num_det": int(op.sum()),
      "num_det_ignored": int(np.sum(op & (labels < 0))),
      "tp": tp,
      "fp": fp,
      "recall": tp / denom,
      "precision": tp / (tp + fp) if tp + fp else math.nan,
      "fp_per_image": fp / num_images,
      "max_recall": (float(roc_tp[-1]) if len(roc_tp) else 0.0) / denom,
      "pr_thresholds": thresholds,
      "pr_recall": pr_recall,
      "pr_precision": pr_precision,
      "pr_precision_interp": envelope,
      "roc_tp": roc_tp,
      "roc_fp": roc_fp,
      "recall_at_fp_per_image": fppi,
      "median_ms": float(np.median(list(per_image_ms.values()))) if per_image_ms else None,
      "per_image_ms": per_image_ms,
  }


def evaluate_file(annotation_path, detection_path, *, iou_threshold: float = 0.5,
                  min_face: float | None = None,
                  operating_threshold: float | None | str = _FROM_SETTINGS) -> dict:
  """``evaluate_detections`` on two files; adds ``detector`` to the result.

  ``operating_threshold="settings"`` (the default) takes the detection file's
  ``settings["operating_threshold"]`` (0.0 for the dlib files, null = all
  detections for the others); pass None or a number to override.
  """
  detector, settings, per_image = load_detections(detection_path)
  if isinstance(operating_threshold, str):
    if operating_threshold != _FROM_SETTINGS:
      raise ValueError(f"operating_threshold must be a number, None or {_FROM_SETTINGS!r}")
    operating_threshold = settings.get("operating_threshold")
  result = evaluate_detections(load_annotations(annotation_path), per_image,
                               iou_threshold=iou_threshold, min_face=min_face,
                               operating_threshold=operating_threshold)
  result["detector"] = detector
  return result


def summarize(result: Mapping) -> str:
  """One line for logs: AP, operating point, recall at 1 FP/image, timing."""
  parts = [f"AP {result['ap']:.4f}",
           f"recall {result['recall']:.4f}",
           f"precision {result['precision']:.4f}",
           f"TP {result['tp']} FP {result['fp']} (GT {result['num_gt']})"]
  if 1.0 in result["recall_at_fp_per_image"]:
    parts.append(f"recall@1FPPI {result['recall_at_fp_per_image'][1.0]:.4f}")
  if result.get("median_ms") is not None:
    parts.append(f"median {result['median_ms']:.1f} ms")
  head = f"{result['detector']}: " if result.get("detector") else ""
  return head + ", ".join(parts) + (f" [IoU {result['iou_threshold']}, min_face "
                                    f"{result['min_face']}]")


# --------------------------------------------------------------------------
# Landmarks


def landmark_error(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
  """Normalised mean error of 5-point landmarks.

  Mean over the points of the Euclidean distance, divided by the inter-ocular
  distance of the ground truth (eye centres: points 0 and 1).

  Args:
    pred, gt: ``[N, 5, 2]`` (or ``[5, 2]``) in pixels.

  Returns:
    float64 ``[N]`` (``[]`` for one face); NaN where the GT eyes coincide.
  """
  pred = np.asarray(pred, np.float64)
  gt = np.asarray(gt, np.float64)
  if pred.shape != gt.shape or pred.shape[-2:] != (5, 2):
    raise ValueError(f"landmark_error: shapes {pred.shape} and {gt.shape}, expected "
                     "equal [N, 5, 2]")
  mean_dist = np.linalg.norm(pred - gt, axis=-1).mean(axis=-1)
  iod = np.linalg.norm(gt[..., 0, :] - gt[..., 1, :], axis=-1)
  return np.divide(mean_dist, iod, out=np.full_like(mean_dist, np.nan), where=iod > 0)


def evaluate_landmarks(annotations: list[ImageAnnotation],
                       detections_by_file: Mapping[str, Any],
                       iou_threshold: float = 0.5,
                       failure_threshold: float = 0.1) -> dict:
  """Landmark NME of detections matched to GT faces that carry landmarks.

  Per image, detections in descending score each take the unmatched GT face
  of highest IoU >= ``iou_threshold`` (the detection matching of
  ``match_image``, ignore boxes aside). A GT face without a matched detection
  counts as not detected and has no NME.

  Returns:
    A dict with ``nme`` float64 ``[F]`` (matched faces, annotation order),
    ``files`` (image of each), ``mean_nme``, ``median_nme``, ``failure_rate``
    (fraction of matched faces with NME > ``failure_threshold``),
    ``num_faces`` (GT faces with landmarks), ``num_matched`` and
    ``detected_fraction`` (num_matched / num_faces).
  """
  nme, files, num_faces = [], [], 0
  for ann in annotations:
    if ann.landmarks is None or not len(ann.boxes):
      continue
    num_faces += len(ann.boxes)
    if ann.file not in detections_by_file:
      continue
    det = _as_detection(detections_by_file[ann.file], f"detections for {ann.file!r}")
    if len(det["boxes"]) and det["landmarks"] is None:
      raise ValueError(f"detections for {ann.file!r} carry no landmarks")
    assigned = _greedy_assign(_score_order(det["scores"]),
                              iou_matrix(det["boxes"], ann.boxes), iou_threshold)
    hit = np.flatnonzero(assigned >= 0)
    gt_index = assigned[hit]
    order = np.argsort(gt_index)
    hit, gt_index = hit[order], gt_index[order]
    nme.extend(landmark_error(det["landmarks"][hit], ann.landmarks[gt_index]).tolist())
    files.extend([ann.file] * len(hit))
  if not num_faces:
    raise ValueError("evaluate_landmarks: no annotated face carries landmarks")
  nme = np.asarray(nme, np.float64)
  return {
      "nme": nme,
      "files": files,
      "mean_nme": float(np.mean(nme)) if len(nme) else math.nan,
      "median_nme": float(np.median(nme)) if len(nme) else math.nan,
      "failure_rate": float(np.mean(nme > failure_threshold)) if len(nme) else math.nan,
      "num_faces": num_faces,
      "num_matched": len(nme),
      "detected_fraction": len(nme) / num_faces,
  }


# --------------------------------------------------------------------------
# Parity between two detectors


def _pair_by_iou(iou: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray]:
  """One-to-one greedy pairing, highest IoU first (ties: lower row, then column)."""
  rows, cols = np.nonzero(iou >= threshold)
  order = np.lexsort((cols, rows, -iou[rows, cols]))
  used_r, used_c, pr, pc = set(), set(), [], []
  for r, c in zip(rows[order], cols[order]):
    if r not in used_r and c not in used_c:
      used_r.add(r)
      used_c.add(c)
      pr.append(r)
      pc.append(c)
  return np.asarray(pr, np.int64), np.asarray(pc, np.int64)


def agreement(dets_a: Mapping[str, Any], dets_b: Mapping[str, Any],
              iou: float = 0.5) -> dict:
  """How closely two detectors agree on the images both cover.

  Per image, boxes of A and B are paired one-to-one, greedily by descending
  IoU, while IoU >= ``iou``. Scores play no part.

  Returns:
    A dict with
      num_images (images in both), num_images_only_a, num_images_only_b,
      num_a, num_b, num_pairs (boxes and pairs on the shared images),
      a_matched, b_matched: fraction of A's (B's) boxes in a pair,
      pair_iou_median,
      box_offset_median: ``[4]`` median of B - A per coordinate (x1, y1, x2, y2),
      box_distance_median_px: median over pairs of the mean |B - A| of the
        four coordinates,
      landmark_distance_median_px, landmark_distance_mean_px: over pairs where
        both carry landmarks, of the mean Euclidean point distance,
      landmark_offset_median: ``[2]`` median B - A (dx, dy) over all points,
      num_landmark_pairs. Landmark entries are None when no pair has both.
  """
  shared = [f for f in dets_a if f in dets_b]
  if not shared:
    raise ValueError("agreement: the two detection sets share no image")
  num_a = num_b = 0
  pair_iou, box_diff, lm_diff = [], [], []
  for file in shared:
    a = _as_detection(dets_a[file], f"A detections for {file!r}")
    b = _as_detection(dets_b[file], f"B detections for {file!r}")
    num_a += len(a["boxes"])
    num_b += len(b["boxes"])
    m = iou_matrix(a["boxes"], b["boxes"])
    ia, ib = _pair_by_iou(m, iou)
    pair_iou.append(m[ia, ib])
    box_diff.append(b["boxes"][ib] - a["boxes"][ia])
    if a["landmarks"] is not None and b["landmarks"] is not None:
      lm_diff.append(b["landmarks"][ib] - a["landmarks"][ia])
  pair_iou = np.concatenate(pair_iou)
  box_diff = np.concatenate(box_diff)
  num_pairs = len(pair_iou)
  lm = np.concatenate(lm_diff) if lm_diff else np.zeros((0, 5, 2))
  lm_dist = np.linalg.norm(lm, axis=-1).mean(axis=-1)
  has_pairs, has_lm = num_pairs > 0, len(lm) > 0
  return {
      "iou": iou,
      "num_images": len(shared),
      "num_images_only_a": len(dets_a) - len(shared),
      "num_images_only_b": sum(1 for f in dets_b if f not in dets_a),
      "num_a": num_a,
      "num_b": num_b,
      "num_pairs": num_pairs,
      "a_matched": num_pairs / num_a if num_a else math.nan,
      "b_matched": num_pairs / num_b if num_b else math.nan,
      "pair_iou_median": float(np.median(pair_iou)) if has_pairs else math.nan,
      "box_offset_median": np.median(box_diff, axis=0) if has_pairs else np.full(4, np.nan),
      "box_distance_median_px": (float(np.median(np.abs(box_diff).mean(axis=1)))
                                 if has_pairs else math.nan),
      "landmark_distance_median_px": float(np.median(lm_dist)) if has_lm else None,
      "landmark_distance_mean_px": float(np.mean(lm_dist)) if has_lm else None,
      "landmark_offset_median": np.median(lm.reshape(-1, 2), axis=0) if has_lm else None,
      "num_landmark_pairs": len(lm),
  }
