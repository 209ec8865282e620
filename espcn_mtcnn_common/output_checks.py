"""Checking an output folder before any long work, so a bad path fails at once.

Every CLI and trainer calls :func:`check_writable_folder` on its output folders
(``-o``, ``--out``, ``--workdir``, ...) before loading models or data; a
folder that cannot be written then gives a one-line error instead of a
traceback after minutes of work.
"""
from __future__ import annotations

import os
import pathlib
import tempfile

__all__ = ["check_writable_folder"]


def check_writable_folder(folder: str | os.PathLike, what: str = "output folder", *,
                          create: bool = False) -> pathlib.Path:
  """Checks that ``folder`` is, or could be created as, a folder one can write in.

  Args:
    folder: the folder.
    what: how messages name it, e.g. ``"the workdir"`` or ``"--out folder"``.
    create: create ``folder`` (and its parents) when it is missing.

  Returns:
    ``folder`` as a ``pathlib.Path``.

  Raises:
    ValueError: ``folder`` is an existing file, cannot be created (an ancestor is
      a file), or is not writable. Permission bits alone do not stop root, so a
      probe file is also written (and removed) in the folder or in its nearest
      existing ancestor.
  """
  folder = pathlib.Path(folder)
  if folder.exists() and not folder.is_dir():
    raise ValueError(f"{what} {folder} is an existing file, not a folder")
  existing = next(p for p in (folder.absolute(), *folder.absolute().parents) if p.exists())
  if not existing.is_dir():
    raise ValueError(f"cannot create {what} {folder}: {existing} is a file")
  if create:
    try:
      folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
      raise ValueError(f"cannot create {what} {folder}: {e.strerror or e}") from None
    existing = folder
  if not os.access(existing, os.W_OK | os.X_OK):
    raise ValueError(f"{what} {folder} is not writable")
  try:
    with tempfile.TemporaryFile(dir=existing):
      pass
  except OSError as e:
    raise ValueError(f"{what} {folder} is not writable: {e.strerror or type(e).__name__}") from None
  return folder
