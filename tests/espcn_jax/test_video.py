"""Video upscaling: the threaded pipeline, video files in and out, clear errors, the CLI."""
from __future__ import annotations

import cv2
import jax
import numpy as np
import pytest

from espcn_jax import infer, video
from espcn_mtcnn_common import image_io, pipeline, video_io
from tests.espcn_mtcnn_common.clips import HEIGHT, N_FRAMES, WIDTH, frames, write_clip
from espcn_jax.cli import load_params

@pytest.fixture(scope="module")
def clip(tmp_path_factory):
  """A lossy mp4v clip: tests compare against what the decoder gives back, not the source."""
  return write_clip(tmp_path_factory.mktemp("clips") / "clip.mp4", frames(), "mp4v")


@pytest.fixture(scope="module")
def model():
  return load_params("pretrained", 3)     # (params, settings), as espcn-video loads them


def _reference(model, frame):
  params, settings = model
  return infer.upscale(params, frame, scale=3, **settings)


def test_pipeline_outputs_equal_upscale_of_the_decoded_frames(clip, model):
  decoded = list(video_io.read_frames(clip))
  outputs = []
  stats = video.upscale_stream(model[0], decoded, outputs.append, scale=3, settings=model[1])
  assert stats.items == N_FRAMES and len(outputs) == N_FRAMES
  for frame, out in zip(decoded, outputs):
    assert out.shape == (3 * HEIGHT, 3 * WIDTH, 3) and out.dtype == np.uint8
    np.testing.assert_array_equal(out, _reference(model, frame))


def test_frames_after_the_first_trace_nothing(clip, model):
  decoded = list(video_io.read_frames(clip))
  video.upscale_stream(model[0], decoded[:1], lambda _: None, scale=3, settings=model[1])
  stats = video.upscale_stream(model[0], decoded[1:], lambda _: None, scale=3, settings=model[1])
  assert stats.items == N_FRAMES - 1
  assert stats.traces == 0
  # The counter is live: a new jitted function traced in its block is counted.
  with pipeline.count_traces() as traces:
    jax.jit(lambda x: x * 3 + 1)(np.ones(5, np.float32))
  assert traces[0] == 1


def test_upscale_video_is_exact_through_a_lossless_codec(clip, model, tmp_path):
  out = tmp_path / "x3.mkv"                            # FFV1: lossless
  stats = video.upscale_video(clip, out, params=model[0], scale=3, settings=model[1],
                              progress=False)
  assert stats.frames == N_FRAMES
  assert stats.output_size == (3 * WIDTH, 3 * HEIGHT)
  assert stats.pipeline.traces == 0                    # compiled in the warm-up, before timing
  assert 0 < stats.fps <= stats.compute_fps
  written = list(video_io.read_frames(out))
  assert len(written) == N_FRAMES
  for frame, out_frame in zip(video_io.read_frames(clip), written):
    np.testing.assert_array_equal(out_frame, _reference(model, frame))
  assert video_io.probe_video(out).fps == pytest.approx(10.0)


@pytest.mark.parametrize("suffix", [".mp4", ".avi"])
def test_upscale_video_lossy_codecs_and_max_frames(clip, model, tmp_path, suffix):
  out = tmp_path / f"x3{suffix}"
  stats = video.upscale_video(clip, out, params=model[0], scale=3, settings=model[1],
                              max_frames=5, progress=False)
  assert stats.frames == 5
  info = video_io.probe_video(out)
  assert (info.width, info.height) == (3 * WIDTH, 3 * HEIGHT)
  assert len(list(video_io.read_frames(out))) == 5


def _bad_inputs(tmp_path):
  garbage = tmp_path / "garbage.mp4"
  garbage.write_bytes(b"\x00\x01 not a video " * 100)
  empty = tmp_path / "empty.mp4"
  empty.write_bytes(b"")
  truncated = tmp_path / "truncated.mp4"
  data = write_clip(tmp_path / "full.mp4", frames(), "mp4v").read_bytes()
  truncated.write_bytes(data[: len(data) // 2])
  no_frames = tmp_path / "no_frames.avi"
  cv2.VideoWriter(str(no_frames), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (WIDTH, HEIGHT)).release()
  return {"missing": (tmp_path / "missing.mp4", "no such file"),
          "empty": (empty, "file is empty"),
          "corrupt": (garbage, "cannot read video"),
          "truncated": (truncated, "cannot read video"),
          "zero frames": (no_frames, "no frames")}


@pytest.mark.parametrize("case", ["missing", "empty", "corrupt", "truncated", "zero frames"])
def test_cli_bad_inputs_are_one_line_errors(tmp_path, capsys, case):
  path, message = _bad_inputs(tmp_path)[case]
  assert video.main([str(path), "--out", str(tmp_path / "out.mp4"), "--no-progress"]) == 2
  err = capsys.readouterr().err
  assert err.startswith("error: ") and message in err and "Traceback" not in err
  assert not (tmp_path / "out.mp4").exists()


def test_cli_refuses_bad_outputs_and_oversizedframes(clip, tmp_path, capsys, monkeypatch):
  def run(*args):
    code = video.main([str(clip), "--no-progress", *args])
    return code, capsys.readouterr().err

  code, err = run("--out", str(tmp_path / "no" / "such" / "folder" / "out.mp4"))
  assert code == 2 and "output folder does not exist" in err
  code, err = run("--out", str(tmp_path / "out.xyz"))
  assert code == 2 and "unknown video suffix" in err
  code, err = run("--out", str(tmp_path / "out.mp4"), "--codec", "avc1")   # no H.264 in the wheel
  assert code == 2 and "cannot write codec 'avc1'" in err
  monkeypatch.setattr(image_io, "MAX_PIXELS", 3 * WIDTH * 3 * HEIGHT - 1)
  code, err = run("--out", str(tmp_path / "out.mp4"))
  assert code == 2 and "pixel limit" in err and "ESPCN_JAX_MAX_PIXELS" in err
  assert "Traceback" not in err


def test_cli_upscales_and_reports_fps(clip, tmp_path, capsys):
  out = tmp_path / "big.avi"
  assert video.main([str(clip), "--out", str(out), "--max-frames", "4", "--no-progress"]) == 0
  line = capsys.readouterr().out.strip().splitlines()[-1]
  assert line.startswith(f"4 frames {WIDTH}x{HEIGHT} -> {3 * WIDTH}x{3 * HEIGHT} in ")
  assert "fps end to end" in line and "fps ESPCN only" in line and str(out) in line
  assert len(list(video_io.read_frames(out))) == 4


def test_cli_help_mentions_codecs_and_audio(capsys):
  with pytest.raises(SystemExit) as exit_info:
    video.main(["--help"])
  assert exit_info.value.code == 0
  text = capsys.readouterr().out
  assert "Audio is not copied" in text and "--max-frames" in text and "mp4v" in text
