"""Super-resolution data: degradation protocol, image pairs, training patches.

Protocol (reproduces the published bicubic tables to 0.01 dB):

* HR images are mod-cropped to a multiple of the scale r.
* Y-channel models (C = 1): the HR target is BT.601 Y (MATLAB ``rgb2ycbcr``,
  16..235) of the HR RGB image, in float; single-channel images are used as Y
  directly. The LR input is MATLAB-style antialiased bicubic ``imresize`` of
  HR Y by 1/r, rounded to 8-bit levels.
* RGB models (C = 3): HR RGB, LR = ``imresize`` of HR RGB rounded to uint8.
* Optional degradation ``"gaussian"``: 7x7 Gaussian blur with sigma 1.6
  (replicate boundary) then MATLAB ``imresize(.., 1/r, 'nearest')`` (every
  r-th pixel from offset r//2) — the "BD" protocol of the literature, close
  to the ESPCN paper's blur-then-subsample.
* Optional degradation ``"opencv"``: ``cv2.resize(hr, (W/r, H/r), INTER_CUBIC)``
  (cubic a = -0.75, no antialiasing), the way many users make LR images;
  training may mix it with bicubic (``"bicubic+opencv"``).

All arrays handed to models are float32 in [0, 1], NHWC.
"""
from __future__ import annotations

import dataclasses
import glob
import hashlib
import os
import pathlib
import queue
import threading
import warnings
from typing import Iterator, Sequence

import cv2
import numpy as np

from espcn_jax import color, resize, samples
from espcn_mtcnn_common import image_io, tfds_images

__all__ = ["SRPair", "mod_crop", "to_model_space", "degrade", "bicubic_upscale",
           "make_pair", "load_hr_images", "load_pairs", "PatchSampler", "DEGRADATIONS",
           "MIXED_DEGRADATIONS", "HOLDOUT_PREFIX", "holdout_count", "holdout_key", "holdout_keys", "split_sources",
           "pool_keys", "parse_extra_source", "load_extra_pairs"]

DEGRADATIONS = ("bicubic", "gaussian", "opencv")
# Training only: every image twice, once per degradation.
MIXED_DEGRADATIONS = {"bicubic+opencv": ("bicubic", "opencv")}
# ``val_data = "holdout:N"``: validate on N images held out of the training pool.
HOLDOUT_PREFIX = "holdout:"


@dataclasses.dataclass(frozen=True)
class SRPair:
  """One evaluation/training image: ``lr`` ``[h, w, C]`` and ``hr`` ``[h*r, w*r, C]``, float32 in [0, 1]."""
  name: str
  lr: np.ndarray
  hr: np.ndarray


def mod_crop(image: np.ndarray, scale: int) -> np.ndarray:
  """Crop the bottom/right so that height and width are multiples of ``scale``."""
  h, w = image.shape[:2]
  return image[: h - h % scale, : w - w % scale]


def to_model_space(image: np.ndarray, channels: int, *, round_y: bool = False) -> np.ndarray:
  """uint8 image -> float64 ``[H, W, channels]`` in [0, 1].

  Args:
    image: uint8 ``[H, W]`` (used as Y directly) or ``[H, W, 3]`` RGB.
    channels: 1 (BT.601 Y) or 3 (RGB; grey images are repeated).
    round_y: round Y to 8-bit levels, as MATLAB's ``rgb2ycbcr`` does on uint8
      images (SRCNN's evaluation code); off by default.
  """
  if image.dtype != np.uint8:
    raise ValueError(f"expected a uint8 image, got {image.dtype}")
  x = image.astype(np.float64) / 255.0
  if channels == 1:
    if x.ndim == 3:
      x = color.rgb_to_y(x)
      if round_y:
        x = np.round(x * 255.0) / 255.0
    return x[..., None]
  if channels == 3:
    return np.repeat(x[..., None], 3, axis=-1) if x.ndim == 2 else x
  raise ValueError(f"channels must be 1 or 3, got {channels}")


def to_8bit_levels(x: np.ndarray) -> np.ndarray:
  """Round [0, 1] values to 8-bit levels (MATLAB rounding), still in [0, 1]."""
  return resize.round_to_uint8(x * 255.0) / 255.0


