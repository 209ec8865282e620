"""A small explicit ONNX graph builder, and running ONNX models in onnxruntime and OpenCV.

The exporters (:mod:`espcn_jax.deploy`, :mod:`mtcnn_jax.deploy`) write each
network's graph node by node from its params: the nets are a few convolutions,
activations, poolings and dense layers, so a dozen explicit nodes are easier
to read and check than a general JAX-to-ONNX converter's output.

Conventions of every graph built here:

* opset :data:`OPSET` (13) and IR version :data:`IR_VERSION` (8), so older
  onnxruntime and OpenCV 4.x builds read them too;
* NCHW tensors (ONNX's and OpenCV's layout), float32;
* weights converted from Flax's layouts: conv kernels ``HWIO -> OIHW``, dense
  kernels ``[in, out]`` used as ``Gemm(x, W)``.

``onnx`` and ``onnxruntime`` are imported inside the functions: they are
optional (the ``export`` extra), and the packages must stay importable
without them.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import cv2
import numpy as np

from espcn_mtcnn_common.deploy_files import require_optional

__all__ = ["OPSET", "IR_VERSION", "GraphBuilder", "same_pads", "onnxruntime_session",
           "run_onnxruntime", "run_opencv"]

OPSET = 13
IR_VERSION = 8

Shape = Sequence[int | str]   # ints, or names of dynamic axes


def same_pads(kernel: int) -> list[int]:
  """ONNX ``pads`` (top, left, bottom, right) of a 'SAME' ``kernel x kernel`` convolution,
  stride 1, as ``lax`` pads it (the extra pixel of an even kernel at the end)."""
  before, after = (kernel - 1) // 2, kernel // 2
  return [before, before, after, after]


class GraphBuilder:
  """Collects nodes and weights of one ONNX graph; :meth:`to_bytes` checks and serialises it.

  Each method adds one node (or a few) and returns the name of its output
  tensor, so a network reads as a chain of calls. Names are made unique with
  a running number.
  """

  def __init__(self, name: str):
    self.name = name
    self._nodes: list = []
    self._weights: list = []
    self._count = 0

  def _fresh(self, stem: str) -> str:
    self._count += 1
    return f"{stem}_{self._count}"

  def constant(self, array: np.ndarray, stem: str = "w") -> str:
    """Add a float32 (or int64) initializer; returns its name."""
    helper = require_optional("onnx").numpy_helper
    array = np.asarray(array)
    array = array.astype(np.int64 if array.dtype.kind in "iu" else np.float32)
    name = self._fresh(stem)
    # np.asarray, not ascontiguousarray, which turns a scalar into shape [1].
    self._weights.append(helper.from_array(np.asarray(array, order="C"), name))
    return name

  def op(self, op_type: str, inputs: Sequence[str], output: str | None = None,
         **attributes) -> str:
    """Add one node ``op_type(inputs, **attributes)``; returns its output's name
    (``output``, for graph outputs, or a fresh one)."""
    helper = require_optional("onnx").helper
    output = output or self._fresh(op_type.lower())
    self._nodes.append(helper.make_node(op_type, list(inputs), [output],
                                        name=self._fresh(op_type), **attributes))
    return output

  def conv(self, x: str, kernel_hwio, bias, *, pads: Sequence[int] = (0, 0, 0, 0),
           stem: str = "conv", output: str | None = None) -> str:
    """Convolution, stride 1, with a Flax kernel ``[kh, kw, Cin, Cout]`` and bias ``[Cout]``.

    ``pads``: ONNX order (top, left, bottom, right); zeros for 'VALID'.
    ``output``: its name (for a graph output), else a fresh one.
    """
    kernel = np.asarray(kernel_hwio, np.float32).transpose(3, 2, 0, 1)      # OIHW
    w = self.constant(kernel, f"{stem}_kernel")
    b = self.constant(np.asarray(bias, np.float32), f"{stem}_bias")
    return self.op("Conv", [x, w, b], output, kernel_shape=list(kernel.shape[2:]),
                   pads=list(pads))

  def prelu(self, x: str, alpha, *, spatial: bool, stem: str = "prelu") -> str:
    """PReLU with one slope per channel: ``alpha [C]`` is shaped ``[C, 1, 1]`` for
    NCHW maps (``spatial``) and kept ``[C]`` for ``[N, C]`` rows."""
    alpha = np.asarray(alpha, np.float32)
    return self.op("PRelu", [x, self.constant(alpha.reshape(-1, 1, 1) if spatial else alpha,
                                               f"{stem}_alpha")])

  def dense(self, x: str, kernel, bias, *, stem: str = "dense", output: str | None = None) -> str:
    """``x [N, in] @ kernel [in, out] + bias [out]`` as one ``Gemm``."""
    w = self.constant(np.asarray(kernel, np.float32), f"{stem}_kernel")
    b = self.constant(np.asarray(bias, np.float32), f"{stem}_bias")
    return self.op("Gemm", [x, w, b], output)

  def to_bytes(self, inputs: Mapping[str, Shape], outputs: Mapping[str, Shape], *,
               doc: str = "", metadata: Mapping[str, str] | None = None) -> bytes:
    """The checked, serialised model (float32 inputs and outputs of the given shapes).

    Args:
      inputs, outputs: tensor name -> shape (ints, or strings naming dynamic axes).
      doc: the graph's doc string (what the inputs and outputs mean).
      metadata: ``metadata_props`` of the model (shown by tools such as Netron).
    """
    onnx = require_optional("onnx")
    helper, float32 = onnx.helper, onnx.TensorProto.FLOAT

    def values(spec):
      return [helper.make_tensor_value_info(name, float32, list(shape))
              for name, shape in spec.items()]
    graph = helper.make_graph(self._nodes, self.name, values(inputs), values(outputs),
                              self._weights, doc_string=doc)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="espcn-mtcnn-jax")
    model.ir_version = IR_VERSION
    for key, value in (metadata or {}).items():
      entry = model.metadata_props.add()
      entry.key, entry.value = key, str(value)
    onnx.checker.check_model(model, full_check=True)    # also infers and checks shapes
    return model.SerializeToString()


def onnxruntime_session(model: bytes, threads: int = 0):
  """An onnxruntime CPU session for a serialised model (``threads`` 0: onnxruntime's default)."""
  ort = require_optional("onnxruntime")
  options = ort.SessionOptions()
  options.intra_op_num_threads = threads
  options.log_severity_level = 3     # no warnings about unused initializers etc.
  return ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])


