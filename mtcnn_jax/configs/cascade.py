"""MTCNN training config: P-Net, then R-Net and O-Net on what the earlier stages propose.

Commands (from the repository root, with ../shared/data beside it)::

  python train.py mtcnn --config=mtcnn_jax/configs/cascade.py --workdir=runs/mtcnn
  python train.py mtcnn --config=mtcnn_jax/configs/cascade.py --workdir=runs/mtcnn \\
      --config.stage=rnet            # one stage (mines with runs/mtcnn/params/pnet.npz)
  python evaluate.py mtcnn --data=../shared/data/faces/wider_val_dev \\
      --detectors=mtcnn,mtcnn:runs/mtcnn/params,haar_alt2 \\
      --landmarks=../shared/data/faces/landmarks_sun2013_net7876

Data: the 600-image WIDER FACE train subset (boxes) and the landmark set's
train split (5 points, O-Net only). The trained params land in
``<workdir>/params/{pnet,rnet,onet}.npz`` (``mtcnn_jax.params.load_params``
reads the folder). Defaults follow the paper where it says something: IoU
bands 0.3 / 0.4 / 0.65, negative:positive:part:landmark = 3:1:1:2, task
weights (det, box, landmark) 1 / 0.5 / 0.5 for P-/R-Net and 1 / 0.5 / 1 for
O-Net, online hard example mining of the top 70 % classification losses.
P-Net and R-Net have no landmark head (the published architecture, so that
trained params load where the published ones do), so their batches hold no
landmark samples. Sample counts and steps are sized for about an hour on the
project's 2-core CPU; ``get_config("smoke")`` runs in seconds (tests).
"""
import ml_collections


def _stage(size: int, *, batch_size: int, num_steps: int, learning_rate: float,
           ratio: tuple, weights: tuple, **samples) -> ml_collections.ConfigDict:
  s = ml_collections.ConfigDict()
  s.size = size
  s.batch_size = batch_size
  s.num_steps = num_steps
  s.learning_rate = learning_rate
  s.warmup_steps = 100
  s.weight_decay = 1e-4             # decoupled (AdamW), kernels only
  s.ratio = ratio                   # negative:positive:part:landmark in every batch
  s.weights = weights               # det, box, landmark
  s.random_negatives = samples.get("random_negatives", 50)    # per image
  s.near_negatives = samples.get("near_negatives", 5)         # per face
  s.jittered = samples.get("jittered", 20)                    # per face (positives, parts)
  s.landmark_crops = samples.get("landmark_crops", 0)         # per landmark face
  s.max_mined_negatives = samples.get("max_mined_negatives", 0)   # per image, 0 = all
  s.mined_landmarks_per_face = samples.get("mined_landmarks_per_face", 0)
  return s


def get_config(variant: str = "") -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  c.task = "mtcnn"
  c.stage = "all"                   # all | pnet | rnet | onet
  # Annotation files in the ../shared/data/faces format, or prepared TFDS splits
  # ("tfds:wider_face:train", "tfds:celeb_a:train"; see mtcnn_jax/tfds_faces.py).
  c.face_annotations = "../shared/data/faces/wider_train_subset/annotations.json"
  c.landmark_annotations = "../shared/data/faces/landmarks_sun2013_net7876/annotations.json"
  c.landmark_split = "train"        # ignored for a TFDS spec: the spec's own split is used
  c.earlier_params = ""             # nets to mine with: "" = <workdir>/params, a folder, "published"
  c.cache_dir = ""                  # sample sets: "" = <workdir>/samples
  c.workers = 2                     # processes for the random crops
  c.seed = 0
  c.num_devices = 0                 # 0: all devices (batch sharded over a 'data' mesh axis)
  c.holdout_every = 20              # every 20th image's samples validate (0: none)

  c.negative_max_iou = 0.3
  c.part_min_iou = 0.4
  c.positive_min_iou = 0.65
  c.min_crop_side = 20.0            # the cascade's smallest window at min_face_size 20
  c.min_face_side = 20.0            # smaller faces: neither positives nor negatives
  c.landmark_min_iou = 0.65
  c.landmark_candidate_min_iou = 0.4
  c.flip_prob = 0.5
  c.keep_ratio = 0.7                # OHEM: hardest 70 % of the classification losses

  # The cascade that proposes R-Net's and O-Net's samples (hard examples).
  c.mining = ml_collections.ConfigDict()
  c.mining.min_face_size = 20.0
  c.mining.thresholds = (0.6, 0.7)  # P-Net, R-Net (the detection defaults)
  c.mining.level_top_k = 2048       # budgets below detection's: enough for samples, faster
  c.mining.stage1_pool = 4096
  c.mining.rnet_k = 2048
  c.mining.onet_k = 1024

  c.pnet = _stage(12, batch_size=640, num_steps=10000, learning_rate=3e-3, ratio=(3, 1, 1, 0),
                  weights=(1.0, 0.5, 0.5), random_negatives=150, near_negatives=20, jittered=60)
  c.rnet = _stage(24, batch_size=320, num_steps=3000, learning_rate=2e-3, ratio=(3, 1, 1, 0),
                  weights=(1.0, 0.5, 0.5), random_negatives=40, near_negatives=10, jittered=20,
                  max_mined_negatives=200)
  c.onet = _stage(48, batch_size=224, num_steps=1500, learning_rate=2e-3, ratio=(3, 1, 1, 2),
                  weights=(1.0, 0.5, 1.0), random_negatives=10, near_negatives=5, jittered=10,
                  landmark_crops=8, max_mined_negatives=100, mined_landmarks_per_face=4)

  c.log_every = 50
  c.eval_every = 500
  c.checkpoint_every = 500
  c.keep_checkpoints = 2
  c.progress_bar = True

  if variant == "smoke":
    c.workers = 0
    c.holdout_every = 2
    c.mining.level_top_k = 256
    c.mining.stage1_pool = 256
    c.mining.rnet_k = 128
    c.mining.onet_k = 64
    for stage, batch in (("pnet", 20), ("rnet", 20), ("onet", 28)):
      s = c[stage]
      s.batch_size = batch
      s.num_steps = 6
      s.warmup_steps = 2
      s.random_negatives, s.near_negatives, s.jittered = 12, 3, 6
      s.landmark_crops = min(s.landmark_crops, 3)
    c.log_every = 1
    c.eval_every = 3
    c.checkpoint_every = 3
    c.progress_bar = False
  elif variant:
    raise ValueError(f"unknown config variant {variant!r} (known: smoke)")
  return c
