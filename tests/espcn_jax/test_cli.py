"""Tests of espcn_jax.cli (``espcn-upscale``): where outputs go and what it refuses."""
from __future__ import annotations

import os

import numpy as np
import pytest
from PIL import Image

from espcn_jax import cli
from tests.espcn_jax.helpers import write_images


@pytest.fixture
def image(tmp_path):
  return write_images(tmp_path / "in", n=1, size=(20, 22)) / "img0.png"


@pytest.fixture
def no_model(monkeypatch):
  """Fails the test if the model is loaded: refusals must come before any work."""
  def load_params(*args, **kwargs):
    raise AssertionError("the model was loaded before the refusal")
  monkeypatch.setattr(cli, "load_params", load_params)


def _run(capsys, *argv):
  code = cli.main([*map(str, argv), "--no-progress"])
  return code, capsys.readouterr().err


@pytest.mark.parametrize("how", ["same", "dot", "symlink"])
def test_output_that_is_the_input_is_refused(image, capsys, no_model, monkeypatch, how):
  before = image.read_bytes()
  monkeypatch.chdir(image.parent)
  out = {"same": image, "dot": f"./{image.name}", "symlink": image.parent / "link.png"}[how]
  if how == "symlink":
    os.symlink(image, out)
  code, err = _run(capsys, image, "-o", out)
  assert code == 2 and "error: " in err and "is the input file" in err
  assert image.read_bytes() == before


def test_single_image_into_an_existing_folder(image, tmp_path, capsys):
  out_dir = tmp_path / "out"
  out_dir.mkdir()
  code, err = _run(capsys, image, "-o", out_dir)
  assert code == 0, err
  assert Image.open(out_dir / "img0_x3.png").size == (66, 60)


def test_single_image_into_a_new_folder_given_with_a_slash(image, tmp_path, capsys):
  code, err = _run(capsys, image, "-o", f"{tmp_path / 'new'}/", "--scale=2")
  assert code == 0, err
  assert Image.open(tmp_path / "new" / "img0_x2.png").size == (44, 40)


def test_folder_input_with_an_existing_file_as_output_is_refused(image, tmp_path, capsys,
                                                                 no_model):
  target = tmp_path / "taken.png"
  target.write_bytes(b"keep")
  code, err = _run(capsys, image.parent, "-o", target)
  assert code == 2 and "is an existing file" in err
  assert target.read_bytes() == b"keep"


def test_rgba_to_jpeg_is_refused_naming_formats_with_alpha(tmp_path, capsys, no_model):
  rgba = np.full((20, 22, 4), 120, np.uint8)
  Image.fromarray(rgba).save(tmp_path / "a.png")
  code, err = _run(capsys, tmp_path / "a.png", "-o", tmp_path / "a.jpg")
  assert code == 2 and "alpha" in err and ".png, .webp or .tif" in err
  assert not (tmp_path / "a.jpg").exists()


def test_rgb_to_jpeg_still_works(image, tmp_path, capsys):
  code, err = _run(capsys, image, "-o", tmp_path / "b.jpg")
  assert code == 0, err
  assert Image.open(tmp_path / "b.jpg").size == (66, 60)


@pytest.mark.parametrize("folder_input", [False, True])
def test_output_folder_that_cannot_be_created_is_refused_before_the_model_loads(
    image, tmp_path, capsys, no_model, folder_input):
  blocker = tmp_path / "file"
  blocker.write_text("not a folder")
  src = image.parent if folder_input else image
  out = blocker / "out" if folder_input else blocker / "out" / "x.png"
  code, err = _run(capsys, src, "-o", out)
  assert code == 2 and "cannot create the output folder" in err


def test_read_only_output_folder_is_refused_before_the_model_loads(image, tmp_path, capsys,
                                                                   no_model, monkeypatch):
  # Root ignores chmod, so the permission check itself is simulated.
  read_only = tmp_path / "ro"
  read_only.mkdir()
  real_access = os.access
  monkeypatch.setattr(os, "access", lambda p, mode, **kw: (
      False if os.fspath(p) == os.fspath(read_only) else real_access(p, mode, **kw)))
  code, err = _run(capsys, image, "-o", read_only / "x.png")
  assert code == 2 and f"the output folder {read_only} is not writable" in err


def test_unknown_output_suffix_is_refused_before_the_model_loads(image, tmp_path, capsys,
                                                                 no_model):
  code, err = _run(capsys, image, "-o", tmp_path / "x.foo")
  assert code == 2 and "unknown image suffix '.foo'" in err
