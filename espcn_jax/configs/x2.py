"""ESPCN x2, Y channel, paper architecture: the recipe behind the shipped ``espcn_x2_y``.

The 491-image pool of ``default.SHIPPED_POOL`` less 20 held-out validation images
(``holdout:20``; the exported step is the best on them), 8 flips/rotations and scale
augmentation (copies shrunk to 0.8 and 0.6), 24x24 LR patches, batch 64, Adam 1e-3 with cosine
decay, the last layer 10x slower, MSE. It continues the model shipped before (``init_from``;
``default.EARLIER_WEIGHTS`` says how to fetch it). Commands (repository root, ../shared/data
beside it)::

  python train.py espcn --config=espcn_jax/configs/x2.py --workdir=runs/espcn_x2
  python -m espcn_jax.model_card runs/espcn_x2 --recipe=espcn_jax/configs/x2.py   # to weights/
  python evaluate.py espcn --data=../shared/data/sr/Set5 --scale=2 --model=runs/espcn_x2

The figures it reaches are those of ``espcn_jax/weights/espcn_x2_y.json``."""
from espcn_jax.configs import default


def get_config(variant: str = ""):
  return default.shipped_recipe(variant, scale=2, num_steps=8_000, patch_size=24,
                                learning_rate=1e-3,
                                init_from=f"{default.EARLIER_WEIGHTS}/espcn_x2_y.npz")
