"""Tests of espcn_mtcnn_common.tfds_images: TFDS image datasets without TensorFlow."""
from __future__ import annotations

import io
import pathlib
import sys

import numpy as np
from PIL import Image
import pytest
import tensorflow_datasets as tfds

from espcn_mtcnn_common import tfds_images


def _write_images(folder: pathlib.Path) -> dict[str, np.ndarray]:
  """Writes an RGB PNG, a grey PNG and an RGB BMP; returns stem -> pixels."""
  rng = np.random.default_rng(0)
  images = {
      "a_rgb": rng.integers(0, 256, (5, 7, 3), dtype=np.uint8),
      "b_grey": rng.integers(0, 256, (6, 4), dtype=np.uint8),
      "c_rgb": rng.integers(0, 256, (3, 5, 3), dtype=np.uint8),
  }
  folder.mkdir(parents=True, exist_ok=True)
  Image.fromarray(images["a_rgb"]).save(folder / "a_rgb.png")
  Image.fromarray(images["b_grey"]).save(folder / "b_grey.PNG")
  Image.fromarray(images["c_rgb"]).save(folder / "c_rgb.bmp")
  (folder / "notes.txt").write_text("not an image")
  return images


def _mtimes(root: pathlib.Path) -> dict[str, int]:
  return {str(p): p.stat().st_mtime_ns for p in root.rglob("*")}


def test_round_trip_is_pixel_exact(tmp_path):
  images = _write_images(tmp_path / "hr")
  data_dir = tmp_path / "tfds"
  name = tfds_images.build_image_folder_dataset(tmp_path / "hr", data_dir,
                                              name="tiny_set")
  assert name == "tiny_set"
  loaded = tfds_images.load_tfds_images(name, data_dir=data_dir)
  assert [n for n, _ in loaded] == ["a_rgb", "b_grey", "c_rgb"]
  for stem, image in loaded:
    assert image.dtype == np.uint8
    np.testing.assert_array_equal(image, images[stem])
  # Same through the explicit key and a versioned name.
  loaded = tfds_images.load_tfds_images("tiny_set:1.0.0", split="train",
                                      data_dir=str(data_dir), image_key="image")
  np.testing.assert_array_equal(loaded[1][1], images["b_grey"])
  # Neither building nor reading needed TensorFlow.
  assert "tensorflow" not in sys.modules


def test_second_build_reuses_the_dataset(tmp_path):
  _write_images(tmp_path / "hr")
  data_dir = tmp_path / "tfds"
  name = tfds_images.build_image_folder_dataset(tmp_path / "hr", data_dir)
  before = _mtimes(data_dir)
  assert tfds_images.build_image_folder_dataset(tmp_path / "hr", data_dir) == name
  assert _mtimes(data_dir) == before


def test_changed_folder_is_not_silently_reused(tmp_path):
  _write_images(tmp_path / "hr")
  data_dir = tmp_path / "tfds"
  tfds_images.build_image_folder_dataset(tmp_path / "hr", data_dir)
  Image.fromarray(np.zeros((2, 2), np.uint8)).save(tmp_path / "hr" / "d.png")
  with pytest.raises(ValueError, match="other image files"):
    tfds_images.build_image_folder_dataset(tmp_path / "hr", data_dir)


def test_default_name_is_sanitized_folder_name(tmp_path):
  _write_images(tmp_path / "My HR-Images 2")
  name = tfds_images.build_image_folder_dataset(tmp_path / "My HR-Images 2",
                                              tmp_path / "tfds")
  assert name == "my_hr_images_2"
  assert len(tfds_images.load_tfds_images(name, data_dir=tmp_path / "tfds")) == 3


def test_bad_names_are_rejected(tmp_path):
  _write_images(tmp_path / "hr")
  for bad in ("Not-Snake", "mnist"):  # invalid; registered TFDS dataset
    with pytest.raises(ValueError, match=bad):
      tfds_images.build_image_folder_dataset(tmp_path / "hr", tmp_path / "tfds",
                                           name=bad)


