"""Tests of espcn_mtcnn_common.cli_helpers: argparse types and the one-line warnings.

The warning format is checked in a child process, as a CLI would run it: this
test process's warnings belong to pytest.
"""
from __future__ import annotations

import argparse
import pathlib
import subprocess
import sys

import numpy as np
from PIL import Image
import pytest

from espcn_mtcnn_common import cli_helpers

REPO = pathlib.Path(__file__).resolve().parents[2]

_CHILD = """
import sys, warnings
from espcn_mtcnn_common import cli_helpers, image_io
cli_helpers.install_warning_format()
cli_helpers.install_warning_format()          # twice: still one line per message

def check(path):
  image_io.read_image(path)                   # one call site

def read(path):
  return image_io.read_image(path, mode="rgb")  # another call site, same message

check(sys.argv[1])
read(sys.argv[1])
read(sys.argv[1])
warnings.warn("two\\nlines")
warnings.warn("old api", DeprecationWarning)   # shown: raised in __main__
warnings.warn("soon", FutureWarning)
print("done")
"""


def test_positive_int():
  assert cli_helpers.positive_int("3") == 3
  with pytest.raises(argparse.ArgumentTypeError, match="at least 1"):
    cli_helpers.positive_int("0")


def test_format_warning_line():
  assert cli_helpers.format_warning_line("x: alpha channel dropped") == (
      "warning: x: alpha channel dropped")
  assert cli_helpers.format_warning_line("a\n  b", FutureWarning) == "warning: FutureWarning: a b"


def test_each_warning_prints_once_as_one_clean_line(tmp_path):
  image = tmp_path / "rgba.png"
  Image.fromarray(np.zeros((4, 4, 4), np.uint8)).save(image)
  script = tmp_path / "child.py"
  script.write_text(_CHILD)
  done = subprocess.run([sys.executable, str(script), str(image)], cwd=REPO, capture_output=True,
                        text=True, timeout=120, env={"PYTHONPATH": str(REPO), "PATH": ""})
  assert done.returncode == 0, done.stderr
  assert done.stdout == "done\n"
  assert done.stderr.splitlines() == [
      f"warning: {image}: alpha channel dropped",
      "warning: two lines",
      "warning: DeprecationWarning: old api",
      "warning: FutureWarning: soon",
  ]
