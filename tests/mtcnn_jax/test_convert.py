"""Tests for mtcnn_jax.convert and mtcnn_jax.params."""
from __future__ import annotations

import importlib.util
import os
import pathlib
import sys

import jax
import numpy as np
import pytest

from mtcnn_jax import convert
from mtcnn_jax import params as params_lib

WHEEL_WEIGHTS = pathlib.Path(os.environ.get("MTCNN_WHEEL_WEIGHTS",
                                            "/tmp/mtcnnwheel/x/mtcnn/assets/weights"))

# Where each Keras get_weights() entry must land, written out by hand (not
# taken from convert.KERAS_LAYOUTS, which is what is under test).
_P = [("conv1", "kernel", (3, 3, 3, 10)), ("conv1", "bias", (10,)), ("prelu1", "alpha", (1, 1, 10)),
      ("conv2", "kernel", (3, 3, 10, 16)), ("conv2", "bias", (16,)), ("prelu2", "alpha", (1, 1, 16)),
      ("conv3", "kernel", (3, 3, 16, 32)), ("conv3", "bias", (32,)), ("prelu3", "alpha", (1, 1, 32)),
      ("box", "kernel", (1, 1, 32, 4)), ("box", "bias", (4,)),
      ("face", "kernel", (1, 1, 32, 2)), ("face", "bias", (2,))]
_R = [("conv1", "kernel", (3, 3, 3, 28)), ("conv1", "bias", (28,)), ("prelu1", "alpha", (1, 1, 28)),
      ("conv2", "kernel", (3, 3, 28, 48)), ("conv2", "bias", (48,)), ("prelu2", "alpha", (1, 1, 48)),
      ("conv3", "kernel", (2, 2, 48, 64)), ("conv3", "bias", (64,)), ("prelu3", "alpha", (1, 1, 64)),
      ("fc4", "kernel", (576, 128)), ("fc4", "bias", (128,)), ("prelu4", "alpha", (128,)),
      ("box", "kernel", (128, 4)), ("box", "bias", (4,)),
      ("face", "kernel", (128, 2)), ("face", "bias", (2,))]
_O = [("conv1", "kernel", (3, 3, 3, 32)), ("conv1", "bias", (32,)), ("prelu1", "alpha", (1, 1, 32)),
      ("conv2", "kernel", (3, 3, 32, 64)), ("conv2", "bias", (64,)), ("prelu2", "alpha", (1, 1, 64)),
      ("conv3", "kernel", (3, 3, 64, 64)), ("conv3", "bias", (64,)), ("prelu3", "alpha", (1, 1, 64)),
      ("conv4", "kernel", (2, 2, 64, 128)), ("conv4", "bias", (128,)), ("prelu4", "alpha", (1, 1, 128)),
      ("fc5", "kernel", (1152, 256)), ("fc5", "bias", (256,)), ("prelu5", "alpha", (256,)),
      ("box", "kernel", (256, 4)), ("box", "bias", (4,)),
      ("landmarks", "kernel", (256, 10)), ("landmarks", "bias", (10,)),
      ("face", "kernel", (256, 2)), ("face", "bias", (2,))]
KERAS_ORDER = {"pnet": _P, "rnet": _R, "onet": _O}


def _toy_arrays(name: str) -> list[np.ndarray]:
  """Made-up arrays in Keras order: array i holds i*1000 + 0, 1, 2, ... (mod 1000)."""
  return [(i * 1000 + np.arange(int(np.prod(shape))) % 1000).reshape(shape).astype(np.float64)
          for i, (_, _, shape) in enumerate(KERAS_ORDER[name])]


@pytest.mark.parametrize("name", ["pnet", "rnet", "onet"])
def test_each_keras_array_lands_in_place(name):
  arrays = _toy_arrays(name)
  out = convert.keras_lists_to_params(name, arrays)
  assert sorted(out) == sorted({layer for layer, _, _ in KERAS_ORDER[name]})
  for i, (layer, param, shape) in enumerate(KERAS_ORDER[name]):
    got = out[layer][param]
    assert got.dtype == np.float32
    if param == "alpha":                       # PReLU (1, 1, C) or (C,) -> (C,), same order
      assert got.shape == (shape[-1],)
      np.testing.assert_array_equal(got, arrays[i].reshape(-1))
    else:                                      # conv HWIO and dense (in, out): unchanged
      assert got.shape == shape
      np.testing.assert_array_equal(got, arrays[i])
    assert got.flat[0] == i * 1000             # array i, not a neighbour
  params_lib.check_params(name, out)           # fits the Flax module


