"""Training samples: IoU typing, targets that the cascade inverts exactly, flips, crops, caching.

References are independent NumPy loops; conventions are checked through the
cascade's own functions (``boxes.calibrate``, ``cascade._stage3``,
``pyramid.crop_and_resize``), so trained nets plug into it unchanged.
"""
from __future__ import annotations

import json
import time

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mtcnn_jax import boxes as box_ops
from mtcnn_jax import cascade, nets, pyramid, sampling
from mtcnn_jax.losses import LANDMARK, NEGATIVE, PART, POSITIVE
from tests.mtcnn_jax import helpers


def _iou_loop(a, b):
  """Continuous-coordinate IoU of two boxes, written out."""
  w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
  h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
  inter = w * h
  union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
  return inter / union


def _type_by_loop(crop, faces, others, bands):
  best_f = max([_iou_loop(crop, f) for f in faces], default=0.0)
  best_o = max([_iou_loop(crop, o) for o in others], default=0.0)
  if max(best_f, best_o) < bands.negative_max:
    return NEGATIVE
  if best_f >= best_o and best_f >= bands.positive_min:
    return POSITIVE
  if best_f >= best_o and best_f >= bands.part_min:
    return PART
  return -1


@pytest.fixture(scope="module")
def face_set(tmp_path_factory):
  return helpers.write_face_set(tmp_path_factory.mktemp("faces"))


@pytest.fixture(scope="module")
def landmark_set(tmp_path_factory):
  return helpers.write_landmark_set(tmp_path_factory.mktemp("landmarks"))


# --------------------------------------------------------------------------- typing


def test_label_crops_matches_a_loop_and_the_paper_bands(rng):
  faces = np.array([[50, 40, 90, 95], [200, 100, 230, 140]], float)
  others = np.array([[120, 120, 140, 150]], float)
  bands = sampling.IoUBands()
  crops = []
  for face in np.concatenate([faces, others]):
    side = rng.uniform(10, 70, 60)
    x = face[0] + rng.uniform(-30, 30, 60)
    y = face[1] + rng.uniform(-30, 30, 60)
    crops.append(np.stack([x, y, x + side, y + side], 1))
  crops = np.round(np.concatenate(crops))
  labels, index = sampling.label_crops(crops, faces, others, bands)
  want = [_type_by_loop(c, faces, others, bands) for c in crops]
  np.testing.assert_array_equal(labels, want)
  assert {NEGATIVE, POSITIVE, PART, -1} <= set(labels.tolist())
  for c, lab, i in zip(crops, labels, index):
    if lab in (POSITIVE, PART):
      assert i == int(np.argmax([_iou_loop(c, f) for f in faces]))
    else:
      assert i == -1


def test_band_edges():
  face = np.array([[0.0, 0.0, 100.0, 100.0]])
  crops = np.array([[0, 0, 100, 65], [0, 0, 100, 64], [0, 0, 100, 40], [0, 0, 100, 39],
                    [0, 0, 100, 30], [0, 0, 100, 29]], float)   # IoU = height / 100
  labels, _ = sampling.label_crops(crops, face, np.zeros((0, 4)))
  np.testing.assert_array_equal(labels, [POSITIVE, PART, PART, -1, -1, NEGATIVE])


def test_bad_bands_are_refused():
  with pytest.raises(ValueError, match="IoU bands"):
    sampling.IoUBands(negative_max=0.5, part_min=0.4)


