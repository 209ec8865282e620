"""Output files that appear whole or not at all.

Every output of the CLIs (images, JSON reports, videos, model cards) is written
to a unique temporary name in the destination folder and renamed into place
with ``os.replace``, which is atomic on one file system. Two runs writing the
same name at once therefore each leave a complete file (the last rename wins),
and a failure half-way leaves the old file, if any, untouched and no temporary
file behind.

The temporary name is ``.{name}.{pid}.{random}.tmp{suffix}``: hidden, and it
keeps the real suffix, so PIL and OpenCV still pick the format from it.
"""
from __future__ import annotations

import contextlib
import json
import os
import pathlib
import secrets
from typing import Any, Iterator

__all__ = ["temp_path_for", "atomic_path", "write_bytes_atomic", "write_text_atomic",
           "write_json_atomic"]


def temp_path_for(path: str | os.PathLike) -> pathlib.Path:
  """A unique temporary name beside ``path`` that keeps its suffix."""
  path = pathlib.Path(path)
  token = secrets.token_hex(6)
  return path.with_name(f".{path.name}.{os.getpid()}.{token}.tmp{path.suffix}")


def _remove_quietly(path: pathlib.Path) -> None:
  with contextlib.suppress(OSError):
    path.unlink()


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, *, make_parents: bool = True) -> Iterator[pathlib.Path]:
  """Yield a temporary path to write; on success it is renamed to ``path``.

  Args:
    path: the final file name.
    make_parents: create the destination folder if it is missing.

  On an exception inside the block the temporary file is removed, ``path``
  keeps its old content, and the exception propagates. A block that writes
  nothing to the temporary path leaves ``path`` unchanged.
  """
  path = pathlib.Path(path)
  if make_parents:
    path.parent.mkdir(parents=True, exist_ok=True)
  tmp = temp_path_for(path)
  try:
    yield tmp
    if tmp.exists():
      os.replace(tmp, path)
  except BaseException:
    _remove_quietly(tmp)
    raise


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> None:
  """Write ``data`` to ``path`` atomically (flushed to disk before the rename)."""
  with atomic_path(path) as tmp:
    with open(tmp, "wb") as f:
      f.write(data)
      f.flush()
      os.fsync(f.fileno())


def write_text_atomic(path: str | os.PathLike, text: str, encoding: str = "utf-8") -> None:
  """Write ``text`` to ``path`` atomically."""
  write_bytes_atomic(path, text.encode(encoding))


def write_json_atomic(path: str | os.PathLike, obj: Any, **json_kwargs) -> None:
  """Write ``obj`` as JSON (``json.dumps(obj, **json_kwargs)`` plus a newline) atomically."""
  write_text_atomic(path, json.dumps(obj, **json_kwargs) + "\n")
