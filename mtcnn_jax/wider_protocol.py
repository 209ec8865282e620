"""The official WIDER FACE evaluation protocol (easy / medium / hard AP).

Host-side, pure NumPy; our own code, written from the protocol that
``../shared/data/faces/wider_eval_ground_truth/SOURCES.md`` describes and
that the official MATLAB ``eval_tools`` (``wider_eval.m``, ``evaluation.m``,
``norm_score.m``, ``boxoverlap.m``, ``VOCap.m``) and its Python port
(``widerface_evaluate/evaluation.py``) implement. It is *not* the protocol
of :mod:`mtcnn_jax.average_precision` (greedy matching, continuous IoU,
all-point AP over distinct scores); numbers from the two do not compare.

The steps, each as the official code does it:

1. Scores are min-max normalised over every detection of the evaluated
   images (``norm_score.m``): ``(s - min) / (max - min)``, into [0, 1].
2. Per image, detections are sorted by score, descending; ties keep their
   input order (``read_pred.m``: MATLAB's stable ``sort(..., 'descend')``).
3. Boxes are ``x, y, w, h``; the code forms ``x2 = x + w`` and computes IoU
   with MATLAB's inclusive pixel areas, ``(x2 - x1 + 1) * (y2 - y1 + 1)``,
   and the same ``+1`` on the intersection (``boxoverlap.m``).
4. Each detection, in score order, is matched to the ground-truth box of
   highest IoU (first such box on ties). At IoU >= 0.5: a box outside the
   setting's ``gt_list`` ("ignore" box) makes the detection neither true nor
   false positive; a counted box not yet recalled becomes recalled (true
   positive); a counted box already recalled leaves the detection a false
   positive (duplicate). Below 0.5 it is a false positive, whatever it
   overlaps (``image_evaluation``).
5. Per image and threshold ``t = 1 - (k + 1) / 1000``, k = 0..999: the
   detections with normalised score >= t give a proposal count (those not on
   ignore boxes) and a recalled-face count (``image_pr_info``). Images whose
   ground truth or detections are empty add nothing but their faces.
6. Counts are summed over images; precision = recalled / proposals, recall =
   recalled / faces in the setting (``dataset_pr_info``).
7. AP is the VOC area under the precision envelope, with sentinels
   ``mrec = [0, recall, 1]`` and ``mpre = [0, precision, 0]`` (``VOCap.m``).

Image keys are the ``"file"`` form of ``wider_val_dev/annotations.json``,
``"images/<event>/<name>.jpg"``; :func:`wider_image_key` maps the other usual
spellings (``"<event>/<name>.jpg"``, an absolute path, no ``.jpg``) onto it.
"""
from __future__ import annotations

import pathlib
from typing import Any, Iterable, Mapping

import numpy as np
import scipy.io

__all__ = ["SETTINGS", "GROUND_TRUTH_FILES", "wider_image_key", "load_wider_ground_truth",
           "box_overlaps", "evaluate_wider"]

SETTINGS = ("easy", "medium", "hard")
GROUND_TRUTH_FILES = ("wider_face_val.mat", "wider_easy_val.mat", "wider_medium_val.mat",
                      "wider_hard_val.mat")


def wider_image_key(path: str) -> str:
  """The canonical image key ``"images/<event>/<name>.jpg"`` of a WIDER image path.

  Accepts ``"images/0--Parade/0_Parade_x.jpg"``, ``"0--Parade/0_Parade_x.jpg"``,
  ``"0--Parade/0_Parade_x"``, an absolute path or Windows separators: the last
  two path components are the event and the image name.

  Raises:
    ValueError: fewer than two path components.
  """
  parts = [p for p in str(path).replace("\\", "/").split("/") if p]
  if len(parts) < 2:
    raise ValueError(f"WIDER image key {path!r}: expected '<event>/<name>.jpg' "
                     "(e.g. 'images/0--Parade/0_Parade_marchingband_1_465.jpg')")
  name = parts[-1][:-4] if parts[-1].lower().endswith(".jpg") else parts[-1]
  return f"images/{parts[-2]}/{name}.jpg"


def _cells(mat: Mapping, field: str, where: str) -> list:
  """A MATLAB ``{n x 1}`` cell array as a list of its n elements."""
  if field not in mat:
    raise ValueError(f"{where}: no {field!r} variable")
  return [c[0] for c in np.asarray(mat[field], dtype=object).reshape(-1, 1)]


def _load_mat(folder: pathlib.Path, name: str) -> dict:
  path = folder / name
  if not path.is_file():
    raise FileNotFoundError(f"WIDER ground truth: {path} is missing (the folder must hold "
                            f"{', '.join(GROUND_TRUTH_FILES)})")
  return scipy.io.loadmat(str(path))


