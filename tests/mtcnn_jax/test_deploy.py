"""Tests of mtcnn_jax.deploy: P/R/O-Net as ONNX (onnxruntime, OpenCV dnn) and jax.export."""
from __future__ import annotations

import json
import math
import pathlib

import jax
import numpy as np
import pytest
from PIL import Image

import mtcnn_jax
from espcn_mtcnn_common import deploy_files, onnx_build
from mtcnn_jax import deploy, nets
from mtcnn_jax.cascade import DetectorConfig, canvas_shape
from mtcnn_jax.demo_faces import sample_faces
from mtcnn_jax.params import NET_NAMES, load_params

# The export extra (pip install -e ".[export]"); CI installs it.
for _module in ("onnx", "onnxruntime", "flatbuffers"):
  pytest.importorskip(_module, reason='the export extra is missing: pip install -e ".[export]"')

import onnx  # noqa: E402  (after the check above)

GOLDEN = pathlib.Path(__file__).resolve().parents[1] / "data" / "mtcnn_golden.npz"
WEIGHTS = ("published", "wider600")


@pytest.fixture(scope="module")
def onnx_models():
  """``{(weights, net): serialised ONNX}`` for both shipped weight sets."""
  return {(w, n): deploy.net_onnx(n, load_params(w)[n]) for w in WEIGHTS for n in NET_NAMES}


def _pixels(shape, seed=0) -> np.ndarray:
  return np.random.default_rng(seed).integers(0, 256, shape).astype(np.float32)


def _flax(name, params, image_nhwc):
  net = nets.NETS[name]()
  out = jax.jit(lambda p, x: net.apply({"params": p}, (x - 127.5) * 0.0078125))(params, image_nhwc)
  return [np.asarray(o) for o in out]


def _inputs(name):
  """NHWC pixels: P-Net on odd and even sizes (ceil-mode pooling), R-/O-Net a batch of 7."""
  if name == "pnet":
    return [_pixels((1, 37, 53, 3)), _pixels((2, 12, 13, 3), 1), _pixels((1, 64, 48, 3), 2)]
  size = nets.INPUT_SIZES[name]
  return [_pixels((7, size, size, 3))]


@pytest.mark.parametrize("weights", WEIGHTS)
@pytest.mark.parametrize("name", NET_NAMES)
def test_onnx_nets_match_flax_in_onnxruntime_and_opencv(onnx_models, weights, name):
  model, params = onnx_models[weights, name], load_params(weights)[name]
  outputs = deploy.ONNX_OUTPUTS[name]
  for image in _inputs(name):
    want = _flax(name, params, image)
    if name == "pnet":
      want[1] = want[1].transpose(0, 3, 1, 2)              # offsets NHWC -> NCHW
    nchw = np.ascontiguousarray(image.transpose(0, 3, 1, 2))
    ort_out = onnx_build.run_onnxruntime(model, {"image": nchw})
    cv_out = onnx_build.run_opencv(model, nchw, outputs)
    for key, w in zip(outputs, want):
      assert ort_out[key].shape == w.shape, key
      np.testing.assert_allclose(ort_out[key], w, rtol=0, atol=1e-5, err_msg=key)
      # OpenCV gives 1-D outputs as [N, 1].
      np.testing.assert_allclose(cv_out[key].reshape(w.shape), w, rtol=0, atol=1e-5, err_msg=key)


def test_onnx_nets_reproduce_facenet_pytorch_golden_outputs(onnx_models):
  # tests/data/mtcnn_golden.npz: facenet-pytorch's nets on normalised inputs;
  # the ONNX nets take the pixels, (x / 0.0078125 + 127.5) (exact in float32).
  with np.load(GOLDEN) as golden:
    for name in NET_NAMES:
      pixels = golden[f"{name}_input"] / np.float32(0.0078125) + np.float32(127.5)
      out = onnx_build.run_onnxruntime(onnx_models["published", name],
                                       {"image": pixels.transpose(0, 3, 1, 2)})
      box = out["offsets"].transpose(0, 2, 3, 1) if name == "pnet" else out["offsets"]
      np.testing.assert_allclose(out["prob"], golden[f"{name}_prob"], atol=1e-5)
      np.testing.assert_allclose(box, golden[f"{name}_box"], atol=1e-5)
      if name == "onet":
        np.testing.assert_allclose(out["landmarks"], golden["onet_landmarks"], atol=1e-5)


