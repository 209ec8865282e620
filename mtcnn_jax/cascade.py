"""The MTCNN cascade (P-Net -> R-Net -> O-Net) as one jitted function per canvas.

``detect_padded`` is the jittable core: a canvas ``[H, W, 3]`` holding an
image of size ``(height, width)`` in its top-left corner -> :class:`Detections`
with a fixed number of slots and a ``valid`` mask. Every budget is static
(candidates per pyramid level, candidates into R-Net and O-Net, faces out),
so all images padded to one canvas share one compiled function.
``detect`` / ``detect_batch`` are the host-side conveniences: they read and
check the input (paths, PIL images, uint8 or float arrays:
:mod:`mtcnn_jax.input_checks`), pick the canvas, call the core, trim the result
to NumPy and, when asked, keep the largest face (:func:`select_faces`).

The stage logic follows the original MATLAB ``detect_face.m`` line by line
(see :mod:`mtcnn_jax.boxes` for the box arithmetic). Where a budget is
reached, the lowest-scored candidates are dropped (counted in ``overflow``).
"""
from __future__ import annotations

import dataclasses
import functools
import sys
import warnings
from typing import Any, Iterable, Mapping, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from PIL import Image

from espcn_mtcnn_common import compile_cache, compile_notice, conv_impl as conv_impl_lib
from espcn_mtcnn_common.conv_impl import resolve_conv_impl
from mtcnn_jax import boxes as box_ops
from mtcnn_jax import nets as nets_lib
from mtcnn_jax import nms as nms_lib
from mtcnn_jax import pyramid
from mtcnn_jax.input_checks import ImageInput, as_image_list, as_rgb_uint8
from mtcnn_jax.nets import ONet, PNet, RNet
from mtcnn_jax.nms import nms, nms_order
from mtcnn_jax.params import load_params

__all__ = ["DetectorConfig", "Detections", "FaceDetections", "detect", "detect_batch",
           "detect_padded", "canvas_shape", "check_config", "select_faces"]


@dataclasses.dataclass(frozen=True)
class DetectorConfig:
  """Settings of the cascade (hashable: it is a jit static argument).

  All fields are static (a new value compiles the cascade again) except
  ``thresholds``, which :func:`detect` and :func:`detect_batch` pass as data:
  trying another threshold reuses the compiled cascade.

  Attributes:
    min_face_size: smallest face searched for, pixels (original: 20).
    factor: pyramid scale step (original: 0.709).
    thresholds: P-Net, R-Net, O-Net face-probability thresholds (0.6, 0.7, 0.7).
    nms_thresholds: per-level (0.5), across levels (0.7), after R-Net (0.7),
      after O-Net with the 'min' overlap (0.7).
    level_top_k: P-Net candidates kept per level before its NMS.
    stage1_pool: candidates (best of all levels) entering the cross-level NMS.
    rnet_k: candidates into R-Net; onet_k: into O-Net; max_faces: out.
      The defaults drop nothing on the 293 crowded WIDER parity images (a
      budget only costs work in proportion to the candidates really present:
      NMS blocks and R-/O-Net chunks without a valid candidate are skipped).
    rnet_chunk, onet_chunk: R-Net/O-Net batch chunks (crop + network); chunks
      holding no valid candidate are skipped. (On CPU, with pooling fused into
      the PReLU, R-Net chunks of 32 measured about 5% faster than 64 on crowded
      640x480 photos (A/B runs of the whole cascade), 96 and more slower; O-Net's
      chunk of 16 wastes less than 32 on the few candidates it usually gets, and
      was no slower on crowded photos. ``python benchmarks/mtcnn_stages.py``
      times each stage.)
    resize: ``"area"`` (as facenet-pytorch and ipazc resample) or
      ``"bilinear"`` (the original MATLAB code); see :mod:`mtcnn_jax.pyramid`.
    nms_plus_one: NMS overlaps with MATLAB's inclusive-pixel ``+1`` areas (the
      original; suppresses more) or continuous areas (default: what both
      facenet-pytorch and ipazc do, and what the parity targets are measured on).
    conv_impl: the nets' convolution forms, one of
      :data:`espcn_mtcnn_common.conv_impl.CONV_IMPLS`. ``"auto"`` (default): the forms
      tuned on XLA:CPU (and P-Net in row bands, :func:`pnet_in_row_bands`)
      when ``jax.default_backend() == "cpu"``, plain XLA convolutions on the
      whole pyramid level elsewhere (GPU and TPU timings of the two have not
      been measured yet). ``"cpu_tuned"`` or ``"xla"`` forces one. Same
      params and detections either way (float rounding aside).
  """
  min_face_size: float = 20.0
  factor: float = 0.709
  thresholds: tuple[float, float, float] = (0.6, 0.7, 0.7)
  nms_thresholds: tuple[float, float, float, float] = (0.5, 0.7, 0.7, 0.7)
  level_top_k: int = 8192
  stage1_pool: int = 8192
  rnet_k: int = 4096
  onet_k: int = 2048
  max_faces: int = 1024
  rnet_chunk: int = 32
  onet_chunk: int = 16
  resize: str = "area"
  nms_plus_one: bool = False
  conv_impl: str = "auto"


