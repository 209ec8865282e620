"""Small pieces the command-line tools of both packages share."""
from __future__ import annotations

import argparse

from tqdm.auto import tqdm

__all__ = ["positive_int", "progress_bar"]


def positive_int(text: str) -> int:
  """argparse type: an integer >= 1."""
  value = int(text)
  if value < 1:
    raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
  return value


def progress_bar(progress: bool, total: int | None, desc: str, unit: str = "frame"):
  """A tqdm bar (disabled unless ``progress``); ``total`` 0 or None: unknown length."""
  return tqdm(total=total or None, desc=desc, unit=unit, disable=not progress)