def _image_names(mat: Mapping, where: str) -> list[str]:
  """Image keys in file order (event by event), from ``event_list`` and ``file_list``."""
  events = [str(np.asarray(e).reshape(-1)[0]) for e in _cells(mat, "event_list", where)]
  files = _cells(mat, "file_list", where)
  if len(files) != len(events):
    raise ValueError(f"{where}: {len(events)} events but {len(files)} file lists")
  return [wider_image_key(f"{event}/{np.asarray(f).reshape(-1)[0]}")
          for event, names in zip(events, files) for f in np.asarray(names).reshape(-1)]


def _per_image(mat: Mapping, field: str, where: str) -> list[np.ndarray]:
  """A per-event cell of per-image arrays (``face_bbx_list``, ``gt_list``), flattened."""
  return [np.asarray(a) for per_event in _cells(mat, field, where)
          for a in np.asarray(per_event, dtype=object).reshape(-1)]


def load_wider_ground_truth(folder) -> dict[str, dict[str, np.ndarray]]:
  """Reads the official validation ground truth (the four ``.mat`` files).

  Args:
    folder: the folder holding ``wider_face_val.mat`` and
      ``wider_{easy,medium,hard}_val.mat``.

  Returns:
    ``{key: {"boxes": float64 [N, 4] x, y, w, h, "easy": int64 [E],
    "medium": int64 [M], "hard": int64 [H]}}`` in the files' order (3,226
    images for the full files); keys as :func:`wider_image_key`; each setting
    holds the 0-based indices of the boxes that count in it (the rest are its
    ignore boxes). The four images without faces keep the files' single
    ``[0, 0, 0, 0]`` box, as the official code sees them.

  Raises:
    FileNotFoundError: the folder or one of the files is missing.
    ValueError: the files disagree on images or boxes, or an index is out of range.
  """
  folder = pathlib.Path(folder)
  if not folder.is_dir():
    raise FileNotFoundError(f"WIDER ground truth folder {folder} does not exist")
  base = _load_mat(folder, GROUND_TRUTH_FILES[0])
  keys = _image_names(base, GROUND_TRUTH_FILES[0])
  boxes = [b.reshape(-1, 4).astype(np.float64) for b in
           _per_image(base, "face_bbx_list", GROUND_TRUTH_FILES[0])]
  if len(boxes) != len(keys):
    raise ValueError(f"{GROUND_TRUTH_FILES[0]}: {len(keys)} images but {len(boxes)} box lists")
  out = {k: {"boxes": b} for k, b in zip(keys, boxes)}
  for setting, name in zip(SETTINGS, GROUND_TRUTH_FILES[1:]):
    mat = _load_mat(folder, name)
    if _image_names(mat, name) != keys:
      raise ValueError(f"{name}: its images differ from those of {GROUND_TRUTH_FILES[0]}")
    kept = _per_image(mat, "gt_list", name)
    for key, b, idx in zip(keys, boxes, kept):
      idx = idx.reshape(-1).astype(np.int64) - 1  # MATLAB 1-based -> 0-based
      if np.any(idx < 0) or np.any(idx >= len(b)):
        raise ValueError(f"{name}, image {key!r}: gt_list index out of range 1..{len(b)}")
      out[key][setting] = idx
  return out


def box_overlaps(det_xywh: np.ndarray, gt_xywh: np.ndarray) -> np.ndarray:
  """IoU of every detection with every ground-truth box, MATLAB ``+1`` areas.

  As ``boxoverlap.m`` / the port's ``bbox_overlaps``: with ``x2 = x + w``,
  widths are ``x2 - x1 + 1`` for areas and intersections; no intersection
  (width or height <= 0) gives 0.

  Args:
    det_xywh: float ``[M, 4]`` x, y, w, h. gt_xywh: float ``[N, 4]`` x, y, w, h.

  Returns:
    float64 ``[M, N]``.
  """
  a = np.asarray(det_xywh, np.float64).reshape(-1, 4)
  b = np.asarray(gt_xywh, np.float64).reshape(-1, 4)
  a2, b2 = a[:, :2] + a[:, 2:], b[:, :2] + b[:, 2:]
  iw = np.minimum(a2[:, None, 0], b2[None, :, 0]) - np.maximum(a[:, None, 0], b[None, :, 0]) + 1
  ih = np.minimum(a2[:, None, 1], b2[None, :, 1]) - np.maximum(a[:, None, 1], b[None, :, 1]) + 1
  inter = iw * ih
  area_a = (a[:, 2] + 1) * (a[:, 3] + 1)
  area_b = (b[:, 2] + 1) * (b[:, 3] + 1)
  union = area_a[:, None] + area_b[None, :] - inter
  ok = (iw > 0) & (ih > 0)
  return np.divide(inter, union, out=np.zeros_like(inter), where=ok)