class Detections(NamedTuple):
  """Fixed-slot results (a pytree): ``boxes [K, 4]`` continuous ``[x1, y1, x2, y2)``,
  ``scores [K]``, ``landmarks [K, 5, 2]`` (x, y; left eye, right eye, nose, left
  and right mouth corner, image-left first), ``valid [K]``, ``overflow []`` (how
  many candidates the budgets dropped)."""
  boxes: jax.Array
  scores: jax.Array
  landmarks: jax.Array
  valid: jax.Array
  overflow: jax.Array


@dataclasses.dataclass(frozen=True)
class FaceDetections:
  """Detections of one image, trimmed, as NumPy: ``boxes [N, 4]`` float32
  continuous pixel ``[x1, y1, x2, y2)``, ``scores [N]``, ``landmarks [N, 5, 2]``,
  sorted by descending score."""
  boxes: np.ndarray
  scores: np.ndarray
  landmarks: np.ndarray

  def __len__(self) -> int:
    return len(self.scores)

  def to_json(self) -> dict:
    return {"boxes": np.round(self.boxes, 4).tolist(), "scores": np.round(self.scores, 6).tolist(),
            "landmarks": np.round(self.landmarks, 4).tolist()}


def _normalize(x):
  return (x - 127.5) * 0.0078125


def _compact(k: int, scores, valid, *arrays):
  """The ``k`` best valid slots (descending score) of each array, and their validity.

  Always ``k`` slots: with fewer inputs (a small canvas has few P-Net cells)
  the rest are invalid zeros, so ``detect_padded`` keeps its fixed shapes.
  """
  order = nms_order(scores, valid, min(k, scores.shape[0]))
  pad = k - order.shape[0]

  def take(a):
    a = a[order]
    return jnp.pad(a, ((0, pad),) + ((0, 0),) * (a.ndim - 1)) if pad else a
  return (take(scores), take(valid), *[take(a) for a in arrays])


def _chunked(fn, x, valid, chunk: int):
  """Apply ``fn`` to ``x [K, ...]`` in chunks, skipping chunks with no valid entry."""
  k = x.shape[0]
  chunk = min(chunk, k)
  pad = -k % chunk
  xs = jnp.pad(x, ((0, pad),) + ((0, 0),) * (x.ndim - 1)).reshape(-1, chunk, *x.shape[1:])
  vs = jnp.pad(valid, (0, pad)).reshape(-1, chunk)
  shapes = jax.eval_shape(fn, xs[0])

  def run(args):
    xc, vc = args
    return jax.lax.cond(jnp.any(vc), fn, lambda _: jax.tree.map(
        lambda s: jnp.zeros(s.shape, s.dtype), shapes), xc)

  out = jax.lax.map(run, (xs, vs))
  return jax.tree.map(lambda o: o.reshape(-1, *o.shape[2:])[:k], out)


# P-Net levels with at least PNET_BAND_MIN_ROWS rows of cells run as PNET_ROW_BANDS
# independent row bands, which XLA's runtime spreads over the CPU cores (P-Net's
# small-channel convolutions otherwise run on one thread): about 5% off the whole
# cascade on 640x480 photos, 8% on 1024-px photos (A/B runs on 8 WIDER photos;
# `python benchmarks/mtcnn_bench.py` times the cascade at both sizes).
PNET_ROW_BANDS = 3
PNET_BAND_MIN_ROWS = 80


