"""Tests of mtcnn_jax.sampling.targets: targets the cascade inverts exactly, mirroring.

Conventions are checked through the cascade's own functions
(``boxes.calibrate``, ``cascade._stage3``), so trained nets plug into it
unchanged.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from mtcnn_jax import boxes as box_ops
from mtcnn_jax import cascade, nets, pyramid
from mtcnn_jax.sampling.targets import (box_targets, landmark_targets, mirror_box_targets,
                                        mirror_boxes, mirror_points)


def test_box_targets_invert_through_the_cascades_calibration(rng):
  crops = np.round(rng.uniform(0, 200, (50, 2)))
  side = np.round(rng.uniform(12, 150, (50, 1)))
  crops = np.concatenate([crops, crops + side], 1)
  faces = crops + rng.normal(0, 0.15, (50, 4)) * np.concatenate([side] * 4, 1)
  targets = box_targets(crops, faces)
  matlab = crops + np.array([1.0, 1.0, 0.0, 0.0])              # crop as the cascade holds it
  back = box_ops.to_continuous(box_ops.calibrate(matlab, targets, plus_one=True))   # bbreg
  np.testing.assert_allclose(back, faces, atol=1e-3)
  # P-Net's stage-1 calibration uses w - 1 (the original): off by at most |target| px.
  stage1 = box_ops.to_continuous(box_ops.calibrate(matlab, targets, plus_one=False))
  assert np.abs(stage1 - faces).max() <= np.abs(targets).max() + 1e-3


def test_o_net_targets_give_back_box_and_points_through_stage3():
  """An O-Net whose outputs are the targets makes the cascade output the annotation."""
  crop = np.array([[100, 80, 148, 130]])
  face = np.array([[104.0, 78.0, 150.0, 131.5]])
  points = np.array([[[115.2, 95.0], [135.0, 96.0], [125.0, 108.0], [117.0, 118.0],
                      [133.0, 119.0]]])
  params = jax.jit(nets.ONet().init)(jax.random.key(0), jnp.zeros((1, 48, 48, 3)))["params"]
  params = jax.tree.map(jnp.zeros_like, params)
  params["box"]["bias"] = jnp.asarray(box_targets(crop, face)[0])
  params["landmarks"]["bias"] = jnp.asarray(landmark_targets(crop, points)[0])
  params["face"]["bias"] = jnp.asarray([0.0, 10.0])
  canvas = jnp.zeros((64, 64, 3))        # the crop lies outside: zeros, the net is constant
  config = cascade.DetectorConfig(max_faces=4, onet_chunk=4)
  table = pyramid.summed_area_table(canvas, 64, 64)
  stage3 = jax.jit(cascade._stage3, static_argnums=6)
  boxes, _, landmarks, valid, _ = stage3(
      params, canvas, 64, 64, jnp.asarray(crop + np.array([1, 1, 0, 0]), jnp.float32),
      jnp.array([True]), config, table)
  assert bool(valid[0])
  np.testing.assert_allclose(box_ops.to_continuous(boxes)[0], face[0], atol=1e-3)
  np.testing.assert_allclose(box_ops.continuous_landmarks(landmarks)[0], points[0], atol=1e-3)


def test_mirror_helpers_swap_left_and_right():
  points = np.array([[10.0, 5.0], [30.0, 6.0], [20.0, 15.0], [12.0, 25.0], [28.0, 26.0]])
  mirrored = mirror_points(100, points)
  np.testing.assert_array_equal(mirrored[0], [100 - 30.0, 6.0])   # new left eye = old right eye
  np.testing.assert_array_equal(mirrored[1], [100 - 10.0, 5.0])
  np.testing.assert_array_equal(mirrored[3], [100 - 28.0, 26.0])
  assert (mirrored[0, 0] < mirrored[1, 0]) and (mirrored[3, 0] < mirrored[4, 0])  # image-left first
  np.testing.assert_array_equal(mirror_points(100, mirrored), points)
  np.testing.assert_array_equal(mirror_boxes(100, [[10, 1, 30, 9]]), [[70, 1, 90, 9]])
  np.testing.assert_array_equal(mirror_box_targets([[0.1, 0.2, -0.3, 0.4]]),
                                [[0.3, 0.2, -0.1, 0.4]])
