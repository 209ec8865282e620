"""Tests of mtcnn_jax.sampling.mining: samples from what our earlier stages propose."""
from __future__ import annotations

import numpy as np
import pytest

from mtcnn_jax import cascade
from mtcnn_jax.losses import POSITIVE
from mtcnn_jax.params import load_params
from mtcnn_jax.sampling.mining import mine_samples
from mtcnn_jax.sampling.per_image import image_tasks
from mtcnn_jax.sampling.settings import CropSettings
from mtcnn_jax.sampling.training_images import load_face_annotations


@pytest.mark.slow
def test_mining_types_what_the_published_p_net_proposes(face_set):
  """R-Net's samples from the published P-Net on the portrait include the face."""
  params = {"pnet": load_params("published")["pnet"]}
  config = cascade.DetectorConfig(level_top_k=512, stage1_pool=512, rnet_k=256)
  task = image_tasks(load_face_annotations(face_set)[:1],
                     CropSettings(size=24, flip_prob=0.0), 0, 12, 0)
  samples = mine_samples(params, task, "rnet", config, 24, progress=False)
  counts = samples.counts()
  assert counts["positive"] >= 1 and counts["negative"] >= 1, counts
  # Positives' targets move the proposal onto the annotated face (IoU >= 0.65 by construction).
  assert np.abs(samples.boxes[samples.labels == POSITIVE]).max() < 0.5
