"""``python evaluate.py mtcnn``: run detectors over an annotated set and score them.

Timing: each image is timed around the detector call alone (decoding
excluded). A detector's first call on a new canvas size compiles, so every
new size is run once untimed first (warm-up), as the reference timings did.
"""
from __future__ import annotations

import io
import os
import pathlib
import time

import numpy as np
import tensorflow_datasets as tfds
from PIL import Image
from tqdm.auto import tqdm

from espcn_mtcnn_common import tfds_images
from espcn_mtcnn_common.atomic_write import write_json_atomic
from espcn_mtcnn_common.image_io import read_image
from espcn_mtcnn_common.output_checks import check_writable_folder
from mtcnn_jax import detectors
from mtcnn_jax import report as report_lib
from mtcnn_jax.agreement import agreement
from mtcnn_jax.annotations import ImageAnnotation, load_annotations
from mtcnn_jax.average_precision import evaluate_detections
from mtcnn_jax.cascade import DetectorConfig, canvas_shape, check_config
from mtcnn_jax.demo_faces import sample_faces
from mtcnn_jax.detection_files import load_detections, save_detections
from mtcnn_jax.landmark_error import evaluate_landmarks
from mtcnn_jax.tfds_faces import wider_face_record
from mtcnn_jax.wider_protocol import SETTINGS, evaluate_wider, load_wider_ground_truth

__all__ = ["run", "format_table", "run_detector", "load_dataset", "PROTOCOL"]

PROTOCOL = ("WIDER-style: greedy matching in score order at IoU >= t, continuous coordinates "
            "(no +1); detections on ignore regions (IoU >= t) are neither TP nor FP; GT shorter "
            "than min_face become ignore regions; all-point AP")
"""The scoring protocol in words, as the report records it."""
WIDER_PROTOCOL = ("official WIDER FACE protocol (easy / medium / hard): scores min-max "
                  "normalised over the set, each detection matched to its highest-IoU face "
                  "(+1 areas) at IoU >= 0.5, matches to faces outside the setting neither TP "
                  "nor FP, 1,000 thresholds, VOC AP; over the evaluated images only")


def _annotation_path(data: str) -> pathlib.Path:
  path = pathlib.Path(data)
  if path.is_dir():
    path = path / "annotations.json"
  if not path.is_file():
    raise FileNotFoundError(f"{path}: no annotations file")
  return path


def wider_example_to_annotation(example: dict, file: str, height: int, width: int):
  """A TFDS ``wider_face`` example -> :class:`mtcnn_jax.annotations.ImageAnnotation`.

  TFDS boxes are normalised ``[ymin, xmin, ymax, xmax]``. Faces flagged
  invalid, heavily blurred or heavily occluded become ignore regions, the
  rule of the shared WIDER subsets (:func:`mtcnn_jax.tfds_faces.wider_face_record`).
  """
  record = wider_face_record(example, file, height, width)
  return ImageAnnotation(file=file, width=width, height=height,
                         boxes=np.asarray(record["boxes"], np.float64).reshape(-1, 4),
                         ignore=np.asarray(record["ignore"], np.float64).reshape(-1, 4))


def _tfds_wider_face(spec: str):
  """Annotations of a prepared TFDS ``wider_face`` split; images decoded on demand."""
  name, split = tfds_images.parse_tfds_spec(spec)
  if split == "train" and spec.count(":") < 2:
    split = "validation"                       # the evaluation split unless one is named
  source = tfds_images.open_data_source(name, split, os.environ.get("TFDS_DATA_DIR"),
                                        decoders={"image": tfds.decode.SkipDecoding()})
  annotations, index = [], {}
  for i in range(len(source)):
    example = source[i]
    with Image.open(io.BytesIO(example["image"])) as img:   # reads the header only
      width, height = img.size
    file = example.get("image/filename", f"{split}_{i:05d}")
    file = file.decode() if isinstance(file, bytes) else str(file)
    annotations.append(wider_example_to_annotation(example, file, height, width))
    index[file] = i

  def get_image(ann):
    data = source[index[ann.file]]["image"]
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
  return annotations, get_image, f"tfds:{name}:{split}"