def test_random_crops_are_inside_and_typed_as_their_iou_says(rng):
  faces = np.array([[40, 30, 80, 82], [150, 60, 200, 125]], float)
  others = np.array([[100, 10, 110, 22]], float)
  settings = sampling.CropSettings(size=12, random_negatives=40, near_negatives=10, jittered=40)
  crops, labels, index = sampling.random_face_crops(rng, 240, 160, faces, others, settings)
  assert len(crops) > 40
  assert (crops[:, 0] >= 0).all() and (crops[:, 2] <= 240).all() and (crops[:, 3] <= 160).all()
  np.testing.assert_array_equal(crops[:, 2] - crops[:, 0], crops[:, 3] - crops[:, 1])   # squares
  want = [_type_by_loop(c, faces, others, settings.bands) for c in crops]
  np.testing.assert_array_equal(labels, want)
  assert (labels == POSITIVE).sum() and (labels == PART).sum() and (labels == NEGATIVE).sum()


# --------------------------------------------------------------------------- targets


def test_box_targets_invert_through_the_cascades_calibration(rng):
  crops = np.round(rng.uniform(0, 200, (50, 2)))
  side = np.round(rng.uniform(12, 150, (50, 1)))
  crops = np.concatenate([crops, crops + side], 1)
  faces = crops + rng.normal(0, 0.15, (50, 4)) * np.concatenate([side] * 4, 1)
  targets = sampling.box_targets(crops, faces)
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
  params["box"]["bias"] = jnp.asarray(sampling.box_targets(crop, face)[0])
  params["landmarks"]["bias"] = jnp.asarray(sampling.landmark_targets(crop, points)[0])
  params["face"]["bias"] = jnp.asarray([0.0, 10.0])
  canvas = jnp.zeros((64, 64, 3))        # the crop lies outside: zeros, the net is constant
  config = cascade.DetectorConfig(max_faces=4, onet_chunk=4)
  table = pyramid.summed_area_table(canvas, 64, 64)
  stage3 = jax.jit(cascade._stage3, static_argnums=6)          # pylint: disable=protected-access
  boxes, _, landmarks, valid, _ = stage3(
      params, canvas, 64, 64, jnp.asarray(crop + np.array([1, 1, 0, 0]), jnp.float32),
      jnp.array([True]), config, table)
  assert bool(valid[0])
  np.testing.assert_allclose(box_ops.to_continuous(boxes)[0], face[0], atol=1e-3)
  np.testing.assert_allclose(box_ops.continuous_landmarks(landmarks)[0], points[0], atol=1e-3)


def test_mirror_helpers_swap_left_and_right():
  points = np.array([[10.0, 5.0], [30.0, 6.0], [20.0, 15.0], [12.0, 25.0], [28.0, 26.0]])
  mirrored = sampling.mirror_points(100, points)
  np.testing.assert_array_equal(mirrored[0], [100 - 30.0, 6.0])   # new left eye = old right eye
  np.testing.assert_array_equal(mirrored[1], [100 - 10.0, 5.0])
  np.testing.assert_array_equal(mirrored[3], [100 - 28.0, 26.0])
  assert (mirrored[0, 0] < mirrored[1, 0]) and (mirrored[3, 0] < mirrored[4, 0])  # image-left first
  np.testing.assert_array_equal(sampling.mirror_points(100, mirrored), points)
  np.testing.assert_array_equal(sampling.mirror_boxes(100, [[10, 1, 30, 9]]), [[70, 1, 90, 9]])
  np.testing.assert_array_equal(sampling.mirror_box_targets([[0.1, 0.2, -0.3, 0.4]]),
                                [[0.3, 0.2, -0.1, 0.4]])


