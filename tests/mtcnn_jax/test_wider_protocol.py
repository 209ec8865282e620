"""Tests of mtcnn_jax.wider_protocol: the official WIDER FACE easy / medium / hard AP.

References: the hand-made cases' APs are worked out in the comments next to
them, from the protocol (scores min-max normalised; a detection enters at the
thresholds ``t = 1 - (k + 1) / 1000 <= its normalised score``, so the top
score enters at t = 0.999 and the lowest only at t = 0; precision envelope =
running maximum from the right; AP = sum over recall steps of step x
envelope, with the end sentinel recall 1 / precision 0). The golden check
scores the public MTCNN ports' reference detections on the 293 dev images
against the official ``.mat`` ground truth in ``../shared/data/faces``.
"""
from __future__ import annotations

import json
import math
import time

import numpy as np
import pytest

from mtcnn_jax.detection_files import load_detections
from mtcnn_jax.wider_protocol import (SETTINGS, box_overlaps, evaluate_wider,
                                      load_wider_ground_truth, wider_image_key)
from tests.conftest import _need_shared

SIZE = 20.0


def face(i: int) -> list[float]:
  """Ground-truth face i as x, y, w, h (20 px squares 100 px apart)."""
  return [100.0 * i, 0.0, SIZE, SIZE]


def on(i: int, dx: float = 0.0) -> list[float]:
  """A detection x1, y1, x2, y2 on face i, shifted right by dx."""
  return [100.0 * i + dx, 0.0, 100.0 * i + dx + SIZE, SIZE]


FAR = [5000.0, 5000.0, 5020.0, 5020.0]  # overlaps nothing: a false positive


def image(boxes, easy=None, medium=None, hard=None) -> dict:
  """A ground-truth entry; a setting left None counts every box."""
  every = list(range(len(boxes)))
  pick = lambda idx: np.asarray(every if idx is None else idx, np.int64)
  return {"boxes": np.asarray(boxes, np.float64).reshape(-1, 4), "easy": pick(easy),
          "medium": pick(medium), "hard": pick(hard)}


def dets(boxes, scores) -> tuple[np.ndarray, np.ndarray]:
  return np.asarray(boxes, np.float64).reshape(-1, 4), np.asarray(scores, np.float64)


def aps(result) -> tuple[float, float, float]:
  return tuple(result[s] for s in SETTINGS)


# ---- keys and IoU ----

def test_image_keys_map_to_the_annotation_file_form():
  want = "images/0--Parade/0_Parade_marchingband_1_465.jpg"
  for spelling in (want, "0--Parade/0_Parade_marchingband_1_465.jpg",
                   "0--Parade/0_Parade_marchingband_1_465",
                   "/data/WIDER_val/images/0--Parade/0_Parade_marchingband_1_465.jpg",
                   "images\\0--Parade\\0_Parade_marchingband_1_465.jpg"):
    assert wider_image_key(spelling) == want
  with pytest.raises(ValueError, match="event"):
    wider_image_key("0_Parade_marchingband_1_465.jpg")


def test_iou_uses_matlab_plus_one_areas():
  gt = [[0, 0, 9, 9]]  # x2 = 9: 10 x 10 = 100 pixels
  # 10 x 5 = 50 pixels inside: IoU 50 / 100 = 0.5 (without +1: 36 / 81 = 0.44).
  # Touching at x = 9: a 1 x 10 column shared, 10 / (100 + 100 - 10) = 1/19.
  # Starting at x = 10: no shared pixel, 0.
  got = box_overlaps([[0, 0, 9, 4], [9, 0, 9, 9], [10, 0, 9, 9]], gt)
  np.testing.assert_allclose(got[:, 0], [0.5, 1 / 19, 0.0], rtol=1e-12)


# ---- hand-made cases ----

def test_perfect_detector_has_ap_one_in_every_setting():
  # 3 faces, each found; scores 0.9, 0.8, 0.7 -> 1, 0.5, 0. Precision is 1 at
  # every threshold and recall reaches 1 at t = 0: AP = 1.
  gt = {"images/0--E/a.jpg": image([face(0), face(1)]), "images/0--E/b.jpg": image([face(2)])}
  d = {"images/0--E/a.jpg": dets([on(1), on(0)], [0.8, 0.9]),
       "images/0--E/b.jpg": dets([on(2)], [0.7])}
  r = evaluate_wider(d, gt)
  assert aps(r) == (1.0, 1.0, 1.0)
  assert r["num_faces"] == {"easy": 3, "medium": 3, "hard": 3} and r["num_images"] == 2
  curve = r["curves"]["easy"]
  assert len(curve["recall"]) == len(r["thresholds"]) == 1000
  assert r["thresholds"][0] == pytest.approx(0.999) and r["thresholds"][-1] == 0.0
  assert curve["recall"][0] == pytest.approx(1 / 3) and curve["recall"][-1] == 1.0
  assert set(curve["precision"]) == {1.0}


