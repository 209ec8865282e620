"""``espcn_jax.upscale``: alpha kept (bicubic, as the CLI does), batches of same-size
images through one compiled function, single images exactly as before, typed API."""
from __future__ import annotations

import inspect
import pathlib
import typing

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from PIL import Image

import espcn_jax
from espcn_jax import cli, infer, resize, resize_jax
from espcn_jax.model import ESPCN
from espcn_mtcnn_common.demo_photo import grace_hopper

REPO = pathlib.Path(__file__).resolve().parents[2]
_EXIF_ORIENTATION = 0x0112


def _params(scale=3, channels=1, seed=0):
  model = ESPCN(scale=scale, channels=channels, features=(8, 4))
  return model.init(jax.random.key(seed), jnp.zeros((1, 8, 8, channels)))["params"]


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
  return grace_hopper()[150:190, 180:230]        # uint8 [40, 50, 3], the face


def _reference_upscale(params, x, bucket=infer.DEFAULT_BUCKET):
  """``upscale`` of one untiled 2-D/3-D image as written before alpha and batches existed:
  the same internal calls, so any change in what single images get shows up here."""
  spec = infer.spec_from_params(params)
  was_uint8 = x.dtype == np.uint8
  x = x if was_uint8 else x.astype(np.float32)
  x = x[..., 0] if x.ndim == 3 and x.shape[-1] == 1 else x
  h, w, r, grey = x.shape[0], x.shape[1], spec["scale"], x.ndim == 2
  settings = dict(activation="tanh", centre=0.5, conv_impl="cpu_tuned")
  if spec["channels"] == 1 and not grey:
    shape = infer.bucket_shape(h, w, bucket)
    out = infer._forward_ycbcr(params, infer._pad_to(x, shape), infer._mask(h, w, shape),
                               resize_jax.mirror_index(h, shape[0]),
                               resize_jax.mirror_index(w, shape[1]), **settings)
    return np.asarray(out)[: h * r, : w * r]
  x = x[..., None] if grey else x
  out = infer._model_output(infer.super_resolve(
      params, infer._model_input(x, spec["channels"]), bucket=bucket, **settings), was_uint8, grey)
  return out[..., 0] if grey else out


@pytest.mark.parametrize("channels", [1, 3])
def test_single_images_are_bit_identical_to_the_earlier_path(photo, channels):
  params = _params(channels=channels)
  for x in (photo, photo / 255.0, photo.mean(-1).astype(np.uint8), photo[..., :1],
            (photo.mean(-1) / 255.0).astype(np.float32), photo[:17, :29]):
    got = espcn_jax.upscale(params, x)
    want = _reference_upscale(params, x)
    assert got.dtype == want.dtype and got.shape == want.shape
    np.testing.assert_array_equal(got, want)


def test_rgba_keeps_alpha_upscaled_by_matlab_bicubic(photo, rng):
  params = _params()
  alpha = rng.integers(0, 256, photo.shape[:2], np.uint8)
  out = espcn_jax.upscale(params, np.dstack([photo, alpha]))
  assert out.shape == (120, 150, 4) and out.dtype == np.uint8
  np.testing.assert_array_equal(out[..., :3], espcn_jax.upscale(params, photo))
  np.testing.assert_array_equal(out[..., 3], resize.imresize(alpha, 3.0, output_shape=(120, 150)))
  # Float RGBA: alpha float32, clipped to [0, 1] like the colours.
  out_f = espcn_jax.upscale(params, np.dstack([photo, alpha]) / 255.0)
  assert out_f.dtype == np.float32 and 0.0 <= out_f[..., 3].min() and out_f[..., 3].max() <= 1.0
  np.testing.assert_allclose(out_f[..., 3], np.clip(
      resize.imresize(alpha / 255.0, 3.0, output_shape=(120, 150)), 0, 1), atol=1e-6)
  # Grey + alpha.
  grey = photo.mean(-1).astype(np.uint8)
  out_la = espcn_jax.upscale(params, np.dstack([grey, alpha]))
  assert out_la.shape == (120, 150, 2)
  np.testing.assert_array_equal(out_la[..., 0], espcn_jax.upscale(params, grey))
  np.testing.assert_array_equal(out_la[..., 1], out[..., 3])