@pytest.mark.parametrize("height", [12, 13, 14, 37])
def test_pnet_onnx_pools_with_caffe_ceil_mode(onnx_models, height):
  out = onnx_build.run_onnxruntime(onnx_models["published", "pnet"],
                                   {"image": _pixels((1, 3, height, 12))})
  assert out["prob"].shape == (1, math.ceil((height - 2) / 2) - 4, 1)


def test_onnx_graphs_normalise_inside_and_flatten_in_whc_order(onnx_models):
  for name in NET_NAMES:
    graph = onnx.load_from_string(onnx_models["published", name])
    ops = [n.op_type for n in graph.graph.node]
    assert ops[:2] == ["Sub", "Mul"] and [o.version for o in graph.opset_import] == [13]
    pools = [n for n in graph.graph.node if n.op_type == "MaxPool"]
    assert pools and all(a.i == 1 for n in pools for a in n.attribute if a.name == "ceil_mode")
    if name != "pnet":
      perm = next(n for n in graph.graph.node if n.op_type == "Transpose").attribute[0].ints
      assert list(perm) == [0, 3, 2, 1]                # (N, C, H, W) -> (N, W, H, C)
      dims = [d.dim_param or d.dim_value for d in graph.graph.input[0].type.tensor_type.shape.dim]
      assert dims == ["batch", 3, nets.INPUT_SIZES[name], nets.INPUT_SIZES[name]]


def test_net_onnx_refuses_params_of_another_net():
  with pytest.raises(ValueError, match="not an R-Net"):
    deploy.net_onnx("rnet", load_params()["onet"])


@pytest.mark.parametrize("name", NET_NAMES)
def test_jax_nets_round_trip_with_symbolic_batch(name):
  params = load_params("wider600")[name]
  program = jax.export.deserialize(bytearray(deploy_files.serialize_exported(
      deploy.export_net_jax(name, params))))
  in_process = jax.jit(deploy._net_function(name, params, "cpu_tuned"))
  shapes = ([(1, 37, 53, 3), (2, 20, 16, 3)] if name == "pnet"
            else [(3, nets.INPUT_SIZES[name], nets.INPUT_SIZES[name], 3),
                  (8, nets.INPUT_SIZES[name], nets.INPUT_SIZES[name], 3)])
  for shape in shapes:
    image = _pixels(shape)
    got = program.call(image)
    for g, same in zip(got, in_process(image)):
      np.testing.assert_array_equal(np.asarray(g), np.asarray(same))    # the same program
  # The Flax net with params as arguments: XLA compiles the dense layers
  # differently than with baked-in constants (float rounding, up to 1.3e-6).
  for g, flax in zip(got, _flax(name, params, image)):
    np.testing.assert_allclose(np.asarray(g), flax, rtol=0, atol=2e-6)


def _face_canvas(canvas: tuple[int, int]) -> tuple[np.ndarray, int, int]:
  """The portrait's face (with a margin) shrunk to 50x58 px in the top-left of ``canvas``."""
  face = sample_faces()[0][1][98:360, 148:378]       # HOPPER_BOX plus 30 px
  small = np.asarray(Image.fromarray(face).resize((50, 58), Image.Resampling.BILINEAR))
  image = np.zeros((*canvas, 3), np.float32)
  image[:58, :50] = small
  return image, 58, 50


