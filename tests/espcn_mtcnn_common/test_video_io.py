"""espcn_mtcnn_common.video_io: video files in and out as uint8 RGB frames."""
from __future__ import annotations

import numpy as np
import pytest

from espcn_mtcnn_common import video_io
from tests.espcn_mtcnn_common.clips import HEIGHT, N_FRAMES, WIDTH, frames, write_clip


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
  """A lossy mp4v clip: tests compare against what the decoder gives back, not the source."""
  return write_clip(tmp_path_factory.mktemp("clips") / "clip.mp4", frames(), "mp4v")


def test_read_frames_decodes_rgb_frames_and_probe_reports_the_clip(clip):
  frames = list(video_io.read_frames(clip))
  assert len(frames) == N_FRAMES
  assert all(f.shape == (HEIGHT, WIDTH, 3) and f.dtype == np.uint8 for f in frames)
  # mp4v is lossy, but the colours come back as RGB: the square is yellow, not blue.
  assert frames[0][10, 6, 0] > frames[0][10, 6, 2] + 80
  info = video_io.probe_video(clip)
  assert (info.width, info.height, info.frame_count) == (WIDTH, HEIGHT, N_FRAMES)
  assert info.fps == pytest.approx(10.0)
  assert len(list(video_io.read_frames(clip, max_frames=3))) == 3


def _hidden(folder):
  return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def test_open_writer_writes_a_temp_file_and_renames_on_release(tmp_path):
  out = tmp_path / "out.mkv"
  out.write_bytes(b"old")
  writer = video_io.open_writer(out, 10.0, WIDTH, HEIGHT)
  assert writer.isOpened() and writer.path == out
  assert writer.tmp_path.parent == tmp_path and writer.tmp_path.suffix == ".mkv"
  for frame in frames():
    video_io.write_frame(writer, frame)
  assert out.read_bytes() == b"old"          # nothing visible until release()
  writer.release()
  writer.release()                           # a second release does nothing
  assert not writer.isOpened()
  decoded = list(video_io.read_frames(out))
  assert len(decoded) == N_FRAMES
  np.testing.assert_array_equal(decoded[0], frames()[0])   # FFV1 is lossless
  assert _hidden(tmp_path) == []


def test_open_writer_discards_on_error_and_keeps_the_old_file(tmp_path):
  out = tmp_path / "out.avi"
  out.write_bytes(b"old")
  with pytest.raises(RuntimeError, match="boom"):
    with video_io.open_writer(out, 10.0, WIDTH, HEIGHT) as writer:
      video_io.write_frame(writer, frames()[0])
      raise RuntimeError("boom")
  assert out.read_bytes() == b"old" and _hidden(tmp_path) == []
  with video_io.open_writer(out, 10.0, WIDTH, HEIGHT) as writer:
    for frame in frames(3):
      video_io.write_frame(writer, frame)
  assert video_io.probe_video(out).frame_count == 3 and _hidden(tmp_path) == []


def test_open_writer_refusals_leave_no_files(tmp_path):
  with pytest.raises(video_io.VideoError, match="cannot write codec"):
    video_io.open_writer(tmp_path / "out.mp4", 10.0, WIDTH, HEIGHT, codec="ZZZZ")
  assert list(tmp_path.iterdir()) == []
