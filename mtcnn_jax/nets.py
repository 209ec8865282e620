"""MTCNN's three networks (Zhang et al. 2016) as Flax Linen modules.

The layer layout, and the two details that converted weights depend on,
follow the original Caffe models:

* max pooling rounds the output size *up* (Caffe's ceil mode), see
  :func:`max_pool_ceil`;
* R-Net and O-Net flatten their last feature map in (W, H, C) order before
  the first dense layer (the Caffe blobs are C, H, W and the MATLAB-converted
  weights have H and W swapped), see :func:`flatten_whc`.

All nets take NHWC float32 RGB that is already normalised as
``(x - 127.5) * 0.0078125`` (i.e. about [-1, 1]). The face probability is the
softmax of the two-way classification head at index 1 (index 0 = not face).

Convolution forms (``conv_impl``, an attribute of every net): the
convolutions feeding the poolings run as :class:`BlockConv` (P-Net's conv1
with its 2x2 pooling), :class:`PatchConv` and :class:`SideBySideConv` (R-Net's
and O-Net's first two), forms chosen from XLA:CPU timings
(``benchmarks/README.md``; ``python benchmarks/mtcnn_stages.py``). They are
used on CPU only: ``"auto"`` (the default) picks them when
``jax.default_backend() == "cpu"`` and plain ``nn.Conv`` (XLA's convolution)
on any other backend; ``"cpu_tuned"`` and ``"xla"`` force one or the other.
The choice is made in Python at trace time (no retracing per input), and
both forms have the same parameter tree and compute the same function (float
rounding aside). GPU and TPU timings of the two forms have not been measured
yet: ``"xla"`` off CPU is the neutral default, not a measured choice.

Param tree (all float32; ``C`` = that layer's output channels)::

  PNet: conv1..conv3 {kernel [3,3,Cin,C], bias [C]}, prelu1..prelu3 {alpha [C]},
        box {kernel [1,1,32,4], bias [4]}, face {kernel [1,1,32,2], bias [2]}
  RNet: conv1..conv3, prelu1..prelu3, fc4 {kernel [576,128], bias}, prelu4,
        box {kernel [128,4]}, face {kernel [128,2]}
  ONet: conv1..conv4, prelu1..prelu4, fc5 {kernel [1152,256], bias}, prelu5,
        box {kernel [256,4]}, landmarks {kernel [256,10]}, face {kernel [256,2]}
"""
from __future__ import annotations

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp

from espcn_mtcnn_common.conv_impl import resolve_conv_impl

__all__ = ["ChannelPReLU", "PatchConv", "SideBySideConv", "BlockConv", "max_pool_ceil",
           "pool_out_size", "flatten_whc", "PNet", "RNet", "ONet", "NETS", "INPUT_SIZES"]


class ChannelPReLU(nn.Module):
  """PReLU with one learned slope per channel (Caffe/PyTorch ``PReLU(C)``).

  ``flax.linen.PReLU`` learns a single scalar slope, which cannot hold the
  published weights. Here ``y = x if x >= 0 else alpha[c] * x`` with ``alpha``
  of shape ``[C]`` broadcast over the last axis.

  Attributes:
    alpha_init: initial slope (0.25, Caffe's and PyTorch's default).
  """
  alpha_init: float = 0.25

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    """``x: [..., C] -> [..., C]``, same dtype."""
    alpha = self.param("alpha", nn.initializers.constant(self.alpha_init),
                       (x.shape[-1],), jnp.float32)
    return jnp.where(x >= 0, x, alpha.astype(x.dtype) * x)


