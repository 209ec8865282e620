"""Jitted ESPCN inference on images of any size without recompiling per size.

Inputs are zero-padded up to a *bucket* (height and width rounded up to a
multiple of ``bucket``) with a validity mask that is applied after each
layer, so a padded image gives exactly the unpadded result and all images in
one bucket share one compiled function. For colour images and Y-channel
models, Cb/Cr are upscaled with MATLAB bicubic inside the same jitted call.

The network runs in *row bands* (:func:`banded_apply`), not on the whole
frame at once: a band of about 40 rows of a 640-wide frame keeps its
activations (``[rows, W, 64]`` float32) in the CPU caches, where a whole-frame
pass streams 60 MB activations through memory, and a freshly allocated
activation of that size costs page faults on every call. Each band recomputes
the few rows of context (``halo``) its convolutions need at its edges, and
bands that hold only bucket padding are skipped. Each loop step computes
``BAND_CHAINS`` bands side by side, as independent chains that XLA's runtime
spreads over the cores. It computes the same function as ``ESPCN.apply``
(differences are float rounding, below 1e-6).
``benchmarks/README.md`` has the measurements behind these choices.
"""
from __future__ import annotations

import functools

import jax
from jax import lax
import jax.numpy as jnp
import numpy as np

from espcn_jax import color, resize
from espcn_jax.model import ACTIVATIONS, ESPCN, spec_from_params

__all__ = ["bucket_shape", "super_resolve", "upscale", "banded_apply", "fast_tanh",
           "DEFAULT_BUCKET"]

DEFAULT_BUCKET = 32

# LR pixels per band (rows x padded width): 40 rows of a 640-wide frame. The
# widest activation of such a band, [44, 640, 64] float32, is 7 MB and stays
# in L3 (2 MB L2 per core, 32 MB L3 here) instead of a 60 MB round trip
# through memory; the halo (4 extra conv1 rows and 2 extra conv2 rows per
# band) costs about 5% more arithmetic. Bands of 24 to 48 rows measured the
# same within noise, 8 rows slower (more halo, more loop steps), 96 rows
# slower, whole frames much slower.
BAND_PIXELS = 40 * 640

# Bands per loop step. Each band is a chain of operations independent of the
# others, so XLA's runtime can run them on different cores at once. One band
# at a time left a core idle about 40% of the time (a trace): conv1, the
# activations and the pixel shuffle run on one thread, and YNNPACK split the
# 3x3 convolutions unevenly between the two. Three chains per step measured
# 6-8% faster on the 2-core CPU (37.2 -> 34.3 and 37.8 -> 35.6 ms per 1080p
# frame, benchmarks/README.md).
BAND_CHAINS = 3


_CONV_DIMS = ("NHWC", "HWIO", "NHWC")


