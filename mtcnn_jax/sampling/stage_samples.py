"""One stage's whole sample set, generated once and cached under a key of all it depends on.

The cache key covers the sampling code's version, the stage, the seed, the
crop and mining settings, the annotation files and images (name, size,
modification time) and the earlier stages' params; ``<stage>-<key>.npz`` and
a ``.json`` sidecar (counts, time, settings) go to the cache folder.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import pathlib
import time
from typing import Any, Iterable, Mapping

import numpy as np

from mtcnn_jax.params import NET_NAMES, flatten_params
from mtcnn_jax.sampling.mining import mine_samples
from mtcnn_jax.sampling.per_image import generate_samples, image_tasks
from mtcnn_jax.sampling.sample_set import SampleSet
from mtcnn_jax.sampling.settings import CropSettings
from mtcnn_jax.sampling.training_images import (FaceImage, annotation_file,
                                                load_face_annotations, load_landmark_annotations)

__all__ = ["SAMPLING_VERSION", "STAGE_CODES", "LANDMARK_ID_OFFSET", "params_digest",
           "stage_samples"]

SAMPLING_VERSION = 1          # bump when generation changes, to invalidate caches
STAGE_CODES = {name: i + 1 for i, name in enumerate(NET_NAMES)}   # pnet 1, rnet 2, onet 3
"""Each stage's part of the generator seeds; mined samples use code + ``_MINED_STREAMS``."""
_MINED_STREAMS = 10
LANDMARK_ID_OFFSET = 1_000_000   # image ids of the landmark set follow the face set's


def params_digest(params: Mapping | None) -> str:
  """SHA-256 of a params pytree's flattened arrays (keys and bytes); "" for None."""
  if params is None:
    return ""
  digest = hashlib.sha256()
  for name in sorted(params):
    for key, value in flatten_params(params[name]).items():
      digest.update(f"{name}/{key}:{value.shape}".encode())
      digest.update(np.ascontiguousarray(value).tobytes())
  return digest.hexdigest()


def _file_stamps(paths: Iterable[pathlib.Path]) -> list:
  out = []
  for p in paths:
    st = p.stat()
    out.append([p.name, st.st_size, st.st_mtime_ns])
  return out


def _input_files(face_annotations, faces: list[FaceImage], landmark_annotations,
                 landmarks: list[FaceImage]) -> list[pathlib.Path]:
  """The annotation files and images a stage's samples are made from, for the cache key."""
  return ([annotation_file(face_annotations)] + [im.path for im in faces]
          + ([annotation_file(landmark_annotations)] if landmarks else [])
          + [im.path for im in landmarks])


def _random_crop_parts(stage: str, settings: CropSettings, faces: list[FaceImage],
                       landmarks: list[FaceImage], seed: int, workers: int,
                       progress: bool) -> list[SampleSet]:
  """Random crops of the face images, then (with ``landmark_crops``) of the landmark images."""
  code = STAGE_CODES[stage]
  parts = [generate_samples(image_tasks(faces, settings, seed, code, 0), settings.size,
                            workers=workers, progress=progress, desc=f"{stage} random crops")]
  if landmarks and settings.landmark_crops:
    parts.append(generate_samples(image_tasks(landmarks, settings, seed, code, LANDMARK_ID_OFFSET),
                                  settings.size, workers=workers, progress=progress,
                                  desc=f"{stage} landmark crops"))
  return parts


def _mined_parts(stage: str, settings: CropSettings, faces: list[FaceImage],
                 landmarks: list[FaceImage], earlier_params: Mapping, mining, seed: int, *,
                 max_mined_negatives: int, mined_landmarks_per_face: int,
                 landmark_candidate_min_iou: float, progress: bool) -> list[SampleSet]:
  """Samples from our earlier stages' proposals on the face images, then the landmark images."""
  upto = "rnet" if stage == "rnet" else "onet"
  code = STAGE_CODES[stage] + _MINED_STREAMS     # mined samples take their own generator streams
  parts = [mine_samples(earlier_params, image_tasks(faces, settings, seed, code, 0,
                                                    max_negatives=max_mined_negatives),
                        upto, mining, settings.size, progress=progress, desc=f"{stage} mining")]
  if landmarks and mined_landmarks_per_face:
    parts.append(mine_samples(
        earlier_params,
        image_tasks(landmarks, settings, seed, code, LANDMARK_ID_OFFSET,
                    max_landmarks_per_face=mined_landmarks_per_face,
                    landmark_candidate_min_iou=landmark_candidate_min_iou),
        upto, mining, settings.size, progress=progress, desc=f"{stage} landmark mining"))
  return parts


