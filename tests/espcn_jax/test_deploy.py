"""Tests of espcn_jax.deploy: ONNX in onnxruntime and OpenCV dnn, jax.export round trips, cards."""
from __future__ import annotations

import json
import subprocess
import sys

import jax
import numpy as np
import pytest

from espcn_jax import deploy, pretrained
from espcn_jax.model import ESPCN, spec_from_params
from espcn_mtcnn_common import deploy_files, onnx_build

# The export extra (pip install -e ".[export]"); CI installs it.
for _module in ("onnx", "onnxruntime", "flatbuffers"):
  pytest.importorskip(_module, reason='the export extra is missing: pip install -e ".[export]"')

import onnx  # noqa: E402  (after the check above)

SHIPPED = pretrained.available()


def _load(stem: str):
  scale, kind = stem.split("_")[1:3]
  return pretrained.load_pretrained(int(scale[1:]), 3 if kind == "rgb" else 1)


def _apply(params, card, lr_nhwc):
  spec = spec_from_params(params)
  model = ESPCN(scale=spec["scale"], channels=spec["channels"], activation=card["activation"],
                centre=card["centre"])
  return np.asarray(jax.jit(lambda p, x: model.apply({"params": p}, x))(params, lr_nhwc))


@pytest.fixture(scope="module")
def x3():
  params, card = pretrained.load_pretrained(3)
  return params, card, deploy.espcn_onnx(params, activation=card["activation"],
                                         centre=card["centre"])


@pytest.mark.parametrize("stem", SHIPPED)
def test_onnx_matches_jax_in_onnxruntime_and_opencv(stem):
  params, card = _load(stem)
  model = deploy.espcn_onnx(params, activation=card["activation"], centre=card["centre"])
  channels, scale = card["channels"], card["scale"]
  lr = np.random.default_rng(1).random((2, 19, 26, channels), np.float32)
  want = _apply(params, card, lr).transpose(0, 3, 1, 2)
  nchw = np.ascontiguousarray(lr.transpose(0, 3, 1, 2))
  ort_out = onnx_build.run_onnxruntime(model, {"lr": nchw})["sr"]
  cv_out = onnx_build.run_opencv(model, nchw, ["sr"])["sr"]
  assert ort_out.shape == want.shape == (2, channels, 19 * scale, 26 * scale)
  np.testing.assert_allclose(ort_out, want, rtol=0, atol=1e-5)
  np.testing.assert_allclose(cv_out, want, rtol=0, atol=1e-5)


def test_one_onnx_model_serves_every_size(x3):
  params, card, model = x3
  session = onnx_build.onnxruntime_session(model)
  for shape in [(1, 1, 7, 9), (3, 1, 40, 17)]:
    lr = np.random.default_rng(2).random(shape, np.float32)
    out = session.run(["sr"], {"lr": lr})[0]
    want = _apply(params, card, lr.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)
    np.testing.assert_allclose(out, want, rtol=0, atol=1e-5)


def test_opencv_winograd_default_stays_close(x3):
  # OpenCV's default Winograd 3x3 convolutions round differently (documented 1.2e-5).
  params, card, model = x3
  lr = np.random.default_rng(3).random((1, 1, 23, 31), np.float32)
  out = onnx_build.run_opencv(model, lr, ["sr"], winograd=True)["sr"]
  want = _apply(params, card, lr.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)
  np.testing.assert_allclose(out, want, rtol=0, atol=5e-5)


def test_onnx_graph_is_opset_13_with_dynamic_axes_and_metadata(x3):
  graph = onnx.load_from_string(x3[2])
  assert [o.version for o in graph.opset_import] == [onnx_build.OPSET] == [13]
  dims = [d.dim_param or d.dim_value for d in graph.graph.input[0].type.tensor_type.shape.dim]
  assert dims == ["batch", 1, "height", "width"]
  assert {p.key: p.value for p in graph.metadata_props}["scale"] == "3"
  assert [n.op_type for n in graph.graph.node] == [
      "Sub", "Conv", "Tanh", "Conv", "Tanh", "Conv", "DepthToSpace", "Add"]


def test_relu_models_export_and_bad_activations_are_refused(x3):
  params, card, _ = x3
  model = deploy.espcn_onnx(params, activation="relu", centre=0.0)
  lr = np.random.default_rng(4).random((1, 1, 9, 11), np.float32)
  out = onnx_build.run_onnxruntime(model, {"lr": lr})["sr"]
  want = _apply(params, {"activation": "relu", "centre": 0.0}, lr.transpose(0, 2, 3, 1))
  np.testing.assert_allclose(out, want.transpose(0, 3, 1, 2), rtol=0, atol=1e-5)
  with pytest.raises(ValueError, match="activation must be one of"):
    deploy.espcn_onnx(params, activation="gelu")