def test_kernel_element_positions():
  out = convert.keras_lists_to_params("rnet", _toy_arrays("rnet"))
  k = out["conv1"]["kernel"]                   # Keras (kh, kw, cin, cout) = Flax HWIO
  assert k[1, 2, 0, 5] == 0 * 1000 + np.ravel_multi_index((1, 2, 0, 5), (3, 3, 3, 28)) % 1000
  d = out["fc4"]["kernel"]                     # Keras (in, out) = Flax Dense kernel
  assert d[3, 7] == 9 * 1000 + (3 * 128 + 7) % 1000


def test_count_error_is_clear():
  arrays = _toy_arrays("pnet")
  with pytest.raises(ValueError, match=r"pnet: expected 13 arrays .* got 12"):
    convert.keras_lists_to_params("pnet", arrays[:-1])


def test_shape_error_is_clear():
  arrays = _toy_arrays("rnet")
  arrays[9] = arrays[9].reshape(128, 576)      # dense given as (out, in)
  with pytest.raises(ValueError, match=r"array 9 \(fc4/kernel\) should have shape \(576, 128\), "
                                       r"got \(128, 576\)"):
    convert.keras_lists_to_params("rnet", arrays)
  with pytest.raises(ValueError, match="expected 21 arrays"):
    convert.keras_lists_to_params("onet", _toy_arrays("rnet"))


def test_unknown_net():
  with pytest.raises(ValueError, match="unknown net 'qnet'"):
    convert.keras_lists_to_params("qnet", [])


# ---------------------------------------------------------------- params.py

def test_shipped_params_load_and_check():
  params = params_lib.load_params()
  assert sorted(params) == ["onet", "pnet", "rnet"]
  for name in params_lib.NET_NAMES:
    params_lib.check_params(name, params[name])
    for leaf in params_lib.flatten_params(params[name]).values():
      assert leaf.dtype == np.float32 and np.all(np.isfinite(leaf))
  assert params["onet"]["fc5"]["kernel"].shape == (1152, 256)
  assert params["rnet"]["prelu4"]["alpha"].shape == (128,)


def test_load_params_is_cached_but_fresh():
  a, b = params_lib.load_params(), params_lib.load_params("published")
  assert a is not b and a["pnet"] is not b["pnet"]
  assert a["pnet"]["conv1"]["kernel"] is b["pnet"]["conv1"]["kernel"]


def test_a_first_load_under_a_trace_caches_concrete_arrays():
  params_lib.load_params.cache_clear()
  jax.eval_shape(lambda: params_lib.load_params()["pnet"]["conv1"]["bias"])
  bias = params_lib.load_params()["pnet"]["conv1"]["bias"]
  assert isinstance(bias, jax.Array) and not isinstance(bias, jax.core.Tracer)
  assert float(jax.jit(lambda: params_lib.load_params()["pnet"]["conv1"]["bias"].sum())()) == (
      pytest.approx(float(np.sum(bias))))


def test_save_load_round_trip_is_byte_identical(tmp_path):
  params = params_lib.load_params()
  written = params_lib.save_params(params, tmp_path)
  assert [p.name for p in written] == ["pnet.npz", "rnet.npz", "onet.npz"]
  for p in written:  # deterministic writer: same bytes as the shipped files
    assert p.read_bytes() == (params_lib.WEIGHTS_DIR / p.name).read_bytes()
  again = params_lib.load_params(tmp_path)
  for name in params_lib.NET_NAMES:
    for key, value in params_lib.flatten_params(params[name]).items():
      np.testing.assert_array_equal(params_lib.flatten_params(again[name])[key], value)


def test_check_params_refuses_wrong_net():
  params = params_lib.load_params()
  with pytest.raises(ValueError, match=r"checkpoint is not an O-Net: .*expected conv1/kernel "
                                       r"\(3, 3, 3, 32\) got \(3, 3, 3, 28\).*unexpected fc4/bias"):
    params_lib.check_params("onet", params["rnet"])
  with pytest.raises(ValueError, match=r"checkpoint is not an R-Net: .*missing fc4/bias, fc4/kernel"):
    params_lib.check_params("rnet", params["pnet"])
  with pytest.raises(ValueError, match="unknown net"):
    params_lib.check_params("xnet", params["pnet"])


