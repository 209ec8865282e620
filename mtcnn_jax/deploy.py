"""MTCNN outside Python-JAX: P-, R- and O-Net as ONNX graphs and serialised JAX programs.

(Not :mod:`mtcnn_jax.export`, which ships a trained cascade *into* this package.)

Every artefact takes **RGB float32 in [0, 255]**: the normalisation
``(x - 127.5) * 0.0078125`` is inside, so a deployer feeds pixels as they are.
The face probability is the softmax's index 1, computed inside too.

* ONNX (opset 13, :func:`net_onnx`), NCHW like ONNX and OpenCV:

  - ``pnet``: ``image [batch, 3, height, width]`` (any size >= 12) ->
    ``prob [batch, rows, cols]``, ``offsets [batch, 4, rows, cols]`` with
    ``rows = ceil((height - 2) / 2) - 4``;
  - ``rnet``: ``image [batch, 3, 24, 24]`` -> ``prob [batch]``, ``offsets [batch, 4]``;
  - ``onet``: ``image [batch, 3, 48, 48]`` -> ``prob [batch]``, ``offsets [batch, 4]``,
    ``landmarks [batch, 10]`` (x1..x5 then y1..y5, relative to the box).

  Max pooling is ``MaxPool`` with ``ceil_mode=1`` (Caffe's rounding up, as
  :func:`mtcnn_jax.nets.max_pool_ceil`); PReLU has one slope per channel; R-
  and O-Net transpose their last map to (N, W, H, C) before flattening, as
  :func:`mtcnn_jax.nets.flatten_whc` does, so the dense weights are used
  unchanged. onnxruntime and OpenCV's ``cv2.dnn.readNetFromONNX`` run them.
* JAX (``jax.export``, StableHLO), NHWC like the Flax nets: each net alone
  (:func:`export_net_jax`; P-Net with symbolic batch, height and width, R- and
  O-Net with a symbolic batch; outputs as the Flax nets return them) and the
  whole cascade for one canvas (:func:`export_cascade_jax`): ``(image [H, W,
  3] float32 in [0, 255] with the picture in the top-left, height int32,
  width int32, thresholds float32 [3])`` -> the tuple ``(boxes [K, 4], scores
  [K], landmarks [K, 5, 2], valid [K], overflow [])`` of
  :class:`mtcnn_jax.cascade.Detections`, flattened to a plain tuple so that
  loading needs JAX alone (no namedtuple registration).

The host loop around the three ONNX nets (pyramid, NMS, calibration, crops)
is ``examples/mtcnn_onnxruntime.py``; ``docs/deploy.md`` lists its
conventions. ``python export.py mtcnn`` is the command line.
"""
from __future__ import annotations

import dataclasses
import json
import os
import pathlib
from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from PIL import Image

from espcn_mtcnn_common import deploy_files, onnx_build
from espcn_mtcnn_common.conv_impl import resolve_conv_impl
from espcn_mtcnn_common.demo_photo import grace_hopper
from mtcnn_jax import cascade, nets
from mtcnn_jax import params as params_lib

__all__ = ["NORM_MEAN", "NORM_SCALE", "ONNX_INPUT", "ONNX_OUTPUTS", "CASCADE_OUTPUTS",
           "net_onnx", "export_net_jax", "export_cascade_jax", "verify_onnx", "verify_jax_net",
           "verify_cascade", "weights_label", "protocol_figures", "model_card", "export_nets",
           "export_cascade", "parse_canvas"]

NORM_MEAN = 127.5
NORM_SCALE = 0.0078125
ONNX_INPUT = "image"
ONNX_OUTPUTS: dict[str, tuple[str, ...]] = {
    "pnet": ("prob", "offsets"), "rnet": ("prob", "offsets"),
    "onet": ("prob", "offsets", "landmarks")}
"""Each net's ONNX output names, in the order the Flax net returns them."""
CASCADE_OUTPUTS = cascade.Detections._fields
# Verification inputs (fixed seed): P-Net on odd sizes (partial ceil-mode
# windows), R-Net and O-Net on batches of 5.
_CHECK_PNET_SHAPE = (2, 37, 53)
_CHECK_BATCH = 5


def _normalise(x):
  return (x - NORM_MEAN) * NORM_SCALE


