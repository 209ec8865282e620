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


def test_tiles_and_buckets_write_the_same_bytes(tmp_path, capsys):
  # Mixed sizes, one of them RGBA: --tile (one compiled program) against --tile=none.
  src = write_images(tmp_path / "in", n=2, size=(23, 31))
  write_images(tmp_path / "in2", n=1, size=(40, 18), seed=1)
  (tmp_path / "in2" / "img0.png").rename(src / "tall.png")
  rgba = np.dstack([np.asarray(Image.open(src / "img0.png")), np.full((23, 31), 77, np.uint8)])
  Image.fromarray(rgba).save(src / "img0.png")
  for tile in ("none", "20"):
    code, err = _run(capsys, src, "-o", tmp_path / tile, f"--tile={tile}", "--compile-cache=off")
    assert code == 0, err
  for name in ("img0.png", "img1.png", "tall.png"):
    assert (tmp_path / "20" / name).read_bytes() == (tmp_path / "none" / name).read_bytes()


def test_auto_tiles_only_folders_of_many_sizes(tmp_path):
  many = [write_images(tmp_path / f"m{i}", n=1, size=(20 + 40 * i, 30))
          / "img0.png" for i in range(4)]                       # 4 buckets in 4 images
  same = list(write_images(tmp_path / "same", n=9, size=(50, 60)).glob("*.png"))
  assert cli.choose_tile(many) == cli.DEFAULT_TILE
  assert cli.choose_tile(many[:1]) is None                      # one image: its own bucket
  assert cli.choose_tile(same + many[:1]) is None               # 2 buckets in 10 images
  assert cli.choose_tile(same + many[:2]) == cli.DEFAULT_TILE   # 3 buckets in 11 images
  assert cli.choose_tile([tmp_path / "missing.png"]) is None    # unreadable: reported later


def test_bad_tile_is_a_usage_error(image, tmp_path, capsys):
  code, err = _run(capsys, image, "-o", tmp_path / "x.png", "--tile=8")
  assert code == 2 and "tile must be None or an integer from 9 to 1024" in err
  assert not (tmp_path / "x.png").exists()
  with pytest.raises(SystemExit) as e:
    _run(capsys, image, "-o", tmp_path / "x.png", "--tile=big")
  assert e.value.code == 2 and "expected an integer or 'none'" in capsys.readouterr().err
  assert cli._tile_arg("AUTO") == "auto" and cli._tile_arg("none") is None


def _mixed_folder(folder):
  """Seven inputs (more than the pipeline's queues hold): RGB of two sizes, RGBA,
  grey + alpha, grey, and a JPEG with EXIF orientation 6 (stored sideways)."""
  write_images(folder, n=3, size=(23, 31))
  write_images(folder / "t", n=1, size=(40, 18), seed=1)
  (folder / "t" / "img0.png").rename(folder / "tall.png")
  (folder / "t").rmdir()
  rgb = np.asarray(Image.open(folder / "img0.png"))
  Image.fromarray(np.dstack([rgb, np.arange(23 * 31, dtype=np.uint8).reshape(23, 31)])).save(
      folder / "rgba.png")
  Image.fromarray(np.dstack([rgb[..., 0], rgb[..., 1]])).save(folder / "grey_alpha.png")
  Image.fromarray(rgb[..., 2]).save(folder / "grey.png")
  exif = Image.Exif()
  exif[0x0112] = 6
  Image.fromarray(rgb).save(folder / "turned.jpg", exif=exif.tobytes())
  return folder


def test_folder_writes_the_bytes_of_single_image_runs(tmp_path, capsys):
  # The folder path overlaps reading, compute and writing on threads; each output
  # must still be the one-image run's output, byte for byte, and decode whole.
  src = _mixed_folder(tmp_path / "in")
  code, err = _run(capsys, src, "-o", tmp_path / "folder", "--compile-cache=off")
  assert code == 0, err
  assert "alpha channel dropped" not in err        # alpha is kept, so no such warning
  names = sorted(p.name for p in src.iterdir())
  assert sorted(p.name for p in (tmp_path / "folder").iterdir()) == [
      n.rsplit(".", 1)[0] + ".png" for n in names]  # and no temporary files left over
  for name in names:
    stem = name.rsplit(".", 1)[0]
    single = tmp_path / "single" / f"{stem}.png"
    code, err = _run(capsys, src / name, "-o", single, "--compile-cache=off")
    assert code == 0, err
    out = tmp_path / "folder" / f"{stem}.png"
    assert out.read_bytes() == single.read_bytes(), name
    with Image.open(out) as img:
      img.load()                                   # the whole file decodes
      expected_mode = {"rgba": "RGBA", "grey_alpha": "RGBA", "grey": "L"}.get(stem, "RGB")
      assert img.mode == expected_mode, name
  assert Image.open(tmp_path / "folder" / "turned.png").size == (69, 93)   # upright


def test_folder_reports_bad_files_in_order_and_keeps_going(tmp_path, capsys, monkeypatch):
  src = write_images(tmp_path / "in", n=4, size=(20, 22))
  (src / "a_corrupt.png").write_bytes(b"not a png")
  (src / "img2.png").write_bytes(b"")
  real_write = cli.image_io.write_image

  def write_image(path, image):                     # a write refused for one output
    if path.name == "img3.png":
      raise ValueError(f"{path}: refused")
    real_write(path, image)
  monkeypatch.setattr(cli.image_io, "write_image", write_image)
  code, err = _run(capsys, src, "-o", tmp_path / "out", "--compile-cache=off")
  assert code == 1
  lines = [line for line in err.splitlines() if line.startswith("error: ")]
  assert len(lines) == 3
  assert "a_corrupt.png" in lines[0] and "img2.png" in lines[1] and "img3.png: refused" in lines[2]
  assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["img0.png", "img1.png"]


def test_folder_stops_on_an_os_error_while_writing(tmp_path, capsys, monkeypatch):
  # As the serial loop did: only image and value errors skip a file; a disk
  # error ends the run (here without hanging the pipeline's threads).
  src = write_images(tmp_path / "in", n=6, size=(20, 22))

  def write_image(path, image):
    raise OSError(28, "No space left on device")
  monkeypatch.setattr(cli.image_io, "write_image", write_image)
  with pytest.raises(OSError, match="No space left"):
    _run(capsys, src, "-o", tmp_path / "out", "--compile-cache=off")