def run_onnxruntime(model: bytes, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
  """Run a serialised model once in onnxruntime: output name -> array."""
  session = onnxruntime_session(model)
  names = [o.name for o in session.get_outputs()]
  return dict(zip(names, session.run(names, dict(feeds))))


def run_opencv(model: bytes, image: np.ndarray, output_names: Sequence[str], *,
               winograd: bool = False) -> dict[str, np.ndarray]:
  """Run a one-input serialised model once in OpenCV's dnn module (``readNetFromONNX``).

  Args:
    model: the serialised ONNX model.
    image: its input, float32 (NCHW).
    output_names: the graph outputs to fetch.
    winograd: OpenCV's Winograd form of 3x3 convolutions (its default, faster).
      Off here: with it ESPCN's outputs moved up to 1.2e-5 from JAX's, without
      it 1.1e-6 (OpenCV 4.14).

  Returns:
    Output name -> array.
  """
  net = cv2.dnn.readNetFromONNX(np.frombuffer(model, np.uint8))
  net.setPreferableBackend(cv2.dnn.DNN_BACKEND_OPENCV)
  net.setPreferableTarget(cv2.dnn.DNN_TARGET_CPU)
  net.enableWinograd(winograd)
  net.setInput(np.ascontiguousarray(image, np.float32))
  outs = net.forward(list(output_names))
  return {name: np.asarray(out) for name, out in zip(output_names, outs)}