def load_dataset(data: str):
  """``(annotations, get_image, description)`` for ``--data``.

  ``data``: an annotations JSON, a folder holding ``annotations.json``,
  ``"samples"`` (embedded images), or ``"tfds:wider_face[:SPLIT]"``.
  """
  if data == "samples":
    items = sample_faces()
    images = {ann.file: image for ann, image in items}
    return [ann for ann, _ in items], lambda ann: images[ann.file], "samples (embedded)"
  if data.startswith("tfds:"):
    return _tfds_wider_face(data)
  path = _annotation_path(data)
  return (load_annotations(path),
          lambda ann: read_image(path.parent / ann.file, mode="rgb"), str(path))


def run_detector(name: str, annotations, get_image, *, progress: bool = True,
                 **settings) -> dict[str, dict]:
  """Run detector ``name`` on every annotated image: ``{file: {boxes, scores, landmarks, ms}}``.

  ``get_image(annotation)`` returns the uint8 RGB image.
  """
  detector = detectors.make_detector(name, **settings)
  warmed: set = set()
  results = {}
  for ann in tqdm(annotations, desc=name, unit="img", disable=not progress):
    image = get_image(ann)
    bucket = canvas_shape(*image.shape[:2]) if detectors.is_mtcnn(name) else None
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


def _check_detectors(names: list[str]) -> None:
  for n in names:
    if not detectors.is_known(n):
      raise ValueError(f"unknown detector {n!r}; known: {', '.join(detectors.DETECTORS)}, "
                       "mtcnn:FOLDER")


def _run_detectors(args, names: list[str], annotations, get_image
                   ) -> tuple[dict[str, dict], dict[str, dict]]:
  """Every ``--detectors`` entry on every image: ``(detections by detector, settings by
  detector)``; with ``--save-detections`` also written in the reference format."""
  per_detector: dict[str, dict] = {}
  settings_by: dict[str, dict] = {}
  for name in names:
    settings = ({"min_face_size": args.min_face_size}
                if detectors.is_mtcnn(name) or name == "facenet_pytorch"
                or name in detectors.HAAR_FILES else {})
    per_detector[name] = run_detector(name, annotations, get_image,
                                      progress=not args.no_progress, **settings)
    settings_by[name] = detectors.detector_settings(name, **settings)
    if args.save_detections:
      out = pathlib.Path(args.save_detections) / f"{name.replace(':', '_').replace('/', '_')}.json"
      out.parent.mkdir(parents=True, exist_ok=True)
      save_detections(out, name, settings_by[name], per_detector[name])
  return per_detector, settings_by


def _detector_entry(annotations, dets: dict, min_face: float | None) -> tuple[dict, dict]:
  """One detector's report entry (AP at IoU 0.5 and 0.4, operating point, timing) and its
  IoU-0.5 curves."""
  entry, curves = {}, None
  for iou in (0.5, 0.4):
    r = evaluate_detections(annotations, dets, iou_threshold=iou, min_face=min_face)
    entry[f"ap@{iou}"] = r["ap"]
    if iou == 0.5:
      curves = r
      entry.update(ap=r["ap"], recall=r["max_recall"], precision=r["precision"],
                   num_det=r["num_det"], tp=r["tp"], fp=r["fp"],
                   recall_at_fp_per_image=r["recall_at_fp_per_image"],
                   median_ms=r.get("median_ms"),
                   per_image_ms={f: round(d["ms"], 3) for f, d in dets.items()
                                 if d.get("ms") is not None} or None)
  return entry, curves


def _parity(ours: dict, reference: dict) -> dict:
  """Agreement of one detector with reference detections on the images both cover."""
  subset = {f: d for f, d in reference.items() if f in ours}
  parity = {}
  for iou in (0.5, 0.9):
    a = agreement(ours, subset, iou=iou)
    parity[f"iou{iou}"] = {"ours_matched": a["a_matched"], "ref_matched": a["b_matched"],
                           "landmark_median_px": a.get("landmark_distance_median_px"),
                           "box_offset_median": a.get("box_offset_median")}
  return parity


