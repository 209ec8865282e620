"""Convert the published MTCNN weights from ipazc's ``mtcnn`` wheel to Flax params.

A maintenance script: its output, ``mtcnn_jax/weights/{pnet,rnet,onet}.npz``,
is shipped, so neither ``mtcnn`` nor ``lz4``/``joblib`` is a runtime
dependency. Re-create the shipped files (byte for byte) with::

  pip install lz4 joblib
  pip download --no-deps mtcnn==1.0.0 && unzip mtcnn-1.0.0-py3-none-any.whl -d mtcnn_wheel
  python -m mtcnn_jax.convert --source mtcnn_wheel/mtcnn/assets/weights

(without ``--source`` the weights of an installed ``mtcnn`` package are used;
it is located without being imported, since importing it imports TensorFlow).

The wheel's ``{pnet,rnet,onet}.lz4`` are lz4-frame-compressed joblib pickles
of lists of float32 arrays in Keras ``get_weights()`` order (layer by layer;
conv ``kernel, bias``; dense ``kernel, bias``; PReLU ``alpha``). Keras conv
kernels are HWIO for RGB input and dense kernels ``(in, out)``, which is
Flax's layout, so the only reshaping is PReLU ``alpha`` ``(1, 1, C) -> (C,)``.
The dense layer after the convolutions expects the (W, H, C) flatten order
that :func:`mtcnn_jax.nets.flatten_whc` implements.
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import pathlib
from typing import Sequence

import numpy as np

from mtcnn_jax import params as params_lib

__all__ = ["keras_lists_to_params", "read_lz4_weights", "find_wheel_weights", "convert",
           "KERAS_LAYOUTS"]

# (layer, param, Keras shape) in Keras get_weights() order. Keras layer names
# in the wheel, for reference: conv4-1/conv4-2 (P-Net), fc4, fc5-1/fc5-2
# (R-Net), fc5, fc6-1/fc6-2/fc6-3 (O-Net); the heads are called box,
# landmarks and face here.
_Entry = tuple[str, str, tuple[int, ...]]


def _conv(name: str, k: int, cin: int, cout: int) -> list[_Entry]:
  return [(name, "kernel", (k, k, cin, cout)), (name, "bias", (cout,))]


def _dense(name: str, cin: int, cout: int) -> list[_Entry]:
  return [(name, "kernel", (cin, cout)), (name, "bias", (cout,))]


def _prelu(name: str, c: int, conv: bool) -> list[_Entry]:
  return [(name, "alpha", (1, 1, c) if conv else (c,))]


KERAS_LAYOUTS: dict[str, list[_Entry]] = {
    "pnet": [*_conv("conv1", 3, 3, 10), *_prelu("prelu1", 10, True),
             *_conv("conv2", 3, 10, 16), *_prelu("prelu2", 16, True),
             *_conv("conv3", 3, 16, 32), *_prelu("prelu3", 32, True),
             *_conv("box", 1, 32, 4), *_conv("face", 1, 32, 2)],
    "rnet": [*_conv("conv1", 3, 3, 28), *_prelu("prelu1", 28, True),
             *_conv("conv2", 3, 28, 48), *_prelu("prelu2", 48, True),
             *_conv("conv3", 2, 48, 64), *_prelu("prelu3", 64, True),
             *_dense("fc4", 576, 128), *_prelu("prelu4", 128, False),
             *_dense("box", 128, 4), *_dense("face", 128, 2)],
    "onet": [*_conv("conv1", 3, 3, 32), *_prelu("prelu1", 32, True),
             *_conv("conv2", 3, 32, 64), *_prelu("prelu2", 64, True),
             *_conv("conv3", 3, 64, 64), *_prelu("prelu3", 64, True),
             *_conv("conv4", 2, 64, 128), *_prelu("prelu4", 128, True),
             *_dense("fc5", 1152, 256), *_prelu("prelu5", 256, False),
             *_dense("box", 256, 4), *_dense("landmarks", 256, 10), *_dense("face", 256, 2)],
}
"""Net name -> ``[(layer, param, keras_shape), ...]`` in Keras ``get_weights()`` order."""


def keras_lists_to_params(name: str, arrays: Sequence[np.ndarray]) -> dict:
  """Map one net's Keras ``get_weights()`` list onto its Flax params.

  Args:
    name: ``"pnet"``, ``"rnet"`` or ``"onet"``.
    arrays: the net's arrays in Keras order (see :data:`KERAS_LAYOUTS`).

  Returns:
    ``{layer: {param: np.ndarray float32}}`` as in :mod:`mtcnn_jax.nets`;
    conv/dense kernels and biases unchanged, PReLU ``alpha`` flattened to ``[C]``.

  Raises:
    ValueError: unknown net, wrong number of arrays, or an array of the wrong
      shape (the message names the layer and both shapes).
  """
  if name not in KERAS_LAYOUTS:
    raise ValueError(f"unknown net {name!r}; expected one of {', '.join(KERAS_LAYOUTS)}")
  layout = KERAS_LAYOUTS[name]
  arrays = list(arrays)
  if len(arrays) != len(layout):
    raise ValueError(f"{name}: expected {len(layout)} arrays in Keras get_weights() order, "
                     f"got {len(arrays)}")
  out: dict = {}
  for i, ((layer, param, shape), a) in enumerate(zip(layout, arrays)):
    a = np.asarray(a)
    if a.shape != shape:
      raise ValueError(f"{name}: array {i} ({layer}/{param}) should have shape {shape}, "
                       f"got {a.shape}")
    if param == "alpha":
      a = a.reshape(-1)
    out.setdefault(layer, {})[param] = np.array(a, dtype=np.float32)
  return out


def read_lz4_weights(path: str | os.PathLike) -> list[np.ndarray]:
  """Read one of the wheel's ``.lz4`` files: a list of float32 arrays.

  Needs ``lz4`` and ``joblib`` (maintenance-only). The file is a pickle:
  read only files you trust, such as those of the published wheel.
  """
  try:  # optional dependencies (the "convert" extra), only for re-running the converter
    import joblib  # pylint: disable=import-outside-toplevel
    import lz4.frame  # pylint: disable=import-outside-toplevel
  except ImportError as e:
    raise ImportError("reading the mtcnn wheel's .lz4 weights needs lz4 and joblib "
                      "(pip install lz4 joblib); they are not runtime dependencies") from e
  with lz4.frame.open(os.fspath(path), "rb") as f:
    arrays = joblib.load(f)
  if not isinstance(arrays, (list, tuple)) or not all(isinstance(a, np.ndarray) for a in arrays):
    raise ValueError(f"{path}: expected a list of NumPy arrays, got {type(arrays).__name__}")
  return list(arrays)


def find_wheel_weights() -> pathlib.Path:
  """Folder of the installed ``mtcnn`` package's ``{pnet,rnet,onet}.lz4``.

  Uses ``importlib.util.find_spec`` so the package (and TensorFlow) is not
  imported.

  Raises:
    FileNotFoundError: ``mtcnn`` is not installed, or lacks the weight files.
  """
  spec = importlib.util.find_spec("mtcnn")
  hint = ("install it (pip install --no-deps mtcnn==1.0.0) or unzip the wheel "
          "(pip download --no-deps mtcnn==1.0.0) and pass --source .../mtcnn/assets/weights")
  if spec is None or not spec.submodule_search_locations:
    raise FileNotFoundError(f"the mtcnn package (ipazc) is not installed; {hint}")
  folder = pathlib.Path(list(spec.submodule_search_locations)[0]) / "assets" / "weights"
  missing = [f"{n}.lz4" for n in params_lib.NET_NAMES if not (folder / f"{n}.lz4").is_file()]
  if missing:
    raise FileNotFoundError(f"{folder} lacks {', '.join(missing)}; {hint}")
  return folder


def convert(source: str | os.PathLike | None = None,
            out: str | os.PathLike = params_lib.WEIGHTS_DIR) -> list[pathlib.Path]:
  """Convert ``source/{pnet,rnet,onet}.lz4`` into ``out/{pnet,rnet,onet}.npz``.

  Deterministic (same input, same bytes) and safe to re-run. Each net is
  checked against :mod:`mtcnn_jax.nets` before anything is written.

  Args:
    source: folder of the ``.lz4`` files; ``None`` = the installed wheel's.
    out: destination folder (created if needed).

  Returns:
    The written paths.
  """
  folder = find_wheel_weights() if source is None else pathlib.Path(source)
  converted = {}
  for name in params_lib.NET_NAMES:
    path = folder / f"{name}.lz4"
    if not path.is_file():
      raise FileNotFoundError(f"{path} not found (expected pnet.lz4, rnet.lz4 and onet.lz4)")
    converted[name] = keras_lists_to_params(name, read_lz4_weights(path))
  return params_lib.save_params(converted, out)


def _main(argv: Sequence[str] | None = None) -> None:
  parser = argparse.ArgumentParser(
      prog="python -m mtcnn_jax.convert",
      description="Convert the mtcnn wheel's published weights (.lz4) to mtcnn_jax .npz params.")
  parser.add_argument("--source", default=None,
                      help="folder of pnet.lz4, rnet.lz4, onet.lz4 (default: the installed "
                           "mtcnn package's assets/weights)")
  parser.add_argument("--out", default=str(params_lib.WEIGHTS_DIR),
                      help="output folder (default: %(default)s)")
  args = parser.parse_args(argv)
  try:
    written = convert(args.source, args.out)
  except (FileNotFoundError, ImportError, ValueError) as e:
    parser.exit(1, f"error: {e}\n")
  for path in written:
    print(f"{path}  {path.stat().st_size} bytes")


if __name__ == "__main__":
  _main()
