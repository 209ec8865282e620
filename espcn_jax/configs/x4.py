"""ESPCN x4, Y channel, paper architecture: the recipe behind the shipped ``espcn_x4_y``.

T91 + BSDS200 with 8 flips/rotations and scale augmentation (copies shrunk to
0.8 and 0.6), 17x17 LR patches, batch 64, Adam 3e-3 with cosine decay, the
last layer 10x slower, MSE. The first two layers start from the quick x3
model (``espcn_jax/configs/x3_quick.py``, 4 minutes), the sub-pixel layer
from scratch. Commands (repository root, ../shared/data beside it)::

  python train.py espcn --config=espcn_jax/configs/x3_quick.py --workdir=runs/espcn_x3_quick
  python train.py espcn --config=espcn_jax/configs/x4.py --workdir=runs/espcn_x4
  python -m espcn_jax.model_card runs/espcn_x4 --recipe=espcn_jax/configs/x4.py   # to weights/
  python evaluate.py espcn --data=../shared/data/sr/Set5 --scale=4 --model=runs/espcn_x4

Expected (the figures of ``espcn_jax/weights/espcn_x4_y.json``): Set5 x4
PSNR/SSIM 30.19 / 0.8526, Set14 27.25 / 0.7445 (MATLAB bicubic LR rounded to 8 bits, Y BT.601,
border = 4); 1,900 s of training on the project's 2-core CPU while it was shared
with other runs.
"""
from espcn_jax.configs import default


def get_config(variant: str = ""):
  return default.shipped_recipe(variant, scale=4, num_steps=40_000)
