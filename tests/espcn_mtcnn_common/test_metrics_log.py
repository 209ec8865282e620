"""espcn_mtcnn_common.metrics_log: the trainers' metrics.jsonl, kept consistent across resumes."""
from __future__ import annotations

import json

from espcn_mtcnn_common.metrics_log import MetricsLog


def test_metrics_log_drops_lines_past_the_resumed_step_and_half_written_ones(tmp_path):
  path = tmp_path / "metrics.jsonl"
  path.write_text('{"step": 10, "loss": 1.0}\n{"step": 20, "loss": 0.5}\n'
                  '{"step": 30, "loss": 0.4}\n{"step": 40, "lo')      # killed mid-write
  log = MetricsLog(path, resume_step=20)
  assert log.last == {"step": 20, "loss": 0.5}
  log.write({"step": 30, "loss": 0.3})
  lines = [json.loads(l) for l in path.read_text().splitlines()]
  assert [r["step"] for r in lines] == [10, 20, 30] and lines[-1]["loss"] == 0.3
  assert log.last["loss"] == 0.3
  assert MetricsLog(tmp_path / "new.jsonl", resume_step=0).last == {}
