"""ESPCN outside Python-JAX: an ONNX graph and a serialised JAX program, each with a card.

Both artefacts hold the network alone, weights included: LR in, HR out, for
any image size (dynamic / symbolic batch, height and width), so one file
serves every size.

* ONNX (:func:`espcn_onnx`, opset 13): input ``lr`` float32 NCHW
  ``[batch, C, height, width]`` in [0, 1]; output ``sr`` ``[batch, C, r*height,
  r*width]``. The fixed centre (0.5) is subtracted and added back inside the
  graph; the pixel shuffle is ``DepthToSpace`` in CRD mode (PyTorch's order,
  as :func:`espcn_jax.model.pixel_shuffle`). Runs in onnxruntime and OpenCV's
  ``cv2.dnn.readNetFromONNX``.
* JAX (:func:`export_jax`, ``jax.export``, StableHLO): input float32 NHWC
  ``[b, h, w, C]`` with symbolic ``b, h, w``; output ``[b, r*h, r*w, C]``.
  It is ``ESPCN.apply`` with XLA's convolutions (the CPU row-band form of
  :mod:`espcn_jax.banded` needs static sizes). Loading needs JAX alone::

    from jax import export
    program = export.deserialize(bytearray(open("espcn_x3_y.jaxexport", "rb").read()))
    sr = program.call(lr)          # lr: float32 [1, h, w, 1] in [0, 1]

Outputs are the network's, not clipped: clip to [0, 1] and round to 8 bits
as :func:`espcn_jax.upscale` does. ``C`` is 1 (Y of BT.601 YCbCr, MATLAB's
``rgb2ycbcr``; upscale Cb/Cr bicubically) or 3 (RGB) as the model was
trained. :func:`export_model` writes an artefact and its model card (what the
input must be, the protocol figures of the source card, the command);
``python export.py espcn`` is its command line.
"""
from __future__ import annotations

import os
import pathlib
from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from espcn_jax.model import ACTIVATIONS, ESPCN, spec_from_params
from espcn_mtcnn_common import deploy_files, onnx_build

__all__ = ["ONNX_INPUT", "ONNX_OUTPUT", "espcn_onnx", "export_jax", "verify_onnx", "verify_jax",
           "model_card", "export_model"]

ONNX_INPUT = "lr"
ONNX_OUTPUT = "sr"
_ONNX_ACTIVATIONS = {"tanh": "Tanh", "relu": "Relu"}
# Verification input: odd sizes, two images (batch), fixed seed.
_CHECK_SHAPE = (2, 23, 31)


def _model(params, activation: str, centre: float) -> ESPCN:
  spec = spec_from_params(params)
  return ESPCN(scale=spec["scale"], channels=spec["channels"], features=spec["features"],
               kernel_sizes=spec["kernel_sizes"], activation=activation, centre=centre)


def _check_activation(activation: str) -> None:
  if activation not in ACTIVATIONS:
    raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {activation!r}")


def espcn_onnx(params, *, activation: str = "tanh", centre: float = 0.5) -> bytes:
  """The network as a serialised ONNX model (NCHW; dynamic batch, height and width).

  Nodes: Sub(centre), then per layer Conv ('SAME' pads) and the activation
  (not after the last), DepthToSpace (CRD: PyTorch's pixel-shuffle order),
  Add(centre).

  Args:
    params: ESPCN params (``conv1..conv3`` with ``kernel [k, k, Cin, Cout]``, ``bias``).
    activation: ``"tanh"`` or ``"relu"``, as trained.
    centre: the model's fixed centre (the shipped models: 0.5).

  Returns:
    The model's bytes: input ``lr`` float32 ``[batch, C, height, width]``,
    output ``sr`` float32 ``[batch, C, r*height, r*width]``, not clipped.
  """
  _check_activation(activation)
  spec = spec_from_params(params)
  scale, channels = spec["scale"], spec["channels"]
  graph = onnx_build.GraphBuilder(f"espcn_x{scale}")
  centre_name = graph.constant(np.full((1, 1, 1, 1), centre, np.float32), "centre")
  x = graph.op("Sub", [ONNX_INPUT, centre_name])
  for i in (1, 2, 3):
    layer = params[f"conv{i}"]
    k = int(np.shape(layer["kernel"])[0])
    x = graph.conv(x, layer["kernel"], layer["bias"], pads=onnx_build.same_pads(k), stem=f"conv{i}")
    if i < 3:
      x = graph.op(_ONNX_ACTIVATIONS[activation], [x])
  x = graph.op("DepthToSpace", [x], blocksize=scale, mode="CRD")
  graph.op("Add", [x, centre_name], ONNX_OUTPUT)
  return graph.to_bytes(
      {ONNX_INPUT: ["batch", channels, "height", "width"]},
      {ONNX_OUTPUT: ["batch", channels, "sr_height", "sr_width"]},
      doc=f"ESPCN x{scale}: lr float32 NCHW in [0, 1] -> sr [batch, C, {scale}*height, "
          f"{scale}*width], not clipped",
      metadata={"scale": scale, "channels": channels, "layout": "NCHW", "value_range": "[0, 1]"})


