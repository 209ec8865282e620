"""Tests of mtcnn_jax.average_precision: AP, operating point, PR and ROC curves, min_face.

References: every expected number is worked out by hand in the comments next
to it (PASCAL VOC all-point AP: precision replaced by its running maximum from
the right, summed over the recall steps). The real-data test scores a
reference file of ``../shared/data/faces/wider_val_dev`` against the figures
its README quotes.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

from mtcnn_jax.average_precision import evaluate_detections, evaluate_file, summarize
from tests.mtcnn_jax.face_records import FAR, box_at, make_annotation, make_detection


def test_perfect_detector_has_ap_one():
  anns = [make_annotation("a", [box_at(0), box_at(1)]), make_annotation("b", [box_at(2)])]
  dets = {"a": make_detection([box_at(1), box_at(0)], [0.7, 0.9]),
          "b": make_detection([box_at(2)], [0.2])}
  r = evaluate_detections(anns, dets)
  assert r["ap"] == 1.0 and r["recall"] == 1.0 and r["precision"] == 1.0
  assert (r["num_gt"], r["tp"], r["fp"], r["num_det"]) == (3, 3, 0, 3)


def test_all_false_positives_have_ap_zero():
  anns = [make_annotation("a", [box_at(0), box_at(1)])]
  r = evaluate_detections(anns, {"a": make_detection([FAR, box_at(3)], [0.9, 0.8])})
  assert r["ap"] == 0.0 and r["recall"] == 0.0 and r["precision"] == 0.0
  assert (r["tp"], r["fp"]) == (0, 2)


def test_ap_when_the_top_detection_is_a_false_positive():
  # 2 GT; sorted: FP (0.9), TP (0.8), TP (0.7).
  # recall 0, 1/2, 1; precision 0, 1/2, 2/3; running max from the right: 2/3, 2/3, 2/3.
  # AP = (1/2 - 0) * 2/3 + (1 - 1/2) * 2/3 = 2/3.
  anns = [make_annotation("a", [box_at(0), box_at(1)])]
  r = evaluate_detections(anns, {"a": make_detection([FAR, box_at(0), box_at(1)], [0.9, 0.8, 0.7])})
  assert r["ap"] == pytest.approx(2 / 3)
  np.testing.assert_allclose(r["pr_recall"], [0, 0.5, 1])
  np.testing.assert_allclose(r["pr_precision"], [0, 0.5, 2 / 3])
  np.testing.assert_allclose(r["pr_precision_interp"], [2 / 3, 2 / 3, 2 / 3])


def _five_detections():
  """4 GT on two images; pooled ranking TP .9, FP .8, TP .7, FP .6, TP .5."""
  anns = [make_annotation("a", [box_at(0), box_at(1)]),
          make_annotation("b", [box_at(0), box_at(1)])]
  dets = {"a": make_detection([box_at(0), FAR, box_at(1)], [0.9, 0.6, 0.5]),
          "b": make_detection([FAR, box_at(1)], [0.8, 0.7])}
  return anns, dets


def test_ap_pr_curve_and_roc_by_hand():
  anns, dets = _five_detections()
  r = evaluate_detections(anns, dets)
  # cumulative TP 1 1 2 2 3, FP 0 1 1 2 2; recall = TP / 4; precision = TP / (TP + FP)
  np.testing.assert_allclose(r["pr_thresholds"], [0.9, 0.8, 0.7, 0.6, 0.5])
  np.testing.assert_array_equal(r["roc_tp"], [1, 1, 2, 2, 3])
  np.testing.assert_array_equal(r["roc_fp"], [0, 1, 1, 2, 2])
  np.testing.assert_allclose(r["pr_recall"], [0.25, 0.25, 0.5, 0.5, 0.75])
  np.testing.assert_allclose(r["pr_precision"], [1, 1 / 2, 2 / 3, 2 / 4, 3 / 5])
  # running max from the right: 1, 2/3, 2/3, 3/5, 3/5
  np.testing.assert_allclose(r["pr_precision_interp"], [1, 2 / 3, 2 / 3, 3 / 5, 3 / 5])
  # AP = .25 * 1 + 0 * 2/3 + .25 * 2/3 + 0 * 3/5 + .25 * 3/5 = 1/4 + 1/6 + 3/20 = 17/30
  assert r["ap"] == pytest.approx(17 / 30)
  assert (r["tp"], r["fp"], r["recall"], r["precision"]) == (3, 2, 0.75, 0.6)
  assert r["max_recall"] == 0.75 and r["fp_per_image"] == 1.0


def test_recall_at_fixed_false_positives_per_image():
  anns, dets = _five_detections()
  r = evaluate_detections(anns, dets)
  # 2 images. 0.1 FPPI allows 0.2 FP -> only the 0.9 threshold (0 FP): recall 1/4.
  # 0.5 FPPI allows 1 FP -> down to 0.7 (FP 1): recall 2/4. 1.0 allows 2 FP -> all: 3/4.
  assert r["recall_at_fp_per_image"] == {0.1: 0.25, 0.5: 0.5, 1.0: 0.75}
  r = evaluate_detections(anns, dets, fppi_levels=(0.0, 0.75))
  # 0 FP -> 1/4; 1.5 FP -> still at most 1 FP -> 2/4.
  assert r["recall_at_fp_per_image"] == {0.0: 0.25, 0.75: 0.5}


def test_operating_threshold_sets_the_point_not_the_curve():
  anns, dets = _five_detections()
  full = evaluate_detections(anns, dets)
  r = evaluate_detections(anns, dets, operating_threshold=0.7)
  # score >= 0.7: TP .9, FP .8, TP .7 -> 2 TP, 1 FP of 4 GT.
  assert (r["tp"], r["fp"], r["num_det"]) == (2, 1, 3)
  assert r["recall"] == 0.5 and r["precision"] == pytest.approx(2 / 3)
  assert r["ap"] == full["ap"] and r["max_recall"] == 0.75
  # Above every score: nothing kept, precision undefined (NaN), recall 0.
  none = evaluate_detections(anns, dets, operating_threshold=2.0)
  assert math.isnan(none["precision"]) and none["recall"] == 0.0 and none["num_det"] == 0


def test_detections_on_ignore_regions_leave_ap_unchanged():
  anns, dets = _five_detections()
  base = evaluate_detections(anns, dets)
  anns = [make_annotation(a.file, a.boxes, ignore=[box_at(3)]) for a in anns]
  # The same ranking plus three detections on the ignore box, one above everything.
  extra = {f: make_detection(np.r_[d["boxes"], [box_at(3)]], np.r_[d["scores"], 0.95])
           for f, d in dets.items()}
  extra["a"] = make_detection(np.r_[extra["a"]["boxes"], [[61, 0, 71, 10]]],
                              np.r_[extra["a"]["scores"], 0.55])
  r = evaluate_detections(anns, extra)
  assert r["ap"] == pytest.approx(base["ap"])
  assert (r["tp"], r["fp"], r["num_det_ignored"], r["num_det"]) == (3, 2, 3, 8)
  np.testing.assert_array_equal(r["roc_fp"], base["roc_fp"])


def test_tied_scores_enter_together():
  # 1 GT; a TP and a FP share score 0.5. The only curve point is recall 1,
  # precision 1/2, so AP = 1/2 in either file order (a sequential ranking would
  # give 1 or 1/2 depending on which came first).
  anns = [make_annotation("a", [box_at(0)])]
  for order in ([box_at(0), FAR], [FAR, box_at(0)]):
    r = evaluate_detections(anns, {"a": make_detection(order, [0.5, 0.5])})
    assert r["ap"] == 0.5
    np.testing.assert_array_equal(r["roc_tp"], [1])
    np.testing.assert_array_equal(r["roc_fp"], [1])


def test_missing_images_count_as_empty_and_none_covered_raises():
  anns = [make_annotation("a", [box_at(0)]), make_annotation("b", [box_at(0), box_at(1)])]
  r = evaluate_detections(anns, {"a": make_detection([box_at(0)], [1.0]),
                                 "zzz": make_detection([], [])})
  # GT of "b" stay in the denominator: recall 1/3, AP = 1/3 * 1.
  assert r["num_gt"] == 3 and r["ap"] == pytest.approx(1 / 3)
  assert r["num_images_missing"] == 1 and r["missing_files"] == ["b"]
  assert r["num_images_unannotated"] == 1
  with pytest.raises(ValueError, match="cover none of the 2 annotated images"):
    evaluate_detections(anns, {"images/a.jpg": make_detection([box_at(0)], [1.0])})


def test_no_detections_at_all():
  r = evaluate_detections([make_annotation("a", [box_at(0)])], {"a": make_detection([], [])})
  assert r["ap"] == 0.0 and r["recall"] == 0.0 and math.isnan(r["precision"])
  assert r["max_recall"] == 0.0 and r["recall_at_fp_per_image"][1.0] == 0.0
  assert r["pr_recall"].shape == (0,)


def test_timings():
  anns = [make_annotation("a", [box_at(0)]), make_annotation("b", []), make_annotation("c", [])]
  dets = {"a": make_detection([], [], ms=30.0), "b": make_detection([], [], ms=10.0),
          "c": make_detection([], [], ms=20.0)}
  r = evaluate_detections(anns, dets)
  assert r["median_ms"] == 20.0 and r["per_image_ms"] == {"a": 30.0, "b": 10.0, "c": 20.0}
  r = evaluate_detections(anns, {"a": make_detection([], [])})
  assert r["median_ms"] is None and r["per_image_ms"] == {}


def test_min_face_in_evaluation():
  # A 10 px face: without min_face a hit is a TP; with min_face 20 it is ignored,
  # and a miss on it costs no recall.
  anns = [make_annotation("a", [[0, 0, 10, 10], [50, 0, 80, 30]])]
  hit = {"a": make_detection([[0, 0, 10, 10], [50, 0, 80, 30]], [0.9, 0.8])}
  miss = {"a": make_detection([[50, 0, 80, 30]], [0.8])}
  assert evaluate_detections(anns, hit)["tp"] == 2
  r = evaluate_detections(anns, hit, min_face=20)
  assert (r["num_gt"], r["tp"], r["fp"], r["num_det_ignored"], r["ap"]) == (1, 1, 0, 1, 1.0)
  assert evaluate_detections(anns, miss)["recall"] == 0.5
  assert evaluate_detections(anns, miss, min_face=20)["recall"] == 1.0


def test_reference_mtcnn_scores(wider):
  r = evaluate_file(wider / "annotations.json", wider / "reference" / "facenet_mtcnn.json",
                    min_face=20)
  print(summarize(r))
  # A good detector on faces >= 20 px: 0.8673 when this test was written.
  assert 0.80 < r["ap"] < 0.95 and r["num_images_missing"] == 0
  assert r["num_gt"] < 1452 and r["tp"] + r["fp"] + r["num_det_ignored"] == 1717
  assert r["median_ms"] == pytest.approx(155, abs=1)  # README table
  # The dlib file's settings carry operating_threshold 0.0: 232 of up0's boxes score >= 0.
  r = evaluate_file(wider / "annotations.json", wider / "reference" / "dlib_hog_up0.json")
  assert r["operating_threshold"] == 0.0 and r["num_det"] == 232
