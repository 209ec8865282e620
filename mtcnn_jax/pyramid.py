"""The image pyramid and P-Net candidate extraction, with static shapes.

Images are padded into a *canvas* (a size bucket). Pyramid scales follow the
original: ``m = 12 / min_face_size``, ``scales = m * factor**k`` while
``min_side * scale >= 12``. They are computed in Python from the canvas, so
they are static; an image smaller than its canvas simply has no valid P-Net
cells on the extra levels. Each level holds the image's valid region resized
to ``ceil(h * scale) x ceil(w * scale)`` (the original's size) inside a static
``ceil(H * scale) x ceil(W * scale)`` array; cells outside the valid region
are masked.

Two resampling methods, for the pyramid levels and for the R-/O-Net crops:

* ``"area"``: each output pixel is the mean of the input pixels
  ``[floor(o*n/m), ceil((o+1)*n/m))`` per axis — PyTorch's area interpolation
  (adaptive average pooling), which facenet-pytorch uses and which TF's AREA
  resize (ipazc) approximates. Computed exactly from an int32 summed-area table
  (integer pixel sums; int32 wrap-around cancels in the box differences), so the
  cost is four gathers per output pixel whatever the scale.
* ``"bilinear"``: half-pixel centres, no antialiasing, like the original MATLAB
  code's ``imResample(.., 'bilinear')``.
"""
from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from mtcnn_jax.nms import valid_first

__all__ = ["pyramid_scales", "level_shape", "resize_region", "pnet_output_size",
           "candidate_boxes", "level_candidates", "crop_and_resize", "summed_area_table",
           "RESIZE_METHODS"]

RESIZE_METHODS = ("area", "bilinear")

CELL_SIZE = 12
STRIDE = 2


def pyramid_scales(height: int, width: int, min_face_size: float = 20.0,
                   factor: float = 0.709) -> tuple[float, ...]:
  """The original's scale list for an image (or canvas) of this size."""
  if min_face_size < CELL_SIZE:
    raise ValueError(f"min_face_size must be >= {CELL_SIZE} (P-Net's window), got {min_face_size}")
  if not 0 < factor < 1:
    raise ValueError(f"factor must be in (0, 1), got {factor}")
  m = CELL_SIZE / min_face_size
  min_side = min(height, width) * m
  scales = []
  scale = m
  while min_side >= CELL_SIZE:
    scales.append(scale)
    scale *= factor
    min_side *= factor
  return tuple(scales)


def level_shape(height: int, width: int, scale: float) -> tuple[int, int]:
  """The original's level size: ``ceil(h * scale)``, ``ceil(w * scale)``."""
  return int(math.ceil(height * scale)), int(math.ceil(width * scale))


def _ceil_scaled(n, scale: float, max_n: int):
  """``ceil(n * scale)`` for a traced integer ``0 <= n <= max_n``, exactly as in double.

  (float32 arithmetic gets it wrong for common sizes: 100 * float32(0.6) =
  60.0000038 -> 61.) The static ``scale`` and bound give a float64 table.
  """
  table = np.ceil(np.arange(max_n + 1, dtype=np.float64) * scale).astype(np.int32)
  return jnp.asarray(table)[jnp.clip(n, 0, max_n)]


def _bilinear_taps(out_len: int, valid_out, valid_in):
  """Source rows (lower, upper) and weight of the upper one, half-pixel centres."""
  pos = (jnp.arange(out_len, dtype=jnp.float32) + 0.5) * (valid_in / valid_out) - 0.5
  pos = jnp.clip(pos, 0.0, (valid_in - 1).astype(jnp.float32))
  lower = jnp.floor(pos).astype(jnp.int32)
  upper = jnp.minimum(lower + 1, valid_in - 1)
  return lower, upper, pos - lower


