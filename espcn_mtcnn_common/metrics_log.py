"""The ``metrics.jsonl`` log both trainers write: one JSON object per logged step.

A resumed run keeps the lines up to the step it resumes from and drops the
rest, so the log never holds two records for one step.
"""
from __future__ import annotations

import json
import pathlib

__all__ = ["MetricsLog"]


class MetricsLog:
  """A ``metrics.jsonl`` appended to; lines past a resumed step are dropped.

  Attributes:
    path: the file.
    last: the last record kept or written ({} if none).
  """

  def __init__(self, path: pathlib.Path, resume_step: int):
    self.path = pathlib.Path(path)
    self.last: dict = {}
    if self.path.exists():
      kept = []
      for line in self.path.read_text().splitlines():
        try:
          record = json.loads(line)
        except json.JSONDecodeError:
          continue          # a line half-written when the run was killed
        if record.get("step", 0) <= resume_step:
          kept.append(line)
          self.last = record
      self.path.write_text("".join(l + "\n" for l in kept))

  def write(self, record: dict) -> None:
    self.last = record
    with self.path.open("a") as f:
      f.write(json.dumps(record) + "\n")