def test_cascade_round_trip_equals_the_in_process_cascade():
  # A 64x56 canvas and min_face_size 48 give one pyramid level: the cascade
  # compiles twice here (artefact, in process), so it is kept small.
  params, canvas = load_params("published"), (64, 56)
  config = DetectorConfig(min_face_size=48.0)
  program = jax.export.deserialize(bytearray(deploy_files.serialize_exported(
      deploy.export_cascade_jax(params, canvas, config=config))))
  assert [str(a.shape) for a in program.in_avals] == ["(64, 56, 3)", "()", "()", "(3,)"]
  image, height, width = _face_canvas(canvas)
  args = (image, np.int32(height), np.int32(width), np.float32([0.6, 0.7, 0.7]))
  got = program.call(*args)
  want = jax.jit(deploy._cascade_function(params, deploy._cascade_config(config, ("cpu",))))(*args)
  assert len(got) == len(deploy.CASCADE_OUTPUTS) == 5
  assert int(np.sum(got[3])) == 1                                 # the face is found
  for g, w in zip(got, want):
    np.testing.assert_array_equal(np.asarray(g), np.asarray(w))


@pytest.mark.slow
def test_cascade_for_detects_canvas_gives_detects_faces():
  """Exported for the collage's canvas (512x640), the cascade finds ``detect``'s faces
  (weights baked in as constants: float rounding only)."""
  params = load_params("published")
  image = sample_faces()[1][1]
  canvas = canvas_shape(*image.shape[:2])
  program = jax.export.deserialize(bytearray(deploy_files.serialize_exported(
      deploy.export_cascade_jax(params, canvas))))
  padded = np.zeros((*canvas, 3), np.float32)
  padded[:image.shape[0], :image.shape[1]] = image
  boxes, scores, landmarks, valid, _ = (np.asarray(a) for a in program.call(
      padded, np.int32(image.shape[0]), np.int32(image.shape[1]), np.float32([0.6, 0.7, 0.7])))
  want = mtcnn_jax.detect(image, params=params)
  assert valid.sum() == len(want) == 6
  np.testing.assert_allclose(boxes[valid], want.boxes, atol=1e-3)
  np.testing.assert_allclose(landmarks[valid], want.landmarks, atol=1e-3)
  np.testing.assert_allclose(scores[valid], want.scores, atol=1e-5)


@pytest.mark.slow
def test_verify_cascade_on_the_portrait():
  params = load_params("wider600")
  data = deploy_files.serialize_exported(deploy.export_cascade_jax(params, (96, 80)))
  assert deploy.verify_cascade(data, params, (96, 80)) == {"jax_roundtrip": 0.0, "faces_found": 1}


def test_export_nets_writes_onnx_and_cards(tmp_path):
  paths = deploy.export_nets(load_params("wider600"), fmt="onnx", out_dir=tmp_path,
                             weights="wider600", command="python export.py mtcnn")
  assert [p.name for p in paths] == [f"mtcnn_wider600_{n}.onnx" for n in NET_NAMES]
  card = json.loads(deploy_files.card_path(paths[2]).read_text())
  assert card["input"]["layout"] == "NCHW" and card["input"]["colour"] == "RGB"
  assert "inside the model" in card["input"]["normalisation"]
  assert card["results"]["detector"] == "mtcnn_wider600"
  assert card["results"]["figures"]["ap"] == pytest.approx(0.7648, abs=1e-4)
  assert max(card["verification"].values()) <= 1e-5


def test_protocol_figures_of_the_published_weights():
  figures = deploy.protocol_figures("published")
  assert figures["detector"] == "mtcnn"
  assert figures["figures"]["ap"] == pytest.approx(0.8750, abs=1e-4)
  assert deploy.protocol_figures("/nonexistent/folder") == {}


@pytest.mark.parametrize("text, want", [("480x640", (480, 640)), ("512X384", (512, 384))])
def test_parse_canvas(text, want):
  assert deploy.parse_canvas(text) == want


@pytest.mark.parametrize("text", ["480", "480x", "ax640", "11x640", "480x640x3", "-1x5"])
def test_parse_canvas_refuses_bad_sizes(text):
  with pytest.raises(ValueError, match="canvas"):
    deploy.parse_canvas(text)


def test_weights_label(tmp_path):
  assert deploy.weights_label("published") == "published"
  assert deploy.weights_label("wider600") == "wider600"
  assert deploy.weights_label(tmp_path / "runs_a" / "params") == "runs_a"
  assert deploy.weights_label(tmp_path / "mine") == "mine"