def bucket_shape(height: int, width: int, bucket: int = DEFAULT_BUCKET) -> tuple[int, int]:
  """Round ``(height, width)`` up to multiples of ``bucket``."""
  return (-(-height // bucket) * bucket, -(-width // bucket) * bucket)


def _pad_to(x: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
  return np.pad(x, ((0, shape[0] - x.shape[0]), (0, shape[1] - x.shape[1]), (0, 0)))


def _mask(h: int, w: int, shape: tuple[int, int]) -> np.ndarray:
  m = np.zeros((*shape, 1), np.float32)
  m[:h, :w] = 1.0
  return m


def _same_pads(k: int) -> tuple[int, int]:
  """Zero rows (before, after) that 'SAME' padding adds for a stride-1 kernel of size ``k``.

  lax's rule (and so Flax's ``nn.Conv``): the odd pixel goes after.
  """
  before = (k - 1) // 2
  return before, k - 1 - before


# Fewest rows per band: thinner bands would spend more on the halo (4 conv1
# and 2 conv2 rows per band) than they save in cache.
MIN_BAND_ROWS = 16


def band_rows(height: int, width: int, band_pixels: int = BAND_PIXELS) -> int:
  """Rows per band for a ``[height, width]`` (padded) input: about ``band_pixels`` pixels.

  At least ``MIN_BAND_ROWS`` (wide frames) and at most ``height``.
  """
  return max(1, min(height, max(MIN_BAND_ROWS, band_pixels // max(width, 1))))


# Eigen's float tanh: odd rational p(x)/q(x) of degree 13/6 on [-c, c], where
# c is the float32 value beyond which tanh rounds to +-1.
_TANH_CLAMP = 7.90531110763549805
_TANH_P = (4.89352455891786e-03, 6.37261928875436e-04, 1.48572235717979e-05,
           5.12229709037114e-08, -8.60467152213735e-11, 2.00018790482477e-13,
           -2.76076847742355e-16)
_TANH_Q = (4.89352518554385e-03, 2.26843463243900e-03, 1.18534705686654e-04,
           1.19825839466702e-06)


def fast_tanh(x: jax.Array) -> jax.Array:
  """``tanh`` as a rational function: within 1e-6 of ``jnp.tanh`` (float32).

  Inside the banded network XLA:CPU's own ``tanh`` cost about twice as much
  (benchmarks/README.md); this is 11 multiply-adds and one division,
  vectorized and fused with the bias add and the mask.

  Args:
    x: float32 array, any shape.

  Returns:
    float32, same shape.
  """
  x = jnp.clip(x, -_TANH_CLAMP, _TANH_CLAMP)
  x2 = x * x
  p = functools.reduce(lambda acc, c: acc * x2 + np.float32(c), _TANH_P[::-1][1:],
                       np.float32(_TANH_P[-1]))
  q = functools.reduce(lambda acc, c: acc * x2 + np.float32(c), _TANH_Q[::-1][1:],
                       np.float32(_TANH_Q[-1]))
  return x * p / q


def _conv_rows(x: jax.Array, kernel: jax.Array, bias: jax.Array) -> jax.Array:
  """Convolution that is 'VALID' along rows and 'SAME' (zero) along columns.

  Args:
    x: ``[B, R, W, Cin]`` float32.
    kernel: ``[kh, kw, Cin, Cout]`` (HWIO, as Flax stores it).
    bias: ``[Cout]``.

  Returns:
    ``[B, R - kh + 1, W, Cout]``: rows whose whole window lies in ``x``.
  """
  y = lax.conv_general_dilated(x, kernel, (1, 1), ((0, 0), _same_pads(kernel.shape[1])),
                               dimension_numbers=_CONV_DIMS)
  return y + bias


def _shuffle(x: jax.Array, scale: int) -> jax.Array:
  """:func:`espcn_jax.model.pixel_shuffle` on a band: ``[B, R, W, C*r*r]`` -> ``[B, R*r, W*r, C]``."""
  b, h, w, crr = x.shape
  c = crr // (scale * scale)
  x = x.reshape(b, h, w, c, scale, scale).transpose(0, 1, 4, 2, 5, 3)
  return x.reshape(b, h * scale, w * scale, c)


def _band_forward(layers, xb: jax.Array, mb: jax.Array, *, act, centre: float,
                  scale: int, clip: bool) -> jax.Array:
  """The network on one band, as ``ESPCN.__call__`` computes it.

  Args:
    layers: ``[(kernel, bias)]`` of the three convolutions.
    xb: ``[B, R + halo, W, C]`` float32 input rows: the band's R rows plus
      the rows above and below that its receptive field reaches (zero rows
      outside the image).
    mb: ``[B, R + halo, W, 1]`` float32 validity mask of the same rows (zero
      outside the image), applied before every convolution.
    act: activation between layers.
    centre: the model's fixed centring.
    scale: upscaling factor r.
    clip: clip the output to [0, 1] here, fused with the pixel shuffle,
      rather than in another pass over the whole output.

  Returns:
    ``[B, R*r, W*r, C]`` float32: the band's rows of the upscaled output.
  """
  h = xb - centre
  top = bottom = 0                      # rows each side that earlier layers consumed
  for i, (kernel, bias) in enumerate(layers):
    h = h * mb[:, top:mb.shape[1] - bottom]
    h = _conv_rows(h, kernel, bias)
    before, after = _same_pads(kernel.shape[0])
    top, bottom = top + before, bottom + after
    if i < len(layers) - 1:
      h = act(h)
  out = _shuffle(h, scale) + centre
  return jnp.clip(out, 0.0, 1.0) if clip else out


def banded_apply(params, x: jax.Array, mask: jax.Array, *, activation="tanh",
                 centre: float = 0.5, band_pixels: int = BAND_PIXELS,
                 chains: int | None = None, clip: bool = False) -> jax.Array:
  """``ESPCN(...).apply({"params": params}, x, mask)``, computed band by band.

  Traceable (call it under ``jax.jit``). Bands are ``band_rows`` rows high;
  the last one is shifted up to end at the last row (it recomputes a few rows
  rather than padding the input), and bands below the last row with a nonzero
  mask are skipped, so bucket padding costs (almost) nothing.

  Args:
    params: ESPCN params pytree.
    x: ``[B, H, W, C]`` float32 in [0, 1].
    mask: ``[B, H, W, 1]`` float32, 1 inside the image and 0 in padding.
    activation, centre: the model's settings (see :class:`ESPCN`); ``"tanh"``
      runs as :func:`fast_tanh`. A callable is used as it is (benchmarks
      pass ``jnp.tanh`` to measure the difference).
    band_pixels: LR pixels per band (rows x W), a tuning knob.
    chains: bands computed side by side in each loop step (independent
      chains of operations that XLA's runtime can run on different cores);
      default ``BAND_CHAINS``. The result does not depend on it.
    clip: clip the output to [0, 1] (as ``super_resolve`` does), fused into
      each band.

  Returns:
    ``[B, H*r, W*r, C]`` float32, equal to ``ESPCN.apply`` (clipped if
    ``clip``) on every row up to the last one where the mask is nonzero.
    Bands below that are skipped and stay zero; ``ESPCN.apply`` gives
    bias-only values there, and callers crop them anyway.
  """
  spec = spec_from_params(params)
  if callable(activation):
    act = activation
  else:
    act = fast_tanh if activation == "tanh" else ACTIVATIONS[activation]
  r = spec["scale"]
  layers = [(params[f"conv{i}"]["kernel"], params[f"conv{i}"]["bias"]) for i in (1, 2, 3)]
  pads = [_same_pads(k.shape[0]) for k, _ in layers]
  top, bottom = sum(p[0] for p in pads), sum(p[1] for p in pads)
  b, height, width, c = x.shape
  rows = band_rows(height, width, band_pixels)
  halo_pad = ((0, 0), (top, bottom), (0, 0), (0, 0))
  xp, mp = jnp.pad(x, halo_pad), jnp.pad(mask, halo_pad)
  # Bands needed: up to the last row with a valid pixel (traced, so sizes in
  # one bucket share the compiled loop).
  row_valid = jnp.any(mask > 0, axis=(0, 2, 3))
  last = jnp.max(jnp.where(row_valid, jnp.arange(1, height + 1), 0))
  n_bands = (last + rows - 1) // rows
  chains = max(1, min(BAND_CHAINS if chains is None else chains, -(-height // rows)))

  def body(i, out):
    bands = []
    for k in range(chains):
      # A step past the last band repeats it: the same values, written twice.
      band = jnp.minimum(i * chains + k, n_bands - 1)
      start = jnp.minimum(band * rows, height - rows)   # the last band ends at the last row
      xb = lax.dynamic_slice_in_dim(xp, start, rows + top + bottom, axis=1)
      mb = lax.dynamic_slice_in_dim(mp, start, rows + top + bottom, axis=1)
      bands.append((start, _band_forward(layers, xb, mb, act=act, centre=centre, scale=r,
                                         clip=clip)))
    for start, yb in bands:
      out = lax.dynamic_update_slice_in_dim(out, yb, start * r, axis=1)
    return out

  out = jnp.zeros((b, height * r, width * r, c), x.dtype)
  return lax.fori_loop(0, (n_bands + chains - 1) // chains, body, out)


@functools.lru_cache(maxsize=8)
def _phase_weights(scale: int) -> np.ndarray:
  """MATLAB bicubic enlargement by an integer ``scale`` as ``scale`` 5-tap filters.

  Output pixel ``r*i + j`` sits at input coordinate ``i + (j + 0.5)/r - 0.5``,
  so its weights on input pixels ``i-2 .. i+2`` depend on the phase ``j``
  only. Read from the rows of :func:`espcn_jax.resize.resize_matrix` away
  from the border (the border is the mirroring of :func:`_mirror_index`).

  Returns:
    float32 ``[scale, 5]``; ``[j, d]`` weighs input pixel ``i + d - 2``.
  """
  n, i = 16, 8
  m = resize.resize_matrix(n, n * scale, float(scale))
  weights = np.stack([m[scale * i + j, i - 2:i + 3] for j in range(scale)])
  if not np.allclose(weights.sum(axis=1), 1.0) or np.count_nonzero(m[scale * i:scale * (i + 1)]) \
      != np.count_nonzero(weights):
    raise AssertionError(f"bicubic x{scale} does not reduce to 5-tap phase filters")
  return weights.astype(np.float32)


@functools.lru_cache(maxsize=64)
def _mirror_index(n: int, padded: int) -> jax.Array:
  """Indices of a length-``n`` axis extended by 2 each side with MATLAB's symmetric border.

  ``x[_mirror_index(n, padded)]`` has ``padded + 4`` entries: ``x[1], x[0]``,
  then ``x[0 .. n-1]``, then ``x[n-1], x[n-2], ...``; entries past ``n + 2``
  only feed bucket padding. Cached on device: video frames reuse it.

  Returns:
    int32 ``[padded + 4]``.
  """
  k = np.mod(np.arange(-2, padded + 2), 2 * n)
  return jnp.asarray(np.where(k < n, k, 2 * n - 1 - k).astype(np.int32))


def _upscale_axis(x: jax.Array, mirror: jax.Array, weights: np.ndarray, axis: int) -> jax.Array:
  """MATLAB bicubic enlargement of ``x`` along ``axis`` by ``r = len(weights)``.

  The mirrored axis is gathered once at low resolution; then each output
  phase is a sum of 5 shifted slices (static, so XLA fuses all of it into
  one vectorized loop) and the phases interleave by a reshape. A gather of 4
  taps per output pixel measured 5x slower, a product with the dense
  ``[L*r, L]`` matrix 10x slower.

  Args:
    x: ``[..., L, ...]`` float32 (``L`` = padded length along ``axis``).
    mirror: :func:`_mirror_index` ``[L + 4]``.
    weights: :func:`_phase_weights` ``[r, 5]``.
    axis: a non-negative axis.

  Returns:
    ``[..., L*r, ...]``.
  """
  x = jnp.take(x, mirror, axis=axis)
  length = x.shape[axis] - 4
  phases = []
  for phase in weights:
    terms = [lax.slice_in_dim(x, d, d + length, axis=axis) * w for d, w in enumerate(phase) if w]
    phases.append(functools.reduce(jnp.add, terms))
  shape = list(x.shape)
  shape[axis] = length * len(weights)
  return jnp.stack(phases, axis=axis + 1).reshape(shape)


def _ycbcr_to_rgb(y: jax.Array, cb: jax.Array, cr: jax.Array) -> jax.Array:
  """:func:`espcn_jax.color.ycbcr_to_rgb` as multiply-adds: ``[...]`` x3 -> ``[..., 3]``.

  Written out so that XLA fuses it with the resize and the clip; as a
  product with a 3x3 matrix it would be a separate, memory-bound dot.
  """
  m = color._YCBCR_TO_RGB.astype(np.float32)
  y, cb, cr = (v - np.float32(o) for v, o in zip((y, cb, cr), color.YCBCR_OFFSET))
  return jnp.stack([m[i, 0] * y + m[i, 1] * cb + m[i, 2] * cr for i in range(3)], axis=-1)


def _model(params, activation: str, centre: float) -> ESPCN:
  spec = spec_from_params(params)
  return ESPCN(scale=spec["scale"], channels=spec["channels"], features=spec["features"],
               kernel_sizes=spec["kernel_sizes"], activation=activation, centre=centre)


@functools.partial(jax.jit, static_argnames=("activation", "centre"))
def _reference_forward(params, x, mask, *, activation, centre):
  """The plain whole-frame ``ESPCN.apply`` (reference for tests and benchmarks)."""
  return _model(params, activation, centre).apply({"params": params}, x, mask)


@functools.partial(jax.jit, static_argnames=("activation", "centre"))
def _forward(params, x, mask, *, activation, centre):
  """``x``: ``[B, H, W, C]`` padded, ``mask``: ``[B, H, W, 1]`` -> ``[B, H*r, W*r, C]`` in [0, 1]."""
  return banded_apply(params, x, mask, activation=activation, centre=centre, clip=True)


def _rgb_to_ycbcr(rgb: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
  """:func:`espcn_jax.color.rgb_to_ycbcr` as multiply-adds: ``[..., 3]`` -> Y, Cb, Cr ``[...]``."""
  m = color.RGB_TO_YCBCR.astype(np.float32)
  r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
  return tuple(m[i, 0] * r + m[i, 1] * g + m[i, 2] * b + np.float32(color.YCBCR_OFFSET[i])
               for i in range(3))


@jax.jit
def _split_ycbcr(image):
  """RGB ``[H, W, 3]`` (uint8, or float32 in [0, 1]) -> Y ``[1, H, W, 1]`` and CbCr
  planes ``[2, H, W]``, float32 in [0, 1]."""
  rgb = image.astype(jnp.float32) / 255.0 if image.dtype == jnp.uint8 else image
  y, cb, cr = _rgb_to_ycbcr(rgb)
  return y[None, ..., None], jnp.stack([cb, cr])   # planes: rows vectorize


@functools.partial(jax.jit, static_argnames=("scale", "quantize"))
def _merge_chroma(y, cbcr, row_mirror, col_mirror, *, scale: int, quantize: bool):
  """The CbCr planes upscaled by MATLAB bicubic, joined with the super-resolved Y.

  Args:
    y: ``[1, H*r, W*r, 1]`` float32, clipped to [0, 1] (from ``_forward``).
    cbcr: ``[2, H, W]`` float32 (from ``_split_ycbcr``), padded to the bucket.
    row_mirror, col_mirror: :func:`_mirror_index` for the rows ``[H + 4]`` and
      the columns ``[W + 4]`` (the true size is in their values, so sizes in
      one bucket share the compiled function).
    scale: r.
    quantize: return uint8 (rounded) rather than float32.

  Returns:
    RGB ``[H*r, W*r, 3]``, clipped: uint8 when ``quantize``, else float32 in
    [0, 1]. Quantizing here fuses it with the colour conversion; on the host it
    took longer than the whole chroma path.
  """
  weights = _phase_weights(scale)
  cbcr = _upscale_axis(_upscale_axis(cbcr, col_mirror, weights, axis=2), row_mirror, weights,
                       axis=1)
  out = jnp.clip(_ycbcr_to_rgb(y[0, ..., 0], cbcr[0], cbcr[1]), 0.0, 1.0)
  if quantize:
    return jnp.round(out * 255.0).astype(jnp.uint8)
  return out


def _forward_ycbcr(params, image, mask, row_mirror, col_mirror, *, activation, centre):
  """RGB through YCbCr: Y by ESPCN, Cb/Cr by bicubic, back to RGB.

  Three jitted calls (colour split; the banded network, as ``super_resolve``
  runs it; chroma upscaling and the merge), each compiled once per bucket. As one jitted
  function it was 23% slower (50.5 vs 39.1 ms for 640x360 -> 1080p, session
  5): in traces of it the band loop ran on a thread-pool thread, where each
  band's 5x5 convolution took 2.8 ms instead of 0.4-0.6 ms, and session 4
  saw its time jump between about 41 and 50-61 ms from run to run.

  Args:
    params: ESPCN params of a Y model.
    image: ``[H, W, 3]`` RGB padded to the bucket; uint8, or float32 in [0, 1].
    mask: ``[H, W, 1]`` float32.
    row_mirror, col_mirror: as in :func:`_merge_chroma`.

  Returns:
    RGB ``[H*r, W*r, 3]``, clipped: uint8 (rounded) for uint8 input, else
    float32 in [0, 1].
  """
  y, cbcr = _split_ycbcr(image)
  y = _forward(params, y, mask[None], activation=activation, centre=centre)
  return _merge_chroma(y, cbcr, row_mirror, col_mirror, scale=spec_from_params(params)["scale"],
                       quantize=image.dtype == np.uint8)


def _check_params(params, scale: int | None):
  spec = spec_from_params(params)
  if scale is not None and spec["scale"] != scale:
    raise ValueError(f"these params are for x{spec['scale']}, but scale={scale} was asked for")
  return spec


def super_resolve(params, lr: np.ndarray, *, activation: str = "tanh", centre: float = 0.5,
                  bucket: int = DEFAULT_BUCKET, scale: int | None = None) -> np.ndarray:
  """Run ESPCN on one image in model space.

  Args:
    params: ESPCN params pytree (scale and channels are read from it).
    lr: float ``[h, w, C]`` in [0, 1], C matching the model.
    activation, centre: the model's settings that params do not record
      (see :class:`espcn_jax.model.ESPCN`; a checkpoint's ``model.json`` has them).
    bucket: padding multiple; sizes in one bucket share a compiled function.
    scale: optional check that the params are for this scale.

  Returns:
    float32 ``[h*r, w*r, C]``, clipped to [0, 1] (not quantized).
  """
  spec = _check_params(params, scale)
  lr = np.asarray(lr, np.float32)
  if lr.ndim == 2:
    lr = lr[..., None]
  if lr.ndim != 3 or lr.shape[-1] != spec["channels"]:
    raise ValueError(f"model expects [h, w, {spec['channels']}] input, got shape {lr.shape}")
  h, w = lr.shape[:2]
  shape = bucket_shape(h, w, bucket)
  out = _forward(params, _pad_to(lr, shape)[None], _mask(h, w, shape)[None],
                 activation=activation, centre=float(centre))
  r = spec["scale"]
  # Crop on the host (a view) and copy: a fresh writable array, as before.
  return np.array(np.asarray(out)[0, : h * r, : w * r])


def _checked_image(image) -> np.ndarray:
  """uint8 image as it is, or float image as float32 in [0, 1]; refuses anything else."""
  image = np.asarray(image)
  if image.dtype == np.uint8:
    return image
  if image.dtype.kind != "f":
    raise ValueError(f"image must be uint8 or float in [0, 1], got {image.dtype}")
  if not np.all(np.isfinite(image)):
    raise ValueError("image holds NaN or infinite values")
  if image.min(initial=0) < 0 or image.max(initial=0) > 1:
    raise ValueError("float images must lie in [0, 1]")
  return image.astype(np.float32)


def upscale(params, image, *, activation: str = "tanh", centre: float = 0.5,
            scale: int | None = None, bucket: int = DEFAULT_BUCKET) -> np.ndarray:
  """Super-resolve a photo: RGB in, RGB out.

  With a Y-channel model (C = 1), Y goes through ESPCN and Cb/Cr are
  upscaled with MATLAB bicubic; with an RGB model (C = 3), RGB goes through it
  directly. Single-channel images are treated as Y and come back
  single-channel. Images of different sizes in one bucket reuse one compiled
  function.

  Args:
    params: ESPCN params pytree (scale and channels are read from it).
    image: ``[H, W, 3]`` RGB or ``[H, W]`` grey; uint8, or float in [0, 1].
    activation, centre: the model's settings that params do not record
      (defaults match this project's training; a checkpoint's ``model.json``
      and the shipped model cards have them).
    scale: optional check that the params are for this scale.
    bucket: padding multiple for the compiled shapes.

  Returns:
    ``[H*r, W*r, 3]`` (or ``[H*r, W*r]``), uint8 for uint8 input, else float32.
  """
  spec = _check_params(params, scale)
  x = _checked_image(image)
  was_uint8 = x.dtype == np.uint8
  if x.ndim == 3 and x.shape[-1] == 1:
    x = x[..., 0]
  if x.ndim not in (2, 3) or (x.ndim == 3 and x.shape[-1] != 3):
    raise ValueError(f"image must be [H, W, 3] RGB or [H, W] grey, got shape {x.shape}")
  if x.shape[0] < 1 or x.shape[1] < 1:
    raise ValueError(f"image has no pixels: shape {x.shape}")
  r = spec["scale"]
  h, w = x.shape[:2]
  grey = x.ndim == 2
  if spec["channels"] == 1 and not grey:
    # The whole colour path, quantization included, runs in one jitted call.
    shape = bucket_shape(h, w, bucket)
    out = _forward_ycbcr(params, _pad_to(x, shape), _mask(h, w, shape),
                         _mirror_index(h, shape[0]), _mirror_index(w, shape[1]),
                         activation=activation, centre=float(centre))
    return np.array(np.asarray(out)[: h * r, : w * r])
  if was_uint8:
    x = x.astype(np.float32) / 255.0
  model_in = np.repeat(x[..., None], 3, -1) if grey and spec["channels"] == 3 else (
      x[..., None] if grey else x)
  out = super_resolve(params, model_in, activation=activation, centre=centre, bucket=bucket)
  if grey and spec["channels"] == 3:
    out = out.mean(axis=-1)
  elif grey:
    out = out[..., 0]
  if was_uint8:
    return np.round(out * 255.0).astype(np.uint8)
  return out.astype(np.float32)