def pnet_in_row_bands(pnet_params, x, valid_size, bands: int | None = None,
                      conv_impl: str = "auto"):
  """``PNet(conv_impl=conv_impl).apply`` on ``x [1, H, W, 3]``, as ``bands`` row bands.

  ``bands=None``: ``PNET_ROW_BANDS`` for levels with at least
  ``PNET_BAND_MIN_ROWS`` rows of cells, else one (the cascade's rule); the
  bands are a CPU speed trick, so with ``conv_impl`` resolving to ``"xla"``
  (see :func:`espcn_mtcnn_common.conv_impl.resolve_conv_impl`) it is one band, the whole level.

  Output cell row ``i`` sees input rows ``[2i, 2i + 12)``, so the band of cell
  rows ``[a, b)`` needs input rows ``[2a, 2b + 10)``; even starts keep the 2x2
  pooling grid, and only the last band meets the bottom edge (ceil-mode
  pooling), as in the whole level. Same arguments and results as
  ``PNet().apply(..., valid_size=valid_size)``, up to float rounding: XLA's CPU
  convolutions pick their kernels by shape, so a band's sums may be ordered
  differently (differences of a few 1e-7 in the probabilities; often none).
  ``bands`` is capped at the number of cell rows.
  """
  h = x.shape[1]
  cells = pyramid.pnet_output_size(h)
  if bands is None:
    tuned = resolve_conv_impl(conv_impl) == "cpu_tuned"
    bands = PNET_ROW_BANDS if tuned and cells >= PNET_BAND_MIN_ROWS else 1
  bands = max(1, min(bands, cells))
  cuts = [round(cells * k / bands) for k in range(bands + 1)]
  pnet = PNet(conv_impl=conv_impl)
  parts = [pnet.apply({"params": pnet_params}, x[:, 2 * a: min(2 * b + 10, h)],
                      valid_size=(valid_size[0] - 2 * a, valid_size[1]))
           for a, b in zip(cuts[:-1], cuts[1:])]
  return tuple(jnp.concatenate(p, axis=1) for p in zip(*parts))


def _same_level_nms(boxes, scores, valid, levels, threshold: float, plus_one: bool):
  """The original's per-level NMS of P-Net's candidates, as one NMS over all levels.

  ``boxes [K, 4]``, ``scores [K]``, ``valid [K]``, ``levels [K]`` int32 as
  :func:`mtcnn_jax.pyramid.level_candidates` returns them (valid slots first, each
  level's in NMS order). Boxes suppress only boxes of their own level, in each
  level's own order, so the keep mask is that of one NMS per level (exactly:
  stage-1 boxes have integer corners, so every overlap is computed exactly
  either way); it compiles one NMS instead of one per level
  (``python benchmarks/mtcnn_stages.py --compile 768x1024``).
  """
  return nms(boxes, scores, valid, threshold, plus_one=plus_one, presorted=True, groups=levels)


def _stage1(pnet_params, image, height, width, config: DetectorConfig, table=None):
  """P-Net over the pyramid -> squared, truncated candidate boxes (MATLAB stage 1).

  ``table``: the image's summed-area table for area resampling (made here if None).
  """
  scales = pyramid.pyramid_scales(image.shape[0], image.shape[1], config.min_face_size,
                                  config.factor)
  t_level, t_cross = config.nms_thresholds[0], config.nms_thresholds[1]
  if table is None and config.resize == "area":
    table = pyramid.summed_area_table(image, height, width)
  probs, offsets, valid_sizes = [], [], []
  for scale in scales:
    shape = pyramid.level_shape(image.shape[0], image.shape[1], scale)
    level, vh, vw = pyramid.resize_region(image, height, width, shape, scale,
                                          method=config.resize, table=table)
    prob, offs = pnet_in_row_bands(pnet_params, _normalize(level)[None], (vh, vw),
                                   conv_impl=config.conv_impl)
    probs.append(prob[0])
    offsets.append(offs[0])
    valid_sizes.append((vh, vw))
  b, s, o, v, levels = pyramid.level_candidates(probs, offsets, valid_sizes, scales,
                                                config.thresholds[0], config.level_top_k)
  v = v & _same_level_nms(b, s, v, levels, t_level, config.nms_plus_one)   # per-scale, 'union'
  overflow = jnp.maximum(jnp.sum(v) - config.stage1_pool, 0)
  s, v, b, o = _compact(min(config.stage1_pool, s.shape[0]), s, v, b, o)
  v = v & nms(b, s, v, t_cross, plus_one=config.nms_plus_one, presorted=True)  # across scales
  b = box_ops.calibrate(b, o, plus_one=False)          # regw = x2 - x1 in stage 1
  b = box_ops.truncate(box_ops.square(b))              # rerec, fix
  overflow += jnp.maximum(jnp.sum(v) - config.rnet_k, 0)
  s, v, b = _compact(config.rnet_k, s, v, b)
  return b, s, v, overflow


