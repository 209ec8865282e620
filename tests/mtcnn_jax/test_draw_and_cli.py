"""Drawing, face alignment, and the command lines (detection CLI, evaluate.py mtcnn)."""
from __future__ import annotations

import json
import pathlib

import matplotlib
import numpy as np
import pytest
from PIL import Image

import evaluate as evaluate_cli
from mtcnn_jax import cli, draw

HOPPER = pathlib.Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"


def test_similarity_transform_recovers_a_known_similarity(rng):
  src = rng.uniform(0, 100, (5, 2))
  angle, scale, shift = 0.3, 1.7, np.array([5.0, -3.0])
  rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
  dst = scale * src @ rot.T + shift
  matrix = draw.similarity_transform(src, dst)
  np.testing.assert_allclose(matrix, np.hstack([scale * rot, shift[:, None]]), atol=1e-9)


def test_align_faces_puts_landmarks_on_the_template():
  # A synthetic image with five dots; aligning maps them onto the template points.
  image = np.zeros((200, 200, 3), np.uint8)
  points = draw.ALIGNMENT_TEMPLATE_112 * 1.5 + np.array([20.0, 30.0])
  for x, y in points:
    image[int(round(y)) - 1:int(round(y)) + 2, int(round(x)) - 1:int(round(x)) + 2] = 255
  crop = draw.align_faces(image, points[None], size=112)[0]
  for x, y in draw.ALIGNMENT_TEMPLATE_112:
    assert crop[int(round(y)), int(round(x))].max() > 100


def test_draw_detections_marks_the_box():
  image = np.zeros((60, 80, 3), np.uint8)

  class Faces:
    boxes = np.array([[10.0, 10.0, 50.0, 40.0]])
    scores = np.array([0.99])
    landmarks = np.array([[[20, 20], [40, 20], [30, 28], [22, 35], [38, 35]]], np.float64)

  out = draw.draw_detections(image, Faces())
  assert out.shape == image.shape and out.dtype == np.uint8
  assert out[25, 10, 1] == 255          # on the left edge of the box
  assert tuple(out[28, 30]) == (255, 0, 255)   # the nose landmark dot (magenta)