def test_a_detection_on_an_ignore_box_is_neither_true_nor_false_positive():
  # Face 0 counts everywhere; face 1 only in medium and hard (an ignore box in easy).
  # Detections: on face 1 (score 1 -> 1.0), on face 0 (score 0 -> 0.0).
  # easy, 1 face: t > 0: only the ignore-box detection -> 0 proposals, recall 0;
  #   t = 0: 1 proposal, 1 TP -> recall 1, precision 1. AP = 1 (0.5 if it were a FP).
  # medium / hard, 2 faces: recall 1/2 then 1, precision 1 throughout: AP 1.
  gt = {"images/0--E/a.jpg": image([face(0), face(1)], easy=[0])}
  d = {"images/0--E/a.jpg": dets([on(1), on(0)], [1.0, 0.0])}
  r = evaluate_wider(d, gt)
  assert aps(r) == (1.0, 1.0, 1.0)
  assert r["num_faces"]["easy"] == 1
  assert r["curves"]["easy"]["recall"][:999] == [0.0] * 999  # before t = 0


def test_each_detection_takes_only_its_highest_iou_box():
  # Box 0 = face 0 (counted everywhere); box 1 = face 0 moved 2 px right, an
  # ignore box in easy. The first detection sits exactly on box 1 (IoU 1) and
  # overlaps box 0 at 19*21 / (2*441 - 399) = 0.83; it takes box 1 only.
  # A far false positive scores 0 (enters at t = 0).
  # easy, 1 face: never recalled -> recall 0 at every threshold: AP 0.
  # hard, 2 faces: t > 0: recall 1/2, precision 1; t = 0: precision 1/2.
  #   AP = 1/2 * 1 + (1 - 1/2) * 0 (sentinel) = 0.5.
  gt = {"images/0--E/a.jpg": image([face(0), [2.0, 0.0, SIZE, SIZE]], easy=[0])}
  d = {"images/0--E/a.jpg": dets([on(0, dx=2.0), FAR], [1.0, 0.0])}
  r = evaluate_wider(d, gt)
  assert (r["easy"], r["hard"]) == (0.0, 0.5)


def test_duplicate_detections_on_one_face_count_once():
  # Faces 0 and 1. Detections: on face 0 (1.0), face 0 again shifted 2 px
  # (IoU 0.83, score 0.5), on face 1 (0.0).
  # t > 0.5: 1 proposal, 1 TP -> recall 1/2, precision 1.
  # 0 < t <= 0.5: the duplicate is a FP -> recall 1/2, precision 1/2.
  # t = 0: 3 proposals, 2 TP -> recall 1, precision 2/3.
  # Envelope 1 at recall 1/2, 2/3 at recall 1: AP = 1/2 * 1 + 1/2 * 2/3 = 5/6.
  gt = {"images/0--E/a.jpg": image([face(0), face(1)])}
  d = {"images/0--E/a.jpg": dets([on(0), on(0, dx=2.0), on(1)], [1.0, 0.5, 0.0])}
  for ap in aps(evaluate_wider(d, gt)):
    assert ap == pytest.approx(5 / 6, abs=1e-12)


def test_an_image_without_detections_keeps_its_faces():
  # Image a: face 0 found (1.0) and a FP (0.0). Image b: face 0, no detection.
  # 2 faces: t > 0: recall 1/2, precision 1; t = 0: precision 1/2.
  # AP = 1/2 * 1 + 1/2 * 0 (sentinel) = 0.5, whether b has an empty entry or
  # is only named in `images`.
  gt = {"images/0--E/a.jpg": image([face(0)]), "images/0--E/b.jpg": image([face(0)])}
  found = {"images/0--E/a.jpg": dets([on(0), FAR], [1.0, 0.0])}
  empty = dict(found, **{"images/0--E/b.jpg": dets(np.zeros((0, 4)), [])})
  assert aps(evaluate_wider(empty, gt)) == (0.5, 0.5, 0.5)
  assert aps(evaluate_wider(found, gt, images=list(gt))) == (0.5, 0.5, 0.5)
  # Without `images`, b is not evaluated: 1 face, found at t > 0 with precision 1: AP 1.
  assert aps(evaluate_wider(found, gt)) == (1.0, 1.0, 1.0)


