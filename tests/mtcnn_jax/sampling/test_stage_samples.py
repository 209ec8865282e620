"""Tests of mtcnn_jax.sampling.stage_samples: workers, the cache and its key, landmark samples."""
from __future__ import annotations

import json
import time

import numpy as np
import pytest

from mtcnn_jax.losses import LANDMARK
from mtcnn_jax.sampling.per_image import generate_samples, image_tasks
from mtcnn_jax.sampling.sample_set import SampleSet
from mtcnn_jax.sampling.settings import CropSettings
from mtcnn_jax.sampling.stage_samples import stage_samples
from mtcnn_jax.sampling.training_images import load_face_annotations


def test_workers_give_the_same_samples_and_the_cache_hits(face_set, tmp_path):
  settings = CropSettings(size=12, random_negatives=20, near_negatives=4, jittered=10)
  kwargs = dict(face_annotations=face_set, seed=3, cache_dir=tmp_path, progress=False)
  first, info = stage_samples("pnet", settings, workers=2, **kwargs)
  assert not info["cached"] and len(first) > 50
  assert set(first.counts()) == {"negative", "positive", "part", "landmark"}
  assert first.images.dtype == np.uint8 and first.images.shape[1:] == (12, 12, 3)
  assert first.labels.dtype == np.int8 and first.boxes.dtype == np.float32
  assert first.landmarks.shape == (len(first), 10)
  serial = generate_samples(
      image_tasks(load_face_annotations(face_set), settings, 3, 1, 0), 12,
      workers=0, progress=False)
  for field in SampleSet.FIELDS:
    np.testing.assert_array_equal(getattr(first, field), getattr(serial, field))
  start = time.perf_counter()
  again, info2 = stage_samples("pnet", settings, workers=2, **kwargs)
  assert info2["cached"] and info2["key"] == info["key"] and time.perf_counter() - start < 2.0
  for field in SampleSet.FIELDS:
    np.testing.assert_array_equal(getattr(first, field), getattr(again, field))
  sidecar = json.loads((tmp_path / f"pnet-{info['key'][:16]}.json").read_text())
  assert sidecar["counts"] == first.counts()
  # Anything the samples depend on changes the key.
  _, other = stage_samples("pnet", CropSettings(size=12, random_negatives=21),
                           workers=0, **kwargs)
  assert other["key"] != info["key"] and not other["cached"]


def test_landmark_samples_have_points_inside_the_crop(landmark_set, face_set):
  settings = CropSettings(size=48, random_negatives=2, near_negatives=1, jittered=2,
                          landmark_crops=6, flip_prob=0.5)
  samples, _ = stage_samples("onet", settings, face_annotations=face_set,
                             landmark_annotations=landmark_set, workers=0,
                             progress=False)
  lm = samples.select(samples.labels == LANDMARK)
  assert len(lm) >= 2 and (lm.image_ids >= 1_000_000).all()
  assert (lm.landmarks > -0.05).all() and (lm.landmarks < 1.0).all()
  assert not lm.boxes.any()
  assert (lm.landmarks[:, 0] < lm.landmarks[:, 1]).all()       # left eye left of right eye


def test_unknown_stage_is_refused(face_set):
  with pytest.raises(ValueError, match="stage must be"):
    stage_samples("xnet", CropSettings(size=12), face_annotations=face_set)
