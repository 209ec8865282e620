"""Tests of espcn_mtcnn_common.atomic_write and its use in image_io.write_image.

A file written through these helpers is either the old file or a complete new
one: never a partial file, and never a leftover temporary file.
"""
from __future__ import annotations

import json
import threading

import numpy as np
from PIL import Image
import pytest

from espcn_mtcnn_common import atomic_write, image_io


def _leftovers(folder):
  return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def test_temp_name_is_hidden_unique_and_keeps_the_suffix(tmp_path):
  target = tmp_path / "out.png"
  names = {atomic_write.temp_path_for(target) for _ in range(50)}
  assert len(names) == 50
  for name in names:
    assert name.parent == tmp_path and name.suffix == ".png"
    assert name.name.startswith(".out.png.") and ".tmp" in name.name


def test_atomic_path_renames_on_success(tmp_path):
  target = tmp_path / "sub" / "a.txt"
  with atomic_write.atomic_path(target) as tmp:
    assert tmp.parent == target.parent and not target.exists()
    tmp.write_text("new")
  assert target.read_text() == "new"
  assert _leftovers(target.parent) == []


def test_failure_keeps_the_old_file_and_removes_the_temp(tmp_path):
  target = tmp_path / "a.json"
  target.write_text("old")
  with pytest.raises(RuntimeError, match="boom"):
    with atomic_write.atomic_path(target) as tmp:
      tmp.write_text("half")
      raise RuntimeError("boom")
  assert target.read_text() == "old"
  assert _leftovers(tmp_path) == []


def test_text_and_json_helpers(tmp_path):
  atomic_write.write_text_atomic(tmp_path / "t.md", "héllo\n")
  assert (tmp_path / "t.md").read_text(encoding="utf-8") == "héllo\n"
  atomic_write.write_json_atomic(tmp_path / "r.json", {"b": 1, "a": [1.5]}, indent=2,
                                 sort_keys=True)
  text = (tmp_path / "r.json").read_text()
  assert json.loads(text) == {"a": [1.5], "b": 1} and text.endswith("}\n")
  with pytest.raises(TypeError):
    atomic_write.write_json_atomic(tmp_path / "r.json", {"x": object()})
  assert json.loads((tmp_path / "r.json").read_text()) == {"a": [1.5], "b": 1}
  assert _leftovers(tmp_path) == []


def test_write_image_never_writes_the_final_name_directly(tmp_path, monkeypatch):
  target = tmp_path / "out.png"
  seen = []
  real_save = Image.Image.save

  def spy(self, fp, *args, **kwargs):
    seen.append((str(fp), target.exists()))
    return real_save(self, fp, *args, **kwargs)

  monkeypatch.setattr(Image.Image, "save", spy)
  image_io.write_image(target, np.zeros((4, 5, 3), np.uint8))
  (written, existed), = seen
  assert written != str(target) and written.endswith(".png") and not existed
  assert image_io.read_image(target).shape == (4, 5, 3)


def test_failed_image_write_keeps_the_old_image(tmp_path, monkeypatch):
  target = tmp_path / "out.png"
  old = np.full((6, 7, 3), 9, np.uint8)
  image_io.write_image(target, old)
  real_save = Image.Image.save

  def half_then_fail(self, fp, *args, **kwargs):
    real_save(self, fp, *args, **kwargs)
    with open(fp, "r+b") as f:
      f.truncate(20)
    raise OSError("disk full")

  monkeypatch.setattr(Image.Image, "save", half_then_fail)
  with pytest.raises(OSError, match="disk full"):
    image_io.write_image(target, np.zeros((6, 7, 3), np.uint8))
  np.testing.assert_array_equal(image_io.read_image(target), old)
  assert _leftovers(tmp_path) == []


def test_concurrent_writers_leave_a_complete_image(tmp_path):
  target = tmp_path / "same.png"
  rng = np.random.default_rng(0)
  # Noise compresses badly, so each save takes long enough to overlap the others.
  images = [rng.integers(0, 256, (400, 400, 3), dtype=np.uint8) for _ in range(4)]
  errors = []
  barrier = threading.Barrier(len(images))

  def write(image):
    try:
      barrier.wait()
      for _ in range(3):
        image_io.write_image(target, image)
    except Exception as e:  # pylint: disable=broad-except
      errors.append(e)

  threads = [threading.Thread(target=write, args=(im,)) for im in images]
  for t in threads:
    t.start()
  for t in threads:
    t.join()
  assert not errors
  result = image_io.read_image(target)
  assert any(np.array_equal(result, im) for im in images)
  assert _leftovers(tmp_path) == []


def test_unknown_image_suffix_is_a_clear_error(tmp_path):
  with pytest.raises(ValueError, match="unknown image suffix"):
    image_io.write_image(tmp_path / "out.xyz", np.zeros((2, 2), np.uint8))
  assert list(tmp_path.iterdir()) == []


def test_list_images_skips_writes_in_progress(tmp_path):
  image_io.write_image(tmp_path / "done.png", np.zeros((2, 2), np.uint8))
  in_progress = atomic_write.temp_path_for(tmp_path / "busy.png")
  image_io.write_image(in_progress, np.zeros((2, 2), np.uint8))
  assert in_progress.suffix == ".png"
  assert image_io.list_images(tmp_path) == [tmp_path / "done.png"]
