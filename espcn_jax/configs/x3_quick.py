"""ESPCN x3 (Y channel, paper architecture) in minutes on a CPU: T91, 8,000 steps.

Validated on 10 T91 images held out of training (``holdout:10``).

Command (from the repository root, with ../shared/data beside it)::

  python train.py espcn --config=espcn_jax/configs/x3_quick.py --workdir=runs/espcn_x3_quick
  python evaluate.py espcn --data=../shared/data/sr/Set5 --scale=3 \\
      --model=runs/espcn_x3_quick --checkpoint=latest --out=reports/x3_quick_set5.json

Expected: Set5 x3 about 31.9 dB PSNR (bicubic 30.39) in about 4-5 minutes on
the project's 2-core CPU (about 40 steps/s at batch 64). Protocol: MATLAB
bicubic LR rounded to 8 bits, Y channel BT.601, border = 3.
"""
from espcn_jax.configs import default


def get_config(variant: str = ""):
  c = default.get_config(variant)
  c.train_data = "../shared/data/sr/T91"
  c.val_data = "holdout:10"
  if not variant:
    c.num_steps = 8_000
    c.learning_rate = 3e-3
    c.log_every = 200
    c.eval_every = 1_000
    c.checkpoint_every = 1_000
  return c