def export_jax(params, *, activation: str = "tanh", centre: float = 0.5,
               platforms: Sequence[str] = ("cpu",)) -> jax.export.Exported:
  """``ESPCN.apply`` with the params baked in, exported with symbolic batch, height and width.

  Args:
    params: ESPCN params.
    activation, centre: as trained.
    platforms: ``jax.export`` lowering platforms, e.g. ``("cpu",)`` or
      ``("cpu", "cuda", "tpu")`` (one artefact for all).

  Returns:
    The ``Exported``: float32 ``[b, h, w, C]`` in [0, 1] -> ``[b, r*h, r*w, C]``
    (not clipped). Serialise with
    :func:`espcn_mtcnn_common.deploy_files.serialize_exported`.
  """
  _check_activation(activation)
  model = _model(params, activation, centre)
  constants = jax.tree.map(lambda a: jnp.asarray(a, jnp.float32), params)

  def forward(lr):
    return model.apply({"params": constants}, lr)
  b, h, w = jax.export.symbolic_shape("b, h, w")
  spec = jax.ShapeDtypeStruct((b, h, w, model.channels), jnp.float32)
  return jax.export.export(jax.jit(forward), platforms=tuple(platforms))(spec)


def _check_input(channels: int) -> np.ndarray:
  """The fixed verification input: float32 NHWC ``[2, 23, 31, C]`` in [0, 1]."""
  return np.random.default_rng(0).random((*_CHECK_SHAPE, channels), np.float32)


def _reference(params, lr_nhwc, activation: str, centre: float) -> np.ndarray:
  """The in-process ``ESPCN.apply`` (jitted), NHWC."""
  model = _model(params, activation, centre)
  return np.asarray(jax.jit(lambda p, x: model.apply({"params": p}, x))(params, lr_nhwc))


def verify_onnx(model: bytes, params, *, activation: str, centre: float) -> dict[str, float]:
  """Max |difference| of the ONNX model in onnxruntime and in OpenCV dnn from ``ESPCN.apply``.

  On a fixed random input of two odd-sized images (``[2, C, 23, 31]``).
  Returns ``{"onnxruntime": float, "opencv": float}``.
  """
  lr = _check_input(spec_from_params(params)["channels"])
  want = _reference(params, lr, activation, centre).transpose(0, 3, 1, 2)
  nchw = np.ascontiguousarray(lr.transpose(0, 3, 1, 2))
  ort_out = onnx_build.run_onnxruntime(model, {ONNX_INPUT: nchw})[ONNX_OUTPUT]
  cv_out = onnx_build.run_opencv(model, nchw, [ONNX_OUTPUT])[ONNX_OUTPUT]
  return {"onnxruntime": deploy_files.max_abs_diff(ort_out, want),
          "opencv": deploy_files.max_abs_diff(cv_out, want)}


def verify_jax(serialized: bytes, params, *, activation: str, centre: float) -> dict[str, float]:
  """Max |difference| of the deserialised program (called here) from ``ESPCN.apply``.

  Returns ``{"jax_roundtrip": float}`` on the input of :func:`verify_onnx`.
  """
  program = jax.export.deserialize(bytearray(serialized))
  lr = _check_input(spec_from_params(params)["channels"])
  got = np.asarray(program.call(lr))
  return {"jax_roundtrip": deploy_files.max_abs_diff(
      got, _reference(params, lr, activation, centre))}


def _colour(channels: int) -> str:
  if channels == 1:
    return ("Y of BT.601 YCbCr as MATLAB's rgb2ycbcr (studio swing: Y in [16, 235] / 255); "
            "upscale Cb and Cr bicubically and convert back, as espcn_jax.upscale does")
  return "RGB"


def _io_description(fmt: str, scale: int, channels: int) -> tuple[dict, dict]:
  """The card's ``input`` and ``output`` entries for ``fmt`` (``"onnx"`` or ``"jax"``)."""
  if fmt == "onnx":
    shape_in = ["batch", channels, "height", "width"]
    shape_out = ["batch", channels, f"{scale}*height", f"{scale}*width"]
    layout, names = "NCHW", (ONNX_INPUT, ONNX_OUTPUT)
  else:
    shape_in, shape_out = ["b", "h", "w", channels], ["b", f"{scale}*h", f"{scale}*w", channels]
    layout, names = "NHWC", ("argument 0", "result")
  value = "[0, 1] (8-bit values / 255)"
  inp = {"name": names[0], "layout": layout, "shape": shape_in, "dtype": "float32",
         "colour": _colour(channels), "value_range": value,
         "normalisation": "none: the model subtracts its centre and adds it back itself"}
  out = {"name": names[1], "layout": layout, "shape": shape_out, "dtype": "float32",
         "colour": _colour(channels) if channels == 3 else "Y, as the input",
         "value_range": "about [0, 1], not clipped: clip to [0, 1] and round to 8 bits "
                        "(half away from zero) as the reported figures do"}
  return inp, out