def _crop_and_apply(net, params, image, height, width, size, config, table):
  """``boxes [n, 4] -> net(normalised size x size crops)`` (one chunk)."""
  def run(boxes):
    crops = pyramid.crop_and_resize(image, height, width, boxes, size, config.resize, table)
    return net(conv_impl=config.conv_impl).apply({"params": params}, _normalize(crops))
  return run


def _stage2(rnet_params, image, height, width, b, v, config: DetectorConfig, table):
  """R-Net on 24x24 crops: threshold, NMS, calibrate, square (MATLAB stage 2)."""
  prob, offsets = _chunked(
      _crop_and_apply(RNet, rnet_params, image, height, width, 24, config, table), b, v,
      config.rnet_chunk)
  v = v & (prob > config.thresholds[1])
  v = v & nms(b, prob, v, config.nms_thresholds[2], plus_one=config.nms_plus_one)
  b = box_ops.square(box_ops.calibrate(b, offsets, plus_one=True))   # bbreg, rerec
  overflow = jnp.maximum(jnp.sum(v) - config.onet_k, 0)
  prob, v, b = _compact(config.onet_k, prob, v, b)
  return box_ops.truncate(b), v, overflow


def _stage3(onet_params, image, height, width, b, v, config: DetectorConfig, table):
  """O-Net on 48x48 crops: threshold, landmarks, calibrate, 'min' NMS (MATLAB stage 3)."""
  prob, offsets, points = _chunked(
      _crop_and_apply(ONet, onet_params, image, height, width, 48, config, table), b, v,
      config.onet_chunk)
  v = v & (prob > config.thresholds[2])
  w = b[:, 2] - b[:, 0] + 1
  h = b[:, 3] - b[:, 1] + 1
  xs = w[:, None] * points[:, :5] + b[:, :1] - 1
  ys = h[:, None] * points[:, 5:] + b[:, 1:2] - 1
  landmarks = jnp.stack([xs, ys], axis=-1)
  b = box_ops.calibrate(b, offsets, plus_one=True)     # bbreg
  v = v & nms(b, prob, v, config.nms_thresholds[3], method="min", plus_one=config.nms_plus_one)
  overflow = jnp.maximum(jnp.sum(v) - config.max_faces, 0)
  prob, v, b, landmarks = _compact(config.max_faces, prob, v, b, landmarks)
  return b, prob, landmarks, v, overflow


def detect_padded(params: Mapping[str, Any], image: jax.Array, height: jax.typing.ArrayLike,
                  width: jax.typing.ArrayLike,
                  config: DetectorConfig = DetectorConfig()) -> Detections:
  """The whole cascade on one canvas (jittable; ``config`` static).

  Args:
    params: ``{"pnet", "rnet", "onet"}`` params pytrees.
    image: ``[H, W, 3]`` float32 RGB in [0, 255], the image in the top-left.
    height, width: int32 scalars, the image's size inside the canvas.
    config: :class:`DetectorConfig`.

  Returns:
    :class:`Detections` with ``config.max_faces`` slots, best first.
  """
  if config.resize not in pyramid.RESIZE_METHODS:
    raise ValueError(f"resize must be one of {pyramid.RESIZE_METHODS}, got {config.resize!r}")
  resolve_conv_impl(config.conv_impl)     # refuses unknown values before any work
  table = pyramid.summed_area_table(image, height, width) if config.resize == "area" else None
  b, _, v, overflow1 = _stage1(params["pnet"], image, height, width, config, table)
  b, v, overflow2 = _stage2(params["rnet"], image, height, width, b, v, config, table)
  b, s, lm, v, overflow3 = _stage3(params["onet"], image, height, width, b, v, config, table)
  boxes = box_ops.to_continuous(b)
  landmarks = box_ops.continuous_landmarks(lm)
  return Detections(jnp.where(v[:, None], boxes, 0.0), jnp.where(v, s, 0.0),
                    jnp.where(v[:, None, None], landmarks, 0.0), v,
                    overflow1 + overflow2 + overflow3)


