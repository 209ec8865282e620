"""Fixtures of the sampling tests: tiny annotated face and landmark sets on disk."""
from __future__ import annotations

import pytest

from tests.mtcnn_jax import helpers


@pytest.fixture(scope="module")
def face_set(tmp_path_factory):
  return helpers.write_face_set(tmp_path_factory.mktemp("faces"))


@pytest.fixture(scope="module")
def landmark_set(tmp_path_factory):
  return helpers.write_landmark_set(tmp_path_factory.mktemp("landmarks"))