def model_card(info: dict, *, fmt: str, file_name: str, command: str,
               verification: dict[str, float] | None, platforms: Sequence[str] = ("cpu",),
               source: str = "") -> dict:
  """The model card written beside an exported ESPCN.

  Args:
    info: the source model's card (shipped, ``load_pretrained``) or ``model.json``
      (a workdir): ``scale``, ``channels``, ``activation``, ``centre``...; its
      ``results`` (the protocol figures) are copied.
    fmt: ``"onnx"`` or ``"jax"``.
    file_name: the artefact's file name.
    command: the command line that made it.
    verification: the largest |differences| from ``ESPCN.apply`` per runtime
      (:func:`verify_onnx` / :func:`verify_jax`), or None when not checked.
    platforms: ``jax.export`` platforms (``"jax"`` only).
    source: where the weights came from.
  """
  scale, channels = int(info["scale"]), int(info["channels"])
  inp, out = _io_description(fmt, scale, channels)
  card = {
      "name": pathlib.Path(file_name).name.split(".")[0], "task": "espcn", "format": fmt,
      "file": file_name, "scale": scale, "channels": channels,
      "model": {k: info[k] for k in ("features", "kernel_sizes", "activation", "centre")
                if k in info},
      "input": inp, "output": out, "source": source,
      "results": info.get("results", {}),
      "reproduce_results": info.get("reproduce_results"),
      "command": command, "verification": verification,
      "versions": deploy_files.versions(),
  }
  if fmt == "onnx":
    card.update(opset=onnx_build.OPSET, ir_version=onnx_build.IR_VERSION,
                pixel_shuffle="DepthToSpace, mode CRD (PyTorch PixelShuffle order)",
                how_to_run="onnxruntime.InferenceSession(path).run(None, {'lr': x}) or "
                           "cv2.dnn.readNetFromONNX(path); examples/espcn_onnxruntime.py")
  else:
    card.update(platforms=list(platforms),
                how_to_run="jax.export.deserialize(bytearray(open(path, 'rb').read()))"
                           ".call(x); needs jax (and flatbuffers) only")
  return card


def export_model(params, info: dict, *, fmt: str, out_dir: str | os.PathLike, name: str,
                 command: str, verify: bool = True, platforms: Sequence[str] = ("cpu",),
                 source: str = "") -> pathlib.Path:
  """Export one ESPCN to ``out_dir/name.{onnx|jaxexport}`` with its card beside it.

  Args:
    params: ESPCN params.
    info: the source card or ``model.json`` (see :func:`model_card`); its
      ``activation`` (default tanh) and ``centre`` (default 0.5) shape the graph.
    fmt: ``"onnx"`` or ``"jax"``.
    out_dir: output folder (created).
    name: file stem, e.g. ``"espcn_x3_y"``.
    command: recorded in the card.
    verify: run the artefact (onnxruntime and OpenCV, or the deserialised
      program) against ``ESPCN.apply`` and record the differences.
    platforms: ``jax.export`` platforms (``"jax"`` only).
    source: recorded in the card.

  Returns:
    The artefact's path (the card is :func:`deploy_files.card_path` of it).

  Raises:
    ValueError: unknown ``fmt`` or activation.
    ImportError: the ``export`` extra is missing (the message says how to install it).
  """
  if fmt not in deploy_files.FORMATS:
    raise ValueError(f"format must be one of {deploy_files.FORMATS}, got {fmt!r}")
  settings = {"activation": info.get("activation", "tanh"),
              "centre": float(info.get("centre", 0.5))}
  if fmt == "onnx":
    data = espcn_onnx(params, **settings)
    check = verify_onnx if verify else None
    suffix = deploy_files.ONNX_SUFFIX
  else:
    data = deploy_files.serialize_exported(export_jax(params, platforms=platforms, **settings))
    check = verify_jax if verify else None
    suffix = deploy_files.JAX_EXPORT_SUFFIX
  verification = check(data, params, **settings) if check else None
  path = pathlib.Path(out_dir) / f"{name}{suffix}"
  card = model_card(info, fmt=fmt, file_name=path.name, command=command,
                    verification=verification, platforms=platforms, source=source)
  return deploy_files.write_artefact(path, data, card)