def _detections_of(det: Any, key: str) -> tuple[np.ndarray, np.ndarray]:
  """``(boxes float64 [M, 4] x1, y1, x2, y2, scores float64 [M])`` of one entry.

  An entry is a ``(boxes, scores)`` pair, or a mapping / object with
  ``boxes``, ``scores`` and optional boolean ``valid [M]`` (padded outputs).
  """
  if isinstance(det, (tuple, list)) and len(det) == 2:
    boxes, scores, valid = det[0], det[1], None
  else:
    get = det.get if isinstance(det, Mapping) else lambda f: getattr(det, f, None)
    boxes, scores, valid = get("boxes"), get("scores"), get("valid")
  if boxes is None or scores is None:
    raise ValueError(f"detections[{key!r}]: expected (boxes, scores) or a record with "
                     "'boxes' and 'scores'")
  boxes = np.asarray(boxes, np.float64)
  scores = np.asarray(scores, np.float64).reshape(-1)
  if boxes.size == 0:
    boxes = boxes.reshape(0, 4)
  if boxes.ndim != 2 or boxes.shape[1] != 4 or len(boxes) != len(scores):
    raise ValueError(f"detections[{key!r}]: boxes {boxes.shape} must be [M, 4] with "
                     f"M = {len(scores)} scores")
  if valid is not None:
    valid = np.asarray(valid, bool).reshape(-1)
    boxes, scores = boxes[valid], scores[valid]
  if not (np.all(np.isfinite(boxes)) and np.all(np.isfinite(scores))):
    raise ValueError(f"detections[{key!r}]: boxes and scores must be finite")
  return boxes, scores


def _select(detections: Mapping[str, Any], ground_truth: Mapping[str, Any],
            images: Iterable[str] | None) -> dict[str, tuple[np.ndarray, np.ndarray]]:
  """The evaluated images (canonical keys) -> sorted ``(xywh [M, 4], raw scores [M])``."""
  dets = {}
  for key, det in detections.items():
    canonical = wider_image_key(key)
    if canonical in dets:
      raise ValueError(f"detections: {key!r} names an image given twice")
    dets[canonical] = det
  keys = list(dets) if images is None else list(dict.fromkeys(map(wider_image_key, images)))
  unknown = [k for k in keys if k not in ground_truth]
  if unknown:
    raise ValueError(f"{len(unknown)} evaluated image(s) are not in the WIDER ground truth, "
                     f"e.g. {unknown[0]!r} (keys look like {next(iter(ground_truth), None)!r})")
  out = {}
  for key in keys:
    boxes, scores = _detections_of(dets[key], key) if key in dets else (np.zeros((0, 4)),
                                                                          np.zeros(0))
    order = np.argsort(-scores, kind="stable")  # step 2
    xywh = np.concatenate([boxes[:, :2], boxes[:, 2:] - boxes[:, :2]], axis=1)
    out[key] = (xywh[order], scores[order])
  return out


def _normalise(per_image: dict[str, tuple[np.ndarray, np.ndarray]]) -> dict:
  """Step 1: min-max scores over all evaluated detections.

  The MATLAB code starts from ``realmin``/``realmax`` and the Python port from
  0/1; for scores in [0, 1] all three are the plain min-max used here. A set
  whose scores are all equal (the official code divides by zero) maps them to 1.
  """
  all_scores = np.concatenate([s for _, s in per_image.values()] + [np.zeros(0)])
  if len(all_scores) == 0:
    return per_image
  lo, hi = all_scores.min(), all_scores.max()
  scale = (lambda s: np.ones_like(s)) if hi == lo else (lambda s: (s - lo) / (hi - lo))
  return {k: (b, scale(s)) for k, (b, s) in per_image.items()}


def _image_matches(overlaps: np.ndarray, counted: np.ndarray, iou_threshold: float):
  """Step 4 for one image and setting.

  Args:
    overlaps: float64 ``[M, N]``, detections in score order.
    counted: bool ``[N]``, the boxes in the setting.

  Returns:
    ``(is_proposal bool [M], recalled int64 [M])``: whether each detection
    counts as a proposal, and the faces recalled by detections ``0..h``.
  """
  best = overlaps.argmax(axis=1)
  hit = overlaps[np.arange(len(best)), best] >= iou_threshold
  is_proposal = ~(hit & ~counted[best])
  true_hit = np.flatnonzero(hit & counted[best])
  first = np.zeros(len(best), np.int64)
  _, first_of_box = np.unique(best[true_hit], return_index=True)
  first[true_hit[first_of_box]] = 1
  return is_proposal, np.cumsum(first)