def _figures_folder(args, out: pathlib.Path) -> pathlib.Path:
  """``--figures``, or beside the report: ``<out stem>_figures``."""
  return pathlib.Path(getattr(args, "figures", None) or out.with_suffix("").as_posix() + "_figures")


def _write_figures(args, report: dict, curves: dict, annotations, get_image,
                   per_detector: dict, out: pathlib.Path, wider_curves: dict | None = None
                   ) -> None:
  """PR, ROC and sample figures plus report.md; their paths go into ``report["figures"]``."""
  folder = _figures_folder(args, out)
  samples = []
  for ann in annotations[: getattr(args, "sample_images", 4)]:
    dets = {"gt": {"boxes": ann.boxes, "scores": np.ones(len(ann.boxes)), "landmarks": None}}
    dets.update({n: per_detector[n].get(ann.file, {"boxes": np.zeros((0, 4)), "scores":
                                                   np.zeros(0), "landmarks": None})
                 for n in per_detector})
    samples.append((ann.file, get_image(ann), dets))
  more = {key: (f"Official WIDER protocol, {key[len('wider_'):]} setting "
                 f"({report['num_images']} images)", c) for key, c in (wider_curves or {}).items()}
  report["figures"] = {k: str(v) for k, v in
                       report_lib.write_all(report, curves, samples, folder, more).items()}


def _check_outputs(args) -> None:
  """Fails at once (ValueError) on output paths that could not be written after the work:
  ``--out`` (a file path whose folder must be writable), ``--save-detections``,
  ``--figures``."""
  out = pathlib.Path(args.out)
  if out.is_dir():
    raise ValueError(f"--out {out} is a folder; give a JSON file path")
  check_writable_folder(out.parent, "--out folder")
  if getattr(args, "save_detections", None):
    check_writable_folder(args.save_detections, "--save-detections folder")
  if getattr(args, "figures", "") != "none":
    check_writable_folder(_figures_folder(args, out), "--figures folder")


def run(args) -> dict:
  """The evaluation behind the CLI; returns the report (also written to ``args.out``)."""
  names = [n for n in args.detectors.split(",") if n]
  _check_detectors(names)
  if any(detectors.is_mtcnn(n) for n in names):
    check_config(DetectorConfig(min_face_size=args.min_face_size))
  _check_outputs(args)
  wider_gt = (load_wider_ground_truth(args.wider_ground_truth)
              if getattr(args, "wider_ground_truth", None) else None)
  annotations, get_image, description = load_dataset(args.data)
  if args.limit:
    annotations = annotations[: args.limit]
  min_face = args.min_face or None
  per_detector, settings_by = _run_detectors(args, names, annotations, get_image)
  for ref in [r for r in args.reference.split(",") if r]:
    ref_name, ref_settings, ref_dets = load_detections(ref)
    per_detector[f"ref:{ref_name}"] = ref_dets
    settings_by[f"ref:{ref_name}"] = ref_settings
  if not per_detector:
    raise ValueError("nothing to evaluate: give --detectors and/or --reference")

  report = {"data": description, "num_images": len(annotations), "min_face": min_face,
            "protocol": PROTOCOL, "detectors": {}}
  curves = {}
  for name, dets in per_detector.items():
    entry, curves[name] = _detector_entry(annotations, dets, min_face)
    entry["settings"] = settings_by.get(name)
    report["detectors"][name] = entry
  refs = [n for n in per_detector if n.startswith("ref:")]
  for name in [n for n in per_detector if not n.startswith("ref:")]:
    for ref in refs:
      report["detectors"][name].setdefault("parity", {})[ref] = _parity(per_detector[name],
                                                                        per_detector[ref])
  wider_curves = (_wider_settings(report, per_detector, wider_gt, annotations)
                  if wider_gt is not None else None)
  if getattr(args, "landmarks", ""):
    _landmark_errors(args, report, names)
  out = pathlib.Path(args.out)
  out.parent.mkdir(parents=True, exist_ok=True)
  write_json_atomic(out, report, indent=2, default=_json_default)
  if getattr(args, "figures", "") != "none":
    _write_figures(args, report, curves, annotations, get_image, per_detector, out,
                   wider_curves)
  return report