def _with_thresholds(config: DetectorConfig, thresholds) -> DetectorConfig:
  """``config`` with the traced ``thresholds [3]`` (data), or as is when None."""
  return config if thresholds is None else dataclasses.replace(config, thresholds=thresholds)


def _split_thresholds(config: DetectorConfig) -> tuple[DetectorConfig, np.ndarray]:
  """The static part of ``config`` (thresholds blanked) and its thresholds as float32 data,
  so that a new threshold value reuses the compiled cascade."""
  return (dataclasses.replace(config, thresholds=None),
          np.asarray(config.thresholds, np.float32))


@functools.partial(jax.jit, static_argnames=("config",))
def _detect_one(params, image, height, width, config, thresholds=None):
  return detect_padded(params, image, height, width, _with_thresholds(config, thresholds))


@functools.partial(jax.jit, static_argnames=("config",))
def _detect_many(params, images, heights, widths, config, thresholds=None):
  # lax.map, not vmap: under vmap every lax.cond becomes a select and the
  # skipping of empty NMS blocks and R-/O-Net chunks would be lost.
  config = _with_thresholds(config, thresholds)
  return jax.lax.map(lambda a: detect_padded(params, a[0], a[1], a[2], config),
                     (images, heights, widths))


def _params_signature(params) -> tuple:
  """The params' tree and leaf shapes/dtypes: what a compiled cascade depends on."""
  leaves, tree = jax.tree.flatten(params)
  return (str(tree), tuple((tuple(np.shape(a)), str(_dtype(a))) for a in leaves))


def _dtype(a) -> np.dtype:
  """An array's dtype without copying it (a Python scalar's as NumPy would store it)."""
  return a.dtype if hasattr(a, "dtype") else np.asarray(a).dtype


# Compiled cascades of this process: (canvas shape, static config, params
# signature) -> callable(params, canvas, height, width, thresholds) -> Detections.
_CASCADES: dict[tuple, Any] = {}


def _exported_cascade(store, params, canvas_hw: tuple[int, int], static: DetectorConfig):
  """The cascade for one canvas through a stored ``jax.export`` program.

  A later process deserialises it (milliseconds) instead of tracing and
  lowering ``detect_padded`` again (2-3 s per canvas on a 2-core CPU, about a
  third of a cold canvas); its XLA compilation is then a hit in the
  persistent cache. Same program, same results (checked on the 293
  ``wider_val_dev`` photos; ``benchmarks/cold_start_bench.py`` times it).
  """
  def run(p, image, height, width, thresholds):
    return tuple(detect_padded(p, image, height, width, _with_thresholds(static, thresholds)))

  specs = (jax.tree.map(lambda a: jax.ShapeDtypeStruct(np.shape(a), _dtype(a)), params),
           jax.ShapeDtypeStruct((*canvas_hw, 3), np.float32),
           jax.ShapeDtypeStruct((), np.int32), jax.ShapeDtypeStruct((), np.int32),
           jax.ShapeDtypeStruct((3,), np.float32))
  source = compile_cache.source_digest(sys.modules[__name__], box_ops, pyramid, nms_lib,
                                      nets_lib, conv_impl_lib)
  key = f"{canvas_hw}|{static!r}|{_params_signature(params)}|{source}"
  exported = compile_cache.load_or_export(store, "mtcnn-cascade", key,
                                          lambda: jax.export.export(jax.jit(run))(*specs))
  call = jax.jit(exported.call)
  return lambda p, image, height, width, thresholds: Detections(
      *call(p, image, height, width, thresholds))


def _cascade(params, canvas_hw: tuple[int, int], static: DetectorConfig):
  """The compiled cascade for a canvas, announced on stderr the first time
  (:mod:`espcn_mtcnn_common.compile_notice`)."""
  key = (canvas_hw, static, _params_signature(params))
  program = _CASCADES.get(key)
  if program is not None:
    return program
  compile_notice.announce(("mtcnn_jax.detect",) + key, _compile_message(canvas_hw))
  store = compile_cache.program_store()
  if store is None:
    program = lambda p, image, height, width, thresholds: _detect_one(   # noqa: E731
        p, image, height, width, static, thresholds)
  else:
    program = _exported_cascade(store, params, canvas_hw, static)
  _CASCADES[key] = program
  return program


