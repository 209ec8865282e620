"""Tests of espcn_mtcnn_common.image_io: reading/writing images with clear errors.

Every file is generated in ``tmp_path`` with NumPy and PIL (or written byte by
byte for corrupt files); the expected pixels are the arrays that were written,
and conversions are checked against their definitions: palette lookup,
16-bit v -> round(v / 257), full-range BT.601 luma round(0.299 R + 0.587 G +
0.114 B) for ``mode="gray"``.
"""
from __future__ import annotations

import struct
import warnings
import zlib

import numpy as np
from PIL import Image
import pytest

from espcn_mtcnn_common import image_io
from espcn_mtcnn_common.image_io import ImageError


def _png_bytes_with_header(width: int, height: int) -> bytes:
  """A PNG whose IHDR says width x height (8-bit grey) but with almost no data."""
  def chunk(kind: bytes, payload: bytes) -> bytes:
    return (struct.pack(">I", len(payload)) + kind + payload
            + struct.pack(">I", zlib.crc32(kind + payload) & 0xFFFFFFFF))
  return (b"\x89PNG\r\n\x1a\n"
          + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
          + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
          + chunk(b"IEND", b""))


def _read_no_warning(path, **kwargs):
  with warnings.catch_warnings():
    warnings.simplefilter("error")
    return image_io.read_image(path, **kwargs)


# ----------------------------------------------------------------------------- bad input

def test_missing_file(tmp_path):
  path = tmp_path / "nope.png"
  with pytest.raises(ImageError, match="no such file") as e:
    image_io.read_image(path)
  assert str(path) in str(e.value)


def test_empty_file(tmp_path):
  path = tmp_path / "empty.png"
  path.write_bytes(b"")
  with pytest.raises(ImageError, match="empty") as e:
    image_io.read_image(path)
  assert str(path) in str(e.value)


def test_corrupt_bytes_with_png_suffix(tmp_path):
  path = tmp_path / "corrupt.png"
  path.write_bytes(b"this is not an image at all " * 8)
  with pytest.raises(ImageError, match="cannot read image") as e:
    image_io.read_image(path)
  assert str(path) in str(e.value)


