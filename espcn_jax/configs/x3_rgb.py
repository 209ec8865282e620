"""ESPCN x3 on RGB (C = 3): the recipe behind the shipped ``espcn_x3_rgb``.

For users who upscale colour photos and want every channel through the
network rather than Y through ESPCN and Cb/Cr bicubic. Same recipe as
``x3.py`` (T91 + BSDS200, flips/rotations, scale augmentation 0.8/0.6, 17x17
LR patches, batch 64, Adam 3e-3 cosine, MSE on RGB in [0, 1]); the layers
start from the quick Y model, spread over R, G, B (see
``espcn_jax.train.warm_start``). Commands::

  python train.py espcn --config=espcn_jax/configs/x3_quick.py --workdir=runs/espcn_x3_quick
  python train.py espcn --config=espcn_jax/configs/x3_rgb.py --workdir=runs/espcn_x3_rgb
  python -m espcn_jax.model_card runs/espcn_x3_rgb --recipe=espcn_jax/configs/x3_rgb.py
  python evaluate.py espcn --data=../shared/data/sr/Set5 --scale=3 --model=runs/espcn_x3_rgb

Expected (the figures of ``espcn_jax/weights/espcn_x3_rgb.json``): Set5 x3
PSNR/SSIM on RGB 30.47 / 0.8751 (bicubic 28.63) and on Y BT.601 32.33 / 0.9025;
Set14 RGB 27.22, Y 29.04 (border = 3, MATLAB bicubic LR of RGB rounded to 8 bits);
1,664 s of training on the shared 2-core CPU.
"""
from espcn_jax.configs import default


def get_config(variant: str = ""):
  return default.shipped_recipe(variant, scale=3, channels=3, num_steps=30_000)
