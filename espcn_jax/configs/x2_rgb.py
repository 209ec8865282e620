"""ESPCN x2, RGB (C = 3: every channel through the network): the recipe behind the shipped
``espcn_x2_rgb``.

The 491-image pool of ``default.SHIPPED_POOL`` less 20 held-out validation images
(``holdout:20``; the exported step is the best on them), 8 flips/rotations and scale
augmentation (copies shrunk to 0.8 and 0.6), 24x24 LR patches, batch 64, Adam 1e-3 with cosine
decay, the last layer 10x slower, MSE on RGB in [0, 1]. It starts from the x2 Y model
(``x2.py``), its layers spread over R, G and B (``espcn_jax.train.warm_start``). Commands
(repository root, ../shared/data beside it)::

  python train.py espcn --config=espcn_jax/configs/x2.py --workdir=runs/espcn_x2
  python train.py espcn --config=espcn_jax/configs/x2_rgb.py --workdir=runs/espcn_x2_rgb
  python -m espcn_jax.model_card runs/espcn_x2_rgb --recipe=espcn_jax/configs/x2_rgb.py   # to weights/
  python evaluate.py espcn --data=../shared/data/sr/Set5 --scale=2 --model=runs/espcn_x2_rgb

The figures it reaches are those of ``espcn_jax/weights/espcn_x2_rgb.json``."""
from espcn_jax.configs import default


def get_config(variant: str = ""):
  return default.shipped_recipe(variant, scale=2, num_steps=2_000, patch_size=24,
                                learning_rate=1e-3, channels=3,
                                init_from="runs/espcn_x2")