def test_save_refuses_wrong_net(tmp_path):
  params = params_lib.load_params()
  with pytest.raises(ValueError, match="checkpoint is not an R-Net"):
    params_lib.save_params({"rnet": params["onet"]}, tmp_path)
  assert not list(tmp_path.iterdir())


def test_load_params_folder_errors(tmp_path):
  params = params_lib.load_params()
  params_lib.save_params({"pnet": params["pnet"], "rnet": params["rnet"]}, tmp_path)
  with pytest.raises(FileNotFoundError, match="lacks onet.npz"):
    params_lib.load_params(tmp_path)
  # An O-Net file that holds R-Net params.
  params_lib.write_npz(tmp_path / "onet.npz", params_lib.flatten_params(params["rnet"]))
  with pytest.raises(ValueError, match=r"onet\.npz: checkpoint is not an O-Net"):
    params_lib.load_params(tmp_path)


# ---------------------------------------------------------------- wheel access

def test_find_wheel_weights_absent(monkeypatch):
  monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
  with pytest.raises(FileNotFoundError, match="mtcnn package .* is not installed"):
    convert.find_wheel_weights()


def test_find_wheel_weights_does_not_import(tmp_path, monkeypatch):
  pkg = tmp_path / "mtcnn"
  (pkg / "assets" / "weights").mkdir(parents=True)
  (pkg / "__init__.py").write_text("raise RuntimeError('imported!')\n")
  for n in ("pnet", "rnet", "onet"):
    (pkg / "assets" / "weights" / f"{n}.lz4").write_bytes(b"")
  monkeypatch.syspath_prepend(str(tmp_path))
  monkeypatch.delitem(sys.modules, "mtcnn", raising=False)
  assert convert.find_wheel_weights() == pkg / "assets" / "weights"
  assert "mtcnn" not in sys.modules
  (pkg / "assets" / "weights" / "rnet.lz4").unlink()
  with pytest.raises(FileNotFoundError, match="lacks rnet.lz4"):
    convert.find_wheel_weights()


def test_cli_reports_missing_source(tmp_path, capsys):
  with pytest.raises(SystemExit) as e:
    convert._main(["--source", str(tmp_path), "--out", str(tmp_path / "out")])
  assert e.value.code == 1
  assert "pnet.lz4 not found" in capsys.readouterr().err


def test_read_lz4_weights_toy_file(tmp_path):
  joblib = pytest.importorskip("joblib")
  lz4_frame = pytest.importorskip("lz4.frame")
  arrays = [np.arange(6, dtype=np.float32).reshape(2, 3), np.ones((1, 1, 4), np.float32)]
  path = tmp_path / "toy.lz4"
  with lz4_frame.open(path, "wb") as f:
    joblib.dump(arrays, f)
  got = convert.read_lz4_weights(path)
  assert len(got) == 2
  for g, a in zip(got, arrays):
    np.testing.assert_array_equal(g, a)


def test_cli_reproduces_shipped_weights(tmp_path):
  """Maintenance check: needs lz4, joblib and an unpacked mtcnn 1.0.0 wheel."""
  pytest.importorskip("lz4.frame", reason="lz4 is a maintenance-only dependency")
  pytest.importorskip("joblib", reason="joblib is a maintenance-only dependency")
  if not all((WHEEL_WEIGHTS / f"{n}.lz4").is_file() for n in ("pnet", "rnet", "onet")):
    pytest.skip(f"no unpacked mtcnn wheel weights at {WHEEL_WEIGHTS} (set MTCNN_WHEEL_WEIGHTS)")
  for _ in range(2):  # re-runnable: the second run overwrites with the same bytes
    convert._main(["--source", str(WHEEL_WEIGHTS), "--out", str(tmp_path)])
    for n in ("pnet", "rnet", "onet"):
      assert (tmp_path / f"{n}.npz").read_bytes() == (params_lib.WEIGHTS_DIR / f"{n}.npz").read_bytes()
  assert sorted(p.name for p in tmp_path.iterdir()) == ["onet.npz", "pnet.npz", "rnet.npz"]
