"""ESPCN (Shi et al., CVPR 2016) as a Flax Linen module, and pixel shuffle.

The network works entirely at low resolution: conv 5x5x64 -> conv 3x3x32 ->
conv 3x3x(r*r*C), then the sub-pixel (pixel-shuffle) layer rearranges the
``r*r*C`` channels into an r-times larger image.
"""
from __future__ import annotations

from typing import Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

__all__ = ["ESPCN", "pixel_shuffle", "ACTIVATIONS", "spec_from_params"]

ACTIVATIONS: dict[str, Callable[[jax.Array], jax.Array]] = {
    "tanh": jnp.tanh,   # the paper's choice
    "relu": nn.relu,
}


def pixel_shuffle(x: jax.Array, scale: int) -> jax.Array:
  """Sub-pixel convolution's periodic shuffle, in PyTorch's channel order.

  ``out[b, h*r + i, w*r + j, c] = x[b, h, w, c*r*r + i*r + j]`` — the order of
  ``torch.nn.PixelShuffle`` (and of the paper's Theano code). It is *not* the
  order of TensorFlow's ``depth_to_space`` (``(i*r + j)*C + c``) unless C = 1.

  Args:
    x: ``[B, H, W, C*r*r]``.
    scale: upscaling factor r.

  Returns:
    ``[B, H*r, W*r, C]``, same dtype.
  """
  b, h, w, crr = x.shape
  if crr % (scale * scale):
    raise ValueError(f"channels {crr} not divisible by scale^2 = {scale * scale}")
  c = crr // (scale * scale)
  x = x.reshape(b, h, w, c, scale, scale)
  x = x.transpose(0, 1, 4, 2, 5, 3)          # b, h, i, w, j, c
  return x.reshape(b, h * scale, w * scale, c)


class ESPCN(nn.Module):
  """Efficient sub-pixel CNN.

  Attributes:
    scale: upscaling factor r (2, 3, 4, ...).
    channels: image channels C (1 for Y, as in the paper; 3 for RGB).
    features: widths of the two hidden layers (paper: 64, 32).
    kernel_sizes: the three kernel sizes (paper: 5, 3, 3).
    activation: ``"tanh"`` (paper) or ``"relu"``.
    centre: subtracted from the input and added back to the output (fixed,
      not learned). Zero-centred data suits tanh and spares the last layer,
      which learns 10x slower, from having to learn the mean intensity.
      0.0 gives the paper's raw formulation.
  """
  scale: int = 3
  channels: int = 1
  features: Sequence[int] = (64, 32)
  kernel_sizes: Sequence[int] = (5, 3, 3)
  activation: str = "tanh"
  centre: float = 0.5

  @nn.compact
  def __call__(self, x: jax.Array, mask: jax.Array | None = None) -> jax.Array:
    """Upscale a batch.

    Args:
      x: ``[B, h, w, C]`` float in [0, 1].
      mask: optional ``[B, h, w, 1]`` validity mask (1 inside the image, 0 in
        padding). Zeroing the padding after every layer makes a padded image
        give exactly the output of the unpadded one (zero 'SAME' padding at the
        true border), which is how inputs are bucketed without recompiling.

    Returns:
      ``[B, h*r, w*r, C]`` float (not clipped).
    """
    if self.activation not in ACTIVATIONS:
      raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {self.activation!r}")
    act = ACTIVATIONS[self.activation]
    if len(self.kernel_sizes) != len(self.features) + 1:
      raise ValueError(f"kernel_sizes {tuple(self.kernel_sizes)} must have one entry more than "
                       f"features {tuple(self.features)} (the last layer's)")
    widths = (*self.features, self.channels * self.scale * self.scale)
    x = x - self.centre
    for i, (width, k) in enumerate(zip(widths, self.kernel_sizes)):
      if mask is not None:
        x = x * mask
      x = nn.Conv(width, (k, k), padding="SAME", name=f"conv{i + 1}")(x)
      if i < len(widths) - 1:
        x = act(x)
    return pixel_shuffle(x, self.scale) + self.centre


def spec_from_params(params) -> dict:
  """Recover ``scale``, ``channels``, ``features`` and ``kernel_sizes`` from params.

  Everything but the activation is determined by the kernel shapes, so a
  params pytree alone says what model it belongs to.
  """
  try:
    kernels = [params[f"conv{i}"]["kernel"] for i in (1, 2, 3)]
  except (KeyError, TypeError) as e:
    raise ValueError("params are not ESPCN params (expected conv1, conv2, conv3 "
                     f"with kernels); got keys {list(getattr(params, 'keys', lambda: [])())}") from e
  channels = int(kernels[0].shape[2])
  out = int(kernels[2].shape[3])
  scale = int(round((out / channels) ** 0.5))
  if scale * scale * channels != out:
    raise ValueError(f"last layer has {out} outputs, not r*r*{channels} for any integer r")
  return {
      "scale": scale,
      "channels": channels,
      "features": tuple(int(k.shape[3]) for k in kernels[:2]),
      "kernel_sizes": tuple(int(k.shape[0]) for k in kernels),
  }
