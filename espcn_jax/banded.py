"""The ESPCN forward pass computed in row bands: the fast path behind ``super_resolve``.

:func:`banded_apply` computes the same function as ``ESPCN.apply``
(differences are float rounding, below 1e-6), but in *row bands*, not on
the whole frame at once: a band of about 40 rows of a 640-wide frame keeps
its activations (``[rows, W, 64]`` float32) in the CPU caches, where a
whole-frame pass streams 60 MB activations through memory, and a freshly
allocated activation of that size costs page faults on every call. Each band
recomputes the few rows of context (``halo``) its convolutions need at its
edges, and bands that hold only bucket padding are skipped. Each loop step
computes ``BAND_CHAINS`` bands side by side, as independent chains that
XLA's runtime spreads over the cores. tanh runs as :func:`fast_tanh`.
``benchmarks/README.md`` has the measurements behind these choices;
``python benchmarks/espcn_realtime_bench.py --ablation`` re-measures them.

These are CPU timings: :func:`espcn_mtcnn_common.conv_impl.resolve_conv_impl` is how
:mod:`espcn_jax.infer` uses this path on CPU only (``conv_impl="auto"``) and
the plain whole-frame ``ESPCN.apply`` elsewhere. GPU and TPU timings of the
two have not been measured yet.
"""
from __future__ import annotations

import functools

import jax
from jax import lax
import jax.numpy as jnp
import numpy as np

from espcn_jax.model import ACTIVATIONS, spec_from_params

__all__ = ["banded_apply", "band_rows", "fast_tanh", "receptive_radius", "BAND_PIXELS",
           "BAND_CHAINS", "MIN_BAND_ROWS"]

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

# Fewest rows per band: thinner bands would spend more on the halo (4 conv1
# and 2 conv2 rows per band) than they save in cache.
MIN_BAND_ROWS = 16

_CONV_DIMS = ("NHWC", "HWIO", "NHWC")

# Eigen's float tanh: odd rational p(x)/q(x) of degree 13/6 on [-c, c], where
# c is the float32 value beyond which tanh rounds to +-1.
_TANH_CLAMP = 7.90531110763549805
_TANH_P = (4.89352455891786e-03, 6.37261928875436e-04, 1.48572235717979e-05,
           5.12229709037114e-08, -8.60467152213735e-11, 2.00018790482477e-13,
           -2.76076847742355e-16)
_TANH_Q = (4.89352518554385e-03, 2.26843463243900e-03, 1.18534705686654e-04,
           1.19825839466702e-06)


def band_rows(height: int, width: int, band_pixels: int = BAND_PIXELS) -> int:
  """Rows per band for a ``[height, width]`` (padded) input: about ``band_pixels`` pixels.

  At least ``MIN_BAND_ROWS`` (wide frames) and at most ``height``.
  """
  return max(1, min(height, max(MIN_BAND_ROWS, band_pixels // max(width, 1))))


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


def _same_pads(k: int) -> tuple[int, int]:
  """Zero rows (before, after) that 'SAME' padding adds for a stride-1 kernel of size ``k``.

  lax's rule (and so Flax's ``nn.Conv``): the odd pixel goes after.
  """
  before = (k - 1) // 2
  return before, k - 1 - before


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


def _activation_fn(activation):
  """A model's activation setting -> the function the bands apply (tanh: :func:`fast_tanh`)."""
  if callable(activation):
    return activation
  return fast_tanh if activation == "tanh" else ACTIVATIONS[activation]


def _conv_layers(params) -> list[tuple[jax.Array, jax.Array]]:
  """``[(kernel, bias)]`` of conv1, conv2, conv3."""
  return [(params[f"conv{i}"]["kernel"], params[f"conv{i}"]["bias"]) for i in (1, 2, 3)]


def _halo(layers) -> tuple[int, int]:
  """Rows of context (above, below) a band needs: the 'SAME' rows of all layers added up."""
  pads = [_same_pads(k.shape[0]) for k, _ in layers]
  return sum(p[0] for p in pads), sum(p[1] for p in pads)


def receptive_radius(params) -> int:
  """Input pixels each side of an output pixel's LR position that reach it: 4 for 5-3-3.

  The larger of the two sides of :func:`_halo` (read from the params' kernel
  sizes); the same along columns for square kernels.
  """
  layers = _conv_layers(params)
  rows = _halo(layers)
  cols = [_same_pads(k.shape[1]) for k, _ in layers]
  return max(*rows, sum(c[0] for c in cols), sum(c[1] for c in cols))


def _bands_needed(mask: jax.Array, rows: int) -> jax.Array:
  """Bands of ``rows`` rows up to the last row with a valid pixel (traced int32 scalar).

  Traced rather than static, so sizes in one bucket share the compiled loop.
  """
  height = mask.shape[1]
  row_valid = jnp.any(mask > 0, axis=(0, 2, 3))
  last = jnp.max(jnp.where(row_valid, jnp.arange(1, height + 1), 0))
  return (last + rows - 1) // rows


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
  r = spec_from_params(params)["scale"]
  act = _activation_fn(activation)
  layers = _conv_layers(params)
  top, bottom = _halo(layers)
  b, height, width, c = x.shape
  rows = band_rows(height, width, band_pixels)
  halo_pad = ((0, 0), (top, bottom), (0, 0), (0, 0))
  xp, mp = jnp.pad(x, halo_pad), jnp.pad(mask, halo_pad)
  n_bands = _bands_needed(mask, rows)
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
