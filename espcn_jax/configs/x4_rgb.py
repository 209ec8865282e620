"""ESPCN x4, RGB (C = 3: every channel through the network): the recipe behind the shipped
``espcn_x4_rgb``.

The 491-image pool of ``default.SHIPPED_POOL`` less 20 held-out validation images
(``holdout:20``; the exported step is the best on them), 8 flips/rotations and scale
augmentation (copies shrunk to 0.8 and 0.6), 24x24 LR patches, batch 64, Adam 1e-3 with cosine
decay, the last layer 10x slower, MSE on RGB in [0, 1]. It starts from the x4 Y model
(``x4.py``), its layers spread over R, G and B (``espcn_jax.train.warm_start``). Commands
(repository root, ../shared/data beside it)::

  python train.py espcn --config=espcn_jax/configs/x4.py --workdir=runs/espcn_x4
  python train.py espcn --config=espcn_jax/configs/x4_rgb.py --workdir=runs/espcn_x4_rgb
  python -m espcn_jax.model_card runs/espcn_x4_rgb --recipe=espcn_jax/configs/x4_rgb.py   # to weights/
  python evaluate.py espcn --data=../shared/data/sr/Set5 --scale=4 --model=runs/espcn_x4_rgb

The figures it reaches are those of ``espcn_jax/weights/espcn_x4_rgb.json``."""
from espcn_jax.configs import default


def get_config(variant: str = ""):
  return default.shipped_recipe(variant, scale=4, num_steps=2_000, patch_size=24,
                                learning_rate=1e-3, channels=3,
                                init_from="runs/espcn_x4")
