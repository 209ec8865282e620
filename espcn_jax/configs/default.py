"""Default ESPCN training config (x3, Y channel, T91, validated on Set5).

Command::

  python train.py espcn --config=espcn_jax/configs/default.py --workdir=runs/espcn_x3

``get_config("smoke")`` shrinks everything for a seconds-long check that
needs no ../shared: it trains and validates on the embedded sample photos
(``"samples"``, :mod:`espcn_jax.samples`)::

  python train.py espcn --config=espcn_jax/configs/default.py:smoke --workdir=/tmp/smoke
"""
import ml_collections


def get_config(variant: str = "") -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  c.task = "espcn"
  c.scale = 3
  c.channels = 1                  # 1: Y (the paper); 3: RGB
  c.degradation = "bicubic"       # or "gaussian" (7x7, sigma 1.6, then subsample)
  c.model = ml_collections.ConfigDict()
  c.model.features = (64, 32)
  c.model.kernel_sizes = (5, 3, 3)
  c.model.activation = "tanh"     # the paper's; or "relu"
  c.model.centre = 0.5            # fixed input/output centring; 0.0 = raw formulation

  c.train_data = "../shared/data/sr/T91"   # folder[,folder...], "tfds:NAME[:SPLIT]" or "samples"
  c.val_data = "../shared/data/sr/Set5"    # "" to skip validation
  c.scale_augment = (1.0,)         # extra copies of the HR images shrunk by these factors
  c.init_from = ""                # warm start: a workdir or "pretrained:espcn_x3_y"
  c.patch_size = 17               # LR patch side; HR patches are 17r (paper)
  c.batch_size = 64
  c.num_steps = 20_000
  c.learning_rate = 1e-3
  c.schedule = "cosine"           # constant | cosine | step
  c.warmup_steps = 0
  c.final_lr_fraction = 0.01
  c.last_layer_lr_scale = 0.1     # paper: the last layer learns 10x slower
  c.grad_clip_norm = 0.0          # 0 = off
  c.loss = "mse"                  # mse | l1 | charbonnier
  c.seed = 0
  c.num_devices = 0               # 0: all devices (batch sharded over a 'data' mesh axis)

  c.log_every = 100
  c.eval_every = 2_000
  c.checkpoint_every = 1_000
  c.keep_checkpoints = 2
  c.progress_bar = True

  if variant == "smoke":
    c.train_data = "samples"      # embedded photos: runs in a fresh clone without ../shared
    c.val_data = "samples"
    c.num_steps = 20
    c.batch_size = 8
    c.log_every = 5
    c.eval_every = 10
    c.checkpoint_every = 10
  elif variant:
    raise ValueError(f"unknown config variant {variant!r} (known: smoke)")
  return c


def shipped_recipe(variant: str, *, scale: int, num_steps: int, channels: int = 1,
                   init_from: str = "runs/espcn_x3_quick") -> ml_collections.ConfigDict:
  """The recipe of the shipped models (x2.py, x3.py, x4.py, x3_rgb.py differ only in these).

  T91 + BSDS200 with scale augmentation (copies shrunk to 0.8 and 0.6),
  validated on Set5, Adam 3e-3; ``init_from`` a warm start ("" for none).
  A ``variant`` (e.g. ``smoke``) keeps the data and shape but not the schedule.
  """
  c = get_config(variant)
  c.scale, c.channels = scale, channels
  c.train_data = "../shared/data/sr/T91,../shared/data/sr/BSDS200"
  c.val_data = "../shared/data/sr/Set5"
  c.scale_augment = (1.0, 0.8, 0.6)
  if not variant:
    c.init_from = init_from
    c.num_steps = num_steps
    c.learning_rate = 3e-3
    c.log_every = 500
    c.eval_every = 5_000
    c.checkpoint_every = 2_500
  return c
