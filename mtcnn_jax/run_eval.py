"""``python evaluate.py mtcnn``: run detectors over an annotated set and score them.

Timing: each image is timed around the detector call alone (decoding
excluded). A detector's first call on a new canvas size compiles, so every
new size is run once untimed first (warm-up), as the reference timings did.
"""
from __future__ import annotations

import json
import pathlib
import time

import numpy as np

from mtcnn_jax import detectors, evaluation

__all__ = ["run", "format_table", "run_detector"]


def _annotation_path(data: str) -> pathlib.Path:
  path = pathlib.Path(data)
  if path.is_dir():
    path = path / "annotations.json"
  if not path.is_file():
    raise FileNotFoundError(f"{path}: no annotations file")
  return path


def run_detector(name: str, annotations, root: pathlib.Path, *, progress: bool = True,
                 **settings) -> dict[str, dict]:
  """Run detector ``name`` on every annotated image: ``{file: {boxes, scores, landmarks, ms}}``."""
  from tqdm.auto import tqdm  # pylint: disable=import-outside-toplevel
  from espcn_jax.image_io import read_image  # pylint: disable=import-outside-toplevel
  from mtcnn_jax.cascade import canvas_shape  # pylint: disable=import-outside-toplevel

  detector = detectors.make_detector(name, **settings)
  warmed: set = set()
  results = {}
  for ann in tqdm(annotations, desc=name, unit="img", disable=not progress):
    image = read_image(root / ann.file, mode="rgb")
    bucket = canvas_shape(*image.shape[:2]) if name == "mtcnn" else None
    if bucket not in warmed:
      detector(image)
      warmed.add(bucket)
    start = time.perf_counter()
    out = detector(image)
    ms = (time.perf_counter() - start) * 1e3
    results[ann.file] = {"boxes": np.asarray(out["boxes"]), "scores": np.asarray(out["scores"]),
                         "landmarks": None if out.get("landmarks") is None
                         else np.asarray(out["landmarks"]), "ms": ms}
  return results


def run(args) -> dict:
  """The evaluation behind the CLI; returns the report (also written to ``args.out``)."""
  ann_path = _annotation_path(args.data)
  annotations = evaluation.load_annotations(ann_path)
  if args.limit:
    annotations = annotations[: args.limit]
  min_face = args.min_face or None
  names = [n for n in args.detectors.split(",") if n]
  for n in names:
    if n not in detectors.DETECTORS:
      raise ValueError(f"unknown detector {n!r}; known: {', '.join(detectors.DETECTORS)}")
  per_detector: dict[str, dict] = {}
  settings_by: dict[str, dict] = {}
  for name in names:
    settings = {"min_face_size": args.min_face_size} if name == "mtcnn" else {}
    per_detector[name] = run_detector(name, annotations, ann_path.parent,
                                      progress=not args.no_progress, **settings)
    settings_by[name] = detectors.detector_settings(name, **settings)
    if args.save_detections:
      out = pathlib.Path(args.save_detections) / f"{name}.json"
      out.parent.mkdir(parents=True, exist_ok=True)
      evaluation.save_detections(out, name, settings_by[name], per_detector[name])
  for ref in [r for r in args.reference.split(",") if r]:
    ref_name, ref_settings, ref_dets = evaluation.load_detections(ref)
    per_detector[f"ref:{ref_name}"] = ref_dets
    settings_by[f"ref:{ref_name}"] = ref_settings
  if not per_detector:
    raise ValueError("nothing to evaluate: give --detectors and/or --reference")

  report = {"data": str(ann_path), "num_images": len(annotations), "min_face": min_face,
            "protocol": "WIDER-style: greedy matching in score order at IoU >= t, continuous "
                        "coordinates (no +1); detections on ignore regions (IoU >= t) are neither "
                        "TP nor FP; GT shorter than min_face become ignore regions; all-point AP",
            "detectors": {}}
  for name, dets in per_detector.items():
    entry = {}
    for iou in (0.5, 0.4):
      r = evaluation.evaluate_detections(annotations, dets, iou_threshold=iou, min_face=min_face)
      entry[f"ap@{iou}"] = r["ap"]
      if iou == 0.5:
        entry.update(ap=r["ap"], recall=r["max_recall"], precision=r["precision"],
                     num_det=r["num_det"], tp=r["tp"], fp=r["fp"],
                     recall_at_fp_per_image=r["recall_at_fp_per_image"],
                     median_ms=r.get("median_ms"))
    entry["settings"] = settings_by.get(name)
    report["detectors"][name] = entry
  refs = [n for n in per_detector if n.startswith("ref:")]
  for name in [n for n in per_detector if not n.startswith("ref:")]:
    for ref in refs:
      subset = {f: d for f, d in per_detector[ref].items() if f in per_detector[name]}
      parity = {}
      for iou in (0.5, 0.9):
        a = evaluation.agreement(per_detector[name], subset, iou=iou)
        parity[f"iou{iou}"] = {"ours_matched": a["a_matched"], "ref_matched": a["b_matched"],
                               "landmark_median_px": a.get("landmark_distance_median_px"),
                               "box_offset_median": a.get("box_offset_median")}
      report["detectors"][name].setdefault("parity", {})[ref] = parity
  out = pathlib.Path(args.out)
  out.parent.mkdir(parents=True, exist_ok=True)
  out.write_text(json.dumps(report, indent=2, default=_json_default) + "\n")
  return report


def _json_default(o):
  if isinstance(o, np.ndarray):
    return o.tolist()
  if isinstance(o, (np.floating, np.integer)):
    return o.item()
  raise TypeError(type(o))


def format_table(report: dict) -> str:
  head = (f"{'detector':<22} {'AP@0.5':>7} {'AP@0.4':>7} {'recall':>7} {'prec.':>7} "
          f"{'dets':>6} {'median ms':>10}")
  lines = [f"{report['num_images']} images, min face {report['min_face']}: {report['protocol']}",
           head, "-" * len(head)]
  for name, e in report["detectors"].items():
    ms = e.get("median_ms")
    lines.append(f"{name:<22} {e['ap']:>7.4f} {e['ap@0.4']:>7.4f} {e['recall']:>7.4f} "
                 f"{e['precision']:>7.4f} {e['num_det']:>6d} {ms if ms is None else round(ms, 1)!s:>10}")
  for name, e in report["detectors"].items():
    for ref, p in e.get("parity", {}).items():
      for iou, q in p.items():
        lm = q["landmark_median_px"]
        lines.append(f"parity {name} vs {ref} at {iou}: ours matched {q['ours_matched']:.3f}, "
                     f"reference matched {q['ref_matched']:.3f}"
                     + (f", landmark median {lm:.2f} px" if lm is not None else ""))
  return "\n".join(lines)