def _face_prob(graph: onnx_build.GraphBuilder, logits: str, output: str) -> str:
  """Softmax over the class axis (1), index 1 (face): ``[N, 2, ...] -> [N, ...]``."""
  soft = graph.op("Softmax", [logits], axis=1)
  return graph.op("Gather", [soft, graph.constant(np.array(1, np.int64), "face_index")], output,
                  axis=1)


def _normalised_input(graph: onnx_build.GraphBuilder) -> str:
  mean = graph.constant(np.array(NORM_MEAN, np.float32), "mean")
  scale = graph.constant(np.array(NORM_SCALE, np.float32), "scale")
  return graph.op("Mul", [graph.op("Sub", [ONNX_INPUT, mean]), scale])


def _conv_prelu(graph, x: str, params, i: int) -> str:
  """``conv{i}`` ('VALID') then ``prelu{i}``, NCHW."""
  x = graph.conv(x, params[f"conv{i}"]["kernel"], params[f"conv{i}"]["bias"], stem=f"conv{i}")
  return graph.prelu(x, params[f"prelu{i}"]["alpha"], spatial=True, stem=f"prelu{i}")


def _max_pool(graph, x: str, window: int, stride: int) -> str:
  """Caffe's max pooling: the output size rounds up (``ceil_mode=1``, no padding)."""
  return graph.op("MaxPool", [x], kernel_shape=[window, window], strides=[stride, stride],
                  ceil_mode=1)


def _pnet_graph(graph, params) -> None:
  """P-Net (see :class:`mtcnn_jax.nets.PNet`), NCHW."""
  x = _max_pool(graph, _conv_prelu(graph, _normalised_input(graph), params, 1), 2, 2)
  x = _conv_prelu(graph, _conv_prelu(graph, x, params, 2), params, 3)
  graph.conv(x, params["box"]["kernel"], params["box"]["bias"], stem="box", output="offsets")
  face = graph.conv(x, params["face"]["kernel"], params["face"]["bias"], stem="face")
  _face_prob(graph, face, "prob")


def _crop_net_graph(graph, params, name: str) -> None:
  """R-Net or O-Net (see :class:`mtcnn_jax.nets.RNet` / ``ONet``), NCHW."""
  pools = {"rnet": ((3, 2), (3, 2), None), "onet": ((3, 2), (3, 2), (2, 2), None)}[name]
  x = _normalised_input(graph)
  for i, pool in enumerate(pools, start=1):
    x = _conv_prelu(graph, x, params, i)
    if pool:
      x = _max_pool(graph, x, *pool)
  # (N, C, H, W) -> (N, W, H, C), then flatten: flatten_whc's order.
  x = graph.op("Flatten", [graph.op("Transpose", [x], perm=[0, 3, 2, 1])], axis=1)
  fc = "fc4" if name == "rnet" else "fc5"
  x = graph.dense(x, params[fc]["kernel"], params[fc]["bias"], stem=fc)
  x = graph.prelu(x, params[f"prelu{len(pools) + 1}"]["alpha"], spatial=False, stem="prelu_fc")
  graph.dense(x, params["box"]["kernel"], params["box"]["bias"], stem="box", output="offsets")
  if name == "onet":
    graph.dense(x, params["landmarks"]["kernel"], params["landmarks"]["bias"], stem="landmarks",
                output="landmarks")
  _face_prob(graph, graph.dense(x, params["face"]["kernel"], params["face"]["bias"],
                                stem="face"), "prob")


def _onnx_shapes(name: str) -> tuple[dict, dict]:
  """Input and output shapes of a net's graph (strings name dynamic axes)."""
  if name == "pnet":
    return ({ONNX_INPUT: ["batch", 3, "height", "width"]},
            {"prob": ["batch", "rows", "cols"], "offsets": ["batch", 4, "rows", "cols"]})
  size = nets.INPUT_SIZES[name]
  outputs = {"prob": ["batch"], "offsets": ["batch", 4]}
  if name == "onet":
    outputs["landmarks"] = ["batch", 10]
  return {ONNX_INPUT: ["batch", 3, size, size]}, outputs


