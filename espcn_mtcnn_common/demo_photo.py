"""The embedded demo photo both packages use when no data is given.

``grace_hopper`` is the public-domain US Navy portrait that ships with
matplotlib (``mpl-data/sample_data/grace_hopper.jpg``, 512x600 RGB), a
dependency of this project: no download and no ../shared are needed.
"""
from __future__ import annotations

import pathlib

import matplotlib
import numpy as np

from espcn_mtcnn_common.image_io import read_image

__all__ = ["grace_hopper", "GRACE_HOPPER_PATH"]

GRACE_HOPPER_PATH = pathlib.Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"


def grace_hopper() -> np.ndarray:
  """matplotlib's public-domain portrait, uint8 ``[600, 512, 3]`` RGB."""
  return read_image(GRACE_HOPPER_PATH, mode="rgb")
