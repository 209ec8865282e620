"""An embedded evaluation set that needs no downloads and no ../shared.

* ``grace_hopper`` — the public-domain portrait that ships with matplotlib
  (:mod:`espcn_mtcnn_common.demo_photo`).
* ``zone_plate`` — a synthetic circular zone plate (every spatial frequency,
  the classic aliasing test), made here.
* ``text_chart`` — text and lines rendered by matplotlib, made here (sharp
  edges are where super-resolution shows).

Generated images are deterministic, so evaluation figures are reproducible.
"""
from __future__ import annotations

import io

import numpy as np
from PIL import Image

from espcn_mtcnn_common.demo_photo import grace_hopper

__all__ = ["sample_images", "SAMPLE_NAMES"]

SAMPLE_NAMES = ("grace_hopper", "zone_plate", "text_chart")


def _zone_plate(size: int = 384) -> np.ndarray:
  ax = np.arange(size) - size / 2.0
  r2 = ax[:, None] ** 2 + ax[None, :] ** 2
  # Phase k*r^2 reaches a quarter of the Nyquist rate at the border.
  g = 0.5 + 0.5 * np.cos(np.pi * r2 / (4.0 * size))
  rgb = np.stack([g, 0.6 * g + 0.2, 1.0 - 0.8 * g], axis=-1)
  return np.round(rgb * 255).astype(np.uint8)


def _text_chart() -> np.ndarray:
  # Deferred: matplotlib's figure machinery is heavy (about 0.4 s) and writes a font cache
  # on first import; only this generated image needs it.
  from matplotlib.figure import Figure  # pylint: disable=import-outside-toplevel
  # A bare Figure (no pyplot): renders with Agg and leaves the user's backend alone.
  fig = Figure(figsize=(4.8, 3.6), dpi=100)
  fig.text(0.05, 0.85, "ESPCN sub-pixel convolution", fontsize=15, color="navy")
  fig.text(0.05, 0.70, "Real-time super-resolution, 2016", fontsize=11, color="darkred")
  fig.text(0.05, 0.58, "0123456789 abcdefghijklmnopqrstuvwxyz", fontsize=8)
  ax = fig.add_axes([0.08, 0.08, 0.86, 0.42])
  t = np.linspace(0, 4 * np.pi, 400)
  ax.plot(t, np.sin(t), "b-", t, np.cos(3 * t) * 0.5, "g--")
  ax.grid(True)
  buf = io.BytesIO()
  fig.savefig(buf, format="png")
  buf.seek(0)
  return np.asarray(Image.open(buf).convert("RGB"))


def sample_images() -> list[tuple[str, np.ndarray]]:
  """The embedded set: ``(name, uint8 [H, W, 3])`` pairs."""
  return [("grace_hopper", grace_hopper()), ("zone_plate", _zone_plate()),
          ("text_chart", _text_chart())]
