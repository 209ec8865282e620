"""ESPCN x3, Y channel, paper architecture: the recipe behind the shipped ``espcn_x3_y``.

The 491-image pool of ``default.SHIPPED_POOL`` less 20 held-out validation images
(``holdout:20``), 8 flips/rotations and scale augmentation (copies shrunk to 0.8 and 0.6), 36x36
LR patches, batch 64, Adam 3e-4 with cosine decay over 8,000 steps, MSE, and the last layer
learning at the same rate as the others (the paper's 10x slower last layer suits the start of
training). From these weights it gained 0.007 dB on the held-out images, where the 4,000 steps
before it (48x48 patches, the slower last layer) gained 0.001; which of the three differences
bought it was not separated. It continues the x3 model
shipped before it (``init_from``; see ``default.PREVIOUS_X3_WEIGHTS`` for how to fetch it):
4,000 steps of 48x48 patches at 3e-4, after 16,000 of 36x36 at 5e-4 and 20,000 of 24x24 at
1e-3, on the same pool and split (each card's ``init_from_card`` names its start). Commands
(repository root, ../shared/data beside it)::

  python train.py espcn --config=espcn_jax/configs/x3.py --workdir=runs/espcn_x3
  python -m espcn_jax.model_card runs/espcn_x3 --recipe=espcn_jax/configs/x3.py   # to weights/
  python evaluate.py espcn --data=../shared/data/sr/Set5 --scale=3 --model=runs/espcn_x3

The figures it reaches are those of ``espcn_jax/weights/espcn_x3_y.json``."""
from espcn_jax.configs import default


def get_config(variant: str = ""):
  c = default.shipped_recipe(variant, scale=3, num_steps=8_000, patch_size=36,
                             learning_rate=3e-4,
                             init_from=f"{default.PREVIOUS_X3_WEIGHTS}/espcn_x3_y.npz")
  if not variant:
    c.last_layer_lr_scale = 1.0
    c.eval_every = 1_000
    c.checkpoint_every = 500
    c.log_every = 250
  return c
