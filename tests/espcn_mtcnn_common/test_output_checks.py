"""espcn_mtcnn_common.output_checks: output folders are checked before any work."""
from __future__ import annotations

import os

import pytest

from espcn_mtcnn_common.output_checks import check_writable_folder


def test_a_missing_folder_under_a_writable_one_passes_and_is_created_only_when_asked(tmp_path):
  target = tmp_path / "a" / "b"
  assert check_writable_folder(target) == target and not target.exists()
  check_writable_folder(target, create=True)
  assert target.is_dir() and list(target.iterdir()) == []   # the probe file is gone


def test_files_in_the_way_are_refused(tmp_path):
  blocker = tmp_path / "file"
  blocker.write_text("x")
  with pytest.raises(ValueError, match="--out folder .* is an existing file, not a folder"):
    check_writable_folder(blocker, "--out folder")
  with pytest.raises(ValueError, match=f"cannot create the workdir .*: {blocker} is a file"):
    check_writable_folder(blocker / "run", "the workdir", create=True)


def test_a_read_only_folder_is_refused(tmp_path, monkeypatch):
  # Root ignores permission bits, so the permission check is simulated.
  real_access = os.access
  monkeypatch.setattr(os, "access", lambda p, mode, **kw: (
      False if os.fspath(p) == os.fspath(tmp_path) else real_access(p, mode, **kw)))
  with pytest.raises(ValueError, match=f"output folder {tmp_path / 'x'} is not writable"):
    check_writable_folder(tmp_path / "x")
