"""ESPCN x3, Y channel, paper architecture: the recipe behind the shipped ``espcn_x3_y``.

The 491-image pool of ``default.SHIPPED_POOL`` less 20 held-out validation images
(``holdout:20``), 8 flips/rotations and scale augmentation (copies shrunk to 0.8 and 0.6), 48x48
LR patches (more outputs see no zero padding than with the paper's 17 or the 24 and 36 before),
batch 64, Adam 3e-4 with cosine decay over 4,000 steps, the last layer 10x slower, MSE. It
continues the x3 model shipped before it (``init_from``; see ``default.PREVIOUS_X3_WEIGHTS`` for
how to fetch it): 16,000 steps of 36x36 patches at 5e-4, after 20,000 of 24x24 at 1e-3, on the
same pool and split (each card's ``init_from_card`` names its start). Commands (repository root,
../shared/data beside it)::

  python train.py espcn --config=espcn_jax/configs/x3.py --workdir=runs/espcn_x3
  python -m espcn_jax.model_card runs/espcn_x3 --recipe=espcn_jax/configs/x3.py   # to weights/
  python evaluate.py espcn --data=../shared/data/sr/Set5 --scale=3 --model=runs/espcn_x3

The figures it reaches are those of ``espcn_jax/weights/espcn_x3_y.json``."""
from espcn_jax.configs import default


def get_config(variant: str = ""):
  c = default.shipped_recipe(variant, scale=3, num_steps=4_000, patch_size=48,
                             learning_rate=3e-4,
                             init_from=f"{default.PREVIOUS_X3_WEIGHTS}/espcn_x3_y.npz")
  if not variant:
    c.eval_every = 1_000
    c.checkpoint_every = 500
    c.log_every = 250
  return c
