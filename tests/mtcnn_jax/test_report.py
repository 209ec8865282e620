"""Tests of mtcnn_jax.report: PR/ROC figures, sample grid, Markdown report.

The data are hand-made: a few synthetic images with face boxes (and
landmarks), and three fake detectors scored by the real evaluator:
``perfect`` (every GT box, AP 1), ``noisy`` (jittered boxes, misses, many
low-score false positives, no landmarks) and ``silent`` (no detections).
"""
from __future__ import annotations

import math
import pathlib
import re

import numpy as np
import pytest
from PIL import Image

from mtcnn_jax import report
from mtcnn_jax.annotations import ImageAnnotation
from mtcnn_jax.average_precision import evaluate_detections
from mtcnn_jax.landmark_error import evaluate_landmarks


def _landmarks(box):
  """Five plausible points inside ``box`` (eyes, nose, mouth corners)."""
  x1, y1, x2, y2 = box
  w, h = x2 - x1, y2 - y1
  rel = np.array([[0.3, 0.35], [0.7, 0.35], [0.5, 0.55], [0.35, 0.75], [0.65, 0.75]])
  return np.c_[x1 + rel[:, 0] * w, y1 + rel[:, 1] * h]


def _fake_set(num_images: int = 6, seed: int = 0):
  """Annotations, images and per-detector detections ``{name: {file: record}}``."""
  rng = np.random.default_rng(seed)
  annotations, images, dets = [], {}, {"perfect": {}, "noisy": {}, "silent": {}}
  for i in range(num_images):
    h, w = (90, 120) if i % 2 else (120, 90)
    file = f"img_{i}.png"
    n = 1 + i % 3
    xs = np.linspace(5, w - 30, n)
    boxes = np.array([[x, 20.0 + 5 * k, x + 22, 48.0 + 5 * k] for k, x in enumerate(xs)])
    lms = np.stack([_landmarks(b) for b in boxes])
    annotations.append(ImageAnnotation(
        file=file, width=w, height=h, boxes=boxes,
        ignore=np.array([[0.0, h - 12.0, 12.0, h]]) if i == 0 else np.zeros((0, 4)),
        landmarks=lms))
    yy, xx = np.mgrid[0:h, 0:w]
    images[file] = np.stack([xx * 255 // w, yy * 255 // h, np.full_like(xx, 90)],
                            -1).astype(np.uint8)
    dets["perfect"][file] = {"boxes": boxes, "scores": np.linspace(0.99, 0.9, n),
                             "landmarks": lms, "ms": 2.0 + i}
    keep = boxes[1:] if i % 2 else boxes  # misses the first face of odd images
    jitter = keep + rng.normal(0, 2.5, keep.shape)
    fp = rng.uniform(0, 60, (30, 2))
    fp = np.c_[fp, fp + 20]
    dets["noisy"][file] = {"boxes": np.r_[jitter, fp],
                           "scores": np.r_[rng.uniform(0.6, 0.95, len(keep)),
                                           rng.uniform(0.0, 0.7, len(fp))],
                           "landmarks": None, "ms": 1.0}
    dets["silent"][file] = {"boxes": np.zeros((0, 4)), "scores": np.zeros(0)}
  return annotations, images, dets


@pytest.fixture(scope="module")
def fake():
  annotations, images, dets = _fake_set()
  curves = {name: evaluate_detections(annotations, d) for name, d in dets.items()}
  # Input order deliberately not the AP order.
  curves = {n: curves[n] for n in ("silent", "noisy", "perfect")}
  rep = {"data": "tests/fake/annotations.json", "num_images": len(annotations), "min_face": None,
         "protocol": "WIDER-style greedy matching at IoU >= t, all-point AP", "detectors": {}}
  for name in curves:
    r4 = evaluate_detections(annotations, dets[name], iou_threshold=0.4)
    r = curves[name]
    rep["detectors"][name] = {"ap": r["ap"], "ap@0.4": r4["ap"], "recall": r["max_recall"],
                              "precision": r["precision"],
                              "recall_at_fp_per_image": r["recall_at_fp_per_image"],
                              "median_ms": r["median_ms"],
                              "settings": {"detector": name, "thresholds": [0.6, 0.7, 0.7]}}
  rep["detectors"]["perfect"]["landmark_nme"] = evaluate_landmarks(
      annotations, dets["perfect"])
  samples = []
  for ann in annotations[:3]:
    per = {name: d[ann.file] for name, d in dets.items()}
    per["noisy"] = {k: v[per["noisy"]["scores"] >= 0.6] if k in ("boxes", "scores") else v
                    for k, v in per["noisy"].items()}
    per["gt"] = ann
    samples.append((ann.file, images[ann.file], per))
  return {"annotations": annotations, "images": images, "dets": dets, "curves": curves,
          "report": rep, "samples": samples}


def test_fake_detectors_have_the_expected_ap(fake):
  aps = {n: c["ap"] for n, c in fake["curves"].items()}
  assert aps["perfect"] == pytest.approx(1.0)
  assert 0.2 < aps["noisy"] < 0.95
  assert aps["silent"] == 0.0
  assert len(fake["curves"]["silent"]["roc_tp"]) == 0


def test_legend_order_is_by_ap_descending_nan_last():
  curves = {"a": {"ap": 0.5}, "b": {"ap": math.nan}, "c": {"ap": 0.9}, "d": {},
            "e": {"ap": 0.5}, "f": {"ap": 0.0}}
  assert report._legend_order(curves) == ["c", "a", "e", "f", "b", "d"]
  assert report._legend_order({}) == []


def test_legend_order_of_the_fake_detectors(fake):
  assert report._legend_order(fake["curves"]) == ["perfect", "noisy", "silent"]
  assert report._label("perfect", fake["curves"]["perfect"]) == "perfect (AP 1.000)"
  assert report._label("silent", fake["curves"]["silent"]).endswith("no detections")


def _png(path: pathlib.Path, min_w: int, min_h: int, max_side: int = 2400):
  assert path.is_file()
  with Image.open(path) as im:
    assert im.format == "PNG"
    w, h = im.size
  assert min_w <= w <= max_side and min_h <= h <= max_side, (path.name, w, h)
  return w, h


def test_write_all_writes_figures_and_a_linked_report(fake, tmp_path):
  paths = report.write_all(fake["report"], fake["curves"], fake["samples"], tmp_path / "out")
  assert set(paths) == {"pr_curves", "roc", "samples", "report"}
  assert _png(paths["pr_curves"], 500, 400) == (640, 520)
  assert _png(paths["roc"], 500, 400) == (640, 520)
  w, _ = _png(paths["samples"], 800, 600)
  assert w == round((4 * 3.2 + 0.4) * 100)  # 4 columns: ground truth + 3 detectors

  md = paths["report"].read_text(encoding="utf-8")
  for name in ("perfect", "noisy", "silent"):
    assert f"`{name}`" in md
    assert f"<summary>{name}</summary>" in md
  noisy = fake["report"]["detectors"]["noisy"]
  assert f"| {noisy['ap']:.4f} | {noisy['ap@0.4']:.4f} |" in md
  assert "| `perfect` | 1.0000 | 1.0000 | 1.0000 | 1.0000 |" in md
  assert "| 4.5 | 0.0000 |" in md  # perfect: median ms of 2..7, NME 0 (mean_nme of the dict)
  row = next(line for line in md.splitlines() if line.startswith("| `silent`"))
  assert row.count("–") == 3  # precision (NaN), median ms (no timing), landmark NME
  assert fake["report"]["protocol"] in md and "tests/fake/annotations.json" in md
  assert "6 images" in md
  links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", md)
  assert sorted(links) == ["pr_curves.png", "roc.png", "samples.png"]
  for link in links:
    assert not pathlib.PurePosixPath(link).is_absolute()
    assert (paths["report"].parent / link).is_file()


def test_markdown_links_are_relative_to_its_folder_and_missing_keys_show_a_dash(tmp_path):
  fig = tmp_path / "figs" / "pr.png"
  fig.parent.mkdir()
  Image.new("RGB", (4, 4)).save(fig)
  rep = {"detectors": {"bare": {}, "strkeys": {
      "ap": 0.87654, "recall_at_fp_per_image": {"0.1": 0.25, "0.5": 0.5, "1": 0.75},
      "median_ms": None, "landmark_nme": 0.0512, "precision": float("nan")}}}
  path = report.write_markdown(rep, {"pr_curves": fig}, tmp_path / "md" / "r.md")
  md = path.read_text(encoding="utf-8")
  assert "(../figs/pr.png)" in md
  assert (path.parent / "../figs/pr.png").resolve() == fig.resolve()
  bare = next(line for line in md.splitlines() if line.startswith("| `bare`"))
  assert bare == "| `bare` |" + " – |" * 9
  row = next(line for line in md.splitlines() if line.startswith("| `strkeys`"))
  assert row == "| `strkeys` | 0.8765 | – | – | – | 0.2500 | 0.5000 | 0.7500 | – | 0.0512 |"
  assert "<details>" not in md  # no settings anywhere
  # Float keys (straight from evaluate_detections) read the same.
  assert report._fppi({0.1: 0.3, 1.0: 0.9}, 1.0) == 0.9
  assert report._fppi({"1.0": 0.9}, 1.0) == 0.9
  assert report._fppi(None, 1.0) is None
  # A report with nothing in it still writes.
  assert "# Face detection report" in report.write_markdown({}, {}, tmp_path / "e.md").read_text()


def test_plots_survive_only_empty_curves(fake, tmp_path):
  only = {"silent": fake["curves"]["silent"]}
  _png(report.plot_pr_curves(only, tmp_path / "pr.png"), 500, 400)
  _png(report.plot_roc(only, tmp_path / "roc.png"), 500, 400)


def test_plots_accept_json_style_curves(fake, tmp_path):
  # A result read back from JSON: lists instead of arrays, no interpolated precision.
  c = fake["curves"]["noisy"]
  as_lists = {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in c.items()
              if k != "pr_precision_interp"}
  _png(report.plot_pr_curves({"noisy": as_lists}, tmp_path / "pr.png", title="custom"), 500, 400)
  _png(report.plot_roc({"noisy": as_lists}, tmp_path / "roc.png", num_images=6), 500, 400)


def test_sample_grid_with_zero_detections_no_landmarks_and_a_big_image(tmp_path):
  big = np.full((1500, 2000, 3), 40, np.uint8)
  small = np.full((80, 60, 3), 200, np.uint8)
  face = np.array([[300.0, 200.0, 700.0, 700.0]])
  samples = [
      ("big", big, {"gt": {"boxes": face, "landmarks": _landmarks(face[0])[None],
                           "ignore": [[0, 0, 50, 50]]},
                    "with_lm": {"boxes": face, "scores": [0.9],
                                "landmarks": _landmarks(face[0])[None]},
                    "no_lm": {"boxes": face + 10, "scores": np.array([0.8]), "landmarks": None}}),
      ("empty", small, {"with_lm": {"boxes": np.zeros((0, 4)), "scores": np.zeros(0),
                                    "landmarks": np.zeros((0, 5, 2))},
                        "no_lm": {"boxes": [], "scores": []}}),  # and no "gt" entry
  ]
  path = report.plot_sample_grid(samples, tmp_path / "grid.png")
  w, h = _png(path, 600, 400)
  assert w < 1200 and h < 1200
  # Only max_images rows are drawn.
  path2 = report.plot_sample_grid(samples * 3, tmp_path / "grid2.png", max_images=1)
  assert _png(path2, 600, 200)[1] < h
  with pytest.raises(ValueError, match="no samples"):
    report.plot_sample_grid([], tmp_path / "none.png")


def test_downscale_keeps_small_images_and_shrinks_big_ones():
  small = np.zeros((50, 40, 3), np.uint8)
  out, scale = report._downscale(small, 320)
  assert out.shape == (50, 40, 3) and scale == 1.0
  out, scale = report._downscale(np.zeros((1000, 2000, 3), np.uint8), 320)
  assert out.shape == (160, 320, 3) and out.dtype == np.uint8 and scale == pytest.approx(0.16)
  faces = report._scaled_faces({"boxes": [[100, 100, 300, 500]], "scores": [0.5, ],
                                "landmarks": None}, 0.16, min_score=None)
  np.testing.assert_allclose(faces.boxes, [[16, 16, 48, 80]])
  assert faces.landmarks is None
  assert len(report._scaled_faces({"boxes": [[0, 0, 1, 1]], "scores": [0.5]}, 1.0, 0.6).boxes) == 0