def test_folder_errors(tmp_path):
  with pytest.raises(ValueError, match="does not exist"):
    tfds_images.build_image_folder_dataset(tmp_path / "missing", tmp_path / "d")
  (tmp_path / "empty").mkdir()
  with pytest.raises(ValueError, match="no images"):
    tfds_images.build_image_folder_dataset(tmp_path / "empty", tmp_path / "d")
  (tmp_path / "text").mkdir()
  (tmp_path / "text" / "a.txt").write_text("x")
  with pytest.raises(ValueError, match="no images"):
    tfds_images.build_image_folder_dataset(tmp_path / "text", tmp_path / "d")


def test_unreadable_image_is_named(tmp_path):
  _write_images(tmp_path / "hr")
  (tmp_path / "hr" / "broken.jpg").write_bytes(b"definitely not a jpeg")
  with pytest.raises(ValueError, match="broken.jpg"):
    tfds_images.build_image_folder_dataset(tmp_path / "hr", tmp_path / "tfds")


def test_not_prepared_dataset_errors_without_download(tmp_path):
  data_dir = tmp_path / "empty_data_dir"
  for name in ("no_such_set", "div2k/bicubic_x3"):  # unknown; registered
    with pytest.raises(ValueError) as info:
      tfds_images.load_tfds_images(name, split="validation", data_dir=data_dir)
    message = str(info.value)
    assert name in message and "validation" in message
    assert str(data_dir) in message
  assert not data_dir.exists()


def test_image_key_must_be_an_image_feature(tmp_path):
  _write_images(tmp_path / "hr")
  name = tfds_images.build_image_folder_dataset(tmp_path / "hr", tmp_path / "d")
  with pytest.raises(ValueError, match="not an image feature"):
    tfds_images.load_tfds_images(name, data_dir=tmp_path / "d", image_key="name")


def test_parse_tfds_spec():
  parse = tfds_images.parse_tfds_spec
  assert parse("tfds:div2k/bicubic_x3:validation") == ("div2k/bicubic_x3",
                                                        "validation")
  assert parse("tfds:my_set") == ("my_set", "train")
  assert parse("tfds:my_set:1.0.0") == ("my_set:1.0.0", "train")
  assert parse("tfds:my_set:1.0.0:test") == ("my_set:1.0.0", "test")
  assert parse("tfds:my_set:train[:2]") == ("my_set", "train[:2]")
  assert parse("data/Set5") is None
  assert parse("Set5") is None
  with pytest.raises(ValueError):
    parse("tfds:")


def test_fixed_channel_features_decode_like_tfds():
  # Prepared datasets such as div2k declare `Image(shape=(None, None, 3))`;
  # those are decoded by TFDS itself, grey ones squeezed to [H, W].
  rgb = np.arange(24, dtype=np.uint8).reshape(2, 4, 3)
  grey = np.arange(8, dtype=np.uint8).reshape(2, 4)
  for pixels, channels in ((rgb, 3), (grey, 1)):
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    feature = tfds.features.Image(shape=(None, None, channels))
    decoded = tfds_images._decode_image(  # pylint: disable=protected-access
        feature, buffer.getvalue(), "test")
    assert decoded.dtype == np.uint8
    np.testing.assert_array_equal(decoded, pixels)


def test_rgba_and_grey_alpha_tfds_images_feed_the_sr_pipeline(tmp_path, monkeypatch):
  """Images with alpha stored in a TFDS dataset reach ESPCN as plain RGB / grey."""
  import warnings
  from espcn_jax import data
  folder = tmp_path / "alpha"
  folder.mkdir()
  rgba = np.random.default_rng(0).integers(0, 256, (30, 33, 4), dtype=np.uint8)
  Image.fromarray(rgba, "RGBA").save(folder / "a.png")
  Image.fromarray(rgba[..., :2], "LA").save(folder / "b.png")
  name = tfds_images.build_image_folder_dataset(folder, tmp_path / "tfds")
  monkeypatch.setenv("TFDS_DATA_DIR", str(tmp_path / "tfds"))
  with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    pairs = data.load_pairs(f"tfds:{name}", 3, 1)
  assert [p.hr.shape for p in pairs] == [(30, 33, 1), (30, 33, 1)]
  np.testing.assert_allclose(pairs[1].hr[..., 0], rgba[:30, :33, 0] / 255.0, atol=1e-6)