def net_onnx(name: str, params) -> bytes:
  """One net as a serialised ONNX model (NCHW RGB in [0, 255]; see the module docstring).

  Args:
    name: ``"pnet"``, ``"rnet"`` or ``"onet"``.
    params: that net's params (checked with :func:`mtcnn_jax.params.check_params`).

  Returns:
    The model's bytes; outputs named as in :data:`ONNX_OUTPUTS`.
  """
  params_lib.check_params(name, params)
  graph = onnx_build.GraphBuilder(name)
  if name == "pnet":
    _pnet_graph(graph, params)
  else:
    _crop_net_graph(graph, params, name)
  inputs, outputs = _onnx_shapes(name)
  return graph.to_bytes(
      inputs, outputs,
      doc=f"MTCNN {params_lib.net_title(name)}: image float32 NCHW RGB in [0, 255] "
          "(normalised inside as (x - 127.5) * 0.0078125); prob = softmax index 1",
      metadata={"net": name, "layout": "NCHW", "colour": "RGB", "value_range": "[0, 255]"})


def _resolve_for(platforms: Sequence[str], conv_impl: str) -> str:
  """``conv_impl`` for an artefact: ``"auto"`` -> the CPU-tuned forms when every
  platform is ``cpu``, else plain XLA convolutions (see :mod:`mtcnn_jax.nets`)."""
  if conv_impl == "auto":
    return "cpu_tuned" if all(p == "cpu" for p in platforms) else "xla"
  return resolve_conv_impl(conv_impl)


def _net_function(name: str, params, conv_impl: str):
  """``image -> net outputs`` with ``params`` baked in as constants and the
  normalisation inside (what :func:`export_net_jax` exports)."""
  params_lib.check_params(name, params)
  net = nets.NETS[name](conv_impl=conv_impl)
  constants = jax.tree.map(lambda a: jnp.asarray(a, jnp.float32), params)

  def forward(image):
    return net.apply({"params": constants}, _normalise(image))
  return forward


def export_net_jax(name: str, params, *, platforms: Sequence[str] = ("cpu",),
                   conv_impl: str = "auto") -> jax.export.Exported:
  """One net with its params baked in, normalisation included, as ``jax.export``.

  Args:
    name: ``"pnet"`` (symbolic batch, height and width, each side >= 12),
      ``"rnet"`` or ``"onet"`` (symbolic batch).
    params: that net's params.
    platforms: lowering platforms, e.g. ``("cpu",)`` or ``("cpu", "cuda", "tpu")``.
    conv_impl: the nets' convolution forms (``"auto"``: see :func:`_resolve_for`).

  Returns:
    ``Exported``: float32 NHWC RGB in [0, 255] -> the Flax net's outputs
    (P-Net ``(prob [b, rows, cols], offsets [b, rows, cols, 4])``; R-Net
    ``(prob [b], offsets [b, 4])``; O-Net adds ``landmarks [b, 10]``). With the
    weights as constants XLA may compile the dense layers differently from
    ``net.apply`` with params as arguments: outputs differ by up to 1.3e-6
    (O-Net, wider600), float rounding.
  """
  forward = _net_function(name, params, _resolve_for(platforms, conv_impl))
  if name == "pnet":
    b, h, w = jax.export.symbolic_shape("b, h, w", constraints=("h >= 12", "w >= 12"))
    spec = jax.ShapeDtypeStruct((b, h, w, 3), jnp.float32)
  else:
    size = nets.INPUT_SIZES[name]
    spec = jax.ShapeDtypeStruct((*jax.export.symbolic_shape("b"), size, size, 3), jnp.float32)
  return jax.export.export(jax.jit(forward), platforms=tuple(platforms))(spec)


def _cascade_config(config: cascade.DetectorConfig, platforms: Sequence[str]):
  """``config`` checked, with the thresholds blanked (they are an input) and
  ``conv_impl`` resolved for ``platforms``."""
  cascade.check_config(config)
  config = dataclasses.replace(config, conv_impl=_resolve_for(platforms, config.conv_impl))
  return dataclasses.replace(config, thresholds=None)


def _cascade_function(params, config: cascade.DetectorConfig):
  """``(image, height, width, thresholds) -> tuple(Detections)`` with ``params`` baked in."""
  constants = jax.tree.map(lambda a: jnp.asarray(a, jnp.float32), params)

  def core(image, height, width, thresholds):
    run = dataclasses.replace(config, thresholds=thresholds)
    return tuple(cascade.detect_padded(constants, image, height, width, run))
  return core


