"""What ``detect`` / ``detect_batch`` accept: paths, PIL images, uint8 and float arrays,
lists of those; largest-face selection; and the errors for everything else.

Every image here is the embedded collage of six faces at half size (240x320, so
one small canvas, compiled once for ``detect`` and once for ``detect_batch``).
"""
from __future__ import annotations

import pathlib

import jax.numpy as jnp
import numpy as np
import pytest
from PIL import Image

import mtcnn_jax
from espcn_mtcnn_common.image_io import ImageError, read_image
from mtcnn_jax.demo_faces import sample_faces
from mtcnn_jax.input_checks import as_rgb_uint8

_EXIF_ORIENTATION = 0x0112


@pytest.fixture(scope="module")
def collage() -> np.ndarray:
  """uint8 [240, 320, 3]: six faces, 12 to 60 px tall."""
  full = sample_faces()[1][1]
  return np.asarray(Image.fromarray(full).resize((320, 240), Image.Resampling.BOX))


@pytest.fixture(scope="module")
def reference(collage):
  return mtcnn_jax.detect(collage)


def _assert_same(got, want):
  for field in ("boxes", "scores", "landmarks"):
    np.testing.assert_array_equal(getattr(got, field), getattr(want, field), err_msg=field)


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_every_8_bit_level_over_255_comes_back_exactly(dtype):
  levels = np.arange(256, dtype=np.uint8).reshape(16, 16)
  np.testing.assert_array_equal(as_rgb_uint8(levels.astype(dtype) / dtype(255))[..., 0], levels)
  np.testing.assert_array_equal(as_rgb_uint8(levels.astype(dtype))[..., 0], levels)


def test_float_images_find_exactly_what_the_uint8_image_finds(collage, reference):
  assert len(reference) >= 5
  for image in (collage / 255.0, (collage / 255.0).astype(np.float32),
                collage.astype(np.float32), jnp.asarray(collage, jnp.float32) / 255.0):
    _assert_same(mtcnn_jax.detect(image), reference)


def test_paths_and_pil_images_find_what_the_array_finds(collage, reference, tmp_path):
  path = tmp_path / "collage.png"
  Image.fromarray(collage).save(path)
  for image in (str(path), path, Image.open(path), Image.fromarray(collage).convert("RGBA")):
    _assert_same(mtcnn_jax.detect(image), reference)


def test_a_path_is_read_upright_by_its_exif_orientation(collage, reference, tmp_path):
  # Stored turned a quarter left, with orientation 6 ("turn 90 degrees clockwise to view").
  exif = Image.Exif()
  exif[_EXIF_ORIENTATION] = 6
  path = tmp_path / "turned.png"
  Image.fromarray(np.rot90(collage)).save(path, exif=exif)
  np.testing.assert_array_equal(read_image(path), collage)
  _assert_same(mtcnn_jax.detect(path), reference)


def test_batch_of_mixed_forms_and_selection_per_image(collage, reference, tmp_path):
  path = tmp_path / "collage.png"
  Image.fromarray(collage).save(path)
  images = [path, collage / 255.0, Image.fromarray(collage), collage.astype(np.float32)]
  got = mtcnn_jax.detect_batch(images)
  assert len(got) == 4
  for faces in got:       # batched: the same faces as one by one, up to float rounding
    np.testing.assert_allclose(faces.boxes, reference.boxes, atol=1e-3)
  largest = mtcnn_jax.detect_batch(images, select_largest=True, keep_all=False)
  assert [len(f) for f in largest] == [1, 1, 1, 1]
  areas = np.prod(got[1].boxes[:, 2:] - got[1].boxes[:, :2], axis=1)
  np.testing.assert_array_equal(largest[1].boxes[0], got[1].boxes[np.argmax(areas)])
  stacked = mtcnn_jax.detect_batch(np.stack([collage] * 4))     # [N, H, W, 3]
  assert len(stacked) == 4
  np.testing.assert_array_equal(stacked[3].boxes, got[3].boxes)


def test_select_largest_and_keep_all_on_several_faces(collage):
  faces = mtcnn_jax.detect(collage)
  assert len(faces) >= 5
  area = lambda f: np.prod(f.boxes[:, 2:] - f.boxes[:, :2], axis=1)   # noqa: E731
  by_size = mtcnn_jax.detect(collage, select_largest=True)
  assert len(by_size) == len(faces)
  assert np.all(np.diff(area(by_size)) <= 0)                         # largest first
  assert sorted(by_size.scores.tolist()) == sorted(faces.scores.tolist())
  assert area(faces)[0] < area(by_size)[0]          # here the best score is not the largest face
  best = mtcnn_jax.detect(collage, keep_all=False)
  np.testing.assert_array_equal(best.boxes, faces.boxes[:1])
  largest = mtcnn_jax.detect(collage, select_largest=True, keep_all=False)
  np.testing.assert_array_equal(largest.boxes, by_size.boxes[:1])
  assert largest.landmarks.shape == (1, 5, 2)