def test_detect_cli_writes_json_annotated_and_aligned(tmp_path):
  folder = tmp_path / "in"
  folder.mkdir()
  Image.open(HOPPER).save(folder / "hopper.png")
  (folder / "broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
  code = cli.main([str(folder), "-o", str(tmp_path / "out"), "--aligned", "--no-progress"])
  assert code == 1                                  # one unreadable file, reported
  record = json.loads((tmp_path / "out" / "detections.json").read_text())
  assert list(record["images"]) == ["hopper.png"]
  assert len(record["images"]["hopper.png"]["boxes"]) == 1
  assert (tmp_path / "out" / "hopper.jpg").is_file()
  assert Image.open(tmp_path / "out" / "aligned" / "hopper_0.png").size == (112, 112)


def test_detect_cli_runs_the_self_trained_cascade_and_refuses_bad_weights(tmp_path, capsys):
  image = tmp_path / "hopper.png"
  Image.open(HOPPER).save(image)
  assert cli.main([str(image), "-o", str(tmp_path / "out"), "--weights=wider600",
                   "--no-annotated"]) == 0
  record = json.loads((tmp_path / "out" / "detections.json").read_text())
  assert record["detector"] == "mtcnn_jax (mtcnn_wider600)"
  assert "self-trained" in record["settings"]["weights"]
  assert len(record["images"]["hopper.png"]["boxes"]) == 1
  capsys.readouterr()
  assert cli.main([str(image), "-o", str(tmp_path / "out2"), "--weights", str(tmp_path)]) == 2
  err = capsys.readouterr().err
  assert err.startswith("error: ") and "pnet.npz" in err and "Traceback" not in err


def test_evaluate_mtcnn_saves_reference_format_detections(shared_data, tmp_path, capsys):
  data = shared_data / "faces" / "wider_val_dev" / "annotations.json"
  code = evaluate_cli.main(["mtcnn", f"--data={data}", "--detectors=mtcnn", "--limit=3",
                            f"--save-detections={tmp_path / 'dets'}",
                            f"--out={tmp_path / 'report.json'}", "--no-progress"])
  assert code == 0
  saved = json.loads((tmp_path / "dets" / "mtcnn.json").read_text())
  assert saved["detector"] == "mtcnn" and len(saved["images"]) == 3
  first = next(iter(saved["images"].values()))
  assert {"boxes", "scores", "landmarks", "ms"} <= set(first)
  report = json.loads((tmp_path / "report.json").read_text())
  assert 0 <= report["detectors"]["mtcnn"]["ap"] <= 1
  assert "AP@0.5" in capsys.readouterr().out


def test_evaluate_mtcnn_bad_data_is_a_clear_error(tmp_path, capsys):
  assert evaluate_cli.main(["mtcnn", f"--data={tmp_path}", "--no-progress"]) == 2
  assert "no annotations file" in capsys.readouterr().err


def _assert_usage_error(capsys, *needles) -> str:
  err = capsys.readouterr().err
  assert err.startswith("error: ") and "Traceback" not in err, err
  for needle in needles:
    assert needle in err, err
  return err


def test_detect_cli_never_overwrites_an_input_image(tmp_path, capsys, monkeypatch):
  photo = tmp_path / "photo.jpg"
  Image.open(HOPPER).save(photo)
  before = photo.read_bytes()
  monkeypatch.chdir(tmp_path)
  assert cli.main(["photo.jpg", "-o", ".", "--no-progress"]) == 2      # single file mode
  _assert_usage_error(capsys, "would overwrite the input")
  assert photo.read_bytes() == before
  # Folder mode: the input folder is the output's aligned/, where crop 0 of
  # hopper.png would replace the input hopper_0.png.
  folder = tmp_path / "out" / "aligned"
  folder.mkdir(parents=True)
  Image.open(HOPPER).save(folder / "hopper.png")
  Image.open(HOPPER).save(folder / "hopper_0.png")
  before = (folder / "hopper_0.png").read_bytes()
  assert cli.main([str(folder), "-o", str(tmp_path / "out"), "--aligned", "--no-progress"]) == 2
  _assert_usage_error(capsys, "could overwrite input images")
  assert (folder / "hopper_0.png").read_bytes() == before
  assert not (tmp_path / "out" / "detections.json").exists()
  # ... and the output folder is the input folder through a link.
  (tmp_path / "link").symlink_to(folder)
  assert cli.main([str(tmp_path / "link"), "-o", str(folder), "--no-progress"]) == 2
  _assert_usage_error(capsys)
  assert sorted(p.name for p in folder.iterdir()) == ["hopper.png", "hopper_0.png"]


def test_detect_cli_refuses_bad_settings_and_outputs_before_any_work(tmp_path, capsys):
  image = tmp_path / "hopper.png"
  Image.open(HOPPER).save(image)
  assert cli.main([str(image), "-o", str(tmp_path / "o1"), "--thresholds", "0.6", "0.7",
                   "nan"]) == 2
  _assert_usage_error(capsys, "thresholds must be")
  assert cli.main([str(image), "-o", str(tmp_path / "o2"), "--min-face-size", "nan"]) == 2
  _assert_usage_error(capsys, "min_face_size must be")
  assert not (tmp_path / "o1").exists() and not (tmp_path / "o2").exists()
  # -o an existing file, and a folder under a file (fails for root too).
  assert cli.main([str(image), "-o", str(image)]) == 2
  _assert_usage_error(capsys, "is an existing file")
  assert cli.main([str(image), "-o", str(image / "sub")]) == 2
  _assert_usage_error(capsys, "cannot create", f"{image} is a file")


def test_evaluate_mtcnn_refuses_unwritable_outputs_before_any_work(tmp_path, capsys):
  blocker = tmp_path / "file"
  blocker.write_text("x")
  missing = tmp_path / "no-data"   # would fail later: the output check comes first
  assert evaluate_cli.main(["mtcnn", f"--data={missing}", f"--out={blocker / 'sub' / 'r.json'}",
                            "--no-progress"]) == 2
  _assert_usage_error(capsys, "cannot create --out folder", f"{blocker} is a file")
  assert evaluate_cli.main(["mtcnn", f"--data={missing}", f"--out={tmp_path}",
                            "--no-progress"]) == 2
  _assert_usage_error(capsys, "is a folder")
  assert evaluate_cli.main(["mtcnn", f"--data={missing}", f"--out={tmp_path / 'r.json'}",
                            f"--save-detections={blocker}", "--no-progress"]) == 2
  _assert_usage_error(capsys, "--save-detections folder", "existing file")
  assert evaluate_cli.main(["mtcnn", f"--data={missing}", f"--out={tmp_path / 'r.json'}",
                            "--detectors=mtcnn", "--min-face-size=nan", "--no-progress"]) == 2
  _assert_usage_error(capsys, "min_face_size must be")
  assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]     # nothing created
