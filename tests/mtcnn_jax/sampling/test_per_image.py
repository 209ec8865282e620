"""Tests of mtcnn_jax.sampling.per_image: one image's samples, mirrored consistently."""
from __future__ import annotations

import numpy as np

from mtcnn_jax.losses import LANDMARK, PART, POSITIVE
from mtcnn_jax.sampling.per_image import ImageTask, image_samples, image_tasks
from mtcnn_jax.sampling.settings import CropSettings
from mtcnn_jax.sampling.targets import FLIP_ORDER, mirror_box_targets
from mtcnn_jax.sampling.training_images import load_face_annotations, load_landmark_annotations


def test_flipped_samples_mirror_pixels_and_targets(landmark_set, face_set):
  faces = load_landmark_annotations(landmark_set)[:1]
  for kind, images in (("landmark", faces),
                       ("face", load_face_annotations(face_set)[:1])):
    plain = CropSettings(size=24, landmark_crops=4, flip_prob=0.0, random_negatives=5,
                         near_negatives=2, jittered=10)
    task = image_tasks(images, plain, 0, 3, 0)[0]
    a = image_samples(task)
    b = image_samples(ImageTask(**{
        **task.__dict__, "settings": CropSettings(**{**plain.__dict__, "flip_prob": 1.0})}))
    assert len(a) == len(b) > 0
    np.testing.assert_array_equal(b.images, a.images[:, :, ::-1])
    has_box = (a.labels == POSITIVE) | (a.labels == PART)
    np.testing.assert_allclose(b.boxes[has_box], mirror_box_targets(a.boxes[has_box]))
    lm = a.labels == LANDMARK
    assert (kind == "landmark") == bool(lm.any())
    if lm.any():
      # x of the flipped left eye is the mirrored x of the right eye (targets are
      # (p - x1 - 0.5) / w, so mirroring inside the crop gives 1 - x - 1 / w).
      w = 24.0   # any crop: check the relation through the pixel geometry instead
      xa, ya = a.landmarks[lm, :5], a.landmarks[lm, 5:]
      xb, yb = b.landmarks[lm, :5], b.landmarks[lm, 5:]
      order = list(FLIP_ORDER)
      np.testing.assert_allclose(yb, ya[:, order], atol=1e-6)
      offset = 1.0 - xb - xa[:, order]          # = 1 / crop width, the same for all points
      np.testing.assert_allclose(offset, offset[:, :1].repeat(5, 1), atol=1e-6)
      assert (offset > 0).all() and (offset < 1 / 12).all()
      assert (xb[:, 0] < xb[:, 1]).all() and (xb[:, 3] < xb[:, 4]).all()   # still image-left first
      del w
