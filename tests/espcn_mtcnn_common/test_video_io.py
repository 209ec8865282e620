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