def test_detections_on_an_image_without_faces_are_skipped_as_officially():
  # The official code skips an image whose ground truth is empty, so its
  # detections are not false positives. Stray detection at 1.0 there, the
  # only face found at 0.0: t > 0: no proposal; t = 0: recall 1, precision 1. AP 1
  # (0.5 if the stray one counted).
  gt = {"images/0--E/a.jpg": image([face(0)]), "images/0--E/none.jpg": image(np.zeros((0, 4)))}
  d = {"images/0--E/a.jpg": dets([on(0)], [0.0]), "images/0--E/none.jpg": dets([FAR], [1.0])}
  assert aps(evaluate_wider(d, gt)) == (1.0, 1.0, 1.0)


def test_tied_scores_enter_together_whatever_their_order():
  # Image a: face 0 with two detections tied at 0.5 (one on it, one 2 px off:
  # whichever comes first is the TP, the other a duplicate FP). Image b: a FP
  # at 0.5 and face 0 found at 0.0. Normalised: 1, 1, 1, 0.
  # t > 0: 3 proposals, 1 TP -> recall 1/2, precision 1/3.
  # t = 0: 4 proposals, 2 TP -> recall 1, precision 1/2.
  # Envelope 1/2 at both: AP = 1/2 * 1/2 + 1/2 * 1/2 = 0.5.
  gt = {"images/0--E/a.jpg": image([face(0)]), "images/0--E/b.jpg": image([face(0)])}
  a_boxes = [on(0), on(0, dx=2.0)]
  b = dets([FAR, on(0)], [0.5, 0.0])
  forward = {"images/0--E/a.jpg": dets(a_boxes, [0.5, 0.5]), "images/0--E/b.jpg": b}
  backward = {"images/0--E/b.jpg": b, "images/0--E/a.jpg": dets(a_boxes[::-1], [0.5, 0.5])}
  assert aps(evaluate_wider(forward, gt)) == (0.5, 0.5, 0.5)
  assert aps(evaluate_wider(backward, gt)) == (0.5, 0.5, 0.5)


def test_a_subset_leaves_out_other_images_faces_and_scores():
  # a: face 0 found (score 1). b: face 0 missed, a FP (score 0). c: face 0 found (score 5).
  # Subset {a, b}: scores 1, 0 -> 1, 0; 2 faces: t > 0 recall 1/2, precision 1;
  #   t = 0 precision 1/2: AP = 0.5.
  # All three: scores 1, 0, 5 -> 0.2, 0, 1; 3 faces: t > 0.2: recall 1/3, precision 1;
  #   0 < t <= 0.2: recall 2/3, precision 1; t = 0: precision 2/3. AP = 2/3.
  gt = {"images/0--E/a.jpg": image([face(0)]), "images/0--E/b.jpg": image([face(0)]),
        "images/0--E/c.jpg": image([face(0)])}
  d = {"images/0--E/a.jpg": dets([on(0)], [1.0]), "images/0--E/b.jpg": dets([FAR], [0.0]),
       "0--E/c.jpg": dets([on(0)], [5.0])}  # any key spelling works
  sub = evaluate_wider(d, gt, images=["0--E/a.jpg", "images/0--E/b.jpg"])
  assert aps(sub) == (0.5, 0.5, 0.5) and sub["num_faces"]["hard"] == 2
  for ap in aps(evaluate_wider(d, gt)):
    assert ap == pytest.approx(2 / 3, abs=1e-12)


def test_clear_errors(tmp_path):
  gt = {"images/0--E/a.jpg": image([face(0)])}
  with pytest.raises(ValueError, match="not in the WIDER ground truth"):
    evaluate_wider({"images/0--E/zz.jpg": dets([on(0)], [1.0])}, gt)
  with pytest.raises(ValueError, match=r"\[M, 4\]"):
    evaluate_wider({"images/0--E/a.jpg": (np.ones((1, 3)), np.ones(1))}, gt)
  with pytest.raises(ValueError, match="twice"):
    evaluate_wider({"images/0--E/a.jpg": dets([on(0)], [1.0]),
                    "0--E/a.jpg": dets([on(0)], [1.0])}, gt)
  with pytest.raises(FileNotFoundError, match="does not exist"):
    load_wider_ground_truth(tmp_path / "nowhere")
  with pytest.raises(FileNotFoundError, match="wider_face_val.mat"):
    load_wider_ground_truth(tmp_path)


# ---- the real ground truth and the golden check ----