def pool_out_size(size: int, window: int, stride: int) -> int:
  """Caffe's (ceil-mode) pooling output size for one spatial axis, no padding.

  ``ceil((size - window) / stride) + 1``, less one if the last window would
  start past the input (Caffe's and PyTorch's rule; it cannot fire without
  padding when ``window >= stride``, but is kept for fidelity).

  Raises:
    ValueError: the input is too small to give any output.
  """
  out = -(-(size - window) // stride) + 1
  if out > 1 and (out - 1) * stride >= size:
    out -= 1
  if out < 1:
    raise ValueError(f"pooling window {window} (stride {stride}) does not fit an input of size {size}")
  return out


def _pool_padding(shape, window: int, stride: int) -> tuple[int, int, int, int]:
  """``(out_h, out_w, pad_h, pad_w)`` of a ceil-mode pooling of ``[B, H, W, C]``."""
  _, h, w, _ = shape
  oh, ow = pool_out_size(h, window, stride), pool_out_size(w, window, stride)
  return oh, ow, max((oh - 1) * stride + window - h, 0), max((ow - 1) * stride + window - w, 0)


@functools.partial(jax.custom_vjp, nondiff_argnums=(1, 2))
def max_pool_ceil(x: jax.Array, window: int, stride: int) -> jax.Array:
  """Max pooling with Caffe's ceil-mode output size.

  Linen's ``max_pool`` has no ceil mode. The input is padded on the bottom and
  right only, with -inf, just enough for ``pool_out_size`` windows, so padding
  never wins a max and every window holds at least one real pixel.

  The gradient (training) goes to the first maximum of each window in
  row-major order, as XLA's own max-pool gradient does, but is computed from
  strided slices instead of XLA's ``select_and_scatter``, which is several
  times slower on CPU.

  Args:
    x: ``[B, H, W, C]`` float.
    window: square window size k.
    stride: stride s.

  Returns:
    ``[B, pool_out_size(H, k, s), pool_out_size(W, k, s), C]``, same dtype.
  """
  # The maximum of window x window strided slices, not lax.reduce_window: XLA
  # fuses the slices with the producer (bias, PReLU) into one loop, where
  # reduce_window ran as a separate pass, about 20% of R-Net's time on CPU.
  # Maxima are exact, so the result is the same.
  xp, span_h, span_w = _pool_input(x, window, stride)
  rows = functools.reduce(jnp.maximum, [xp[:, i:i + span_h:stride] for i in range(window)])
  return functools.reduce(jnp.maximum, [rows[:, :, j:j + span_w:stride] for j in range(window)])


def _pool_input(x, window: int, stride: int):
  """``x`` padded with -inf on the bottom and right for ceil-mode pooling, and the
  row and column spans ``stride * (out - 1) + 1`` whose stride-``stride`` slices,
  started at each window offset, are the windows' entries."""
  oh, ow, pad_h, pad_w = _pool_padding(x.shape, window, stride)
  xp = jnp.pad(x, ((0, 0), (0, pad_h), (0, pad_w), (0, 0)), constant_values=-jnp.inf)
  return xp, stride * (oh - 1) + 1, stride * (ow - 1) + 1


def _max_pool_forward(x, window, stride):
  y = max_pool_ceil(x, window, stride)
  return y, (x, y)


def _max_pool_backward(window, stride, residuals, g):
  """Route each output's gradient to its window's first maximum (row-major)."""
  x, y = residuals
  xp, span_h, span_w = _pool_input(x, window, stride)
  big_h, big_w = xp.shape[1], xp.shape[2]
  dx = jnp.zeros_like(xp)
  taken = jnp.zeros(y.shape, bool)
  for i in range(window):
    for j in range(window):
      hit = (xp[:, i:i + span_h:stride, j:j + span_w:stride] == y) & ~taken
      taken = taken | hit
      # The transpose of the strided slice: interior padding puts each value back in place.
      dx = dx + jax.lax.pad(jnp.where(hit, g, 0.0).astype(x.dtype), jnp.zeros((), x.dtype),
                            ((0, 0, 0), (i, big_h - i - span_h, stride - 1),
                             (j, big_w - j - span_w, stride - 1), (0, 0, 0)))
  return (dx[:, :x.shape[1], :x.shape[2]],)


max_pool_ceil.defvjp(_max_pool_forward, _max_pool_backward)


def flatten_whc(x: jax.Array) -> jax.Array:
  """Flatten a feature map in (W, H, C) order, as the converted weights expect.

  ``[B, H, W, C] -> [B, W*H*C]`` with ``out[b, (w*H + h)*C + c] = x[b, h, w, c]``
  (NHWC transposed to NWHC, then reshaped). A plain NHWC reshape would pair
  the dense weights with the wrong pixels.
  """
  b = x.shape[0]
  return jnp.transpose(x, (0, 2, 1, 3)).reshape(b, -1)


def _face_prob(logits: jax.Array) -> jax.Array:
  """Softmax over the last axis (2 classes), index 1 = face: ``[..., 2] -> [...]``."""
  return jax.nn.softmax(logits, axis=-1)[..., 1]


def _conv(features: int, k: int, name: str) -> nn.Conv:
  return nn.Conv(features, (k, k), padding="VALID", name=name)


def _pool_conv(form: type[nn.Module], features: int, k: int, name: str, conv_impl: str):
  """A convolution that feeds a pooling: ``form`` (a CPU-tuned form, e.g.
  :class:`PatchConv`) for ``"cpu_tuned"``, else plain ``nn.Conv``; both
  declare the same parameters under ``name``."""
  return form(features, k, name=name) if conv_impl == "cpu_tuned" else _conv(features, k, name)


def _conv_params(module: nn.Module, k: int, cin: int, features: int):
  """Declare ``nn.Conv``'s parameters (same names, shapes and initialisers) on
  ``module``: ``(kernel [k, k, cin, features], bias [features])``. The
  convolution forms below use them, so checkpoints and training from scratch
  do not depend on the form."""
  kernel = module.param("kernel", nn.initializers.lecun_normal(), (k, k, cin, features))
  bias = module.param("bias", nn.initializers.zeros_init(), (features,))
  return kernel, bias


# PatchConv pads its matrix's columns to a multiple of this: XLA:CPU multiplied
# [15488, 27] x [27, 28] (R-Net's conv1 on 32 crops) at 71 GFLOP/s and
# [15488, 27] x [27, 32] at 123; the padded columns are sliced off.
# `python benchmarks/mtcnn_stages.py` times each stage of the cascade, R-Net's included.
PATCH_FEATURE_MULTIPLE = 16


class _ValidConv(nn.Module):
  """A 'VALID' convolution with ``nn.Conv``'s parameters; subclasses say how it
  is computed (``_convolve``, without the bias)."""
  features: int
  kernel_size: int

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    """``[B, H, W, Cin] -> [B, H - k + 1, W - k + 1, features]``."""
    kernel, bias = _conv_params(self, self.kernel_size, x.shape[-1], self.features)
    return self._convolve(x, kernel) + bias

  def _convolve(self, x: jax.Array, kernel: jax.Array) -> jax.Array:
    raise NotImplementedError


class PatchConv(_ValidConv):
  """A 'VALID' convolution computed as im2col patches times one matrix.

  Same parameters as ``nn.Conv`` (``kernel [k, k, Cin, C]``, ``bias [C]``) and
  the same result; on CPU this is 1.4-4x faster than XLA's convolution for the
  small, batched crops of R-Net and O-Net (few input channels), and slower for
  P-Net's large pyramid levels, which keep ``nn.Conv``. The matrix gets zero
  columns up to a multiple of ``PATCH_FEATURE_MULTIPLE`` (faster matrix
  products); the extra output channels are sliced off.
  """

  def _convolve(self, x, kernel):
    k, cin = self.kernel_size, x.shape[-1]
    b, h, w, _ = x.shape
    oh, ow = h - k + 1, w - k + 1
    cols = jnp.concatenate([x[:, i:i + oh, j:j + ow, :] for i in range(k) for j in range(k)],
                           axis=-1)
    matrix = kernel.reshape(k * k * cin, self.features)
    matrix = jnp.pad(matrix, ((0, 0), (0, -self.features % PATCH_FEATURE_MULTIPLE)))
    y = (cols.reshape(-1, k * k * cin) @ matrix)[:, :self.features]
    return y.reshape(b, oh, ow, self.features)


class SideBySideConv(_ValidConv):
  """A 'VALID' convolution of a batch of small images, computed on one strip.

  Same parameters as ``nn.Conv(features, (k, k), padding="VALID")`` and the
  same result. The ``B`` images are laid side by side along the width (one
  ``[1, H, B * W, Cin]`` image) and convolved once; the ``k - 1`` output
  columns whose windows straddle two images are dropped. XLA:CPU's
  convolution kernel handles one wide image better than a batch of 11x11
  ones: with conv1's matrix padded to 32 columns (``PatchConv``), R-Net's conv2
  on strips of 32 crops made R-Net alone 11.4 -> 10.1 ms on 416 crops (CPU).
  ``python benchmarks/mtcnn_stages.py`` times each stage of the cascade.
  """

  def _convolve(self, x, kernel):
    k = self.kernel_size
    b, h, w, cin = x.shape
    strip = jnp.transpose(x, (1, 0, 2, 3)).reshape(1, h, b * w, cin)
    y = jax.lax.conv_general_dilated(strip, kernel, (1, 1), "VALID",
                                     dimension_numbers=("NHWC", "HWIO", "NHWC"))
    # Strip column i * W + j is image i's column j; pad the k - 1 missing
    # columns at the end so that the strip splits back into B images.
    y = jnp.pad(y, ((0, 0), (0, 0), (0, k - 1), (0, 0))).reshape(h - k + 1, b, w, self.features)
    return jnp.transpose(y[:, :, :w - k + 1], (1, 0, 2, 3))


class BlockConv(nn.Module):
  """A 3x3 'VALID' convolution with its outputs grouped in 2x2 blocks.

  Same parameters as ``nn.Conv(features, (3, 3), padding="VALID")`` (``kernel
  [3, 3, Cin, C]``, ``bias [C]``, same initialisers). Output ``[b, i, j, dy, dx]``
  is the convolution at row ``2i + dy``, column ``2j + dx``; blocks reaching
  past the input's last 3x3 window (odd output sizes) are computed on zero
  padding, and the caller masks them. It runs as one stride-2 4x4 convolution
  with ``4 * C`` outputs (the 3x3 kernel placed at the four offsets of a 4x4
  one): XLA:CPU runs P-Net's 3 -> 10 convolution either way on its generic
  (Eigen) kernel, which uses 40 output channels at a quarter of the positions
  better than 10 (conv1 + PReLU + pooling on a 308x384 level: 2.8 -> 2.0 ms).
  The extra taps are exact zeros; on 88 pyramid levels of WIDER photos P-Net's
  outputs came out bit-identical to the plain convolution's (the tests allow
  float rounding).
  """
  features: int

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    """``[B, H, W, Cin] -> [B, ceil((H - 2) / 2), ceil((W - 2) / 2), 2, 2, features]``."""
    kernel, bias = _conv_params(self, 3, x.shape[-1], self.features)
    b, h, w, _ = x.shape
    oh, ow = -(-(h - 2) // 2), -(-(w - 2) // 2)
    x = jnp.pad(x, ((0, 0), (0, 2 * oh + 2 - h), (0, 2 * ow + 2 - w), (0, 0)))
    blocks = jnp.concatenate([jnp.pad(kernel, ((dy, 1 - dy), (dx, 1 - dx), (0, 0), (0, 0)))
                              for dy in (0, 1) for dx in (0, 1)], axis=-1)
    y = jax.lax.conv_general_dilated(x, blocks, (2, 2), "VALID",
                                     dimension_numbers=("NHWC", "HWIO", "NHWC"))
    return y.reshape(b, oh, ow, 2, 2, self.features) + bias


def _pnet_conv1_pool(x: jax.Array, valid_size, conv_impl: str) -> jax.Array:
  """P-Net's conv1, PReLU and ceil-mode 2x2 pooling (``valid_size`` as in
  :meth:`PNet.__call__`): ``[B, H, W, 3] -> [B, ceil((H - 2) / 2), ceil((W - 2) / 2), 10]``.

  conv1 outputs past the image (``valid_size``) become -inf, so the pooling
  sees only real pixels. ``"cpu_tuned"`` computes conv1 in its 2x2 pooling
  blocks (:class:`BlockConv`, faster on CPU) and pools with a maximum over
  each block, the blocks' entries past the input (an odd size) masked to
  -inf as well; otherwise a plain convolution feeds :func:`max_pool_ceil`.
  """
  in_h, in_w = x.shape[1], x.shape[2]
  conv1 = BlockConv(10, name="conv1") if conv_impl == "cpu_tuned" else _conv(10, 3, "conv1")
  x = ChannelPReLU(name="prelu1")(conv1(x))
  conv_h, conv_w = ((in_h - 2, in_w - 2) if valid_size is None
                    else (valid_size[0] - 2, valid_size[1] - 2))
  if conv_impl != "cpu_tuned":
    inside = ((jnp.arange(x.shape[1]) < conv_h)[:, None]
              & (jnp.arange(x.shape[2]) < conv_w)[None, :])
    return max_pool_ceil(jnp.where(inside[None, ..., None], x, -jnp.inf), 2, 2)
  rows = jnp.arange(2 * x.shape[1]).reshape(-1, 2) < conv_h       # [h, 2]: (block, dy)
  cols = jnp.arange(2 * x.shape[2]).reshape(-1, 2) < conv_w       # [w, 2]: (block, dx)
  inside = rows[:, None, :, None] & cols[None, :, None, :]         # [h, w, 2, 2]
  x = jnp.where(inside[None, ..., None], x, -jnp.inf)
  return functools.reduce(jnp.maximum, [x[:, :, :, dy, dx] for dy in (0, 1) for dx in (0, 1)])


class PNet(nn.Module):
  """Proposal network: fully convolutional, one 12x12 window per output cell.

  Layers: conv3x3x10, PReLU, maxpool 2/2 (ceil), conv3x3x16, PReLU,
  conv3x3x32, PReLU, then two 1x1 heads (``box``: 4, ``face``: 2). Each output
  cell looks at a 12x12 window; neighbouring cells are 2 input pixels apart.

  Attributes:
    conv_impl: ``"auto"`` (default: conv1 as :class:`BlockConv` on CPU, plain
      ``nn.Conv`` elsewhere), ``"cpu_tuned"`` or ``"xla"``; see the module docstring.
  """
  conv_impl: str = "auto"

  @nn.compact
  def __call__(self, x: jax.Array, valid_size=None) -> tuple[jax.Array, jax.Array]:
    """Score every 12x12 window.

    Args:
      x: ``[B, H, W, 3]`` float32, normalised RGB; H, W >= 12.
      valid_size: optional ``(height, width)`` (int scalars, may be traced) of
        the real image inside a larger padded ``x``. conv1 outputs past it are
        set to -inf before pooling, so the padded input pools exactly as Caffe
        pools the unpadded image (a partial last window sees only real pixels);
        cells past ``ceil((height - 2) / 2) - 4`` are then meaningless and the
        caller masks them.

    Returns:
      ``(face_prob [B, h, w], box_offsets [B, h, w, 4])`` with
      ``h = ceil((H - 2) / 2) - 4`` (12 -> 1, 37 -> 14) and likewise ``w``.
      Cell ``(i, j)`` scores the window of rows ``[2i, 2i + 12)`` and columns
      ``[2j, 2j + 12)``; when ``H`` (``W``) is odd the last row (column) of
      cells reaches one pixel past the image, which ceil-mode pooling covers
      with -inf (as in Caffe). Box offsets are (dx1, dy1, dx2, dy2) relative
      to the window size.
    """
    x = _pnet_conv1_pool(x, valid_size, resolve_conv_impl(self.conv_impl))
    x = ChannelPReLU(name="prelu2")(_conv(16, 3, "conv2")(x))
    x = ChannelPReLU(name="prelu3")(_conv(32, 3, "conv3")(x))
    box = _conv(4, 1, "box")(x)
    face = _face_prob(_conv(2, 1, "face")(x))
    return face, box


class RNet(nn.Module):
  """Refinement network on 24x24 crops.

  Layers: conv3x3x28, PReLU, maxpool 3/2 (ceil), conv3x3x48, PReLU,
  maxpool 3/2 (ceil), conv2x2x64, PReLU, flatten (W, H, C), fc 576->128,
  PReLU, heads ``box`` (4) and ``face`` (2).

  Attributes:
    conv_impl: ``"auto"`` (default: conv1 as :class:`PatchConv` and conv2 as
      :class:`SideBySideConv` on CPU, plain ``nn.Conv`` elsewhere), ``"cpu_tuned"``
      or ``"xla"``; see the module docstring.
  """
  conv_impl: str = "auto"

  @nn.compact
  def __call__(self, x: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Score and refine candidate crops.

    Args:
      x: ``[B, 24, 24, 3]`` float32, normalised RGB.

    Returns:
      ``(face_prob [B], box_offsets [B, 4])``.
    """
    conv_impl = resolve_conv_impl(self.conv_impl)
    x = ChannelPReLU(name="prelu1")(_pool_conv(PatchConv, 28, 3, "conv1", conv_impl)(x))
    x = max_pool_ceil(x, 3, 2)
    x = ChannelPReLU(name="prelu2")(_pool_conv(SideBySideConv, 48, 3, "conv2", conv_impl)(x))
    x = max_pool_ceil(x, 3, 2)
    x = ChannelPReLU(name="prelu3")(_conv(64, 2, "conv3")(x))
    x = ChannelPReLU(name="prelu4")(nn.Dense(128, name="fc4")(flatten_whc(x)))
    box = nn.Dense(4, name="box")(x)
    face = _face_prob(nn.Dense(2, name="face")(x))
    return face, box


class ONet(nn.Module):
  """Output network on 48x48 crops: score, box offsets and five landmarks.

  Layers: conv3x3x32, PReLU, maxpool 3/2 (ceil), conv3x3x64, PReLU,
  maxpool 3/2 (ceil), conv3x3x64, PReLU, maxpool 2/2 (ceil), conv2x2x128,
  PReLU, flatten (W, H, C), fc 1152->256, PReLU, heads ``box`` (4),
  ``landmarks`` (10) and ``face`` (2).

  Attributes:
    conv_impl: ``"auto"`` (default: conv1 and conv2 as :class:`PatchConv` on CPU,
      plain ``nn.Conv`` elsewhere), ``"cpu_tuned"`` or ``"xla"``; see the module
      docstring.
  """
  conv_impl: str = "auto"

  @nn.compact
  def __call__(self, x: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Score crops, refine boxes and place landmarks.

    Args:
      x: ``[B, 48, 48, 3]`` float32, normalised RGB.

    Returns:
      ``(face_prob [B], box_offsets [B, 4], landmarks [B, 10])``. Landmarks are
      raw: x1..x5 then y1..y5, each relative to the box width (x) or height
      (y), measured from its top-left corner.
    """
    conv_impl = resolve_conv_impl(self.conv_impl)
    x = ChannelPReLU(name="prelu1")(_pool_conv(PatchConv, 32, 3, "conv1", conv_impl)(x))
    x = max_pool_ceil(x, 3, 2)
    x = ChannelPReLU(name="prelu2")(_pool_conv(PatchConv, 64, 3, "conv2", conv_impl)(x))
    x = max_pool_ceil(x, 3, 2)
    x = ChannelPReLU(name="prelu3")(_conv(64, 3, "conv3")(x))
    x = max_pool_ceil(x, 2, 2)
    x = ChannelPReLU(name="prelu4")(_conv(128, 2, "conv4")(x))
    x = ChannelPReLU(name="prelu5")(nn.Dense(256, name="fc5")(flatten_whc(x)))
    box = nn.Dense(4, name="box")(x)
    landmarks = nn.Dense(10, name="landmarks")(x)
    face = _face_prob(nn.Dense(2, name="face")(x))
    return face, box, landmarks


NETS: dict[str, type[nn.Module]] = {"pnet": PNet, "rnet": RNet, "onet": ONet}
"""Net name -> module class."""

INPUT_SIZES: dict[str, int] = {"pnet": 12, "rnet": 24, "onet": 48}
"""Net name -> the (square) input size it was trained on."""