def export_cascade_jax(params, canvas: tuple[int, int], *,
                       config: cascade.DetectorConfig = cascade.DetectorConfig(),
                       platforms: Sequence[str] = ("cpu",)) -> jax.export.Exported:
  """The whole cascade (:func:`mtcnn_jax.detect_padded`) for one canvas, as ``jax.export``.

  Args:
    params: ``{"pnet", "rnet", "onet"}``.
    canvas: ``(H, W)``; images up to that size go in its top-left corner.
      ``mtcnn_jax.detect`` uses :func:`mtcnn_jax.cascade.canvas_shape` (sides
      rounded up to 128): with that canvas the results are ``detect``'s (the
      pyramid's scales are computed from the canvas).
    config: the cascade's static settings (budgets, NMS, resize); its
      thresholds are not baked in but an input.
    platforms: lowering platforms.

  Returns:
    ``Exported``: ``(image float32 [H, W, 3] RGB in [0, 255], height int32 [],
    width int32 [], thresholds float32 [3])`` -> ``(boxes [K, 4], scores [K],
    landmarks [K, 5, 2], valid [K], overflow [])`` (:data:`CASCADE_OUTPUTS`),
    ``K = config.max_faces``; boxes continuous ``[x1, y1, x2, y2)``.
  """
  height, width = canvas
  core = _cascade_function(params, _cascade_config(config, platforms))
  specs = (jax.ShapeDtypeStruct((height, width, 3), jnp.float32),
           jax.ShapeDtypeStruct((), jnp.int32), jax.ShapeDtypeStruct((), jnp.int32),
           jax.ShapeDtypeStruct((3,), jnp.float32))
  return jax.export.export(jax.jit(core), platforms=tuple(platforms))(*specs)


def _check_inputs(name: str) -> np.ndarray:
  """Fixed random NHWC RGB in [0, 255] (integer values) for verifying ``name``."""
  shape = ((*_CHECK_PNET_SHAPE, 3) if name == "pnet"
           else (_CHECK_BATCH, nets.INPUT_SIZES[name], nets.INPUT_SIZES[name], 3))
  return np.random.default_rng(0).integers(0, 256, shape).astype(np.float32)


def _reference_net(name: str, params, image_nhwc: np.ndarray) -> tuple[np.ndarray, ...]:
  """The in-process Flax net on raw RGB ``image_nhwc`` (normalised here), outputs as NumPy."""
  net = nets.NETS[name]()
  out = jax.jit(lambda p, x: net.apply({"params": p}, _normalise(x)))(params, image_nhwc)
  return tuple(np.asarray(o) for o in out)


def _to_nchw_outputs(name: str, outputs: tuple[np.ndarray, ...]) -> tuple[np.ndarray, ...]:
  """The Flax net's outputs in the ONNX graph's layout (P-Net offsets NHWC -> NCHW)."""
  if name == "pnet":
    return outputs[0], outputs[1].transpose(0, 3, 1, 2)
  return outputs


