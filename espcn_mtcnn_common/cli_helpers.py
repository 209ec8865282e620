"""Small pieces the command-line tools of both packages share."""
from __future__ import annotations

import argparse
import sys
import threading
import warnings

from tqdm.auto import tqdm

from espcn_mtcnn_common import compile_cache

__all__ = ["positive_int", "progress_bar", "install_warning_format", "format_warning_line",
           "parse_task_args"]

_shown_lock = threading.Lock()
_shown: set[str] = set()


def positive_int(text: str) -> int:
  """argparse type: an integer >= 1."""
  value = int(text)
  if value < 1:
    raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
  return value


def progress_bar(progress: bool, total: int | None, desc: str, unit: str = "frame"):
  """A tqdm bar (disabled unless ``progress``); ``total`` 0 or None: unknown length."""
  return tqdm(total=total or None, desc=desc, unit=unit, disable=not progress)


def format_warning_line(message, category=UserWarning) -> str:
  """One line for a user: ``warning: <message>`` (``warning: <Category>: <message>``
  for categories other than ``UserWarning``), newlines folded to spaces."""
  text = " ".join(str(message).split())
  if category is UserWarning or not isinstance(category, type):
    return f"warning: {text}"
  return f"warning: {category.__name__}: {text}"


def _show_warning_once(message, category, filename, lineno, file=None, line=None) -> None:
  """``warnings.showwarning`` replacement: each distinct line once, no source line."""
  del filename, lineno, line          # the location means nothing to a CLI user
  text = format_warning_line(message, category)
  with _shown_lock:
    if text in _shown:
      return
    _shown.add(text)
  stream = sys.stderr if file is None else file
  try:
    stream.write(text + "\n")
    stream.flush()
  except (OSError, ValueError, AttributeError):
    pass                              # no usable stderr: a warning is never a reason to fail


def install_warning_format() -> None:
  """Show warnings as one clean line each, once per process (for a CLI's ``main``).

  Python's default prints ``file:line: UserWarning: message`` plus the source
  line, and again for each call site that raises the same message (e.g.
  "alpha channel dropped" when a CLI first checks an input and later reads
  it). After this call each distinct message prints once, as
  ``warning: message``. Calling it again does nothing more.
  """
  warnings.showwarning = _show_warning_once


def parse_task_args(description: str, make_parsers, argv) -> argparse.Namespace:
  """The arguments of a ``script.py TASK ...`` tool (``evaluate.py``, ``export.py``).

  One-line warnings are installed, each of ``make_parsers`` adds its task's
  subparser (with the ``--compile-cache`` option), and the chosen compilation
  cache is enabled before any work.
  """
  install_warning_format()
  parser = argparse.ArgumentParser(description=description,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  sub = parser.add_subparsers(dest="task", metavar="TASK", required=True)
  for make_parser in make_parsers:
    make_parser(sub)
  args = parser.parse_args(argv)
  compile_cache.enable(args.compile_cache)
  return args