def test_truncated_png(tmp_path, rng):
  path = tmp_path / "truncated.png"
  Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(path)
  data = path.read_bytes()
  path.write_bytes(data[: len(data) // 2])
  with pytest.raises(ImageError, match="cannot read image") as e:
    image_io.read_image(path)
  assert str(path) in str(e.value) and "truncated" in str(e.value)


def test_directory_is_not_a_file(tmp_path):
  with pytest.raises(ImageError, match="no such file"):
    image_io.read_image(tmp_path)


def test_list_images_empty_folder(tmp_path):
  with pytest.raises(ImageError, match="no image files") as e:
    image_io.list_images(tmp_path)
  assert str(tmp_path) in str(e.value)


def test_list_images_folder_without_images(tmp_path):
  (tmp_path / "notes.txt").write_text("hello")
  (tmp_path / "sub.png").mkdir()      # a folder named like an image is not an image
  with pytest.raises(ImageError, match="no image files"):
    image_io.list_images(tmp_path)


def test_list_images_path_is_a_file(tmp_path):
  path = tmp_path / "a.png"
  Image.fromarray(np.zeros((2, 2), np.uint8)).save(path)
  with pytest.raises(ImageError, match="not a folder") as e:
    image_io.list_images(path)
  assert str(path) in str(e.value)
  with pytest.raises(ImageError, match="not a folder"):
    image_io.list_images(tmp_path / "missing")


def test_list_images_sorted_and_filtered(tmp_path):
  for name in ("b.PNG", "a.jpg", "c.bmp"):
    Image.fromarray(np.zeros((2, 2, 3), np.uint8)).save(tmp_path / name)
  (tmp_path / "z.txt").write_text("x")
  assert [p.name for p in image_io.list_images(tmp_path)] == ["a.jpg", "b.PNG", "c.bmp"]


def test_image_over_max_pixels_is_refused(tmp_path, monkeypatch):
  path = tmp_path / "big.png"
  Image.fromarray(np.zeros((4, 5), np.uint8)).save(path)
  monkeypatch.setattr(image_io, "MAX_PIXELS", 19)
  with pytest.raises(ImageError, match="19-pixel limit") as e:
    image_io.read_image(path)
  assert str(path) in str(e.value) and "5x4" in str(e.value)
  monkeypatch.setattr(image_io, "MAX_PIXELS", 20)
  assert image_io.read_image(path).shape == (4, 5)


def test_huge_header_gives_image_error(tmp_path):
  path = tmp_path / "huge.png"
  path.write_bytes(_png_bytes_with_header(15000, 15000))   # 225M pixels < MAX_PIXELS
  assert 15000 * 15000 <= image_io.MAX_PIXELS
  with pytest.raises(ImageError):
    image_io.read_image(path)


def test_invalid_mode(tmp_path):
  path = tmp_path / "a.png"
  Image.fromarray(np.zeros((2, 2), np.uint8)).save(path)
  with pytest.raises(ValueError, match="mode must be"):
    image_io.read_image(path, mode="RGBA")


# ----------------------------------------------------------------------------- conversions

def test_grey_png(tmp_path, rng):
  pixels = rng.integers(0, 256, (5, 7), dtype=np.uint8)
  Image.fromarray(pixels).save(tmp_path / "g.png")
  out = _read_no_warning(tmp_path / "g.png")
  assert out.dtype == np.uint8 and out.shape == (5, 7)
  np.testing.assert_array_equal(out, pixels)


def test_rgb_png_and_bmp(tmp_path, rng):
  pixels = rng.integers(0, 256, (4, 6, 3), dtype=np.uint8)
  for name in ("c.png", "c.bmp"):
    Image.fromarray(pixels).save(tmp_path / name)
    np.testing.assert_array_equal(_read_no_warning(tmp_path / name), pixels)


def test_rgba_png_drops_alpha_with_warning(tmp_path, rng):
  pixels = rng.integers(0, 256, (4, 5, 4), dtype=np.uint8)
  path = tmp_path / "rgba.png"
  Image.fromarray(pixels, mode="RGBA").save(path)
  with pytest.warns(UserWarning, match="alpha"):
    out = image_io.read_image(path)
  assert out.shape == (4, 5, 3) and out.dtype == np.uint8
  np.testing.assert_array_equal(out, pixels[..., :3])


def test_la_png_drops_alpha_with_warning(tmp_path, rng):
  pixels = rng.integers(0, 256, (3, 4, 2), dtype=np.uint8)
  path = tmp_path / "la.png"
  Image.fromarray(pixels, mode="LA").save(path)
  with pytest.warns(UserWarning, match="alpha"):
    out = image_io.read_image(path)
  np.testing.assert_array_equal(out, pixels[..., 0])


def test_palette_png(tmp_path):
  palette = np.array([[255, 0, 0], [0, 255, 0], [0, 0, 255], [10, 20, 30]], np.uint8)
  index = np.array([[0, 1, 2], [3, 3, 0]], np.uint8)
  img = Image.fromarray(index, mode="P")
  img.putpalette(list(palette.ravel()) + [0] * (3 * (256 - len(palette))))
  img.save(tmp_path / "p.png")
  out = _read_no_warning(tmp_path / "p.png")
  expected = np.zeros((2, 3, 3), np.uint8)
  for i in range(2):
    for j in range(3):
      expected[i, j] = palette[index[i, j]]
  np.testing.assert_array_equal(out, expected)
  # With a transparent entry it becomes RGBA first: same colours, plus a warning.
  img.save(tmp_path / "pt.png", transparency=3)
  with pytest.warns(UserWarning, match="alpha"):
    np.testing.assert_array_equal(image_io.read_image(tmp_path / "pt.png"), expected)


@pytest.mark.parametrize("values", [
    [[0, 257, 65535], [1000, 30000, 128]],
    [[0, 100, 200], [255, 129, 128]],       # a dark 16-bit image: still divided by 257
])
def test_16bit_grey_png(tmp_path, values):
  pixels = np.array(values, np.uint16)
  path = tmp_path / "g16.png"
  Image.fromarray(pixels).save(path)
  assert Image.open(path).mode == "I;16"
  with pytest.warns(UserWarning, match="16-bit"):
    out = image_io.read_image(path)
  assert out.dtype == np.uint8 and out.shape == pixels.shape
  expected = np.array([[int(v / 257 + 0.5) for v in row] for row in values])
  np.testing.assert_array_equal(out, expected)


def test_bilevel_png(tmp_path):
  pixels = np.array([[True, False], [False, True]])
  Image.fromarray(pixels).save(tmp_path / "b.png")
  np.testing.assert_array_equal(_read_no_warning(tmp_path / "b.png"), pixels * 255)


def test_float_tiff(tmp_path):
  pixels = np.array([[0.0, 0.2, 1.0]], np.float32)
  Image.fromarray(pixels).save(tmp_path / "f.tif")
  np.testing.assert_array_equal(_read_no_warning(tmp_path / "f.tif"), [[0, 51, 255]])


def test_mode_rgb_repeats_grey(tmp_path, rng):
  pixels = rng.integers(0, 256, (3, 4), dtype=np.uint8)
  Image.fromarray(pixels).save(tmp_path / "g.png")
  out = _read_no_warning(tmp_path / "g.png", mode="rgb")
  assert out.shape == (3, 4, 3)
  for c in range(3):
    np.testing.assert_array_equal(out[..., c], pixels)


def test_mode_gray(tmp_path, rng):
  pixels = rng.integers(0, 256, (3, 4, 3), dtype=np.uint8)
  Image.fromarray(pixels).save(tmp_path / "c.png")
  out = _read_no_warning(tmp_path / "c.png", mode="gray")
  assert out.shape == (3, 4) and out.dtype == np.uint8
  for i in range(3):
    for j in range(4):
      r, g, b = (float(v) for v in pixels[i, j])
      assert abs(int(out[i, j]) - (0.299 * r + 0.587 * g + 0.114 * b)) <= 0.5 + 1e-9
  grey = rng.integers(0, 256, (3, 4), dtype=np.uint8)
  Image.fromarray(grey).save(tmp_path / "g.png")
  np.testing.assert_array_equal(_read_no_warning(tmp_path / "g.png", mode="gray"), grey)


def test_result_is_contiguous(tmp_path, rng):
  Image.fromarray(rng.integers(0, 256, (3, 4), dtype=np.uint8)).save(tmp_path / "g.png")
  assert _read_no_warning(tmp_path / "g.png", mode="rgb").flags["C_CONTIGUOUS"]


# ----------------------------------------------------------------------------- writing

@pytest.mark.parametrize("shape", [(5, 6), (4, 3, 3)])
@pytest.mark.parametrize("suffix", [".png", ".bmp"])
def test_write_image_round_trip(tmp_path, rng, shape, suffix):
  pixels = rng.integers(0, 256, shape, dtype=np.uint8)
  path = tmp_path / "deep" / "folder" / f"img{suffix}"   # parents are created
  image_io.write_image(path, pixels)
  np.testing.assert_array_equal(_read_no_warning(path), pixels)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.uint16])