def test_no_face_with_keep_all_false_is_empty():
  faces = mtcnn_jax.detect(np.zeros((8, 8, 3), np.uint8), keep_all=False, select_largest=True)
  assert len(faces) == 0 and faces.boxes.shape == (0, 4)


def test_a_missing_path_is_a_file_not_found_error_naming_it(tmp_path):
  missing = tmp_path / "no_such_photo.jpg"
  with pytest.raises(FileNotFoundError, match="no_such_photo.jpg"):
    mtcnn_jax.detect(str(missing))
  with pytest.raises(FileNotFoundError, match=r"images\[1\].*no_such_photo.jpg"):
    mtcnn_jax.detect_batch([np.zeros((20, 20, 3), np.uint8), missing])


def test_a_folder_or_broken_file_is_an_image_error(tmp_path):
  with pytest.raises(ImageError, match="folder"):
    mtcnn_jax.detect(tmp_path)
  broken = tmp_path / "broken.jpg"
  broken.write_bytes(b"\xff\xd8 not a jpeg")
  with pytest.raises(ImageError, match="broken.jpg"):
    mtcnn_jax.detect(broken)


@pytest.mark.parametrize("bad, message", [
    (-np.ones((20, 20, 3), np.float32), r"\[0, 1\] or \[0, 255\].*float32.*\(20, 20, 3\).*\[-1, -1\]"),
    (np.full((20, 20, 3), 300.0), r"values in \[300, 300\]"),
    (np.full((20, 20, 3), 1.5, np.float32), "ambiguous"),
    (np.full((20, 20, 3), np.inf, np.float32), "NaN or infinite"),
    (np.zeros((20, 20, 3), np.int64), r"int64.*astype\(np.uint8\)"),
    (np.zeros((20, 20, 3), bool), "bool"),
    (np.zeros((20, 20, 2), np.uint8), r"\[H, W, 3\].*\(20, 20, 2\)"),
])
def test_bad_arrays_are_refused_naming_dtype_shape_and_range(bad, message):
  with pytest.raises(ValueError, match=message):
    mtcnn_jax.detect(bad)


def test_things_that_are_not_images_are_type_errors():
  image = np.zeros((20, 20, 3), np.uint8)
  with pytest.raises(TypeError, match="detect_batch"):
    mtcnn_jax.detect([image, image])
  with pytest.raises(TypeError, match="use detect for a single image"):
    mtcnn_jax.detect_batch(image)
  with pytest.raises(TypeError, match="use detect for a single image"):
    mtcnn_jax.detect_batch("photo.jpg")
  with pytest.raises(TypeError, match="NoneType"):
    mtcnn_jax.detect(None)
  with pytest.raises(TypeError, match="bytes"):
    mtcnn_jax.detect(b"\xff\xd8")
  with pytest.raises(TypeError, match=r"images\[0\]: got a list"):
    mtcnn_jax.detect_batch([[image]])
  with pytest.raises(TypeError, match="select_largest must be True or False"):
    mtcnn_jax.detect(image, select_largest="yes")
  with pytest.raises(ValueError, match=r"images\[1\].*NaN"):
    mtcnn_jax.detect_batch([image, np.full((9, 9), np.nan)])


def test_grey_float_images_are_repeated_to_rgb():
  grey = np.linspace(0, 1, 12 * 15).reshape(12, 15)
  rgb = as_rgb_uint8(grey)
  assert rgb.shape == (12, 15, 3) and rgb.dtype == np.uint8
  np.testing.assert_array_equal(rgb[..., 0], np.round(grey * 255).astype(np.uint8))
  np.testing.assert_array_equal(rgb[..., 0], rgb[..., 2])


def test_pil_images_of_other_modes_become_rgb():
  grey = Image.fromarray(np.arange(20 * 30, dtype=np.uint8).reshape(20, 30) % 251)
  rgb = as_rgb_uint8(grey)
  assert rgb.shape == (20, 30, 3)
  np.testing.assert_array_equal(rgb[..., 1], np.asarray(grey))
  assert as_rgb_uint8(grey.convert("P")).shape == (20, 30, 3)


def test_pathlike_objects_are_paths(tmp_path):
  class Where:      # any os.PathLike
    def __fspath__(self):
      return str(tmp_path / "x.png")
  Image.fromarray(np.full((14, 13, 3), 7, np.uint8)).save(pathlib.Path(Where().__fspath__()))
  assert as_rgb_uint8(Where()).shape == (14, 13, 3)