def test_flipped_samples_mirror_pixels_and_targets(landmark_set, face_set):
  faces = sampling.load_landmark_annotations(landmark_set)[:1]
  for kind, images in (("landmark", faces),
                       ("face", sampling.load_face_annotations(face_set)[:1])):
    plain = sampling.CropSettings(size=24, landmark_crops=4, flip_prob=0.0, random_negatives=5,
                                  near_negatives=2, jittered=10)
    task = sampling._tasks(images, plain, 0, 3, 0)[0]          # pylint: disable=protected-access
    a = sampling.image_samples(task)
    b = sampling.image_samples(sampling.ImageTask(**{
        **task.__dict__, "settings": sampling.CropSettings(**{**plain.__dict__, "flip_prob": 1.0})}))
    assert len(a) == len(b) > 0
    np.testing.assert_array_equal(b.images, a.images[:, :, ::-1])
    has_box = (a.labels == POSITIVE) | (a.labels == PART)
    np.testing.assert_allclose(b.boxes[has_box], sampling.mirror_box_targets(a.boxes[has_box]))
    lm = a.labels == LANDMARK
    assert (kind == "landmark") == bool(lm.any())
    if lm.any():
      # x of the flipped left eye is the mirrored x of the right eye (targets are
      # (p - x1 - 0.5) / w, so mirroring inside the crop gives 1 - x - 1 / w).
      w = 24.0   # any crop: check the relation through the pixel geometry instead
      xa, ya = a.landmarks[lm, :5], a.landmarks[lm, 5:]
      xb, yb = b.landmarks[lm, :5], b.landmarks[lm, 5:]
      order = list(sampling.FLIP_ORDER)
      np.testing.assert_allclose(yb, ya[:, order], atol=1e-6)
      offset = 1.0 - xb - xa[:, order]          # = 1 / crop width, the same for all points
      np.testing.assert_allclose(offset, offset[:, :1].repeat(5, 1), atol=1e-6)
      assert (offset > 0).all() and (offset < 1 / 12).all()
      assert (xb[:, 0] < xb[:, 1]).all() and (xb[:, 3] < xb[:, 4]).all()   # still image-left first
      del w


# --------------------------------------------------------------------------- pixels


@pytest.mark.parametrize("size", [12, 24, 48])
def test_crops_equal_the_cascades_crops(rng, size):
  image = rng.integers(0, 256, (37, 53, 3)).astype(np.uint8)
  boxes = np.array([[3, 4, 20, 21], [-5, -3, 10, 12], [40, 30, 70, 60], [0, 0, 53, 37],
                    [10, 2, 11, 30], [45, 1, 60, 16]])
  ours = sampling.crop_and_resize(sampling.integral_image(image), boxes, size)
  crop = jax.jit(pyramid.crop_and_resize, static_argnums=(4, 5))
  theirs = crop(jnp.asarray(image, jnp.float32), 37, 53,
                jnp.asarray(boxes + np.array([1, 1, 0, 0]), jnp.float32), size, "area")
  np.testing.assert_allclose(ours, theirs, atol=1e-4)
  np.testing.assert_array_equal(ours[1, :3, :3], 0.0)        # outside the image: zero


# --------------------------------------------------------------------------- sets, workers, cache


def test_workers_give_the_same_samples_and_the_cache_hits(face_set, tmp_path):
  settings = sampling.CropSettings(size=12, random_negatives=20, near_negatives=4, jittered=10)
  kwargs = dict(face_annotations=face_set, seed=3, cache_dir=tmp_path, progress=False)
  first, info = sampling.stage_samples("pnet", settings, workers=2, **kwargs)
  assert not info["cached"] and len(first) > 50
  assert set(first.counts()) == {"negative", "positive", "part", "landmark"}
  assert first.images.dtype == np.uint8 and first.images.shape[1:] == (12, 12, 3)
  assert first.labels.dtype == np.int8 and first.boxes.dtype == np.float32
  assert first.landmarks.shape == (len(first), 10)
  serial = sampling.generate_samples(
      sampling._tasks(sampling.load_face_annotations(face_set), settings, 3, 1, 0), 12,  # pylint: disable=protected-access
      workers=0, progress=False)
  for field in sampling.SampleSet.FIELDS:
    np.testing.assert_array_equal(getattr(first, field), getattr(serial, field))
  start = time.perf_counter()
  again, info2 = sampling.stage_samples("pnet", settings, workers=2, **kwargs)
  assert info2["cached"] and info2["key"] == info["key"] and time.perf_counter() - start < 2.0
  for field in sampling.SampleSet.FIELDS:
    np.testing.assert_array_equal(getattr(first, field), getattr(again, field))
  sidecar = json.loads((tmp_path / f"pnet-{info['key'][:16]}.json").read_text())
  assert sidecar["counts"] == first.counts()
  # Anything the samples depend on changes the key.
  _, other = sampling.stage_samples("pnet", sampling.CropSettings(size=12, random_negatives=21),
                                    workers=0, **kwargs)
  assert other["key"] != info["key"] and not other["cached"]


