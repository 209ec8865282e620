"""ESPCN x3, Y channel, paper architecture: the recipe behind the shipped ``espcn_x3_y``.

T91 + BSDS200 with 8 flips/rotations and scale augmentation (copies shrunk to
0.8 and 0.6), 17x17 LR patches, batch 64, Adam 3e-3 with cosine decay, the
last layer 10x slower, MSE. Command (repository root, ../shared/data beside it)::

  python train.py espcn --config=espcn_jax/configs/x3.py --workdir=runs/espcn_x3
  python -m espcn_jax.model_card runs/espcn_x3 --recipe=espcn_jax/configs/x3.py   # to weights/
  python evaluate.py espcn --data=../shared/data/sr/Set5 --scale=3 --model=runs/espcn_x3

Expected (the figures of ``espcn_jax/weights/espcn_x3_y.json``): Set5 x3
PSNR/SSIM 32.42 / 0.9035, Set14 29.06 / 0.8158 (MATLAB bicubic LR rounded to 8 bits, Y BT.601,
border = 3); 2,463 s of training on the project's 2-core CPU while it was shared
with other runs.
"""
from espcn_jax.configs import default


def get_config(variant: str = ""):
  return default.shipped_recipe(variant, scale=3, num_steps=60_000, init_from="")
