"""Detections per image, and the reference format they are saved in.

A *detection record* is one image's output: ``boxes [K, 4]`` (continuous
pixel ``[x1, y1, x2, y2]``), ``scores [K]``, optional ``landmarks [K, 5, 2]``
and ``ms``; as a mapping or as an object with those attributes (a padded
detector output with a boolean ``valid [K]`` works too). The scoring
functions take ``{image file: record}``.

A *detection file* (the format of ``wider_val_dev/reference/*.json``)::

  {"detector": str, "settings": {...}, "images": {file: {"boxes": [[x1, y1, x2, y2], ...],
   "scores": [...], "landmarks": [[[x, y] x 5], ...] (optional), "ms": float or null}}}
"""
from __future__ import annotations

import json
import pathlib
from typing import Any, Mapping

import numpy as np

from espcn_mtcnn_common.atomic_write import write_text_atomic
from mtcnn_jax.input_checks import checked_array, read_json

__all__ = ["detection_record", "load_detections", "save_detections", "shift_detections"]


def _field(det: Any, key: str):
  if isinstance(det, Mapping):
    return det.get(key)
  return getattr(det, key, None)


def _valid_rows(boxes, scores, landmarks, valid, where: str):
  """Only the rows a padded output marks valid (``valid`` bool ``[K]``, or None: all)."""
  if valid is None:
    return boxes, scores, landmarks
  valid = np.asarray(valid, bool).reshape(-1)
  if len(valid) != len(boxes):
    raise ValueError(f"{where}: 'valid' has {len(valid)} entries for {len(boxes)} boxes")
  return boxes[valid], scores[valid], None if landmarks is None else landmarks[valid]


def detection_record(det: Any, where: str = "detections") -> dict:
  """Normalises a detection record (mapping or object with attributes).

  Input fields: ``boxes [K, 4]``, ``scores [K]``, optional ``landmarks [K, 5, 2]``,
  optional ``ms`` and optional boolean ``valid [K]`` (padded outputs: only valid
  rows are kept). Returns a dict with float64 ``boxes``, ``scores``,
  ``landmarks`` (or None) and ``ms`` (float or None).

  Raises:
    ValueError: missing fields, badly shaped arrays or counts that disagree
      (``where`` names the record).
  """
  boxes = _field(det, "boxes")
  scores = _field(det, "scores")
  if boxes is None or scores is None:
    raise ValueError(f"{where}: needs 'boxes' and 'scores'")
  boxes = checked_array(np.asarray(boxes), (4,), where, "boxes")
  scores = checked_array(np.asarray(scores).reshape(-1), (), where, "scores")
  landmarks = _field(det, "landmarks")
  if landmarks is not None:
    landmarks = checked_array(np.asarray(landmarks), (5, 2), where, "landmarks")
  boxes, scores, landmarks = _valid_rows(boxes, scores, landmarks, _field(det, "valid"), where)
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
  """Reads a detection file in the reference format (see the module docstring).

  Returns:
    ``(detector, settings, per_image)``; ``per_image[file]`` is a dict with
    float64 ``boxes [K, 4]``, ``scores [K]``, ``landmarks [K, 5, 2]`` or None,
    and ``ms`` (float or None).

  Raises:
    FileNotFoundError: no such file.
    ValueError: not JSON, not the detection layout, or a bad image entry.
  """
  data = read_json(path, "detection")
  if not isinstance(data, Mapping) or not isinstance(data.get("images"), Mapping):
    hint = (" ('images' is a list: this looks like an annotation file)"
            if isinstance(data, Mapping) and isinstance(data.get("images"), list) else "")
    raise ValueError(f"detection file {path}: expected a JSON object with 'detector', "
                     f"'settings' and an 'images' mapping{hint}")
  settings = data.get("settings") or {}
  if not isinstance(settings, Mapping):
    raise ValueError(f"detection file {path}: 'settings' must be an object")
  per_image = {str(f): detection_record(d if isinstance(d, Mapping) else {},
                                        f"detection file {path}, image {f!r}")
               for f, d in data["images"].items()}
  return str(data.get("detector", "")), dict(settings), per_image


def save_detections(path, detector: str, settings: Mapping | None,
                    per_image: Mapping[str, Any]) -> None:
  """Writes detections in the reference format (see the module docstring).

  ``per_image`` maps image file -> detection record (a mapping or an object
  with ``boxes``, ``scores``, optional ``landmarks``, ``ms`` and ``valid``).
  Boxes and landmarks are rounded to 4 decimals, ``ms`` to 3; scores are kept
  in full. The JSON is compact with a final newline, like the reference files
  (loading and saving one reproduces it byte for byte); ``landmarks`` is
  written only where present and ``ms`` always (null when unknown).
  """
  images = {}
  for file, det in per_image.items():
    d = detection_record(det, f"detections for {file!r}")
    record = {"boxes": np.round(d["boxes"], 4).tolist(),
              "scores": d["scores"].tolist()}
    if d["landmarks"] is not None:
      record["landmarks"] = np.round(d["landmarks"], 4).tolist()
    record["ms"] = None if d["ms"] is None else round(d["ms"], 3)
    images[str(file)] = record
  text = json.dumps({"detector": detector, "settings": dict(settings or {}), "images": images},
                    separators=(",", ":"), allow_nan=False)
  write_text_atomic(path, text + "\n")


def shift_detections(per_image: Mapping[str, Any], dx: float, dy: float) -> dict[str, dict]:
  """Translates every box and landmark by ``(dx, dy)`` pixels.

  ``shift_detections(facenet, -1, -1)`` moves facenet-pytorch's 1-based
  output onto the 0-based convention (reference README).
  """
  out = {}
  for file, det in per_image.items():
    d = detection_record(det, f"detections for {file!r}")
    d["boxes"] = d["boxes"] + np.array([dx, dy, dx, dy])
    if d["landmarks"] is not None:
      d["landmarks"] = d["landmarks"] + np.array([dx, dy])
    out[file] = d
  return out