def test_cli_writes_what_upscale_returns_for_rgba_and_turns_alpha_upright(photo, rng, tmp_path):
  alpha = rng.integers(0, 256, photo.shape[:2], np.uint8)
  rgba = np.dstack([photo, alpha])
  exif = Image.Exif()
  exif[_EXIF_ORIENTATION] = 6          # stored turned a quarter left; viewers turn it back
  Image.fromarray(np.ascontiguousarray(np.rot90(rgba))).save(tmp_path / "in.png", exif=exif)
  assert cli.main([str(tmp_path / "in.png"), "-o", str(tmp_path / "out.png"),
                   "--compile-cache", "off"]) == 0
  params, settings = cli.load_params("pretrained", 3)
  written = np.asarray(Image.open(tmp_path / "out.png"))
  np.testing.assert_array_equal(written, espcn_jax.upscale(params, rgba, **settings))


def _count_traces(monkeypatch):
  """Replace the three jitted pieces of the colour path by copies that fail on a second trace."""
  for name, static in (("_forward", ("activation", "centre", "conv_impl")),
                       ("_split_ycbcr", ()), ("_merge_chroma", ("scale", "quantize"))):
    raw = getattr(infer, name).__wrapped__
    monkeypatch.setattr(infer, name, jax.jit(chex.assert_max_traces(n=1)(raw),
                                             static_argnames=static))


def test_a_batch_runs_through_one_compiled_function_and_equals_single_calls(photo, monkeypatch):
  params = _params(seed=2)
  batch = np.stack([photo, photo[::-1], photo[:, ::-1], 255 - photo])        # [4, 40, 50, 3]
  _count_traces(monkeypatch)
  try:
    out = espcn_jax.upscale(params, batch)
    listed = espcn_jax.upscale(params, list(batch))
    singles = [espcn_jax.upscale(params, im) for im in batch]
  finally:
    chex.clear_trace_counter()
  assert out.shape == (4, 120, 150, 3) and out.dtype == np.uint8
  np.testing.assert_array_equal(out, np.stack(singles))
  np.testing.assert_array_equal(listed, out)


def test_batches_of_grey_float_and_rgba_images(photo, rng):
  params = _params(seed=3)
  grey = np.stack([photo.mean(-1), photo.min(-1)]).astype(np.uint8)          # [2, 40, 50]
  got = espcn_jax.upscale(params, list(grey))
  assert got.shape == (2, 120, 150)
  np.testing.assert_array_equal(got[1], espcn_jax.upscale(params, grey[1]))
  as_channel = espcn_jax.upscale(params, grey[..., None])                    # [2, 40, 50, 1]
  np.testing.assert_array_equal(as_channel, got)
  floats = np.stack([photo, photo[::-1]]) / 255.0
  got_f = espcn_jax.upscale(params, floats)
  assert got_f.dtype == np.float32
  np.testing.assert_array_equal(got_f[1], espcn_jax.upscale(params, floats[1]))
  rgba = np.concatenate([np.stack([photo] * 2), rng.integers(0, 256, (2, 40, 50, 1), np.uint8)], -1)
  assert espcn_jax.upscale(params, rgba).shape == (2, 120, 150, 4)


@pytest.mark.parametrize("bad, message", [
    ([], "no images"),
    (np.zeros((0, 8, 8, 3), np.uint8), "no images"),
    ([np.zeros((8, 8, 3), np.uint8), np.zeros((8, 9, 3), np.uint8)], "one shape"),
    ([np.zeros((8, 8, 3), np.uint8), np.zeros((8, 8, 3), np.float32)], "dtype"),
    (np.full((2, 8, 8, 3), 1.5, np.float32), r"\[0, 1\]"),
    (np.zeros((2, 8, 8, 5), np.uint8), r"\[H, W, 4\] RGBA"),
])
def test_bad_batches_are_refused_clearly(bad, message):
  with pytest.raises(ValueError, match=message):
    espcn_jax.upscale(_params(), bad)


def test_every_public_function_is_fully_annotated_and_the_package_is_typed():
  for name in espcn_jax.__all__:
    obj = getattr(espcn_jax, name)
    if inspect.isclass(obj):
      continue
    sig = inspect.signature(obj)
    missing = [p.name for p in sig.parameters.values()
               if p.annotation is inspect.Parameter.empty]
    assert not missing, f"espcn_jax.{name}: parameters without a type hint: {missing}"
    assert sig.return_annotation is not inspect.Signature.empty, f"espcn_jax.{name}: no return type"
    typing.get_type_hints(obj)             # every name in the hints resolves
  assert (REPO / "espcn_jax" / "py.typed").is_file()
