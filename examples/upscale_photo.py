"""Upscale a photo with a shipped ESPCN model and compare it with bicubic.

  python examples/upscale_photo.py [--out DIR] [--scale 2|3|4]

The photo is matplotlib's public-domain portrait (``espcn_mtcnn_common.demo_photo``;
no download). Its low-resolution version is MATLAB's bicubic downscale, the
literature's protocol (``espcn_jax.data.make_pair``); PSNR is on BT.601 Y with
``scale`` border pixels removed. Then the colour LR is upscaled three ways:
RGB, RGBA (a made-up alpha channel is kept, upscaled bicubically) and as a
batch of two frames. Written to ``DIR`` (default: a new temporary folder), and
nowhere else: ``lr.png``, ``bicubic.png``, ``espcn.png``, ``espcn_rgba.png``.
"""
from __future__ import annotations

import argparse
import pathlib
import sys
import tempfile

import numpy as np

import espcn_jax
from espcn_jax import data
from espcn_mtcnn_common.demo_photo import grace_hopper


def main(argv: list[str] | None = None) -> int:
  parser = argparse.ArgumentParser(description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--out", help="output folder (default: a new temporary folder)")
  parser.add_argument("--scale", type=int, default=3, choices=(2, 3, 4))
  args = parser.parse_args(argv)
  out = pathlib.Path(args.out) if args.out else pathlib.Path(tempfile.mkdtemp(prefix="espcn_"))
  out.mkdir(parents=True, exist_ok=True)
  scale = args.scale
  params, card = espcn_jax.load_pretrained(scale)       # the Y model and its model card
  settings = {"activation": card["activation"], "centre": card["centre"]}

  # Scored as in the literature: Y channel, LR = MATLAB bicubic of the HR, 8-bit levels.
  pair = data.make_pair("grace_hopper", grace_hopper(), scale, channels=1)  # float [h, w, 1]
  sr = data.to_8bit_levels(espcn_jax.super_resolve(params, pair.lr, **settings))
  bicubic = data.bicubic_upscale(pair.lr, scale)
  print(f"x{scale} PSNR on Y: bicubic {espcn_jax.psnr(bicubic, pair.hr, border=scale):.2f} dB, "
        f"ESPCN {espcn_jax.psnr(sr, pair.hr, border=scale):.2f} dB")

  # A colour photo: uint8 RGB in, uint8 RGB out (Y by ESPCN, Cb/Cr bicubic).
  hr = data.mod_crop(grace_hopper(), scale)
  lr = espcn_jax.imresize(hr, 1.0 / scale)                       # uint8 [h, w, 3]
  big = espcn_jax.upscale(params, lr, **settings)                # uint8 [h*r, w*r, 3]
  yy, xx = np.mgrid[:lr.shape[0], :lr.shape[1]]
  alpha = np.clip(255 - np.hypot(yy - lr.shape[0] / 2, xx - lr.shape[1] / 2), 0, 255)
  rgba = np.dstack([lr, alpha.astype(np.uint8)])                 # uint8 [h, w, 4]
  big_rgba = espcn_jax.upscale(params, rgba, **settings)         # uint8 [h*r, w*r, 4]
  frames = espcn_jax.upscale(params, np.stack([lr, lr[:, ::-1]]), **settings)  # [2, h*r, w*r, 3]
  assert np.array_equal(frames[0], big) and np.array_equal(big_rgba[..., :3], big)
  print(f"colour: {lr.shape} -> {big.shape}; RGBA -> {big_rgba.shape}; batch -> {frames.shape}")

  for name, image in (("lr", lr), ("bicubic", espcn_jax.imresize(lr, float(scale))),
                      ("espcn", big), ("espcn_rgba", big_rgba)):
    espcn_jax.write_image(out / f"{name}.png", image)
  print(f"lr.png, bicubic.png, espcn.png, espcn_rgba.png in {out}")
  return 0


if __name__ == "__main__":
  sys.exit(main())
