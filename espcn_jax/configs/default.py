"""Default ESPCN training config (x3, Y channel, T91, validated on 10 held-out T91 images).

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
  # "holdout:N": N images of the training pool, fixed by name (espcn_jax.data.holdout_keys) and
  # never trained on; or a folder / spec of its own; "" skips validation. Never a test set.
  c.val_data = "holdout:10"
  # Trained on, never held out: "FOLDER_GLOB[@F]"[,...], each image shrunk by F first
  # (espcn_jax.data.parse_extra_source), e.g. "../shared/data/faces/wider_train_subset/images/*@0.5".
  c.extra_train_data = ""
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


# The training pool of the shipped recipes: 491 natural images. Set5 and Set14 are never read.
SHIPPED_POOL = "../shared/data/sr/T91,../shared/data/sr/BSDS200,../shared/data/sr/BSDS500_test200"
SHIPPED_VALIDATION = "holdout:20"
# The weights shipped before the honest-validation recipes; warm starts for them. Fetch with
#   mkdir -p runs/weights_62b922d && for f in espcn_x3_y espcn_x2_y espcn_x4_y espcn_x3_rgb; do
#     for e in npz json; do
#       git show 62b922d:espcn_jax/weights/$f.$e > runs/weights_62b922d/$f.$e; done; done
EARLIER_WEIGHTS = "runs/weights_62b922d"
# The x3 Y model shipped before the current one (configs/x3.py continues it). Fetch with
#   mkdir -p runs/weights_111df4b && for e in npz json; do
#     git show 111df4b:espcn_jax/weights/espcn_x3_y.$e > runs/weights_111df4b/espcn_x3_y.$e; done
PREVIOUS_X3_WEIGHTS = "runs/weights_111df4b"


def shipped_recipe(variant: str, *, scale: int, num_steps: int, channels: int = 1,
                   init_from: str = "", patch_size: int = 17,
                   learning_rate: float = 3e-3) -> ml_collections.ConfigDict:
  """The recipe of the shipped models (x2.py, x3.py, x4.py, x*_rgb.py differ only in these).

  T91 + BSDS200 + BSDS500_test200 (:data:`SHIPPED_POOL`) with scale
  augmentation (copies shrunk to 0.8 and 0.6), validated on 20 images held
  out of that pool (:data:`SHIPPED_VALIDATION`; the exported step is the one
  best on them), Adam with cosine decay; ``init_from`` a warm start ("" for
  none). A ``variant`` (e.g. ``smoke``) keeps the data and shape but not the schedule.
  """
  c = get_config(variant)
  c.scale, c.channels = scale, channels
  c.train_data = SHIPPED_POOL
  c.val_data = SHIPPED_VALIDATION
  c.scale_augment = (1.0, 0.8, 0.6)
  if not variant:
    c.init_from = init_from
    c.num_steps = num_steps
    c.patch_size = patch_size
    c.learning_rate = learning_rate
    c.log_every = 500
    c.eval_every = 2_500
    c.checkpoint_every = 2_500
  return c