def _compile_message(canvas_hw: tuple[int, int], batch: int | None = None) -> str:
  what = f"{canvas_hw[0]}x{canvas_hw[1]} canvas" + ("" if batch is None else f", batch {batch}")
  return (f"mtcnn_jax: compiling the cascade for a {what} (once per size; "
          f"{compile_notice.QUIET_ENV_VAR}=1 hides this line)")


# --------------------------------------------------------------------------- host side

CANVAS_MULTIPLE = 128
MAX_IMAGE_SIDE = 4096


def canvas_shape(height: int, width: int, multiple: int = CANVAS_MULTIPLE) -> tuple[int, int]:
  """The canvas (size bucket) for an image: each side rounded up to ``multiple``."""
  return (-(-height // multiple) * multiple, -(-width // multiple) * multiple)


def _as_rgb_uint8(image: ImageInput, where: str = "image") -> np.ndarray:
  """Any accepted image form -> uint8 ``[H, W, 3]``: :func:`mtcnn_jax.input_checks.as_rgb_uint8`."""
  return as_rgb_uint8(image, where)


def _shrink(image: np.ndarray, max_side: int) -> tuple[np.ndarray, float]:
  """Downscale images whose longer side exceeds ``max_side`` (bounded memory)."""
  longest = max(image.shape[:2])
  if longest <= max_side:
    return image, 1.0
  factor = max_side / longest
  size = (max(1, round(image.shape[1] * factor)), max(1, round(image.shape[0] * factor)))
  warnings.warn(f"image {image.shape[1]}x{image.shape[0]} downscaled to {size[0]}x{size[1]} "
                f"for detection (max side {max_side}); faces below "
                "min_face_size / factor are missed", stacklevel=3)
  small = np.asarray(Image.fromarray(image).resize(size, Image.Resampling.BOX))
  return small, image.shape[1] / size[0]


def _empty() -> FaceDetections:
  return FaceDetections(np.zeros((0, 4), np.float32), np.zeros((0,), np.float32),
                        np.zeros((0, 5, 2), np.float32))


def _trim(d, scale: float) -> FaceDetections:
  valid = np.asarray(d.valid)
  return FaceDetections(np.asarray(d.boxes)[valid] * scale, np.asarray(d.scores)[valid],
                        np.asarray(d.landmarks)[valid] * scale)


def check_selection_flags(select_largest: bool, keep_all: bool) -> None:
  """Raises TypeError unless both are booleans (checked before any detection work)."""
  for name, value in (("select_largest", select_largest), ("keep_all", keep_all)):
    if not isinstance(value, (bool, np.bool_)):
      raise TypeError(f"{name} must be True or False, got {value!r}")


def select_faces(faces: FaceDetections, *, select_largest: bool = False,
                 keep_all: bool = True) -> FaceDetections:
  """Reorder and/or keep one of the faces of one image.

  Args:
    faces: one image's detections (best score first, as :func:`mtcnn_jax.detect`
      returns them).
    select_largest: sort by box area ``(x2 - x1) * (y2 - y1)``, largest first
      (ties keep score order); False keeps the score order.
    keep_all: False keeps only the first face of that order (none if there is none).

  Returns:
    :class:`~mtcnn_jax.FaceDetections` with ``N`` or ``min(N, 1)`` faces.

  Unlike facenet-pytorch, whose ``MTCNN`` defaults to ``select_largest=True,
  keep_all=False`` (the largest face only), the defaults here change nothing:
  ``select_largest=True, keep_all=False`` is facenet-pytorch's default pick,
  ``keep_all=False`` alone its ``select_largest=False`` pick (the most probable face).
  """
  check_selection_flags(select_largest, keep_all)
  order = np.arange(len(faces.scores))
  if select_largest:
    boxes = np.asarray(faces.boxes, np.float64).reshape(-1, 4)
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    order = np.argsort(-area, kind="stable")
  if not keep_all:
    order = order[:1]
  if np.array_equal(order, np.arange(len(faces.scores))):
    return faces
  return dataclasses.replace(faces, boxes=np.asarray(faces.boxes)[order],
                             scores=np.asarray(faces.scores)[order],
                             landmarks=np.asarray(faces.landmarks)[order])


def _check_unit_interval_tuple(name: str, value, length: int) -> None:
  """Raises ValueError unless ``value`` is ``length`` finite numbers in [0, 1]."""
  try:
    values = [float(x) for x in value]
  except (TypeError, ValueError):
    raise ValueError(f"{name} must be {length} numbers in [0, 1], got {value!r}") from None
  if len(values) != length or not all(0.0 <= x <= 1.0 for x in values):  # nan fails too
    raise ValueError(f"{name} must be {length} numbers in [0, 1], got {list(value)}")


def check_config(config: DetectorConfig) -> None:
  """Checks a :class:`DetectorConfig`'s values (before any image is read or traced).

  Raises:
    ValueError: a field out of range; the message names it.
  """
  try:
    min_face = float(config.min_face_size)
    factor = float(config.factor)
  except (TypeError, ValueError):
    raise ValueError("min_face_size and factor must be numbers") from None
  if not (np.isfinite(min_face) and min_face >= pyramid.CELL_SIZE):
    raise ValueError(f"min_face_size must be a finite number >= {pyramid.CELL_SIZE} "
                     f"(P-Net's window), got {config.min_face_size}")
  if not 0.0 < factor < 1.0:
    raise ValueError(f"factor must be in (0, 1), got {config.factor}")
  _check_unit_interval_tuple("thresholds", config.thresholds, 3)
  _check_unit_interval_tuple("nms_thresholds", config.nms_thresholds, 4)
  for name in ("level_top_k", "stage1_pool", "rnet_k", "onet_k", "max_faces", "rnet_chunk",
               "onet_chunk"):
    value = getattr(config, name)
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
      raise ValueError(f"{name} must be a positive integer, got {value!r}")
  if config.resize not in pyramid.RESIZE_METHODS:
    raise ValueError(f"resize must be one of {list(pyramid.RESIZE_METHODS)}, "
                     f"got {config.resize!r}")


def _resolve(params, config, kwargs) -> tuple[dict, DetectorConfig]:
  if params is None:
    params = load_params("published")
  if kwargs:
    unknown = set(kwargs) - {f.name for f in dataclasses.fields(DetectorConfig)}
    if unknown:
      raise TypeError(f"unknown detector settings: {sorted(unknown)}")
    config = dataclasses.replace(config, **kwargs)
  check_config(config)
  # Validated (a clear ValueError before any tracing) and resolved here, so
  # that "auto" shares the compiled cascade of the form it stands for.
  config = dataclasses.replace(config, conv_impl=resolve_conv_impl(config.conv_impl))
  # The config is a jit static argument, so it must be hashable: lists and
  # arrays of thresholds become tuples of floats.
  config = dataclasses.replace(config, **{
      f.name: tuple(float(x) for x in getattr(config, f.name))
      for f in dataclasses.fields(config)
      if isinstance(getattr(config, f.name), (list, np.ndarray))})
  return params, config


def detect(image: ImageInput, *, params: Mapping[str, Any] | None = None,
           config: DetectorConfig = DetectorConfig(), max_image_side: int = MAX_IMAGE_SIDE,
           select_largest: bool = False, keep_all: bool = True,
           **settings: Any) -> FaceDetections:
  """Detect faces in one image.

  Args:
    image: one image, as
      * a path (``str`` / ``pathlib.Path``), read upright (EXIF orientation applied);
      * a PIL image (converted to RGB);
      * an array (NumPy or JAX): ``[H, W, 3]`` RGB, ``[H, W]`` grey (repeated),
        ``[H, W, 4]`` RGBA (alpha ignored); uint8, or float in [0, 1] or
        [0, 255], told apart by the largest value (at most 1: [0, 1]; at least
        2: [0, 255]; in between, negative, over 255 or NaN: refused). Floats
        are rounded to 8 bits first, so ``img / 255`` finds exactly what
        ``img`` does. Rules and errors: :func:`mtcnn_jax.input_checks.as_rgb_uint8`.
      A list of images is refused: use :func:`detect_batch`.
    params: ``{"pnet", "rnet", "onet"}``; default: the published weights.
    config: :class:`DetectorConfig`; keyword ``settings`` override its fields,
      e.g. ``detect(img, min_face_size=40, thresholds=(0.6, 0.7, 0.8))`` or
      ``detect(img, conv_impl="xla")`` (see ``DetectorConfig.conv_impl``).
    max_image_side: larger images are downscaled first (bounded memory).
    select_largest: order the faces by box area, largest first (default: by
      score, best first); see :func:`mtcnn_jax.select_faces`.
    keep_all: False keeps only the first face of that order (facenet-pytorch's
      ``MTCNN()`` defaults are ``select_largest=True, keep_all=False``; the
      defaults here keep every face, best first).

  Returns:
    :class:`FaceDetections` (empty when there is no face or the image is
    smaller than P-Net's 12-pixel window), in pixels of the image as given.

  Raises:
    TypeError: not an image (e.g. a list; use :func:`detect_batch`) or an
      unknown setting; FileNotFoundError: a path that does not exist;
      ValueError: a bad setting, or an image of a bad shape, dtype or range
      (:class:`espcn_mtcnn_common.image_io.ImageError` for unreadable files).
  """
  params, config = _resolve(params, config, settings)
  check_selection_flags(select_largest, keep_all)
  compile_cache.enable_default()
  if isinstance(image, (list, tuple)):
    raise TypeError(f"detect takes one image, got a {type(image).__name__} of {len(image)}; "
                    "use detect_batch for several images")
  image = _as_rgb_uint8(image)
  image, scale = _shrink(image, max_image_side)
  h, w = image.shape[:2]
  if not pyramid.pyramid_scales(h, w, config.min_face_size, config.factor):
    return _empty()     # smaller than one P-Net window at the first scale
  ch, cw = canvas_shape(h, w)
  canvas = np.zeros((ch, cw, 3), np.float32)
  canvas[:h, :w] = image
  static, thresholds = _split_thresholds(config)
  d = _cascade(params, (ch, cw), static)(params, canvas, np.int32(h), np.int32(w), thresholds)
  return select_faces(_trim(d, scale), select_largest=select_largest, keep_all=keep_all)


def detect_batch(images: Iterable[ImageInput] | np.ndarray, *,
                 params: Mapping[str, Any] | None = None,
                 config: DetectorConfig = DetectorConfig(), max_image_side: int = MAX_IMAGE_SIDE,
                 select_largest: bool = False, keep_all: bool = True,
                 **settings: Any) -> list[FaceDetections]:
  """Detect faces in several images with one jitted call per canvas.

  Images are grouped by canvas (size bucket); each group runs as one call that
  maps the cascade over its images (``lax.map``, so empty work is still
  skipped), padded to a power-of-two count to bound recompilation.

  Args:
    images: a list or tuple (or other iterable) of images, each in any form
      :func:`detect` takes (paths, PIL images, uint8 or float arrays, mixed),
      or an ``[N, H, W, C]`` array. Errors name the image (``images[3]: ...``).
    params, config, max_image_side, select_largest, keep_all, settings: as in
      :func:`detect` (selection applies to each image).

  Returns:
    One :class:`FaceDetections` per image, in order.
  """
  params, config = _resolve(params, config, settings)
  check_selection_flags(select_largest, keep_all)
  compile_cache.enable_default()
  images = as_image_list(images, "detect_batch")
  prepared = [_shrink(_as_rgb_uint8(im, f"images[{i}]"), max_image_side)
              for i, im in enumerate(images)]
  results: list[FaceDetections | None] = [None] * len(prepared)
  groups: dict[tuple[int, int], list[int]] = {}
  for i, (im, _) in enumerate(prepared):
    h, w = im.shape[:2]
    if not pyramid.pyramid_scales(h, w, config.min_face_size, config.factor):
      results[i] = _empty()
    else:
      groups.setdefault(canvas_shape(h, w), []).append(i)
  for (ch, cw), idx in groups.items():
    # Groups are padded to a power-of-two size (repeating the last image) so
    # that batches of any size reuse a few compiled functions.
    size = 1 << (len(idx) - 1).bit_length()
    canvases = np.zeros((size, ch, cw, 3), np.float32)
    hs = np.zeros(size, np.int32)
    ws = np.zeros(size, np.int32)
    for n, i in enumerate(idx + [idx[-1]] * (size - len(idx))):
      im = prepared[i][0]
      canvases[n, : im.shape[0], : im.shape[1]] = im
      hs[n], ws[n] = im.shape[:2]
    static, thresholds = _split_thresholds(config)
    compile_notice.announce(("mtcnn_jax.detect_batch", (ch, cw), size, static,
                             _params_signature(params)),
                            _compile_message((ch, cw), size))
    d = _detect_many(params, canvases, hs, ws, static, thresholds)
    for n, i in enumerate(idx):
      results[i] = _trim(jax.tree.map(lambda a, n=n: a[n], d), prepared[i][1])
  return [select_faces(r, select_largest=select_largest, keep_all=keep_all)
          for r in results]  # type: ignore[arg-type]
