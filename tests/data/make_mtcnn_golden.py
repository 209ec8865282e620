"""Regenerate ``mtcnn_golden.npz``: facenet-pytorch's MTCNN nets on fixed inputs.

An independent implementation (PyTorch, NCHW, its own copy of the original
MTCNN weights) that ``tests/mtcnn_jax/test_nets.py`` checks our Flax nets and
shipped params against. Not a test (no ``test_`` prefix) and not run in CI.

Run in a throwaway environment, never the project's (see README.md here)::

  python -m venv /tmp/fpvenv --system-site-packages
  /tmp/fpvenv/bin/pip install torch==2.13.0            # CPU wheel
  /tmp/fpvenv/bin/pip install --no-deps facenet-pytorch==2.6.0
  /tmp/fpvenv/bin/python tests/data/make_mtcnn_golden.py

facenet_pytorch imports torchvision (for NMS and ``to_tensor``, which its nets
do not use); this script puts a stand-in ``torchvision`` on ``sys.path`` so
that no torchvision build is needed.

Stored arrays (float32; inputs NHWC, already normalised as
``(x - 127.5) * 0.0078125`` from uint8 RGB, so they are exact):

  pnet_input [1, 37, 53, 3]  -> pnet_prob [1, 14, 22], pnet_box [1, 14, 22, 4]
  rnet_input [6, 24, 24, 3]  -> rnet_prob [6], rnet_box [6, 4]
  onet_input [6, 48, 48, 3]  -> onet_prob [6], onet_box [6, 4], onet_landmarks [6, 10]

prob = softmax of the classification head at index 1 (face). Batches hold
uniform noise, a smooth colour field and synthetic face-like drawings (skin
ellipse, dark eyes and mouth) so that probabilities span [0, 1].
"""
from __future__ import annotations

import importlib.metadata
import pathlib
import sys
import tempfile
import textwrap

import numpy as np

OUT = pathlib.Path(__file__).with_name("mtcnn_golden.npz")
SEED = 20160101


def _install_torchvision_stub() -> None:
  root = pathlib.Path(tempfile.mkdtemp(prefix="tv_stub_"))
  files = {
      "torchvision/__init__.py": "",
      "torchvision/ops/__init__.py": "",
      "torchvision/ops/boxes.py": "def batched_nms(*a, **k):\n  raise NotImplementedError('stub')\n",
      "torchvision/transforms/__init__.py": "",
      "torchvision/transforms/functional.py":
          "def to_tensor(*a, **k):\n  raise NotImplementedError('stub')\n",
  }
  for rel, text in files.items():
    (root / rel).parent.mkdir(parents=True, exist_ok=True)
    (root / rel).write_text(textwrap.dedent(text))
  sys.path.insert(0, str(root))


def _normalise(u8: np.ndarray) -> np.ndarray:
  return ((u8.astype(np.float32) - 127.5) * 0.0078125).astype(np.float32)


def _face_like(rng: np.random.Generator, size: int) -> np.ndarray:
  """uint8 [size, size, 3]: background, a skin ellipse, two eyes and a mouth."""
  yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
  img = np.empty((size, size, 3), np.float32)
  img[:] = rng.uniform(40, 200, 3)
  cx, cy = 0.5 + rng.uniform(-0.05, 0.05), 0.52 + rng.uniform(-0.05, 0.05)
  rx, ry = rng.uniform(0.30, 0.40), rng.uniform(0.38, 0.48)
  face = ((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2 <= 1
  img[face] = np.array([224, 172, 140]) * rng.uniform(0.7, 1.1)
  for ex in (cx - 0.16, cx + 0.16):
    brow = (np.abs(xx - ex) < 0.09) & (np.abs(yy - cy + 0.2) < 0.015)
    img[brow] = 60
    eye = ((xx - ex) / 0.07) ** 2 + ((yy - cy + 0.12) / 0.04) ** 2 <= 1
    img[eye] = 25
  nose = (np.abs(xx - cx) < 0.03 + 0.4 * (yy - cy + 0.05)) & (yy > cy - 0.05) & (yy < cy + 0.08)
  img[nose] *= 0.8
  mouth = ((xx - cx) / 0.15) ** 2 + ((yy - cy - 0.2) / 0.04) ** 2 <= 1
  img[mouth] = np.array([150, 60, 60])
  img += rng.normal(0, 4, img.shape)
  return np.clip(np.round(img), 0, 255).astype(np.uint8)


def _smooth(size_h: int, size_w: int) -> np.ndarray:
  yy, xx = np.mgrid[0:size_h, 0:size_w].astype(np.float32)
  img = np.stack([255 * xx / size_w, 255 * yy / size_h,
                  127.5 + 100 * np.sin(xx / 4) * np.cos(yy / 5)], -1)
  return np.clip(np.round(img), 0, 255).astype(np.uint8)


def _batch(rng: np.random.Generator, size: int) -> np.ndarray:
  imgs = [rng.integers(0, 256, (size, size, 3), dtype=np.uint8) for _ in range(2)]
  imgs.append(_smooth(size, size))
  imgs += [_face_like(rng, size) for _ in range(3)]
  return _normalise(np.stack(imgs))


def main() -> None:
  _install_torchvision_stub()
  import torch
  from facenet_pytorch.models.mtcnn import ONet, PNet, RNet

  torch.manual_seed(0)
  rng = np.random.default_rng(SEED)
  pnet_img = rng.integers(0, 256, (37, 53, 3), dtype=np.uint8)
  pnet_img[5:29, 10:34] = _face_like(rng, 24)  # something face-like in part of the map
  inputs = {
      "pnet_input": _normalise(pnet_img[None]),
      "rnet_input": _batch(rng, 24),
      "onet_input": _batch(rng, 48),
  }
  nchw = {k: torch.from_numpy(v).permute(0, 3, 1, 2).contiguous() for k, v in inputs.items()}

  out = dict(inputs)
  with torch.inference_mode():
    pnet, rnet, onet = PNet().eval(), RNet().eval(), ONet().eval()
    reg, prob = pnet(nchw["pnet_input"])             # NCHW: [1, 4, h, w], [1, 2, h, w]
    out["pnet_prob"] = prob[:, 1].numpy()
    out["pnet_box"] = reg.permute(0, 2, 3, 1).numpy()
    reg, prob = rnet(nchw["rnet_input"])             # [B, 4], [B, 2]
    out["rnet_prob"], out["rnet_box"] = prob[:, 1].numpy(), reg.numpy()
    reg, landmarks, prob = onet(nchw["onet_input"])  # [B, 4], [B, 10], [B, 2]
    out["onet_prob"], out["onet_box"] = prob[:, 1].numpy(), reg.numpy()
    out["onet_landmarks"] = landmarks.numpy()

  out = {k: np.ascontiguousarray(v, np.float32) for k, v in out.items()}
  np.savez_compressed(OUT, **out)
  print(f"torch {torch.__version__}, facenet-pytorch {importlib.metadata.version('facenet-pytorch')}")
  for k, v in out.items():
    print(f"{k:16s} {str(v.shape):18s} min {v.min():+.4f} max {v.max():+.4f}")
  print(f"rnet_prob {np.round(out['rnet_prob'], 4)}")
  print(f"onet_prob {np.round(out['onet_prob'], 4)}")
  print(f"{OUT} {OUT.stat().st_size} bytes")


if __name__ == "__main__":
  main()