@pytest.mark.parametrize("stem", SHIPPED)
def test_jax_export_round_trip_with_symbolic_sizes(stem):
  params, card = _load(stem)
  exported = deploy.export_jax(params, activation=card["activation"], centre=card["centre"])
  program = jax.export.deserialize(bytearray(deploy_files.serialize_exported(exported)))
  assert str(program.in_avals[0].shape) == f"(b, h, w, {card['channels']})"
  for shape in [(1, 13, 21), (2, 8, 5)]:        # one artefact, any batch and size
    lr = np.random.default_rng(5).random((*shape, card["channels"]), np.float32)
    got, want = np.asarray(program.call(lr)), _apply(params, card, lr)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-6)


def test_export_model_writes_artefacts_and_cards(tmp_path, x3):
  params, card, _ = x3
  onnx_path = deploy.export_model(params, card, fmt="onnx", out_dir=tmp_path, name="espcn_x3_y",
                                  command="python export.py espcn", source="shipped")
  jax_path = deploy.export_model(params, card, fmt="jax", out_dir=tmp_path, name="espcn_x3_y",
                                 command="python export.py espcn --format=jax")
  assert sorted(p.name for p in tmp_path.iterdir()) == [
      "espcn_x3_y.jaxexport", "espcn_x3_y.jaxexport.json", "espcn_x3_y.onnx",
      "espcn_x3_y.onnx.json"]
  onnx_card = json.loads(deploy_files.card_path(onnx_path).read_text())
  assert onnx_card["input"]["layout"] == "NCHW" and onnx_card["opset"] == 13
  assert onnx_card["results"]["Set5"]["psnr"] == card["results"]["Set5"]["psnr"]
  assert onnx_card["command"] == "python export.py espcn"
  assert max(onnx_card["verification"].values()) <= 1e-5
  jax_card = json.loads(deploy_files.card_path(jax_path).read_text())
  assert jax_card["input"]["layout"] == "NHWC" and jax_card["platforms"] == ["cpu"]
  assert jax_card["verification"] == {"jax_roundtrip": 0.0}
  assert deploy_files.load_exported(jax_path).out_avals[0].shape[0] is not None


def test_multi_platform_artefact_lowers_for_every_platform(x3):
  params, card, _ = x3
  exported = deploy.export_jax(params, activation=card["activation"], centre=card["centre"],
                               platforms=("cpu", "cuda", "tpu"))
  program = jax.export.deserialize(bytearray(deploy_files.serialize_exported(exported)))
  assert program.platforms == ("cpu", "cuda", "tpu")
  lr = np.zeros((1, 6, 7, 1), np.float32)
  np.testing.assert_allclose(np.asarray(program.call(lr)), _apply(params, card, lr), atol=1e-6)


_JAX_ALONE = """
import importlib.abc, sys
class NoProject(importlib.abc.MetaPathFinder):
  def find_spec(self, name, path=None, target=None):
    if name.split(".")[0] in ("espcn_jax", "mtcnn_jax", "espcn_mtcnn_common"):
      raise ImportError("this repository's packages are blocked: " + name)
sys.meta_path.insert(0, NoProject())
import numpy as np
from jax import export
program = export.deserialize(bytearray(open(sys.argv[1], "rb").read()))
lr = np.random.default_rng(0).random((1, 10, 12, 1), np.float32)
np.save(sys.argv[2], np.asarray(program.call(lr)))
"""


def test_artefact_loads_with_jax_alone(tmp_path, x3):
  params, card, _ = x3
  path = deploy.export_model(params, card, fmt="jax", out_dir=tmp_path, name="m", command="",
                             verify=False)
  run = subprocess.run([sys.executable, "-c", _JAX_ALONE, str(path), str(tmp_path / "out.npy")],
                       cwd=tmp_path, capture_output=True, text=True, timeout=120)
  assert run.returncode == 0, run.stderr
  lr = np.random.default_rng(0).random((1, 10, 12, 1), np.float32)
  # 1e-5: the child compiles with XLA's full optimisations, these tests with most of them off.
  np.testing.assert_allclose(np.load(tmp_path / "out.npy"), _apply(params, card, lr), atol=1e-5)


def test_missing_optional_dependency_names_the_extra():
  with pytest.raises(ImportError, match=r'pip install -e "\.\[export\]"'):
    deploy_files.require_optional("no_such_module_for_export")