def _prefix_sum(x, axis: int, block: int = 8):
  """``jnp.cumsum(x, axis)`` for integer ``x``, as sums within blocks of ``block``
  plus the running block totals: the same int32 result, and on CPU faster
  than XLA's single long scan (the pyramid of a 640x480 frame, table
  included, went from 5.8 to 3.4-4.0 ms in benchmarks/mtcnn_stages.py)."""
  n = x.shape[axis]
  if n % block:
    return jnp.cumsum(x, axis=axis)
  x = jnp.moveaxis(x, axis, 0)
  inner = jnp.cumsum(x.reshape(n // block, block, *x.shape[1:]), axis=1)
  before = jnp.cumsum(inner[:, -1], axis=0) - inner[:, -1]     # totals of earlier blocks
  return jnp.moveaxis((inner + before[:, None]).reshape(x.shape), 0, axis)


def summed_area_table(image, height, width):
  """Exclusive int32 prefix sums ``[H + 1, W + 1, C]`` of ``image[:height, :width]``
  (pixels outside the valid size count as zero). ``image`` holds integer values."""
  rows = jnp.arange(image.shape[0])[:, None, None] < height
  cols = jnp.arange(image.shape[1])[None, :, None] < width
  x = jnp.where(rows & cols, jnp.round(image), 0).astype(jnp.int32)
  table = _prefix_sum(_prefix_sum(x, 0), 1)
  return jnp.pad(table, ((1, 0), (1, 0), (0, 0)))


def _box_mean(table, r0, r1, c0, c1, area):
  """Mean over rows [r0, r1) x cols [c0, c1) from a summed-area table (index grids)."""
  total = (table[r1, c1] - table[r0, c1] - table[r1, c0] + table[r0, c0]).astype(jnp.float32)
  return total / area


def _area_bounds(out_len: int, n_in, n_out):
  """PyTorch adaptive-average-pool ranges: [floor(o*n/m), ceil((o+1)*n/m))."""
  o = jnp.arange(out_len)
  return (o * n_in) // n_out, ((o + 1) * n_in + n_out - 1) // n_out


def resize_region(image, height, width, out_shape: tuple[int, int], scale: float,
                  method: str = "bilinear", table=None):
  """Resize ``image[:height, :width]`` to ``ceil(height*scale) x ceil(width*scale)``.

  Args:
    image: ``[H, W, C]`` canvas (float).
    height, width: the valid image size inside it (int scalars, may be traced).
    out_shape: static output array shape ``(Ho, Wo)`` (the canvas level size).
    scale: the level's scale.
    method: ``"area"`` or ``"bilinear"`` (see the module docstring).
    table: for ``"area"``, a precomputed :func:`summed_area_table` (shared by
      all levels); computed here if not given.

  Returns:
    ``([Ho, Wo, C], valid_h, valid_w)``; content beyond the valid size is
    unspecified (callers mask it).
  """
  height, width = jnp.asarray(height, jnp.int32), jnp.asarray(width, jnp.int32)
  vh = _ceil_scaled(height, scale, image.shape[0])
  vw = _ceil_scaled(width, scale, image.shape[1])
  if method == "area":
    if table is None:
      table = summed_area_table(image, height, width)
    r0, r1 = _area_bounds(out_shape[0], height, vh)
    c0, c1 = _area_bounds(out_shape[1], width, vw)
    r0, r1 = jnp.minimum(r0, height), jnp.minimum(r1, height)
    c0, c1 = jnp.minimum(c0, width), jnp.minimum(c1, width)
    area = jnp.maximum((r1 - r0)[:, None] * (c1 - c0)[None, :], 1).astype(jnp.float32)
    out = _box_mean(table, r0[:, None], r1[:, None], c0[None, :], c1[None, :], area[..., None])
    return out, vh, vw
  if method != "bilinear":
    raise ValueError(f"resize method must be one of {RESIZE_METHODS}, got {method!r}")
  y0, y1, wy = _bilinear_taps(out_shape[0], vh, height)
  x0, x1, wx = _bilinear_taps(out_shape[1], vw, width)
  rows = image[y0] * (1 - wy)[:, None, None] + image[y1] * wy[:, None, None]
  out = rows[:, x0] * (1 - wx)[None, :, None] + rows[:, x1] * wx[None, :, None]
  return out, vh, vw


def pnet_output_size(level_size):
  """P-Net's output cells along a side of ``level_size`` pixels (Caffe ceil pooling).

  A Python int for a Python int (static shapes), else a traced int array.
  """
  if isinstance(level_size, int):
    return max((level_size - 1) // 2 - 4, 0)
  return jnp.maximum((level_size - 1) // 2 - 4, 0)   # ceil((n - 2) / 2) - 4


def candidate_boxes(prob, offsets, valid_h, valid_w, scale: float, threshold: float, top_k: int):
  """P-Net heatmap -> the ``top_k`` best cells as boxes (the original's generateBoundingBox).

  Args:
    prob: ``[h, w]`` face probability; offsets: ``[h, w, 4]``.
    valid_h, valid_w: the valid level size in pixels (cells beyond are masked).
    scale: the level's scale.
    threshold: cells with ``prob >= threshold`` are candidates.
    top_k: static number of slots.

  Returns:
    ``boxes [top_k, 4]`` (MATLAB 1-based inclusive), ``scores [top_k]``,
    ``offsets [top_k, 4]``, ``valid [top_k]``.
  """
  k = min(top_k, prob.size)
  boxes, scores, offs, valid, _ = level_candidates([prob], [offsets], [(valid_h, valid_w)],
                                                   [scale], threshold, k)
  pad = top_k - k               # a tiny level: pad to the static slot count
  return (jnp.pad(boxes, ((0, pad), (0, 0))), jnp.pad(scores, (0, pad)),
          jnp.pad(offs, ((0, pad), (0, 0))), jnp.pad(valid, (0, pad)))


# level_candidates orders only a prefix of this many candidate cells when they fit in it
# (lax.switch; otherwise every cell of the pyramid): a few hundred to a few thousand
# cells pass P-Net's threshold on a photo, out of about 10^5.
CANDIDATE_BUCKETS = (1024, 4096, 16384)


def _cell_corner_table(shapes, scales) -> tuple[np.ndarray, np.ndarray]:
  """``starts, ends [L, max side]``: fix((2*cell + 1) / scale) and fix((2*cell + 12) / scale)
  of every level, in float64 as the original (float32 division moves some corners)."""
  cells = np.arange(max(max(shape) for shape in shapes), dtype=np.float64)
  starts = np.stack([np.trunc((STRIDE * cells + 1) / scale) for scale in scales])
  ends = np.stack([np.trunc((STRIDE * cells + CELL_SIZE) / scale) for scale in scales])
  return starts.astype(np.float32), ends.astype(np.float32)


def _best_per_level(slots, level_of, key, count, caps, total: int):
  """The candidates ``slots[:count]`` (in slot order), each level's best ``caps[l]``
  by descending ``key`` (ties: slot order), ordered by level then key, in ``total``
  static slots; and how many there are. Only the smallest
  :data:`CANDIDATE_BUCKETS` prefix of ``slots`` holding them is touched."""
  num_levels = caps.shape[0]

  def prefix(m):
    def run(_):
      ids, inside = slots[:m], jnp.arange(m) < count
      levels = jnp.where(inside, level_of[ids], num_levels)
      order = jax.lax.sort((levels, jnp.where(inside, -key[ids], 0.0),
                            jnp.arange(m, dtype=jnp.int32)), num_keys=2, is_stable=True)[2]
      ids, levels = ids[order], levels[order]
      per_level = jnp.zeros(num_levels + 1, jnp.int32).at[levels].add(1)
      rank = jnp.arange(m) - (jnp.cumsum(per_level) - per_level)[levels]
      keep = (levels < num_levels) & (rank < jnp.append(caps, 0)[levels])
      ids = ids[valid_first(keep)]
      ids = ids[:total] if m >= total else jnp.pad(ids, (0, total - m))
      return ids, jnp.sum(keep, dtype=jnp.int32)
    return run

  sizes = [m for m in CANDIDATE_BUCKETS if m < slots.shape[0]] + [slots.shape[0]]
  which = jnp.searchsorted(jnp.asarray(sizes[:-1], jnp.int32), count, side="left")
  return jax.lax.switch(which, [prefix(m) for m in sizes], None)


def level_candidates(probs, offsets, valid_sizes, scales, threshold, top_k: int):
  """:func:`candidate_boxes` of every pyramid level at once (one ordering, one gather).

  Args:
    probs: per level ``[h_l, w_l]`` face probability; offsets: per level ``[h_l, w_l, 4]``.
    valid_sizes: per level ``(valid_h, valid_w)`` in pixels (cells beyond are masked).
    scales: per level scale (Python floats).
    threshold: cells with ``prob >= threshold`` are candidates.
    top_k: static cap of candidates per level (the best by probability).

  Returns:
    ``boxes [S, 4]`` (MATLAB 1-based inclusive), ``scores [S]``, ``offsets [S, 4]``,
    ``valid [S]``, ``levels [S]`` int32, ``S = sum_l min(top_k, h_l * w_l)``: the
    valid slots first, by level, then descending probability, ties in cell order --
    the valid slots of the per-level :func:`candidate_boxes` outputs concatenated,
    in the same order (invalid slots hold zeros).
  """
  shapes = [p.shape for p in probs]
  sizes = np.array([h * w for h, w in shapes])
  caps = np.minimum(top_k, sizes)
  level_of = jnp.asarray(np.repeat(np.arange(len(shapes), dtype=np.int32), sizes))
  ok = [(jnp.arange(h)[:, None] < pnet_output_size(vh)) & (jnp.arange(w)[None, :] <
        pnet_output_size(vw)) & (p >= threshold)
        for p, (h, w), (vh, vw) in zip(probs, shapes, valid_sizes)]
  key = jnp.concatenate([jnp.where(o, p, -jnp.inf).reshape(-1) for o, p in zip(ok, probs)])
  head = key != -jnp.inf
  slots, count = _best_per_level(valid_first(head), level_of, key,
                                 jnp.sum(head, dtype=jnp.int32), jnp.asarray(caps),
                                 int(caps.sum()))
  valid = jnp.arange(slots.shape[0]) < count
  levels = level_of[slots]
  local = slots - jnp.asarray(np.cumsum(sizes) - sizes)[levels]
  widths = jnp.asarray([w for _, w in shapes])[levels]
  i, j = local // widths, local % widths
  starts, ends = (jnp.asarray(t) for t in _cell_corner_table(shapes, scales))
  boxes = jnp.stack([starts[levels, j], starts[levels, i], ends[levels, j], ends[levels, i]], -1)
  offs = jnp.concatenate([o.reshape(-1, 4) for o in offsets])[slots]
  return (jnp.where(valid[:, None], boxes, 0.0), jnp.where(valid, key[slots], 0.0),
          jnp.where(valid[:, None], offs, 0.0), valid, levels)


def crop_and_resize(image, height, width, boxes, size: int, method: str = "bilinear",
                    table=None):
  """Crop integer MATLAB boxes from the image and resize them to ``size x size``.

  As in the original: the box region is taken from a zero image of the box's
  size into which the in-image part is pasted (out-of-image areas are zero),
  then resized (``method``: ``"area"`` or ``"bilinear"``; ``table``: a
  :func:`summed_area_table` for ``"area"``).

  Args:
    image: ``[H, W, C]`` canvas; only ``[:height, :width]`` is read.
    boxes: ``[K, 4]`` truncated (integer-valued) 1-based inclusive boxes.
    size: output side (24 for R-Net, 48 for O-Net).

  Returns:
    ``[K, size, size, C]``.
  """
  if method == "area":
    if table is None:
      table = summed_area_table(image, height, width)

    def one_area(box):
      bw = jnp.maximum(box[2] - box[0] + 1, 1.0).astype(jnp.int32)
      bh = jnp.maximum(box[3] - box[1] + 1, 1.0).astype(jnp.int32)
      r0, r1 = _area_bounds(size, bh, size)
      c0, c1 = _area_bounds(size, bw, size)
      area = ((r1 - r0)[:, None] * (c1 - c0)[None, :]).astype(jnp.float32)
      top, left = box[1].astype(jnp.int32) - 1, box[0].astype(jnp.int32) - 1
      clip_r = lambda r: jnp.clip(top + r, 0, height)     # outside the image adds zero
      clip_c = lambda c: jnp.clip(left + c, 0, width)
      return _box_mean(table, clip_r(r0)[:, None], clip_r(r1)[:, None],
                       clip_c(c0)[None, :], clip_c(c1)[None, :], area[..., None])

    return jax.vmap(one_area)(boxes)
  if method != "bilinear":
    raise ValueError(f"resize method must be one of {RESIZE_METHODS}, got {method!r}")

  def one(box):
    x1, y1, x2, y2 = box[0], box[1], box[2], box[3]
    bw = jnp.maximum(x2 - x1 + 1, 1.0)
    bh = jnp.maximum(y2 - y1 + 1, 1.0)
    t = (jnp.arange(size, dtype=jnp.float32) + 0.5) / size
    ys = jnp.clip(t * bh - 0.5, 0.0, bh - 1)
    xs = jnp.clip(t * bw - 0.5, 0.0, bw - 1)
    y0, x0 = jnp.floor(ys), jnp.floor(xs)
    wy, wx = ys - y0, xs - x0
    y1i = jnp.minimum(y0 + 1, bh - 1)
    x1i = jnp.minimum(x0 + 1, bw - 1)

    def fetch(yy, xx):   # tmp-local coords -> image pixels, zero outside the image
      r = (y1 - 1 + yy).astype(jnp.int32)
      c = (x1 - 1 + xx).astype(jnp.int32)
      inside = ((r >= 0) & (r < height))[:, None] & ((c >= 0) & (c < width))[None, :]
      rr = jnp.clip(r, 0, image.shape[0] - 1)
      cc = jnp.clip(c, 0, image.shape[1] - 1)
      vals = image[rr[:, None], cc[None, :]]          # [size, size, C]: only the needed pixels
      return jnp.where(inside[..., None], vals, 0.0)

    top = fetch(y0, x0) * (1 - wx)[None, :, None] + fetch(y0, x1i) * wx[None, :, None]
    bottom = fetch(y1i, x0) * (1 - wx)[None, :, None] + fetch(y1i, x1i) * wx[None, :, None]
    return top * (1 - wy)[:, None, None] + bottom * wy[:, None, None]

  return jax.vmap(one)(boxes)
