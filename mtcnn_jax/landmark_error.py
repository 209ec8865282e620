"""Landmark accuracy: the normalised mean error (NME) of 5-point landmarks.

Host-side, pure NumPy. The error of a face is the mean Euclidean distance of
its five points over the ground truth's inter-ocular distance (eye centres:
points 0 and 1); detections are paired with ground-truth faces by the
matching of :mod:`mtcnn_jax.matching`.
"""
from __future__ import annotations

import math
from typing import Any, Mapping

import numpy as np

from mtcnn_jax.annotations import ImageAnnotation
from mtcnn_jax.detection_files import detection_record
from mtcnn_jax.matching import greedy_assign, iou_matrix, score_order

__all__ = ["landmark_error", "evaluate_landmarks"]


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


def _image_errors(ann: ImageAnnotation, det: dict, iou_threshold: float) -> np.ndarray:
  """NME of one image's GT faces that a detection matched, in annotation order."""
  if len(det["boxes"]) and det["landmarks"] is None:
    raise ValueError(f"detections for {ann.file!r} carry no landmarks")
  assigned = greedy_assign(score_order(det["scores"]),
                           iou_matrix(det["boxes"], ann.boxes), iou_threshold)
  hit = np.flatnonzero(assigned >= 0)
  gt_index = assigned[hit]
  order = np.argsort(gt_index)
  hit, gt_index = hit[order], gt_index[order]
  return landmark_error(det["landmarks"][hit], ann.landmarks[gt_index])


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
    det = detection_record(detections_by_file[ann.file], f"detections for {ann.file!r}")
    errors = _image_errors(ann, det, iou_threshold)
    nme.extend(errors.tolist())
    files.extend([ann.file] * len(errors))
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