def _gaussian_blur(x: np.ndarray, sigma: float = 1.6, size: int = 7) -> np.ndarray:
  ax = np.arange(size) - (size - 1) / 2.0
  k = np.exp(-ax ** 2 / (2 * sigma ** 2))
  k /= k.sum()
  pad = size // 2
  xp = np.pad(x, ((pad, pad), (pad, pad), (0, 0)), mode="edge")
  # Separable: rows then columns (the 2-D Gaussian is the outer product).
  xp = np.einsum("k,hkwc->hwc", k, np.lib.stride_tricks.sliding_window_view(xp, size, axis=0).transpose(0, 3, 1, 2))
  xp = np.einsum("k,hwkc->hwc", k, np.lib.stride_tricks.sliding_window_view(xp, size, axis=1).transpose(0, 1, 3, 2))
  return xp


def degrade(hr: np.ndarray, scale: int, *, method: str = "bicubic", quantize: bool = True) -> np.ndarray:
  """Make the LR image from a mod-cropped HR image.

  Args:
    hr: float ``[H, W, C]`` in [0, 1], H and W multiples of ``scale``.
    scale: downscaling factor r.
    method: ``"bicubic"`` (MATLAB imresize, antialiased), ``"gaussian"`` or
      ``"opencv"`` (``cv2.resize`` INTER_CUBIC, not antialiased).
    quantize: round the LR image to 8-bit levels (default, as a stored LR
      image would be).

  Returns:
    float64 ``[H/r, W/r, C]``.
  """
  if hr.shape[0] % scale or hr.shape[1] % scale:
    raise ValueError(f"HR size {hr.shape[:2]} is not a multiple of the scale {scale}; mod_crop it first")
  if method == "bicubic":
    lr = resize.imresize(hr, 1.0 / scale)
  elif method == "gaussian":
    # MATLAB's imresize(blurred, 1/r, 'nearest') (RDN's BD scripts) keeps
    # 0-based pixels r//2, r//2 + r, ... (1 for x2 and x3, 2 for x4).
    lr = _gaussian_blur(hr)[scale // 2::scale, scale // 2::scale]
  elif method == "opencv":
    h, w, c = hr.shape
    lr = cv2.resize(np.asarray(hr, np.float32), (w // scale, h // scale),
                    interpolation=cv2.INTER_CUBIC).reshape(h // scale, w // scale, c)
    lr = np.clip(lr.astype(np.float64), 0.0, 1.0)   # cubic overshoot; a stored image is clipped
  else:
    raise ValueError(f"degradation must be one of {DEGRADATIONS}, got {method!r}")
  return to_8bit_levels(lr) if quantize else lr


def bicubic_upscale(lr: np.ndarray, scale: int, *, quantize: bool = True) -> np.ndarray:
  """The bicubic baseline: MATLAB ``imresize(lr, r)``, rounded to 8-bit levels."""
  up = resize.imresize(lr, float(scale))
  return to_8bit_levels(up) if quantize else up


def make_pair(name: str, image: np.ndarray, scale: int, channels: int, *,
              degradation: str = "bicubic", round_y: bool = False) -> SRPair:
  """uint8 HR image -> :class:`SRPair` under the protocol above."""
  hr = to_model_space(mod_crop(image, scale), channels, round_y=round_y)
  if hr.shape[0] < scale or hr.shape[1] < scale:
    raise image_io.ImageError(f"{name}: {image.shape[1]}x{image.shape[0]} is too small for scale {scale}")
  lr = degrade(hr, scale, method=degradation)
  return SRPair(name, lr.astype(np.float32), hr.astype(np.float32))


def load_hr_images(source: str | os.PathLike) -> list[tuple[str, np.ndarray]]:
  """HR images from a folder, a TFDS spec ``"tfds:NAME[:SPLIT]"`` or ``"samples"``.

  ``"samples"`` is the embedded set of :mod:`espcn_jax.samples` (no files needed).

  Returns:
    ``(name, uint8 image)`` pairs, images ``[H, W]`` or ``[H, W, 3]``.
  """
  source = str(source)
  if source == "samples":
    return samples.sample_images()
  if source.startswith("tfds:"):
    name, split = tfds_images.parse_tfds_spec(source)
    images = tfds_images.load_tfds_images(name, split=split,
                                          data_dir=os.environ.get("TFDS_DATA_DIR"))
    return [(n, image_io.as_image_array(im, f"{source}/{n}")) for n, im in images]
  return [(p.stem, image_io.read_image(p)) for p in image_io.list_images(source)]


def split_sources(sources: str | Sequence[str]) -> list[str]:
  """``"a,b"`` or ``["a", "b"]`` -> ``["a", "b"]`` (empty entries dropped)."""
  if isinstance(sources, (str, os.PathLike)):
    return [s for s in str(sources).split(",") if s]
  return [str(s) for s in sources]


def holdout_count(val_data: str) -> int | None:
  """``N`` for ``val_data = "holdout:N"``, ``None`` for any other value.

  Raises:
    ValueError: a ``holdout:`` value whose N is not a positive integer.
  """
  if not str(val_data).startswith(HOLDOUT_PREFIX):
    return None
  text = str(val_data)[len(HOLDOUT_PREFIX):]
  if not text.isdigit() or int(text) < 1:
    raise ValueError(f"val_data={val_data!r}: expected 'holdout:N' with N a positive integer")
  return int(text)


def holdout_key(source: str, name: str) -> str:
  """The name an image of the pool goes by in a holdout split: ``"T91/t1"``."""
  return f"{pathlib.PurePath(str(source).rstrip('/')).name}/{name}"


def holdout_keys(keys: Sequence[str], count: int) -> list[str]:
  """The ``count`` keys held out for validation, sorted.

  They are the keys with the smallest SHA-256 of their UTF-8 text: a fixed
  choice that depends neither on file order nor on the machine, and that
  stays put for the images already in the pool when others are added.

  Raises:
    ValueError: ``count`` leaves no image to train on.
  """
  if count >= len(keys):
    raise ValueError(f"a holdout of {count} images leaves none of the {len(keys)} to train on")
  ranked = sorted(keys, key=lambda k: hashlib.sha256(k.encode()).hexdigest())
  return sorted(ranked[:count])


def pool_keys(sources: str | Sequence[str]) -> list[str]:
  """:func:`holdout_key` of every image of the sources (folders are listed, not decoded)."""
  keys = []
  for source in split_sources(sources):
    if source == "samples" or source.startswith("tfds:"):
      keys += [holdout_key(source, name) for name, _ in load_hr_images(source)]
    else:
      keys += [holdout_key(source, p.stem) for p in image_io.list_images(source)]
  return keys


def _pool(sources: Sequence[str], holdout: int, part: str) -> list[tuple[str, str, np.ndarray]]:
  """``(source, name, image)`` of every image, or of one part of a holdout split."""
  images = [(source, name, image) for source in sources
            for name, image in load_hr_images(source)]
  if not holdout:
    return images
  if part not in ("train", "holdout"):
    raise ValueError(f"part must be 'train' or 'holdout', got {part!r}")
  held = set(holdout_keys([holdout_key(s, n) for s, n, _ in images], holdout))
  return [(s, n, im) for s, n, im in images if (holdout_key(s, n) in held) == (part == "holdout")]


def load_pairs(sources: str | Sequence[str], scale: int, channels: int, *,
               degradation: str = "bicubic", round_y: bool = False,
               min_lr_size: int = 1, scale_augment: Sequence[float] = (1.0,),
               holdout: int = 0, part: str = "train") -> list[SRPair]:
  """Load and degrade every HR image of one or more sources.

  ``scale_augment`` adds, for each factor ``f != 1``, a copy of every HR
  image shrunk by ``f`` (MATLAB bicubic, 8-bit) before degradation -- the
  VDSR/SRCNN-era data augmentation that shows the net more texture scales.
  ``degradation`` is one of :data:`DEGRADATIONS` or of
  :data:`MIXED_DEGRADATIONS` (one pair per degradation, names tagged
  ``#opencv``).
  ``holdout > 0`` splits the pooled images first (:func:`holdout_keys`):
  ``part="train"`` keeps the rest, ``part="holdout"`` only the held-out
  ones, so no copy of a validation image is ever trained on.
  Images whose LR version would be smaller than ``min_lr_size`` on a side are
  skipped with a warning; if none remain, an ``ImageError`` is raised.
  """
  sources = split_sources(sources)
  if not scale_augment or any(not 0.0 < f <= 1.0 for f in scale_augment):
    raise ValueError(f"scale_augment factors must lie in (0, 1], got {tuple(scale_augment)}")
  methods = MIXED_DEGRADATIONS.get(degradation, (degradation,))
  pairs = []
  for source, name, original in _pool(sources, holdout, part):
    pairs += _augmented_pairs(f"{source}/{name}", name, original, scale, channels,
                              methods=methods, round_y=round_y, min_lr_size=min_lr_size,
                              scale_augment=scale_augment)
  if not pairs:
    raise image_io.ImageError(f"no usable images in {', '.join(map(str, sources))} "
                              f"for scale {scale} (LR side >= {min_lr_size})")
  return pairs


def _augmented_pairs(where: str, name: str, original: np.ndarray, scale: int, channels: int, *,
                     methods: Sequence[str], round_y: bool, min_lr_size: int,
                     scale_augment: Sequence[float]) -> list[SRPair]:
  """The pairs of one HR image: one per ``scale_augment`` factor and degradation method."""
  pairs = []
  for factor in scale_augment:
    image = original if factor == 1.0 else resize.imresize(original, factor)
    tag = name if factor == 1.0 else f"{name}@{factor:g}"
    h, w = image.shape[:2]
    if h // scale < min_lr_size or w // scale < min_lr_size:
      if factor == 1.0:
        warnings.warn(f"{where}: {w}x{h} is too small for scale {scale} "
                      f"(LR side < {min_lr_size}); skipped", stacklevel=3)
      continue
    for method in methods:
      name_tag = tag if len(methods) == 1 or method == "bicubic" else f"{tag}#{method}"
      pairs.append(make_pair(name_tag, image, scale, channels, degradation=method,
                             round_y=round_y))
  return pairs


def parse_extra_source(spec: str) -> tuple[str, float]:
  """``"FOLDER_GLOB[@F]"`` -> ``(glob, F)``: the folders of extra training images and the
  factor (0 < F <= 1, default 1) by which each image is shrunk (MATLAB bicubic,
  antialiased) before use -- e.g. ``"wider_train_subset/images/*@0.5"`` halves
  JPEG photos, which averages away most of their compression artefacts.

  Raises:
    ValueError: a factor that is not a number in (0, 1].
  """
  pattern, at, factor_text = str(spec).rpartition("@")
  if not at:
    return str(spec), 1.0
  try:
    factor = float(factor_text)
  except ValueError:
    factor = float("nan")
  if not 0.0 < factor <= 1.0:
    raise ValueError(f"extra training source {spec!r}: the factor after '@' must be a "
                     f"number in (0, 1], got {factor_text!r}")
  return pattern, factor


def load_extra_pairs(specs: str | Sequence[str], scale: int, channels: int, *,
                     degradation: str = "bicubic", round_y: bool = False, min_lr_size: int = 1,
                     scale_augment: Sequence[float] = (1.0,)) -> list[SRPair]:
  """Training-only pairs from :func:`parse_extra_source` specs (comma-separated).

  They never enter a holdout split, so adding them leaves the validation
  images of the pool (:func:`holdout_keys`) where they were. Each image is
  shrunk by its spec's factor, then treated as :func:`load_pairs` treats an
  HR image (scale augmentation, degradation). Names are ``FOLDER/STEM``.

  Raises:
    image_io.ImageError: a glob that matches no folder, or a folder without images.
  """
  methods = MIXED_DEGRADATIONS.get(degradation, (degradation,))
  pairs = []
  for spec in split_sources(specs):
    pattern, shrink = parse_extra_source(spec)
    folders = sorted(p for p in glob.glob(pattern) if os.path.isdir(p))
    if not folders:
      raise image_io.ImageError(f"extra training source {spec!r}: no folder matches {pattern!r}")
    for folder in folders:
      for path in image_io.list_images(folder):
        image = image_io.read_image(path)
        if shrink != 1.0:
          image = resize.imresize(image, shrink)
        pairs += _augmented_pairs(str(path), f"{pathlib.Path(folder).name}/{path.stem}", image,
                                  scale, channels, methods=methods, round_y=round_y,
                                  min_lr_size=min_lr_size, scale_augment=scale_augment)
  return pairs


class PatchSampler:
  """Random aligned LR/HR patch batches, a pure function of ``(seed, step)``.

  Each batch draws images with probability proportional to their number of
  patch positions (uniform over all patches), a uniform position, and one of
  the 8 flips/90-degree rotations. Because batch ``s`` depends only on the
  seed and ``s``, training resumed at step ``s`` sees exactly the batches an
  uninterrupted run would.
  """

  def __init__(self, pairs: Sequence[SRPair], scale: int, patch_size: int,
               batch_size: int, seed: int, augment: bool = True):
    usable = [p for p in pairs if min(p.lr.shape[:2]) >= patch_size]
    if not usable:
      raise image_io.ImageError(f"no training image has an LR side >= the patch size {patch_size}")
    self.lrs = [p.lr for p in usable]
    self.hrs = [p.hr for p in usable]
    counts = np.array([(lr.shape[0] - patch_size + 1) * (lr.shape[1] - patch_size + 1)
                       for lr in self.lrs], np.float64)
    self.probs = counts / counts.sum()
    self.scale, self.patch_size, self.batch_size = scale, patch_size, batch_size
    self.seed, self.augment = seed, augment
    self.channels = usable[0].lr.shape[-1]

  def batch(self, step: int, rows: slice = slice(None)) -> tuple[np.ndarray, np.ndarray]:
    """Batch ``step``: LR ``[B, p, p, C]`` and HR ``[B, p*r, p*r, C]``, float32.

    ``rows`` cuts only those rows of the global batch (one process's share in a
    multi-process run); the random draws are made for the whole batch, so the
    rows are the same whichever process cuts them.
    """
    rng = np.random.default_rng([self.seed, step])
    p, r, b = self.patch_size, self.scale, self.batch_size
    images = rng.choice(len(self.lrs), size=b, p=self.probs)
    u = rng.random((b, 2))
    transforms = rng.integers(0, 8, size=b) if self.augment else np.zeros(b, np.int64)
    ks = range(b)[rows]
    lr_out = np.empty((len(ks), p, p, self.channels), np.float32)
    hr_out = np.empty((len(ks), p * r, p * r, self.channels), np.float32)
    for i, k in enumerate(ks):
      lr_img, hr_img = self.lrs[images[k]], self.hrs[images[k]]
      y = int(u[k, 0] * (lr_img.shape[0] - p + 1))
      x = int(u[k, 1] * (lr_img.shape[1] - p + 1))
      lr_patch = lr_img[y:y + p, x:x + p]
      hr_patch = hr_img[y * r:(y + p) * r, x * r:(x + p) * r]
      t = transforms[k]
      if t & 4:
        lr_patch, hr_patch = lr_patch[:, ::-1], hr_patch[:, ::-1]
      lr_out[i] = np.rot90(lr_patch, t & 3)
      hr_out[i] = np.rot90(hr_patch, t & 3)
    return lr_out, hr_out

  def iterate(self, start: int, stop: int, prefetch: int = 4, rows: slice = slice(None)
              ) -> Iterator[tuple[int, tuple[np.ndarray, np.ndarray]]]:
    """Yield ``(step, batch(step, rows))`` for ``start <= step < stop``, made on a background
    thread."""
    q: queue.Queue = queue.Queue(maxsize=prefetch)
    done = threading.Event()

    def produce():
      try:
        for step in range(start, stop):
          if done.is_set():
            return
          q.put((step, self.batch(step, rows)))
      except Exception as e:  # pylint: disable=broad-except
        q.put(e)            # re-raised in the consumer, never a silent hang
        return
      q.put(None)

    thread = threading.Thread(target=produce, daemon=True)
    thread.start()
    try:
      while (item := q.get()) is not None:
        if isinstance(item, Exception):
          raise item
        yield item
    finally:
      done.set()
      while not q.empty():   # unblock the producer so it can see `done`
        q.get_nowait()