def test_write_image_rejects_non_uint8(tmp_path, dtype):
  with pytest.raises(ValueError, match="uint8"):
    image_io.write_image(tmp_path / "x.png", np.zeros((2, 2), dtype))
  assert not (tmp_path / "x.png").exists()


# ----------------------------------------------------------------------------- EXIF orientation

# What a photo viewer shows for each EXIF orientation value, from the stored pixels
# (TIFF/EXIF 2.3, tag 0x0112), written with NumPy independently of PIL.
_UPRIGHT = {
    1: lambda a: a,
    2: lambda a: a[:, ::-1],                       # mirrored left-right
    3: lambda a: a[::-1, ::-1],                    # rotated 180
    4: lambda a: a[::-1],                          # mirrored top-bottom
    5: lambda a: a.swapaxes(0, 1),                 # transposed
    6: lambda a: np.rot90(a, k=-1),                # stored rotated: turn 90 degrees clockwise
    7: lambda a: a[::-1, ::-1].swapaxes(0, 1),     # transversed
    8: lambda a: np.rot90(a, k=1),                 # turn 90 degrees counter-clockwise
}


def _with_orientation(path, pixels, orientation, **save_kwargs):
  exif = Image.Exif()
  exif[0x0112] = orientation
  Image.fromarray(pixels).save(path, exif=exif, **save_kwargs)
  return path


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_is_applied_lossless_png(tmp_path, rng, orientation):
  pixels = rng.integers(0, 256, (5, 8, 3), dtype=np.uint8)
  path = _with_orientation(tmp_path / "photo.png", pixels, orientation)
  with Image.open(path) as img:
    assert img.getexif().get(0x0112) == orientation        # the tag really is in the file
  got = _read_no_warning(path)
  np.testing.assert_array_equal(got, _UPRIGHT[orientation](pixels))
  assert got.flags.c_contiguous


@pytest.mark.parametrize("orientation", [3, 6, 8])
def test_exif_orientation_is_applied_to_jpeg_and_gray(tmp_path, orientation):
  yy, xx = np.mgrid[:32, :48]
  pixels = np.stack([xx * 5, yy * 7, np.full_like(xx, 90)], -1).astype(np.uint8)
  path = _with_orientation(tmp_path / "photo.jpg", pixels, orientation, quality=95)
  with Image.open(path) as img:
    stored = np.asarray(img.convert("RGB"))                # the decoder's pixels, un-turned
  got = _read_no_warning(path)
  np.testing.assert_array_equal(got, _UPRIGHT[orientation](stored))
  assert np.abs(got.astype(int) - _UPRIGHT[orientation](pixels)).max() <= 12
  gray = _read_no_warning(path, mode="gray")
  assert gray.shape == got.shape[:2]


def test_unparsable_exif_reads_as_stored(tmp_path, rng, monkeypatch):
  pixels = rng.integers(0, 256, (4, 6), dtype=np.uint8)
  path = _with_orientation(tmp_path / "photo.png", pixels, 6)

  def broken(self):
    raise SyntaxError("bad EXIF")

  monkeypatch.setattr(Image.Image, "getexif", broken)
  np.testing.assert_array_equal(_read_no_warning(path), pixels)