def _image_counts(scores: np.ndarray, is_proposal: np.ndarray, recalled: np.ndarray,
                  thresholds: np.ndarray) -> np.ndarray:
  """Step 5: ``[T, 2]`` (proposals, recalled) of the detections scoring >= each threshold.

  ``scores`` are normalised and descending, so "the last detection scoring
  >= t" is detection ``n_t - 1`` with ``n_t`` the number scoring >= t.
  """
  n = np.searchsorted(-scores, -thresholds, side="right")
  proposals = np.r_[0, np.cumsum(is_proposal)]
  return np.stack([proposals[n], np.r_[0, recalled][n]], axis=1).astype(np.float64)


def _voc_ap(recall: np.ndarray, precision: np.ndarray) -> float:
  """Step 7: VOC AP, area under the precision envelope with sentinels (``VOCap.m``)."""
  mrec = np.concatenate([[0.0], recall, [1.0]])
  mpre = np.concatenate([[0.0], precision, [0.0]])
  mpre = np.maximum.accumulate(mpre[::-1])[::-1]
  i = np.flatnonzero(mrec[1:] != mrec[:-1])
  return float(np.sum((mrec[i + 1] - mrec[i]) * mpre[i + 1]))


def _setting_curve(per_image: Mapping, ground_truth: Mapping, overlaps: Mapping, setting: str,
                   iou_threshold: float, thresholds: np.ndarray) -> tuple[float, dict, int]:
  """Steps 4-7 for one setting: ``(AP, {"recall", "precision"} lists, faces)``."""
  counts = np.zeros((len(thresholds), 2))
  num_faces = 0
  for key, (_, scores) in per_image.items():
    gt = ground_truth[key]
    num_faces += len(gt[setting])
    if len(gt["boxes"]) == 0 or len(scores) == 0:
      continue
    counted = np.zeros(len(gt["boxes"]), bool)
    counted[np.asarray(gt[setting], np.int64)] = True
    is_proposal, recalled = _image_matches(overlaps[key], counted, iou_threshold)
    counts += _image_counts(scores, is_proposal, recalled, thresholds)
  # Step 6. Precision with no proposals is 0/0 (NaN in the official code,
  # which MATLAB's max skips); 0 gives the same envelope and AP.
  precision = np.divide(counts[:, 1], counts[:, 0], out=np.zeros(len(counts)),
                        where=counts[:, 0] > 0)
  recall = counts[:, 1] / num_faces if num_faces else np.zeros(len(counts))
  curve = {"recall": recall.tolist(), "precision": precision.tolist()}
  return _voc_ap(recall, precision), curve, num_faces


def evaluate_wider(detections: Mapping[str, Any], ground_truth: Mapping[str, Mapping],
                   images: Iterable[str] | None = None, iou_threshold: float = 0.5,
                   num_thresholds: int = 1000) -> dict:
  """Easy / medium / hard AP under the official WIDER FACE protocol.

  Args:
    detections: image key -> ``(boxes, scores)`` or a record with ``boxes``
      and ``scores`` (e.g. :func:`mtcnn_jax.detection_files.load_detections`'
      values): boxes float ``[M, 4]`` pixel ``x1, y1, x2, y2`` (converted to
      ``x, y, w, h``), scores float ``[M]``. Keys in any form
      :func:`wider_image_key` accepts.
    ground_truth: as :func:`load_wider_ground_truth` returns, or hand-made
      in that layout (``boxes`` x, y, w, h ``[N, 4]``, per setting 0-based indices).
    images: the images evaluated (default: every key of ``detections``). An
      evaluated image without a ``detections`` entry has zero detections;
      ground-truth images and detections outside it are left out entirely
      (faces, and the score normalisation).
    iou_threshold: the least IoU of a match (0.5 in the protocol).
    num_thresholds: score thresholds ``1 - (k + 1) / num_thresholds`` (1,000).

  Returns:
    ``{"easy": AP, "medium": AP, "hard": AP, "curves": {setting: {"recall":
    [T], "precision": [T]}} (lists of floats, thresholds descending),
    "thresholds": [T], "num_faces": {setting: int}, "num_images": int}``.

  Raises:
    ValueError: an evaluated image is not in the ground truth, a key names
      one image twice, or an entry is malformed.
  """
  if num_thresholds < 1:
    raise ValueError(f"num_thresholds must be >= 1, got {num_thresholds}")
  per_image = _normalise(_select(detections, ground_truth, images))
  thresholds = 1 - (np.arange(num_thresholds) + 1) / num_thresholds
  overlaps = {k: box_overlaps(b, ground_truth[k]["boxes"]) for k, (b, _) in per_image.items()}
  out = {"curves": {}, "thresholds": thresholds.tolist(), "num_faces": {},
         "num_images": len(per_image)}
  for setting in SETTINGS:
    ap, curve, faces = _setting_curve(per_image, ground_truth, overlaps, setting,
                                      iou_threshold, thresholds)
    out[setting], out["curves"][setting], out["num_faces"][setting] = ap, curve, faces
  return out
