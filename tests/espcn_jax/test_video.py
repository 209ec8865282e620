"""Video upscaling: the threaded pipeline, video files in and out, clear errors, the CLI."""
from __future__ import annotations

import cv2
import jax
import numpy as np
import pytest

from espcn_jax import image_io, infer, video
from espcn_jax.cli import load_params

N_FRAMES, HEIGHT, WIDTH = 8, 24, 32


def _frames(n: int = N_FRAMES) -> list[np.ndarray]:
  """uint8 RGB ``[HEIGHT, WIDTH, 3]``: a gradient with a bright square moving right, and noise."""
  rng = np.random.default_rng(0)
  yy, xx = np.mgrid[:HEIGHT, :WIDTH]
  frames = []
  for k in range(n):
    rgb = np.stack([4 * xx + 40, 6 * yy + 30, np.full_like(xx, 120)], -1).astype(np.float64)
    rgb[6:14, 2 + 3 * k: 10 + 3 * k] = (230, 200, 60)
    rgb += rng.normal(0, 6, rgb.shape)
    frames.append(np.clip(np.round(rgb), 0, 255).astype(np.uint8))
  return frames


def _write_clip(path, frames, codec: str, fps: float = 10.0):
  writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*codec), fps,
                           (frames[0].shape[1], frames[0].shape[0]))
  assert writer.isOpened()
  for frame in frames:
    writer.write(np.ascontiguousarray(frame[..., ::-1]))     # RGB -> BGR
  writer.release()
  return path


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
  """A lossy mp4v clip: tests compare against what the decoder gives back, not the source."""
  return _write_clip(tmp_path_factory.mktemp("clips") / "clip.mp4", _frames(), "mp4v")


@pytest.fixture(scope="module")
def model():
  return load_params("pretrained", 3)     # (params, settings), as espcn-video loads them


def _reference(model, frame):
  params, settings = model
  return infer.upscale(params, frame, scale=3, **settings)


def test_read_frames_decodes_rgb_frames_and_probe_reports_the_clip(clip):
  frames = list(video.read_frames(clip))
  assert len(frames) == N_FRAMES
  assert all(f.shape == (HEIGHT, WIDTH, 3) and f.dtype == np.uint8 for f in frames)
  # mp4v is lossy, but the colours come back as RGB: the square is yellow, not blue.
  assert frames[0][10, 6, 0] > frames[0][10, 6, 2] + 80
  info = video.probe_video(clip)
  assert (info.width, info.height, info.frame_count) == (WIDTH, HEIGHT, N_FRAMES)
  assert info.fps == pytest.approx(10.0)
  assert len(list(video.read_frames(clip, max_frames=3))) == 3


def test_pipeline_outputs_equal_upscale_of_the_decoded_frames(clip, model):
  decoded = list(video.read_frames(clip))
  outputs = []
  stats = video.upscale_stream(model[0], decoded, outputs.append, scale=3, settings=model[1])
  assert stats.items == N_FRAMES and len(outputs) == N_FRAMES
  for frame, out in zip(decoded, outputs):
    assert out.shape == (3 * HEIGHT, 3 * WIDTH, 3) and out.dtype == np.uint8
    np.testing.assert_array_equal(out, _reference(model, frame))


def test_frames_after_the_first_trace_nothing(clip, model):
  decoded = list(video.read_frames(clip))
  video.upscale_stream(model[0], decoded[:1], lambda _: None, scale=3, settings=model[1])
  stats = video.upscale_stream(model[0], decoded[1:], lambda _: None, scale=3, settings=model[1])
  assert stats.items == N_FRAMES - 1
  assert stats.traces == 0
  # The counter is live: a new jitted function traced in its block is counted.
  with video.count_traces() as traces:
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
  written = list(video.read_frames(out))
  assert len(written) == N_FRAMES
  for frame, out_frame in zip(video.read_frames(clip), written):
    np.testing.assert_array_equal(out_frame, _reference(model, frame))
  assert video.probe_video(out).fps == pytest.approx(10.0)


@pytest.mark.parametrize("suffix", [".mp4", ".avi"])
def test_upscale_video_lossy_codecs_and_max_frames(clip, model, tmp_path, suffix):
  out = tmp_path / f"x3{suffix}"
  stats = video.upscale_video(clip, out, params=model[0], scale=3, settings=model[1],
                              max_frames=5, progress=False)
  assert stats.frames == 5
  info = video.probe_video(out)
  assert (info.width, info.height) == (3 * WIDTH, 3 * HEIGHT)
  assert len(list(video.read_frames(out))) == 5


def test_pipeline_stops_and_reraises_when_a_stage_fails():
  def broken_source():
    yield 1
    raise video.VideoError("decoder broke")

  with pytest.raises(video.VideoError, match="decoder broke"):
    video.run_pipeline(broken_source(), lambda x: x, lambda x: None)

  def broken_sink(item):
    if item == 3:
      raise OSError("disk full")

  with pytest.raises(OSError, match="disk full"):    # with far more items than the queues hold
    video.run_pipeline(range(1000), lambda x: x, broken_sink, queue_size=2)
  with pytest.raises(ZeroDivisionError):
    video.run_pipeline(range(10), lambda x: 1 // (x - 4), lambda x: None, queue_size=2)
  seen = []
  stats = video.run_pipeline(range(50), lambda x: x * x, seen.append, queue_size=2)
  assert seen == [x * x for x in range(50)] and stats.items == 50


def _bad_inputs(tmp_path):
  garbage = tmp_path / "garbage.mp4"
  garbage.write_bytes(b"\x00\x01 not a video " * 100)
  empty = tmp_path / "empty.mp4"
  empty.write_bytes(b"")
  truncated = tmp_path / "truncated.mp4"
  data = _write_clip(tmp_path / "full.mp4", _frames(), "mp4v").read_bytes()
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


def test_cli_refuses_bad_outputs_and_oversized_frames(clip, tmp_path, capsys, monkeypatch):
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
  assert len(list(video.read_frames(out))) == 4


def test_cli_help_mentions_codecs_and_audio(capsys):
  with pytest.raises(SystemExit) as exit_info:
    video.main(["--help"])
  assert exit_info.value.code == 0
  text = capsys.readouterr().out
  assert "Audio is not copied" in text and "--max-frames" in text and "mp4v" in text
