"""The onnxruntime-only examples (examples/*_onnxruntime.py) against this project's JAX models.

Each example runs in a child process that blocks JAX and this repository's
packages from being imported, on ONNX files written by ``export.py``.
"""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

import espcn_jax
import export
import mtcnn_jax
from espcn_jax import data
from espcn_mtcnn_common.demo_photo import grace_hopper
from mtcnn_jax.demo_faces import sample_faces
from mtcnn_jax.params import load_params
from tests.conftest import REPO

# The export extra (pip install -e ".[export]"); CI installs it.
for _module in ("onnx", "onnxruntime", "flatbuffers"):
  pytest.importorskip(_module, reason='the export extra is missing: pip install -e ".[export]"')

EXAMPLES = REPO / "examples"
# Runs an example's main() with the project's packages and JAX unimportable.
_BLOCKED_RUN = """
import importlib.abc, runpy, sys
BLOCKED = ("jax", "jaxlib", "flax", "espcn_jax", "mtcnn_jax", "espcn_mtcnn_common")
class Blocker(importlib.abc.MetaPathFinder):
  def find_spec(self, name, path=None, target=None):
    if name.split(".")[0] in BLOCKED:
      raise ImportError("blocked in this test: " + name)
sys.meta_path.insert(0, Blocker())
example = runpy.run_path(sys.argv[1])
sys.exit(example["main"](sys.argv[2:]))
"""


def _run_example(name: str, args: list[str]) -> subprocess.CompletedProcess:
  run = subprocess.run([sys.executable, "-c", _BLOCKED_RUN, str(EXAMPLES / name), *args],
                       cwd=REPO, capture_output=True, text=True, timeout=300)
  assert run.returncode == 0, run.stderr
  return run


@pytest.fixture(scope="module")
def mtcnn_onnx(tmp_path_factory):
  out = tmp_path_factory.mktemp("mtcnn_onnx")
  assert export.main(["mtcnn", "--format=onnx", "--weights=published", "--no-verify",
                      f"--out={out}"]) == 0
  return out


def test_mtcnn_example_finds_the_faces_detect_finds_on_the_embedded_photos(mtcnn_onnx, tmp_path):
  files = []
  for annotation, image in sample_faces():
    files.append(tmp_path / annotation.file.replace(".jpg", ".png"))   # lossless copies
    Image.fromarray(image).save(files[-1])
  _run_example("mtcnn_onnxruntime.py", [*map(str, files), f"--models={mtcnn_onnx}",
                                        f"--json={tmp_path / 'faces.json'}"])
  results = json.loads((tmp_path / "faces.json").read_text())
  for path, (_, image) in zip(files, sample_faces()):
    want = mtcnn_jax.detect(image, params=load_params("published"))
    got = {k: np.asarray(v) for k, v in results[str(path)].items()}
    assert len(want) >= 1 and got["boxes"].shape == want.boxes.shape, path.name
    np.testing.assert_allclose(got["boxes"], want.boxes, atol=1.0)        # within 1 px
    np.testing.assert_allclose(got["landmarks"], want.landmarks, atol=1.0)
    np.testing.assert_allclose(got["scores"], want.scores, atol=1e-4)


def test_espcn_example_psnr_equals_ours(tmp_path):
  exported = tmp_path / "exported"
  assert export.main(["espcn", "--format=onnx", "--scale=3", "--no-verify",
                      f"--out={exported}"]) == 0
  hr = data.mod_crop(grace_hopper(), 3)
  pair = data.make_pair("grace_hopper", hr, scale=3, channels=1)      # LR: MATLAB bicubic Y
  lr_y = np.round(pair.lr[..., 0] * 255.0).astype(np.uint8)          # exact: 8-bit levels
  Image.fromarray(lr_y).save(tmp_path / "lr.png")
  Image.fromarray(hr).save(tmp_path / "hr.png")
  run = _run_example("espcn_onnxruntime.py", [str(exported / "espcn_x3_y.onnx"),
                                              str(tmp_path / "lr.png"), "--reference",
                                              str(tmp_path / "hr.png"), "-o",
                                              str(tmp_path / "sr.png")])
  report = json.loads(run.stdout)
  params, _ = espcn_jax.load_pretrained(3)
  ours = espcn_jax.psnr(data.to_8bit_levels(espcn_jax.super_resolve(params, pair.lr)), pair.hr,
                        border=3)
  assert report["output_size"] == list(hr.shape[:2])
  assert abs(report["psnr_y"] - ours) < 1e-3, (report["psnr_y"], ours)


@pytest.mark.slow
def test_mtcnn_example_matches_detect_on_wider_photos(mtcnn_onnx, shared_data, tmp_path):
  folder = shared_data / "faces" / "wider_val_dev" / "images"
  files = sorted(folder.rglob("*.jpg"))[:6]
  _run_example("mtcnn_onnxruntime.py", [*map(str, files), f"--models={mtcnn_onnx}",
                                        f"--json={tmp_path / 'faces.json'}"])
  results = json.loads((tmp_path / "faces.json").read_text())
  for path in files:
    want = mtcnn_jax.detect(espcn_jax.read_image(path, mode="rgb"))
    got = np.asarray(results[str(path)]["boxes"]).reshape(-1, 4)
    assert got.shape == want.boxes.shape, path.name
    np.testing.assert_allclose(got, want.boxes, atol=1.0, err_msg=path.name)
