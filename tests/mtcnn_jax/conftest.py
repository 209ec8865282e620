"""Fixtures of the MTCNN tests."""
from __future__ import annotations

import pytest

from tests.conftest import _need_shared


@pytest.fixture(scope="module")
def wider(shared_data):
  """``../shared/data/faces/wider_val_dev`` (annotations and reference detections)."""
  return _need_shared(shared_data / "faces" / "wider_val_dev")