def test_landmark_samples_have_points_inside_the_crop(landmark_set, face_set):
  settings = sampling.CropSettings(size=48, random_negatives=2, near_negatives=1, jittered=2,
                                   landmark_crops=6, flip_prob=0.5)
  samples, _ = sampling.stage_samples("onet", settings, face_annotations=face_set,
                                      landmark_annotations=landmark_set, workers=0,
                                      progress=False)
  lm = samples.select(samples.labels == LANDMARK)
  assert len(lm) >= 2 and (lm.image_ids >= 1_000_000).all()
  assert (lm.landmarks > -0.05).all() and (lm.landmarks < 1.0).all()
  assert not lm.boxes.any()
  assert (lm.landmarks[:, 0] < lm.landmarks[:, 1]).all()       # left eye left of right eye


@pytest.mark.slow
def test_mining_types_what_the_published_p_net_proposes(face_set):
  """R-Net's samples from the published P-Net on the portrait include the face."""
  from mtcnn_jax.params import load_params
  params = {"pnet": load_params("published")["pnet"]}
  config = cascade.DetectorConfig(level_top_k=512, stage1_pool=512, rnet_k=256)
  task = sampling._tasks(sampling.load_face_annotations(face_set)[:1],  # pylint: disable=protected-access
                         sampling.CropSettings(size=24, flip_prob=0.0), 0, 12, 0)
  samples = sampling.mine_samples(params, task, "rnet", config, 24, progress=False)
  counts = samples.counts()
  assert counts["positive"] >= 1 and counts["negative"] >= 1, counts
  # Positives' targets move the proposal onto the annotated face (IoU >= 0.65 by construction).
  assert np.abs(samples.boxes[samples.labels == POSITIVE]).max() < 0.5


# --------------------------------------------------------------------------- bad input


def test_bad_annotations_are_clear_errors(tmp_path, face_set):
  empty = tmp_path / "empty.json"
  empty.write_text(json.dumps({"images": []}))
  with pytest.raises(ValueError, match="lists no images"):
    sampling.load_face_annotations(empty)
  no_faces = tmp_path / "nofaces.json"
  no_faces.write_text(json.dumps({"images": [{"file": "a.jpg", "width": 10, "height": 10,
                                              "boxes": [[1, 1, 5, 5]], "ignore": []}]}))
  with pytest.raises(ValueError, match="no face of at least 20"):
    sampling.load_face_annotations(no_faces)
  missing = tmp_path / "missing.json"
  missing.write_text(json.dumps({"images": [{"file": "nowhere.jpg", "width": 100, "height": 100,
                                             "boxes": [[1, 1, 50, 50]], "ignore": []}]}))
  with pytest.raises(FileNotFoundError, match="1 of 1 images are missing"):
    sampling.load_face_annotations(missing)
  with pytest.raises(FileNotFoundError):
    sampling.load_face_annotations(tmp_path / "absent.json")
  (tmp_path / "broken.json").write_text("{not json")
  with pytest.raises(ValueError, match="not valid JSON"):
    sampling.load_face_annotations(tmp_path / "broken.json")
  with pytest.raises(ValueError, match="no image of split 'test' has faces with landmarks"):
    sampling.load_landmark_annotations(face_set, split="test")
  with pytest.raises(ValueError, match="stage must be"):
    sampling.stage_samples("xnet", sampling.CropSettings(size=12), face_annotations=face_set)
