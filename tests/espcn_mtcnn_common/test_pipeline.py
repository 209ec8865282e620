"""espcn_mtcnn_common.pipeline: the threaded decode -> compute -> encode pipeline."""
from __future__ import annotations

import pytest

from espcn_mtcnn_common import pipeline
from espcn_mtcnn_common.video_io import VideoError


def test_pipeline_stops_and_reraises_when_a_stage_fails():
  def broken_source():
    yield 1
    raise VideoError("decoder broke")

  with pytest.raises(VideoError, match="decoder broke"):
    pipeline.run_pipeline(broken_source(), lambda x: x, lambda x: None)

  def broken_sink(item):
    if item == 3:
      raise OSError("disk full")

  with pytest.raises(OSError, match="disk full"):    # with far more items than the queues hold
    pipeline.run_pipeline(range(1000), lambda x: x, broken_sink, queue_size=2)
  with pytest.raises(ZeroDivisionError):
    pipeline.run_pipeline(range(10), lambda x: 1 // (x - 4), lambda x: None, queue_size=2)
  seen = []
  stats = pipeline.run_pipeline(range(50), lambda x: x * x, seen.append, queue_size=2)
  assert seen == [x * x for x in range(50)] and stats.items == 50
