"""Hard examples: the crops the earlier stages of our cascade propose on a training image.

R-Net trains on what P-Net proposes, O-Net on what P-Net and R-Net propose
(paper section III.B). The proposals come from the cascade's own stage
functions, so training sees exactly the crops detection will feed the net.
"""
from __future__ import annotations

import concurrent.futures
import dataclasses
import functools
from typing import Mapping, Sequence

import jax
import numpy as np

from espcn_mtcnn_common.image_io import read_image
from mtcnn_jax import boxes as box_ops
from mtcnn_jax import cascade, pyramid
from mtcnn_jax.sampling.per_image import ImageTask, image_samples, with_progress
from mtcnn_jax.sampling.sample_set import SampleSet

__all__ = ["MINING_CANVAS_MULTIPLE", "propose_boxes", "mine_samples"]

MINING_CANVAS_MULTIPLE = 512
"""Canvas sides for mining are multiples of this (detection uses 128): the 600 WIDER
training images then need 4 compilations instead of 13. Padding is masked and the
pyramid's scales do not depend on the canvas, so the proposals are the same."""


@functools.lru_cache(maxsize=None)
def _proposal_fn(upto: str):
  """A jitted ``(params, canvas, height, width, config) -> (continuous boxes, valid)``."""

  @functools.partial(jax.jit, static_argnames=("config",))
  def proposals(params, canvas, height, width, config):
    table = (pyramid.summed_area_table(canvas, height, width) if config.resize == "area"
             else None)
    b, _, v, _ = cascade._stage1(params["pnet"], canvas, height, width, config, table)  # pylint: disable=protected-access
    if upto == "onet":
      b, v, _ = cascade._stage2(params["rnet"], canvas, height, width, b, v, config, table)  # pylint: disable=protected-access
    return box_ops.to_continuous(b), v
  return proposals


def propose_boxes(params: Mapping, image: np.ndarray, upto: str, config,
                  canvas_multiple: int = MINING_CANVAS_MULTIPLE) -> np.ndarray:
  """The boxes our cascade would feed to R-Net (``upto="rnet"``) or O-Net (``"onet"``).

  Runs the cascade's own stage functions (P-Net over the pyramid, NMS,
  calibration, squaring; plus R-Net for ``"onet"``) on one image.

  Args:
    params: ``{"pnet": ...}`` (and ``"rnet"`` for ``"onet"``).
    image: uint8 ``[H, W, 3]`` RGB.
    upto: ``"rnet"`` or ``"onet"``.
    config: a ``cascade.DetectorConfig`` (thresholds, NMS, budgets).
    canvas_multiple: the image is zero-padded to sides that are multiples of this.

  Returns:
    int64 ``[K, 4]`` continuous ``[x1, y1, x2, y2)`` boxes (integer-valued,
    as the cascade crops them), best first.
  """
  if upto not in ("rnet", "onet"):
    raise ValueError(f"upto must be 'rnet' or 'onet', got {upto!r}")
  h, w = image.shape[:2]
  if not pyramid.pyramid_scales(h, w, config.min_face_size, config.factor):
    return np.zeros((0, 4), np.int64)
  ch, cw = cascade.canvas_shape(h, w, canvas_multiple)
  canvas = np.zeros((ch, cw, 3), np.float32)
  canvas[:h, :w] = image
  boxes, valid = _proposal_fn(upto)(params, canvas, np.int32(h), np.int32(w), config)
  return np.asarray(boxes)[np.asarray(valid)].astype(np.int64)


def mine_samples(params: Mapping, tasks: Sequence[ImageTask], upto: str, config, size: int, *,
                 progress: bool = True, desc: str = "mining") -> SampleSet:
  """Typed samples from the boxes our earlier stages propose on each task's image.

  Images are decoded on a background thread while the cascade (which uses
  every core through XLA) runs on the previous one.
  """
  parts = []
  with concurrent.futures.ThreadPoolExecutor(1) as pool:
    images = pool.map(lambda t: read_image(t.path, mode="rgb"), tasks)
    for task, image in with_progress(zip(tasks, images), len(tasks), desc, progress):
      candidates = propose_boxes(params, image, upto, config)
      parts.append(image_samples(dataclasses.replace(task, candidates=candidates), image))
  return SampleSet.concat(parts, size)
