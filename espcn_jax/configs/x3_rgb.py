"""ESPCN x3 on RGB (C = 3): the recipe behind the shipped ``espcn_x3_rgb``.

For users who upscale colour photos and want every channel through the
network rather than Y through ESPCN and Cb/Cr bicubic. Same recipe as
``x3.py`` (T91 + BSDS200, flips/rotations, scale augmentation 0.8/0.6, 17x17
LR patches, batch 64, Adam 3e-3 cosine, MSE on RGB in [0, 1]); the layers
start from the quick Y model, spread over R, G, B (see
``espcn_jax.train.warm_start``). Commands::

  python train.py espcn --config=espcn_jax/configs/x3_quick.py --workdir=runs/espcn_x3_quick
  python train.py espcn --config=espcn_jax/configs/x3_rgb.py --workdir=runs/espcn_x3_rgb
  python -m espcn_jax.pretrained runs/espcn_x3_rgb
  python evaluate.py espcn --data=../shared/data/sr/Set5 --scale=3 --model=runs/espcn_x3_rgb

Expected (the figures of ``espcn_jax/weights/espcn_x3_rgb.json``): Set5 x3
PSNR/SSIM on RGB 30.47 / 0.8751 (bicubic 28.63) and on Y BT.601 32.33 / 0.9025;
Set14 RGB 27.22, Y 29.04 (border = 3, MATLAB bicubic LR of RGB rounded to 8 bits);
1,664 s of training on the shared 2-core CPU.
"""
from espcn_jax.configs import default


def get_config(variant: str = ""):
  c = default.get_config(variant)
  c.scale = 3
  c.channels = 3
  c.train_data = "../shared/data/sr/T91,../shared/data/sr/BSDS200"
  c.val_data = "../shared/data/sr/Set5"
  c.scale_augment = (1.0, 0.8, 0.6)
  if not variant:
    c.init_from = "runs/espcn_x3_quick"
    c.num_steps = 30_000
    c.learning_rate = 3e-3
    c.log_every = 500
    c.eval_every = 5_000
    c.checkpoint_every = 2_500
  return c