def _save(path: pathlib.Path, samples: SampleSet, key: str, key_fields: dict,
          seconds: float) -> None:
  """The ``.npz`` and its ``.json`` sidecar (key, counts, time, the key's fields but files)."""
  samples.save(path)
  path.with_suffix(".json").write_text(json.dumps(
      {"key": key, "counts": samples.counts(), "seconds": round(seconds, 2),
       "fields": {k: v for k, v in key_fields.items() if k != "files"},
       "num_files": len(key_fields["files"])}, indent=2, default=str) + "\n")


def stage_samples(stage: str, settings: CropSettings, *, face_annotations: str,
                  landmark_annotations: str = "", landmark_split: str = "train",
                  earlier_params: Mapping | None = None, mining=None,
                  max_mined_negatives: int = 0, mined_landmarks_per_face: int = 0,
                  landmark_candidate_min_iou: float = 0.4, seed: int = 0,
                  cache_dir: str | os.PathLike | None = None, workers: int = 2,
                  progress: bool = True) -> tuple[SampleSet, dict[str, Any]]:
  """All training samples of one stage, from the cache when nothing they depend on changed.

  Args:
    stage: ``"pnet"``, ``"rnet"`` or ``"onet"``.
    settings: random-crop settings (``settings.size`` is the net's input).
    face_annotations: box annotations (file or folder).
    landmark_annotations: landmark set (file or folder); "" for none.
    landmark_split: its split to use.
    earlier_params: ``{"pnet"[, "rnet"]}`` for mining (R-Net, O-Net); None:
      random crops only.
    mining: ``cascade.DetectorConfig`` for the proposals (required with
      ``earlier_params``).
    max_mined_negatives: per image (0: all).
    mined_landmarks_per_face: landmark samples per face from the proposals
      on landmark images (O-Net; 0: none).
    landmark_candidate_min_iou: a proposal becomes a landmark sample when its
      IoU with the annotated face is at least this and holds all points.
    seed: generation seed.
    cache_dir: where ``<stage>-<key>.npz`` goes (None: no cache).
    workers: processes for the random crops.

  Returns:
    ``(samples, info)``; ``info`` has ``key``, ``path``, ``cached`` (bool),
    ``seconds`` (generation time, 0 when cached) and ``counts``.
  """
  if stage not in STAGE_CODES:
    raise ValueError(f"stage must be {', '.join(NET_NAMES[:-1])} or {NET_NAMES[-1]}, "
                     f"got {stage!r}")
  if (earlier_params is None) != (mining is None):
    raise ValueError("mining needs both earlier_params and a mining DetectorConfig")
  faces = load_face_annotations(face_annotations, settings.min_face_side)
  landmarks = (load_landmark_annotations(landmark_annotations, landmark_split)
               if landmark_annotations and (settings.landmark_crops or mined_landmarks_per_face)
               else [])
  mining_options = {"max_mined_negatives": max_mined_negatives,
                    "mined_landmarks_per_face": mined_landmarks_per_face,
                    "landmark_candidate_min_iou": landmark_candidate_min_iou}
  key_fields = {
      "version": SAMPLING_VERSION, "stage": stage, "seed": seed,
      "settings": dataclasses.asdict(settings),
      "mining": None if mining is None else dataclasses.asdict(mining),
      **mining_options,
      "landmark_split": landmark_split,
      "files": _file_stamps(_input_files(face_annotations, faces, landmark_annotations,
                                         landmarks)),
      "params": params_digest(earlier_params),
  }
  key = hashlib.sha256(json.dumps(key_fields, sort_keys=True, default=str).encode()).hexdigest()
  path = pathlib.Path(cache_dir) / f"{stage}-{key[:16]}.npz" if cache_dir else None
  if path is not None and path.is_file():
    cached = SampleSet.load(path)
    return cached, {"key": key, "path": str(path), "cached": True, "seconds": 0.0,
                    "counts": cached.counts()}
  start = time.perf_counter()
  parts = _random_crop_parts(stage, settings, faces, landmarks, seed, workers, progress)
  if earlier_params is not None:
    parts += _mined_parts(stage, settings, faces, landmarks, earlier_params, mining, seed,
                          progress=progress, **mining_options)
  samples = SampleSet.concat(parts, settings.size)
  seconds = time.perf_counter() - start
  if path is not None:
    _save(path, samples, key, key_fields, seconds)
  return samples, {"key": key, "path": None if path is None else str(path), "cached": False,
                   "seconds": seconds, "counts": samples.counts()}
