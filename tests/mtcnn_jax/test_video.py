"""Face detection over a video: batching, per-frame JSON, the annotated video, errors, the CLI.

One small clip (6 frames of 96x128, Grace Hopper's face panning right) and one
detector setting (batch 4, min face 40) throughout, so the cascade compiles once
for the whole file.
"""
from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
from PIL import Image

import mtcnn_jax
from mtcnn_jax import boxes as box_ops
from mtcnn_jax import video
from espcn_mtcnn_common import video_io
from espcn_mtcnn_common.demo_photo import grace_hopper
from mtcnn_jax.demo_faces import HOPPER_BOX

N_FRAMES, HEIGHT, WIDTH, FPS = 6, 96, 128, 12.0
BATCH, MIN_FACE = 4, 40.0
# The face with some context, cut from the portrait and shrunk to FACE_HEIGHT pixels.
REGION = (130, 100, 400, 380)
FACE_HEIGHT = 70


def _clip_frames() -> tuple[list[np.ndarray], np.ndarray]:
  """Frames uint8 ``[N, HEIGHT, WIDTH, 3]`` and the true face box of each ``[N, 4]``."""
  x0, y0, x1, y1 = REGION
  scale = FACE_HEIGHT / (y1 - y0)
  face_w = round((x1 - x0) * scale)
  face = np.asarray(Image.fromarray(grace_hopper()[y0:y1, x0:x1]).resize(
      (face_w, FACE_HEIGHT), Image.Resampling.LANCZOS))
  sx = face_w / (x1 - x0)
  box = (HOPPER_BOX - [x0, y0, x0, y0]) * [sx, scale, sx, scale]
  frames, truth = [], []
  for k in range(N_FRAMES):
    left, top = 6 + 9 * k, 12
    frame = np.full((HEIGHT, WIDTH, 3), 90, np.uint8)
    frame[top:top + FACE_HEIGHT, left:left + face_w] = face
    frames.append(frame)
    truth.append(box + [left, top, left, top])
  return frames, np.asarray(truth)


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
  """``(path, true boxes [N, 4])``; FFV1 is lossless, so frames decode exactly."""
  frames, truth = _clip_frames()
  path = tmp_path_factory.mktemp("clips") / "faces.avi"
  writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"FFV1"), FPS, (WIDTH, HEIGHT))
  for frame in frames:
    writer.write(np.ascontiguousarray(frame[..., ::-1]))
  writer.release()
  return path, truth


def _best_iou(found: np.ndarray, truth: np.ndarray) -> float:
  if len(found) == 0:
    return 0.0
  return float(np.max(np.asarray(box_ops.iou_matrix(np.asarray(found), truth[None]))))


def test_cli_writes_one_json_record_per_frame_and_the_annotated_video(clip, tmp_path, capsys):
  path, truth = clip
  out, records_path = tmp_path / "annotated.mkv", tmp_path / "faces.jsonl"   # FFV1
  code = video.main([str(path), "--out", str(out), "--json", str(records_path),
                     "--batch-size", str(BATCH), "--min-face-size", str(MIN_FACE),
                     "--no-progress"])
  assert code == 0
  line = capsys.readouterr().out.strip().splitlines()[-1]
  assert line.startswith(f"{N_FRAMES} frames {WIDTH}x{HEIGHT} in ")
  assert f"fps detection (batch {BATCH}) only" in line
  records = [json.loads(r) for r in records_path.read_text().splitlines()]
  assert [r["frame"] for r in records] == list(range(N_FRAMES))
  assert [r["time_s"] for r in records] == pytest.approx([k / FPS for k in range(N_FRAMES)], abs=1e-6)
  for record, true_box in zip(records, truth):
    assert len(record["boxes"]) == len(record["scores"]) == len(record["landmarks"]) == 1
    assert _best_iou(np.asarray(record["boxes"]), true_box) > 0.6
    assert record["scores"][0] > 0.9
    assert np.asarray(record["landmarks"]).shape == (1, 5, 2)
  annotated = list(video_io.read_frames(out))
  assert len(annotated) == N_FRAMES and annotated[0].shape == (HEIGHT, WIDTH, 3)
  # FFV1 is lossless: the drawn box outline comes back pure green, inside the frame.
  frames, _ = _clip_frames()
  for frame, drawn, true_box in zip(frames, annotated, truth):
    green = np.all(drawn == (0, 255, 0), axis=-1) & np.any(drawn != frame, axis=-1)
    ys, xs = np.nonzero(green)
    assert len(xs) > 100
    assert _best_iou(np.array([[xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]]), true_box) > 0.6


def test_stream_equals_detect_batch_and_compiles_once(clip):
  path, _ = clip
  decoded = list(video_io.read_frames(path))
  video.detect_stream(decoded[:1], lambda *_: None, batch_size=BATCH, min_face_size=MIN_FACE)
  found = []
  stats = video.detect_stream(decoded, lambda frame, faces: found.append(faces),
                              batch_size=BATCH, min_face_size=MIN_FACE)
  assert stats.items == 2 and len(found) == N_FRAMES           # a full batch, then 2 padded to 4
  assert stats.traces == 0                # one canvas, one batch size: compiled once
  reference = mtcnn_jax.detect_batch(decoded[:BATCH], min_face_size=MIN_FACE)
  for got, want in zip(found, reference):
    np.testing.assert_array_equal(got.boxes, want.boxes)
    np.testing.assert_array_equal(got.scores, want.scores)


def test_batches_groups_frames_in_order():
  assert [list(b) for b in video.batches(range(7), 3)] == [[0, 1, 2], [3, 4, 5], [6]]
  assert list(video.batches([], 3)) == []


def test_cli_errors_are_one_line(tmp_path, capsys):
  garbage = tmp_path / "garbage.mp4"
  garbage.write_bytes(b"not a video at all" * 50)
  no_frames = tmp_path / "no_frames.avi"
  cv2.VideoWriter(str(no_frames), cv2.VideoWriter_fourcc(*"MJPG"), FPS, (WIDTH, HEIGHT)).release()
  cases = [([str(tmp_path / "missing.mp4")], "no such file"),
           ([str(garbage)], "cannot read video"),
           ([str(no_frames)], "no frames")]
  for args, message in cases:
    assert video.main(args + ["--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and "Traceback" not in err


def test_cli_refuses_a_missing_output_folder(clip, tmp_path, capsys):
  path, _ = clip
  for flag in ("--out", "--json"):
    code = video.main([str(path), flag, str(tmp_path / "nowhere" / "x.mp4"), "--no-progress"])
    assert code == 2
    assert "output folder does not exist" in capsys.readouterr().err


def test_cli_help(capsys):
  with pytest.raises(SystemExit) as exit_info:
    video.main(["--help"])
  assert exit_info.value.code == 0
  text = capsys.readouterr().out
  assert "--batch-size" in text and "--json" in text and "Audio is not" in text


def test_video_cli_refuses_bad_settings_before_opening_the_video(tmp_path, capsys):
  missing = tmp_path / "no-such-video.mp4"      # the settings are checked first
  assert video.main([str(missing), "--thresholds", "0.6", "0.7", "nan", "--no-progress"]) == 2
  err = capsys.readouterr().err
  assert err.startswith("error: thresholds must be") and "Traceback" not in err
  assert video.main([str(missing), "--min-face-size", "5", "--no-progress"]) == 2
  assert capsys.readouterr().err.startswith("error: min_face_size must be")