def _opencv_output(out: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
  """OpenCV returns a 1-D output ``[N]`` as a ``[N, 1]`` matrix; back to ``[N]``
  (any other shape is left alone, so a wrong layout still fails)."""
  return out.reshape(shape) if out.shape == (*shape, 1) else out


def verify_onnx(name: str, model: bytes, params) -> dict[str, float]:
  """Max |difference| (over all outputs) of the ONNX net in onnxruntime and OpenCV
  from the Flax net, on fixed random pixels (P-Net ``[2, 37, 53]``: odd sizes,
  partial pooling windows; R-/O-Net a batch of 5).

  Returns ``{"onnxruntime": float, "opencv": float}``.
  """
  image = _check_inputs(name)
  want = _to_nchw_outputs(name, _reference_net(name, params, image))
  nchw = np.ascontiguousarray(image.transpose(0, 3, 1, 2))
  names = ONNX_OUTPUTS[name]
  ort_out = onnx_build.run_onnxruntime(model, {ONNX_INPUT: nchw})
  cv_out = onnx_build.run_opencv(model, nchw, names)
  return {"onnxruntime": max(deploy_files.max_abs_diff(ort_out[n], w) for n, w in zip(names, want)),
          "opencv": max(deploy_files.max_abs_diff(_opencv_output(cv_out[n], w.shape), w)
                        for n, w in zip(names, want))}


def verify_jax_net(name: str, serialized: bytes, params) -> dict[str, float]:
  """Max |difference| of a deserialised net from the same function run in process
  (params baked in likewise; bit-equal in the tests): ``{"jax_roundtrip": float}``,
  inputs as :func:`verify_onnx`."""
  program = jax.export.deserialize(bytearray(serialized))
  image = _check_inputs(name)
  got = program.call(image)
  conv_impl = _resolve_for(program.platforms, "auto")
  want = jax.jit(_net_function(name, params, conv_impl))(image)
  return {"jax_roundtrip": max(deploy_files.max_abs_diff(g, w) for g, w in zip(got, want))}


def _check_canvas_image(canvas: tuple[int, int]) -> tuple[np.ndarray, int, int]:
  """The embedded portrait shrunk to fit ``canvas`` (3/4 of each side at most), in its
  top-left corner: ``(float32 [H, W, 3] canvas, height, width)``."""
  photo = grace_hopper()
  fit = min(0.75 * canvas[0] / photo.shape[0], 0.75 * canvas[1] / photo.shape[1], 1.0)
  size = (max(1, round(photo.shape[1] * fit)), max(1, round(photo.shape[0] * fit)))
  small = np.asarray(Image.fromarray(photo).resize(size, Image.Resampling.BILINEAR))
  image = np.zeros((*canvas, 3), np.float32)
  image[:small.shape[0], :small.shape[1]] = small
  return image, small.shape[0], small.shape[1]


def verify_cascade(serialized: bytes, params, canvas: tuple[int, int], *,
                   config: cascade.DetectorConfig = cascade.DetectorConfig()) -> dict[str, float]:
  """Max |difference| of a deserialised cascade from the same cascade run in process,
  on the embedded portrait (shrunk into ``canvas``), with ``config``'s thresholds.

  Returns ``{"jax_roundtrip": float, "faces_found": int}`` (so that a check
  on an empty result does not pass unnoticed).
  """
  program = jax.export.deserialize(bytearray(serialized))
  image, height, width = _check_canvas_image(canvas)
  args = (image, np.int32(height), np.int32(width), np.asarray(config.thresholds, np.float32))
  got = program.call(*args)
  platforms = program.platforms
  want = jax.jit(_cascade_function(params, _cascade_config(config, platforms)))(*args)
  diff = max(deploy_files.max_abs_diff(g, w) for g, w in zip(got, want))
  return {"jax_roundtrip": diff, "faces_found": int(np.sum(np.asarray(got[3])))}


def weights_label(weights: str | os.PathLike) -> str:
  """A short name for a weight set, used in file names: ``"published"``, ``"wider600"``,
  or a folder's name (its parent's for a workdir's ``params`` folder)."""
  text = str(weights)
  if text == "published" or text in params_lib.SELF_TRAINED:
    return text
  folder = pathlib.Path(text).resolve()
  return folder.parent.name if folder.name == "params" else folder.name


def protocol_figures(weights: str | os.PathLike) -> dict:
  """The shipped evaluation figures of a weight set, from the shipped model cards.

  ``"published"`` and the self-trained sets were scored side by side on the
  WIDER val subset; their figures are in each self-trained set's
  ``model_card.json`` (``results``): ``mtcnn_<name>`` for that set and
  ``for_comparison.mtcnn`` for the published weights. A folder's own
  ``model_card.json`` is used when it has one; otherwise ``{}``.

  Returns:
    ``{"detector", "figures", "data", "protocol", "command", "card"}`` or ``{}``.
  """
  text = str(weights)
  if text == "published":
    cards = [params_lib.WEIGHTS_DIR / n / "model_card.json" for n in params_lib.SELF_TRAINED]
    detector = "mtcnn"
  elif text in params_lib.SELF_TRAINED:
    cards, detector = [params_lib.WEIGHTS_DIR / text / "model_card.json"], f"mtcnn_{text}"
  else:
    cards, detector = [pathlib.Path(text) / "model_card.json"], None
  for path in cards:
    if not path.is_file():
      continue
    results = json.loads(path.read_text()).get("results", {})
    detector = detector or next((k for k in results if k.startswith("mtcnn")), None)
    figures = results.get(detector) or results.get("for_comparison", {}).get(detector)
    if figures:
      return {"detector": detector, "figures": figures,
              **{k: results.get(k) for k in ("data", "num_images", "protocol", "command")},
              "card": str(path.relative_to(params_lib.WEIGHTS_DIR.parent.parent)
                          if path.is_relative_to(params_lib.WEIGHTS_DIR.parent.parent) else path)}
  return {}


def _io_description(name: str, fmt: str) -> tuple[dict, dict]:
  """The card's ``input`` and ``outputs`` for a net (``"pnet"``...) or ``"cascade"``."""
  value = {"dtype": "float32", "colour": "RGB", "value_range": "[0, 255] (8-bit pixel values)",
           "normalisation": "inside the model: (x - 127.5) * 0.0078125; feed pixels as they are"}
  if name == "cascade":
    return ({"arguments": ["image [H, W, 3] float32 RGB in [0, 255], the picture in the top-left "
                           "corner, zeros elsewhere", "height int32 []", "width int32 []",
                           "thresholds float32 [3] (P-, R-, O-Net; the original 0.6, 0.7, 0.7)"],
             "layout": "HWC", **value},
            {"results": ["boxes [K, 4] float32, continuous [x1, y1, x2, y2) pixels",
                         "scores [K] float32", "landmarks [K, 5, 2] float32 (x, y)",
                         "valid [K] bool", "overflow [] int32 (candidates the budgets dropped)"],
             "order": "best first; slots with valid == False are padding"})
  if fmt == "onnx":
    inputs, outputs = _onnx_shapes(name)
    return ({"name": ONNX_INPUT, "layout": "NCHW", "shape": inputs[ONNX_INPUT], **value},
            {"names": list(outputs), "shapes": outputs})
  shape = (["b", "h", "w", 3] if name == "pnet"
           else ["b", nets.INPUT_SIZES[name], nets.INPUT_SIZES[name], 3])
  outputs = {"pnet": ["prob [b, rows, cols]", "offsets [b, rows, cols, 4]"],
             "rnet": ["prob [b]", "offsets [b, 4]"],
             "onet": ["prob [b]", "offsets [b, 4]", "landmarks [b, 10]"]}[name]
  return {"layout": "NHWC", "shape": shape, **value}, {"results": outputs}


def model_card(name: str, *, fmt: str, file_name: str, weights: str, command: str,
               verification: dict | None, platforms: Sequence[str] = ("cpu",),
               canvas: tuple[int, int] | None = None,
               config: cascade.DetectorConfig | None = None) -> dict:
  """The model card written beside an exported net (``name``: pnet/rnet/onet) or
  ``"cascade"``: what the input must be, the outputs, the shipped protocol
  figures of ``weights``, the command that made it and the verification
  (``verification``: the largest |difference| from the JAX model per runtime,
  for the cascade also the faces found on the check image; None if not run)."""
  inp, out = _io_description(name, fmt)
  card = {
      "name": pathlib.Path(file_name).name.split(".")[0], "task": "mtcnn", "net": name,
      "format": fmt, "file": file_name, "weights": str(weights), "input": inp, "output": out,
      "results": protocol_figures(weights), "command": command,
      "verification": verification, "versions": deploy_files.versions(),
      "cascade_conventions": "docs/deploy.md; examples/mtcnn_onnxruntime.py is a host loop "
                             "around the ONNX nets",
  }
  if name != "cascade":
    card.update(
        prob="softmax of the two-way face head, index 1 (face)",
        offsets="box offsets (dx1, dy1, dx2, dy2) relative to the window or box size",
        max_pooling="Caffe ceil mode (output size rounded up)")
  if name in ("rnet", "onet"):
    card["flatten"] = "the last map in (W, H, C) order before the first dense layer"
  if name == "onet":
    card["landmarks"] = "x1..x5 then y1..y5, relative to the box width / height from its top-left"
  if fmt == "onnx":
    card.update(opset=onnx_build.OPSET, ir_version=onnx_build.IR_VERSION,
                how_to_run="onnxruntime.InferenceSession(path) or cv2.dnn.readNetFromONNX(path)")
  else:
    card.update(platforms=list(platforms),
                how_to_run="jax.export.deserialize(bytearray(open(path, 'rb').read()))"
                           ".call(...); needs jax (and flatbuffers) only")
  if canvas is not None:
    card["canvas"] = list(canvas)
    card["config"] = {k: v for k, v in dataclasses.asdict(config).items() if k != "thresholds"}
  return card


def export_nets(params, *, fmt: str, out_dir: str | os.PathLike, weights: str, command: str,
                verify: bool = True, platforms: Sequence[str] = ("cpu",)) -> list[pathlib.Path]:
  """Export P-, R- and O-Net to ``out_dir/mtcnn_<label>_<net>.{onnx|jaxexport}``, each
  with its card (``label``: :func:`weights_label` of ``weights``).

  Args:
    params: ``{"pnet", "rnet", "onet"}``.
    fmt: ``"onnx"`` or ``"jax"``.
    out_dir: output folder (created).
    weights: what ``params`` are (``"published"``, ``"wider600"`` or a folder); names
      the files and selects the card's figures.
    command: recorded in the cards.
    verify: run each artefact against the Flax net and record the differences.
    platforms: ``jax.export`` platforms (``"jax"`` only).

  Returns:
    The artefacts' paths, pnet first.
  """
  if fmt not in deploy_files.FORMATS:
    raise ValueError(f"format must be one of {deploy_files.FORMATS}, got {fmt!r}")
  paths = []
  for name in params_lib.NET_NAMES:
    if fmt == "onnx":
      data, suffix = net_onnx(name, params[name]), deploy_files.ONNX_SUFFIX
      verification = verify_onnx(name, data, params[name]) if verify else None
    else:
      data = deploy_files.serialize_exported(export_net_jax(name, params[name],
                                                            platforms=platforms))
      suffix = deploy_files.JAX_EXPORT_SUFFIX
      verification = verify_jax_net(name, data, params[name]) if verify else None
    path = pathlib.Path(out_dir) / f"mtcnn_{weights_label(weights)}_{name}{suffix}"
    card = model_card(name, fmt=fmt, file_name=path.name, weights=str(weights), command=command,
                      verification=verification, platforms=platforms)
    paths.append(deploy_files.write_artefact(path, data, card))
  return paths


def export_cascade(params, canvas: tuple[int, int], *, out_dir: str | os.PathLike, weights: str,
                   command: str, verify: bool = True, platforms: Sequence[str] = ("cpu",),
                   config: cascade.DetectorConfig = cascade.DetectorConfig()) -> pathlib.Path:
  """Export the cascade for ``canvas`` to ``out_dir/mtcnn_<label>_cascade_<H>x<W>.jaxexport``
  with its card. ``verify`` compiles the cascade twice (the artefact and in process:
  tens of seconds on a 2-core CPU). Returns the artefact's path."""
  data = deploy_files.serialize_exported(
      export_cascade_jax(params, canvas, config=config, platforms=platforms))
  verification = verify_cascade(data, params, canvas, config=config) if verify else None
  path = (pathlib.Path(out_dir) / f"mtcnn_{weights_label(weights)}_cascade_{canvas[0]}x"
          f"{canvas[1]}{deploy_files.JAX_EXPORT_SUFFIX}")
  card = model_card("cascade", fmt="jax", file_name=path.name, weights=str(weights),
                    command=command, verification=verification, platforms=platforms,
                    canvas=canvas, config=config)
  return deploy_files.write_artefact(path, data, card)


def parse_canvas(text: str) -> tuple[int, int]:
  """``"480x640"`` (height x width) -> ``(480, 640)``.

  Raises:
    ValueError: not ``HxW`` with both sides integers >= 12 (P-Net's window).
  """
  parts = str(text).lower().split("x")
  if len(parts) != 2 or not all(p.strip().isdigit() for p in parts):
    raise ValueError(f"canvas must be HEIGHTxWIDTH, e.g. 480x640, got {text!r}")
  height, width = (int(p) for p in parts)
  if min(height, width) < 12:
    raise ValueError(f"canvas sides must be at least 12 pixels (P-Net's window), got {text!r}")
  return height, width
