"""Load, save and check MTCNN params (one plain dict pytree per net).

A params set is ``{"pnet": ..., "rnet": ..., "onet": ...}``; each value is the
``"params"`` collection of that net's Linen module (see :mod:`mtcnn_jax.nets`),
e.g. ``params["rnet"]["conv1"]["kernel"]`` is ``[3, 3, 3, 28]`` float32.

On disk a set is a folder holding ``pnet.npz``, ``rnet.npz`` and ``onet.npz``,
float32 arrays under flattened keys such as ``"conv1/kernel"``. The published
weights (the original MTCNN Caffe models, as converted by ipazc's MIT-licensed
``mtcnn`` package; see ``weights/LICENSE-MTCNN-WEIGHTS.txt`` and
:mod:`mtcnn_jax.convert`) ship in ``mtcnn_jax/weights``.
"""
from __future__ import annotations

import functools
import io
import os
import pathlib
import zipfile
from typing import Mapping

import jax
import jax.numpy as jnp
import numpy as np

from mtcnn_jax import nets

__all__ = ["load_params", "save_params", "check_params", "expected_shapes",
           "flatten_params", "unflatten_params", "write_npz", "net_title", "WEIGHTS_DIR",
           "NET_NAMES", "SELF_TRAINED"]

WEIGHTS_DIR = pathlib.Path(__file__).parent / "weights"
NET_NAMES: tuple[str, ...] = tuple(nets.NETS)
"""The cascade's nets (and training stages) in order: ``("pnet", "rnet", "onet")``."""

SELF_TRAINED: dict[str, str] = {"wider600": "trained by this project on 600 WIDER images"}
"""Cascades trained by this project, shipped in ``WEIGHTS_DIR/<name>/`` with a
``model_card.json`` (see :mod:`mtcnn_jax.export`): name -> what it is. The one
registry of weight sets: ``load_params(name)``, the detector ids
(:data:`mtcnn_jax.detectors.MTCNN_WEIGHTS`) and ``--weights`` derive from it."""
_SHOW = 4  # entries of each kind named in a check_params error


def net_title(name: str) -> str:
  """How the paper writes a net: ``"pnet"`` -> ``"P-Net"``."""
  return f"{name[0].upper()}-{name[1:].capitalize()}"


def _check_name(name: str) -> None:
  if name not in NET_NAMES:
    raise ValueError(f"unknown net {name!r}; expected one of {', '.join(NET_NAMES)}")


def _flat_leaves(tree: Mapping) -> dict:
  """``{"conv1": {"kernel": a}} -> {"conv1/kernel": a}``, leaves untouched, keys sorted."""
  out = {}
  for path, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]:
    out["/".join(str(getattr(p, "key", p)) for p in path)] = leaf
  return dict(sorted(out.items()))


def flatten_params(params: Mapping) -> dict[str, np.ndarray]:
  """``{"conv1": {"kernel": a}} -> {"conv1/kernel": a}`` (NumPy float32, sorted keys)."""
  return {k: np.asarray(v, np.float32) for k, v in _flat_leaves(params).items()}


def unflatten_params(flat: Mapping[str, np.ndarray]) -> dict:
  """Inverse of :func:`flatten_params`: ``{"conv1/kernel": a} -> {"conv1": {"kernel": a}}``."""
  params: dict = {}
  for key, value in flat.items():
    *parents, leaf = key.split("/")
    node = params
    for p in parents:
      node = node.setdefault(p, {})
    node[leaf] = value
  return params


@functools.lru_cache(maxsize=None)
def expected_shapes(name: str) -> dict[str, tuple[int, ...]]:
  """``{"conv1/kernel": (3, 3, 3, 10), ...}`` for ``name`` in pnet/rnet/onet.

  Taken from the module itself (``jax.eval_shape`` of ``init`` on one
  training-size input), so it cannot drift from :mod:`mtcnn_jax.nets`.
  """
  _check_name(name)
  size = nets.INPUT_SIZES[name]
  model = nets.NETS[name]()
  x = jax.ShapeDtypeStruct((1, size, size, 3), jnp.float32)
  variables = jax.eval_shape(model.init, jax.random.key(0), x)
  return {k: tuple(v.shape) for k, v in _flat_leaves(variables["params"]).items()}


def check_params(name: str, params: Mapping) -> None:
  """Refuse params that do not fit net ``name`` (same keys, same shapes).

  Raises:
    ValueError: e.g. ``checkpoint is not an R-Net: expected conv1/kernel
      (3, 3, 3, 28) got (3, 3, 3, 32), ...; missing fc4/bias, ...;
      unexpected conv4/bias, ...`` (entries of another shape, missing or
      unexpected; a few of each).
  """
  _check_name(name)
  want = expected_shapes(name)
  label = f"checkpoint is not {'a' if name == 'pnet' else 'an'} {net_title(name)}"
  try:
    got = {k: tuple(np.shape(v)) for k, v in _flat_leaves(params).items()}
  except Exception as e:  # not a pytree of arrays
    raise ValueError(f"{label}: params are not a pytree of arrays "
                     f"({type(params).__name__})") from e
  if got == want:
    return
  missing = [k for k in want if k not in got]
  extra = [k for k in got if k not in want]
  wrong = [k for k in want if k in got and got[k] != want[k]]

  def listing(keys: list[str], fmt) -> str:
    shown = ", ".join(fmt(k) for k in keys[:_SHOW])
    return shown + (f", ... ({len(keys)} in all)" if len(keys) > _SHOW else "")

  parts = []
  if wrong:
    parts.append(listing(wrong, lambda k: f"expected {k} {want[k]} got {got[k]}"))
  if missing:
    parts.append("missing " + listing(missing, str))
  if extra:
    parts.append("unexpected " + listing(extra, str))
  raise ValueError(f"{label}: " + "; ".join(parts))


