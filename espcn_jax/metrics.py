"""Image-quality metrics with the super-resolution literature's conventions.

All metrics take images as float arrays in [0, 1] (integer arrays such as uint8
0-255 images are refused with a ValueError) (``[H, W]`` or ``[H, W, C]``),
remove ``border`` pixels on every side (the literature uses border = scale) and
compute in float64 on the 0-255 scale, as MATLAB evaluation scripts do.
"""
from __future__ import annotations

import numpy as np

__all__ = ["psnr", "ssim", "cosine_similarity_map", "cosine_similarity", "shave"]


def shave(image: np.ndarray, border: int) -> np.ndarray:
  """Remove ``border`` pixels from each side of the two spatial axes."""
  if border < 0:
    raise ValueError(f"border must be >= 0, got {border}")
  if border == 0:
    return image
  if image.shape[0] <= 2 * border or image.shape[1] <= 2 * border:
    raise ValueError(f"image {image.shape[:2]} is too small for a border of {border}")
  return image[border:-border, border:-border]


def _check_float(name: str, *images) -> None:
  """Refuses integer (e.g. uint8 0-255) images: the metrics assume floats in [0, 1]."""
  for image in images:
    dtype = np.asarray(image).dtype
    if dtype.kind in "biu":           # bool, signed and unsigned integers (bfloat16 is "V")
      raise ValueError(f"{name} expects float images in [0, 1]; got {dtype}"
                       + (" - divide by 255 first" if dtype == np.uint8 else ""))


def _prepare(a, b, border, name):
  _check_float(name, a, b)
  a = np.asarray(a, np.float64)
  b = np.asarray(b, np.float64)
  if a.shape != b.shape:
    raise ValueError(f"images differ in shape: {a.shape} vs {b.shape}")
  return shave(a, border) * 255.0, shave(b, border) * 255.0


def psnr(image: np.ndarray, reference: np.ndarray, *, border: int = 0) -> float:
  """Peak signal-to-noise ratio in dB (peak 255 on the 0-255 scale).

  Args:
    image, reference: float arrays in [0, 1] of equal shape.
    border: pixels removed from each side before comparing.

  Returns:
    PSNR in dB; ``inf`` for identical images.
  """
  a, b = _prepare(image, reference, border, "psnr")
  mse = np.mean((a - b) ** 2)
  if mse == 0:
    return float("inf")
  return float(10.0 * np.log10(255.0 ** 2 / mse))


def _gaussian_window(size: int = 11, sigma: float = 1.5) -> np.ndarray:
  # MATLAB's fspecial('gaussian', 11, 1.5).
  ax = np.arange(size, dtype=np.float64) - (size - 1) / 2.0
  g = np.exp(-(ax[:, None] ** 2 + ax[None, :] ** 2) / (2.0 * sigma ** 2))
  return g / g.sum()


def _filter_valid(x: np.ndarray, window: np.ndarray) -> np.ndarray:
  """2-D correlation with 'valid' boundary (MATLAB's ``filter2(w, x, 'valid')``)."""
  view = np.lib.stride_tricks.sliding_window_view(x, window.shape)
  return np.einsum("ijkl,kl->ij", view, window)


def _ssim_single(a: np.ndarray, b: np.ndarray) -> float:
  # Wang et al. 2004, ssim_index.m: K = (0.01, 0.03), L = 255, 11x11 Gaussian
  # window with sigma 1.5, 'valid' filtering, mean of the SSIM map.
  c1, c2 = (0.01 * 255.0) ** 2, (0.03 * 255.0) ** 2
  w = _gaussian_window()
  mu_a, mu_b = _filter_valid(a, w), _filter_valid(b, w)
  var_a = _filter_valid(a * a, w) - mu_a ** 2
  var_b = _filter_valid(b * b, w) - mu_b ** 2
  cov = _filter_valid(a * b, w) - mu_a * mu_b
  ssim_map = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / (
      (mu_a ** 2 + mu_b ** 2 + c1) * (var_a + var_b + c2))
  return float(ssim_map.mean())


def ssim(image: np.ndarray, reference: np.ndarray, *, border: int = 0) -> float:
  """Structural similarity as in MATLAB's reference ``ssim_index.m``.

  11x11 Gaussian window (sigma 1.5), K = (0.01, 0.03), dynamic range 255,
  'valid' filtering. Multi-channel images: the mean over channels.

  Args:
    image, reference: float arrays in [0, 1], ``[H, W]`` or ``[H, W, C]``.
    border: pixels removed from each side before comparing.
  """
  a, b = _prepare(image, reference, border, "ssim")
  if a.shape[0] < 11 or a.shape[1] < 11:
    raise ValueError(f"SSIM needs at least 11x11 pixels after the border, got {a.shape[:2]}")
  if a.ndim == 2:
    return _ssim_single(a, b)
  return float(np.mean([_ssim_single(a[..., c], b[..., c]) for c in range(a.shape[-1])]))


def cosine_similarity_map(image: np.ndarray, reference: np.ndarray, *,
                          border: int = 0, window: int = 3) -> np.ndarray:
  """Per-pixel cosine similarity between output and ground truth.

  At each pixel the vectors compared hold every channel of a ``window`` x
  ``window`` neighbourhood (so a Y image gives 9-vectors at window 3, and an
  RGB image at window 1 compares colour vectors). Values are in [-1, 1]; 1
  where the two local patterns are proportional. Pixels where either vector is
  zero get 1 if both are zero, else 0.

  Returns:
    float64 ``[H - 2*border - window + 1, W - 2*border - window + 1]``.
  """
  a, b = _prepare(image, reference, border, "cosine_similarity")
  if a.ndim == 2:
    a, b = a[..., None], b[..., None]
  shape = (window, window, a.shape[-1])
  va = np.lib.stride_tricks.sliding_window_view(a, shape)[:, :, 0]
  vb = np.lib.stride_tricks.sliding_window_view(b, shape)[:, :, 0]
  dot = np.einsum("ijklm,ijklm->ij", va, vb)
  na = np.sqrt(np.einsum("ijklm,ijklm->ij", va, va))
  nb = np.sqrt(np.einsum("ijklm,ijklm->ij", vb, vb))
  denom = na * nb
  both_zero = (na == 0) & (nb == 0)
  out = np.divide(dot, denom, out=np.zeros_like(dot), where=denom > 0)
  out[both_zero] = 1.0
  return out


def cosine_similarity(image: np.ndarray, reference: np.ndarray, *,
                      border: int = 0, window: int = 3) -> float:
  """Mean of :func:`cosine_similarity_map`."""
  return float(cosine_similarity_map(image, reference, border=border, window=window).mean())
