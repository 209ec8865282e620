"""Small generated training data shared by the ESPCN tests (no ../shared needed)."""
from __future__ import annotations

import pathlib

import chex
import jax
import jax.numpy as jnp
import numpy as np
from PIL import Image

from espcn_jax import infer
from espcn_jax.configs import default
from espcn_jax.model import ESPCN


def write_images(folder: pathlib.Path, n: int = 3, size=(54, 60), seed: int = 0) -> pathlib.Path:
  """Smooth random RGB images (so that SR is learnable) written as PNGs."""
  rng = np.random.default_rng(seed)
  folder.mkdir(parents=True, exist_ok=True)
  yy, xx = np.mgrid[: size[0], : size[1]] / 8.0
  for i in range(n):
    phase = rng.uniform(0, 2 * np.pi, 3)
    img = np.stack([0.5 + 0.4 * np.sin(xx * (1 + c) + yy + phase[c]) for c in range(3)], -1)
    img = np.clip(img + rng.normal(0, 0.02, img.shape), 0, 1)
    Image.fromarray(np.round(img * 255).astype(np.uint8)).save(folder / f"img{i}.png")
  return folder


def tiny_config(train_dir, val_dir="", **overrides):
  """The default config shrunk to a seconds-long run on tiny data."""
  c = default.get_config("smoke")
  c.train_data = str(train_dir)
  c.val_data = str(val_dir)
  c.model.features = (8, 4)
  c.patch_size = 8
  c.batch_size = 8
  c.num_steps = 6
  c.log_every = 1
  c.eval_every = 3
  c.checkpoint_every = 3
  c.progress_bar = False
  for k, v in overrides.items():
    c[k] = v
  return c


def paper_params(scale=3, channels=1, kernel_sizes=(5, 3, 3), activation="tanh", seed=0):
  """``(model, params)``: an ESPCN of the paper's size with random weights and biases."""
  model = ESPCN(scale=scale, channels=channels, kernel_sizes=kernel_sizes, activation=activation)
  params = model.init(jax.random.key(seed), jnp.zeros((1, 8, 8, channels)))["params"]
  # Larger biases than the zero init, so that masking mistakes would show.
  params = jax.tree.map(lambda p: p + 0.1 * jax.random.normal(jax.random.key(seed + 1), p.shape),
                        params)
  return model, params


def trace_upscale_once(monkeypatch) -> None:
  """Make infer's jitted pieces of ``upscale`` fail on a second trace (``chex``);
  the caller clears the counters (``chex.clear_trace_counter()``) when done."""
  statics = {"_split_ycbcr": (), "_forward": ("activation", "centre", "conv_impl"),
             "_merge_chroma": ("scale", "quantize")}
  for name, static in statics.items():
    monkeypatch.setattr(infer, name, jax.jit(
        chex.assert_max_traces(n=1)(getattr(infer, name).__wrapped__), static_argnames=static))
