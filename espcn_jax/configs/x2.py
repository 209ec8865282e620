"""ESPCN x2, Y channel, paper architecture: the recipe behind the shipped ``espcn_x2_y``.

T91 + BSDS200 with 8 flips/rotations and scale augmentation (copies shrunk to
0.8 and 0.6), 17x17 LR patches, batch 64, Adam 3e-3 with cosine decay, the
last layer 10x slower, MSE. The first two layers start from the quick x3
model (``espcn_jax/configs/x3_quick.py``, 4 minutes), the sub-pixel layer
from scratch. Commands (repository root, ../shared/data beside it)::

  python train.py espcn --config=espcn_jax/configs/x3_quick.py --workdir=runs/espcn_x3_quick
  python train.py espcn --config=espcn_jax/configs/x2.py --workdir=runs/espcn_x2
  python -m espcn_jax.model_card runs/espcn_x2 --recipe=espcn_jax/configs/x2.py   # to weights/
  python evaluate.py espcn --data=../shared/data/sr/Set5 --scale=2 --model=runs/espcn_x2

Expected (the figures of ``espcn_jax/weights/espcn_x2_y.json``): Set5 x2
PSNR/SSIM 36.32 / 0.9516, Set14 32.13 / 0.9034 (MATLAB bicubic LR rounded to 8 bits, Y BT.601,
border = 2); 1,241 s of training on the project's 2-core CPU while it was shared
with other runs.
"""
from espcn_jax.configs import default


def get_config(variant: str = ""):
  return default.shipped_recipe(variant, scale=2, num_steps=30_000)
