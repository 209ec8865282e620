"""Scoring detections against ground truth: AP, PR and ROC curves, the operating point.

Host-side, pure NumPy. The scoring protocol (the one
``wider_val_dev/reference/README.md`` states):

* Matching, per image: greedy in score order at IoU >= ``iou_threshold``;
  detections on ignore regions are neither TP nor FP
  (:func:`mtcnn_jax.matching.match_image`).
* ``min_face``: GT faces shorter than ``min_face`` become ignore regions
  (:func:`mtcnn_jax.annotations.apply_min_face`).
* AP: all-point interpolation (PASCAL VOC 2010+) of the precision/recall curve
  of the pooled, non-ignored detections of every image. The recall denominator
  is the number of non-ignored GT faces, including those of images the
  detections do not mention (they count as images with no detections). The
  curve is sampled at each distinct score, so tied scores enter or leave
  together and AP does not depend on the order of tied detections.
"""
from __future__ import annotations

import math
from typing import Any, Mapping

import numpy as np

from mtcnn_jax.annotations import ImageAnnotation, apply_min_face, load_annotations
from mtcnn_jax.detection_files import detection_record, load_detections
from mtcnn_jax.matching import match_image, score_order

__all__ = ["evaluate_detections", "evaluate_file", "summarize", "FPPI_LEVELS"]

FPPI_LEVELS = (0.1, 0.5, 1.0)
_FROM_SETTINGS = "settings"


def _curve(scores: np.ndarray, labels: np.ndarray):
  """Cumulative TP/FP at each distinct score, highest first (labels in {0, 1})."""
  order = score_order(scores)
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


def _missing_files(annotations: list[ImageAnnotation],
                   detections_by_file: Mapping[str, Any]) -> list[str]:
  """Annotated images the detections do not mention; raises when they mention none."""
  missing = [a.file for a in annotations if a.file not in detections_by_file]
  if len(missing) == len(annotations):
    first = next(iter(detections_by_file), None)
    raise ValueError(
        f"the detections cover none of the {len(annotations)} annotated images (first "
        f"annotated file {annotations[0].file!r}, first detection key {first!r}); detection "
        "keys must be the annotation 'file' fields")
  return missing


def _pooled_labels(annotations: list[ImageAnnotation], detections_by_file: Mapping[str, Any],
                   iou_threshold: float, min_face: float | None) -> dict:
  """Every image's detections matched and pooled.

  Returns:
    ``{"scores": float64 [D], "labels": int64 [D] (1 TP, 0 FP, -1 ignored),
    "num_gt", "num_ignore", "per_image_ms": {file: ms}}``.
  """
  num_gt = num_ignore = 0
  all_scores, all_labels, per_image_ms = [], [], {}
  for ann in annotations:
    ann = apply_min_face(ann, min_face)
    num_gt += len(ann.boxes)
    num_ignore += len(ann.ignore)
    if ann.file not in detections_by_file:
      continue
    det = detection_record(detections_by_file[ann.file], f"detections for {ann.file!r}")
    all_scores.append(det["scores"])
    all_labels.append(match_image(det["boxes"], det["scores"], ann.boxes, ann.ignore,
                                  iou_threshold))
    if det["ms"] is not None:
      per_image_ms[ann.file] = det["ms"]
  return {"scores": np.concatenate(all_scores), "labels": np.concatenate(all_labels),
          "num_gt": num_gt, "num_ignore": num_ignore, "per_image_ms": per_image_ms}


def _curves(scores: np.ndarray, labels: np.ndarray, num_gt: int, num_images: int,
            fppi_levels: tuple[float, ...]) -> dict:
  """AP, PR curve, ROC counts, max recall and recall at fixed FP per image of the
  non-ignored detections (``labels >= 0``)."""
  scored = labels >= 0
  thresholds, roc_tp, roc_fp = _curve(scores[scored], labels[scored])
  denom = num_gt if num_gt else math.nan
  pr_recall = roc_tp / denom
  pr_precision = roc_tp / np.maximum(roc_tp + roc_fp, 1)
  ap, envelope = _average_precision(pr_recall, pr_precision)
  if not num_gt:
    ap = math.nan
  fppi = {level: float(roc_tp[roc_fp <= level * num_images].max(initial=0) / denom)
          for level in fppi_levels}
  return {"ap": ap, "max_recall": (float(roc_tp[-1]) if len(roc_tp) else 0.0) / denom,
          "pr_thresholds": thresholds, "pr_recall": pr_recall, "pr_precision": pr_precision,
          "pr_precision_interp": envelope, "roc_tp": roc_tp, "roc_fp": roc_fp,
          "recall_at_fp_per_image": fppi}


def _operating_point(scores: np.ndarray, labels: np.ndarray, operating_threshold: float | None,
                     num_gt: int, num_images: int) -> dict:
  """TP, FP, recall and precision of the detections scoring >= ``operating_threshold``."""
  op = np.ones(len(scores), bool) if operating_threshold is None else (
      scores >= operating_threshold)
  tp = int(np.sum(op & (labels == 1)))
  fp = int(np.sum(op & (labels == 0)))
  denom = num_gt if num_gt else math.nan
  return {
      "num_det": int(op.sum()),
      "num_det_ignored": int(np.sum(op & (labels < 0))),
      "tp": tp,
      "fp": fp,
      "recall": tp / denom,
      "precision": tp / (tp + fp) if tp + fp else math.nan,
      "fp_per_image": fp / num_images,
  }


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
  missing = _missing_files(annotations, detections_by_file)
  annotated = {a.file for a in annotations}
  pooled = _pooled_labels(annotations, detections_by_file, iou_threshold, min_face)
  num_gt, per_image_ms, num_images = pooled["num_gt"], pooled["per_image_ms"], len(annotations)
  curves = _curves(pooled["scores"], pooled["labels"], num_gt, num_images, fppi_levels)
  ap = curves.pop("ap")
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
      "num_ignore": pooled["num_ignore"],
      **_operating_point(pooled["scores"], pooled["labels"], operating_threshold, num_gt,
                         num_images),
      **curves,     # max_recall, pr_*, roc_tp, roc_fp, recall_at_fp_per_image
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