def _wider_settings(report: dict, per_detector: dict, ground_truth: dict,
                    annotations) -> dict:
  """The official WIDER FACE protocol's easy / medium / hard AP of every detector.

  Each detector's entry gains ``"wider": {"easy", "medium", "hard"}`` (over the
  evaluated images only, see :func:`mtcnn_jax.wider_protocol.evaluate_wider`);
  returns the precision-recall curves per setting, ``{"wider_<setting>": {name:
  curve}}``, for the report's figures.
  """
  files = [a.file for a in annotations]
  curves: dict = {f"wider_{s}": {} for s in SETTINGS}
  for name, dets in per_detector.items():
    w = evaluate_wider(dets, ground_truth, images=files)
    report["detectors"][name]["wider"] = {s: w[s] for s in SETTINGS}
    for s in SETTINGS:
      curves[f"wider_{s}"][name] = {"ap": w[s], "pr_recall": w["curves"][s]["recall"],
                                    "pr_precision": w["curves"][s]["precision"]}
  report["wider_protocol"] = {"num_faces": w["num_faces"], "num_images": w["num_images"],
                              "about": WIDER_PROTOCOL}
  return curves


def _landmark_errors(args, report: dict, names: list[str]) -> None:
  """Landmark NME (inter-ocular) on the landmark set's test split, per detector with landmarks."""
  path = _annotation_path(args.landmarks)
  anns = [a for a in load_annotations(path) if a.split in (None, "test")]
  if args.limit:
    anns = anns[: args.limit]
  for name in [n for n in names if detectors.has_landmarks(n)]:
    dets = run_detector(name, anns, lambda a: read_image(path.parent / a.file, mode="rgb"),
                        progress=not args.no_progress, min_face_size=args.min_face_size)
    r = evaluate_landmarks(anns, dets)
    report["detectors"][name].update(
        landmark_nme=r["mean_nme"], landmark_nme_median=r["median_nme"],
        landmark_failure_rate=r["failure_rate"], landmark_detected=r["detected_fraction"],
        landmark_faces=r["num_faces"], landmark_data=f"{path} (test split, {len(anns)} images)")


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
    fppi = e.get("recall_at_fp_per_image") or {}
    r1 = fppi.get(1.0, fppi.get("1.0"))
    lines.append(f"{name:<22} {e['ap']:>7.4f} {e['ap@0.4']:>7.4f} {e['recall']:>7.4f} "
                 f"{e['precision']:>7.4f} {e['num_det']:>6d} {ms if ms is None else round(ms, 1)!s:>10}"
                 + (f"   recall@1FP/img {r1:.3f}" if r1 is not None else "")
                 + (f"   landmark NME {e['landmark_nme']:.4f}" if "landmark_nme" in e else ""))
  for name, e in report["detectors"].items():
    for ref, p in e.get("parity", {}).items():
      for iou, q in p.items():
        lm = q["landmark_median_px"]
        lines.append(f"parity {name} vs {ref} at {iou}: ours matched {q['ours_matched']:.3f}, "
                     f"reference matched {q['ref_matched']:.3f}"
                     + (f", landmark median {lm:.2f} px" if lm is not None else ""))
  return "\n".join(lines + _wider_lines(report))


def _wider_lines(report: dict) -> list[str]:
  """The official WIDER protocol's table, when it was computed."""
  if "wider_protocol" not in report:
    return []
  faces = report["wider_protocol"]["num_faces"]
  lines = ["", f"official WIDER FACE protocol on these {report['wider_protocol']['num_images']} "
           f"images (faces: easy {faces['easy']}, medium {faces['medium']}, hard {faces['hard']})",
           f"{'detector':<22} {'easy':>7} {'medium':>7} {'hard':>7}"]
  for name, e in report["detectors"].items():
    w = e["wider"]
    lines.append(f"{name:<22} {w['easy']:>7.4f} {w['medium']:>7.4f} {w['hard']:>7.4f}")
  return lines