def write_npz(path: str | os.PathLike, flat: Mapping[str, np.ndarray]) -> pathlib.Path:
  """Write ``flat`` as an ``.npz`` readable by ``np.load``, byte-for-byte reproducibly.

  ``np.savez`` stamps each member with the current time; here members are
  sorted by key and dated 1980-01-01, so equal arrays give equal files.
  """
  path = pathlib.Path(path)
  path.parent.mkdir(parents=True, exist_ok=True)
  tmp = path.with_name(path.name + ".tmp")
  with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
    for key in sorted(flat):
      buf = io.BytesIO()
      np.lib.format.write_array(buf, np.ascontiguousarray(flat[key]), allow_pickle=False)
      info = zipfile.ZipInfo(f"{key}.npy", date_time=(1980, 1, 1, 0, 0, 0))
      info.compress_type = zipfile.ZIP_DEFLATED
      info.external_attr = 0o644 << 16
      zf.writestr(info, buf.getvalue())
  os.replace(tmp, path)
  return path


def save_params(params: Mapping[str, Mapping], folder: str | os.PathLike) -> list[pathlib.Path]:
  """Write ``{name}.npz`` into ``folder`` for each net in ``params`` (checked first).

  ``params`` may hold any of pnet/rnet/onet (e.g. one stage after training);
  :func:`load_params` needs all three in a folder.

  Returns:
    The paths written, in pnet, rnet, onet order.
  """
  unknown = sorted(set(params) - set(NET_NAMES))
  if unknown:
    raise ValueError(f"unknown nets {unknown}; expected keys among {', '.join(NET_NAMES)}")
  for name in params:
    check_params(name, params[name])
  folder = pathlib.Path(folder)
  return [write_npz(folder / f"{name}.npz", flatten_params(params[name]))
          for name in NET_NAMES if name in params]


def _read_net(path: pathlib.Path, name: str) -> dict:
  try:
    with np.load(path, allow_pickle=False) as f:
      flat = {k: f[k].astype(np.float32) for k in f.files}
  except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
    raise ValueError(f"{path}: not a readable .npz of {name} params ({e})") from None
  params = unflatten_params(flat)
  try:
    check_params(name, params)
  except ValueError as e:
    raise ValueError(f"{path}: {e}") from None
  return params


@functools.lru_cache(maxsize=8)
def _load_cached(folder: str) -> dict:
  root = pathlib.Path(folder)
  missing = [f"{n}.npz" for n in NET_NAMES if not (root / f"{n}.npz").is_file()]
  if missing:
    raise FileNotFoundError(f"{root} lacks {', '.join(missing)} (an MTCNN params folder holds "
                            "pnet.npz, rnet.npz and onet.npz)")
  params = {name: _read_net(root / f"{name}.npz", name) for name in NET_NAMES}
  # Concrete arrays even when the first load happens under a trace (e.g. inside
  # jax.eval_shape): the cache must never keep tracers.
  with jax.ensure_compile_time_eval():
    return jax.tree.map(jnp.asarray, params)


def load_params(source: str | os.PathLike = "published") -> dict[str, dict]:
  """Params for all three nets: ``{"pnet": ..., "rnet": ..., "onet": ...}``.

  Args:
    source: ``"published"`` for the shipped original MTCNN weights, the name
      of a shipped self-trained cascade (:data:`SELF_TRAINED`, e.g.
      ``"wider600"``: trained by this project on 600 WIDER images), or a
      folder holding ``pnet.npz``, ``rnet.npz`` and ``onet.npz`` (as written
      by :func:`save_params`).

  Returns:
    Nested dicts of float32 ``jax.Array`` (already on the default device).
    Loads are cached per folder (detection calls this on every image); the
    dicts are fresh each call, so editing them does not touch the cache.
    Call ``load_params.cache_clear()`` after rewriting a folder in place.

  Raises:
    FileNotFoundError: a file is missing.
    ValueError: a file holds params of the wrong net or shape.
  """
  folder = (WEIGHTS_DIR if str(source) == "published"
            else WEIGHTS_DIR / str(source) if str(source) in SELF_TRAINED
            else pathlib.Path(source))
  cached = _load_cached(str(folder.resolve()))
  return jax.tree.map(lambda a: a, cached)  # fresh containers, shared (immutable) arrays


load_params.cache_clear = _load_cached.cache_clear  # type: ignore[attr-defined]