@pytest.fixture(scope="module")
def wider_gt(shared_data):
  """The official validation ground truth, loaded once."""
  return load_wider_ground_truth(_need_shared(shared_data / "faces" / "wider_eval_ground_truth"))


def test_the_official_files_load(wider_gt):
  # Counts that SOURCES.md states: 3,226 images, 39,708 boxes, 7,211 / 13,319 / 31,958 faces.
  assert len(wider_gt) == 3226
  assert sum(len(g["boxes"]) for g in wider_gt.values()) == 39708
  assert [sum(len(g[s]) for g in wider_gt.values()) for s in SETTINGS] == [7211, 13319, 31958]
  first = wider_gt["images/0--Parade/0_Parade_marchingband_1_465.jpg"]
  assert first["boxes"].dtype == np.float64 and first["boxes"].shape[1] == 4
  assert set(first["easy"]) <= set(first["medium"]) <= set(first["hard"])


# Golden numbers, computed by this implementation (and equal, to float64, to a
# line-by-line transcription of widerface_evaluate/evaluation.py run on the same
# inputs) on the 293 images of wider_val_dev. Provenance: this code, not a
# published figure. Plausibility: the published full-set MTCNN APs are 0.848 /
# 0.825 / 0.598; a 293-image subset of three events lands in the same region
# for easy and medium, while hard is lower because 0--Parade holds many tiny,
# blurred faces that count in hard (and both ports stop at min_face_size 20).
GOLDEN = {"facenet_mtcnn": (0.839875, 0.791148, 0.444631),
          "ipazc_mtcnn": (0.821558, 0.773680, 0.467079)}


@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_golden_aps_of_the_published_mtcnn_ports_on_the_dev_images(wider, wider_gt, name):
  files = [a["file"] for a in json.loads((wider / "annotations.json").read_text())["images"]]
  _, _, per_image = load_detections(wider / "reference" / f"{name}.json")
  start = time.perf_counter()
  r = evaluate_wider(per_image, wider_gt, images=files)
  assert time.perf_counter() - start < 5.0  # about 0.06 s on 2 cores
  assert r["num_images"] == 293
  assert r["num_faces"] == {"easy": 532, "medium": 1011, "hard": 3478}
  assert all(0.0 <= ap <= 1.0 and math.isfinite(ap) for ap in aps(r))
  assert r["easy"] > 0.7 and r["medium"] > 0.6 and r["hard"] > 0.4  # see the comment above
  np.testing.assert_allclose(aps(r), GOLDEN[name], atol=1e-4)


# ---- through evaluate.py mtcnn ----


def test_evaluate_mtcnn_reports_the_three_settings_per_detector(wider, wider_gt, tmp_path):
  """``--wider-ground-truth`` adds ``"wider": {easy, medium, hard}`` to each detector's entry
  (the reference files here, so no detector runs), a table and one PR figure per setting."""
  del wider_gt   # only its skip-or-fail check
  from evaluate import main   # the CLI entry point at the repository root
  folder = wider.parent / "wider_eval_ground_truth"
  refs = ",".join(str(wider / "reference" / f"{n}.json") for n in sorted(GOLDEN))
  out = tmp_path / "r.json"
  assert main(["mtcnn", f"--data={wider / 'annotations.json'}", "--detectors=",
               f"--reference={refs}", f"--wider-ground-truth={folder}", f"--out={out}",
               f"--figures={tmp_path / 'figs'}", "--no-progress"]) == 0
  report = json.loads(out.read_text())
  for name, golden in GOLDEN.items():
    got = report["detectors"][f"ref:{name}"]["wider"]
    np.testing.assert_allclose([got[s] for s in SETTINGS], golden, atol=1e-4)
  assert report["wider_protocol"]["num_faces"] == {"easy": 532, "medium": 1011, "hard": 3478}
  for s in SETTINGS:
    assert (tmp_path / "figs" / f"wider_{s}.png").is_file()
  assert "wider_hard.png" in (tmp_path / "figs" / "report.md").read_text()


def test_evaluate_mtcnn_refuses_a_missing_ground_truth_folder_at_once(wider, tmp_path, capsys):
  from evaluate import main
  assert main(["mtcnn", f"--data={wider / 'annotations.json'}", "--detectors=",
               f"--reference={wider / 'reference' / 'facenet_mtcnn.json'}",
               f"--wider-ground-truth={tmp_path / 'nowhere'}", f"--out={tmp_path / 'r.json'}",
               "--figures=none"]) == 2
  assert "error:" in capsys.readouterr().err and not (tmp_path / "r.json").exists()
