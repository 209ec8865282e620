"""Writes the notebooks of this folder, outputs stripped: ``python notebooks/make_notebooks.py``.

Edit the cells here rather than in the ``.ipynb`` files, then re-run this script; the
files it writes have no outputs and no execution counts, so git holds the source only.
``tests/test_notebooks.py`` runs both notebooks top to bottom with the smoke switch on
(``NOTEBOOK_SMOKE=1``) and checks that the stored files stay stripped.

Every notebook opens with the same install cell (``INSTALL``): on Colab it pip-installs
this repository from ``REPO_URL``; where the package is already importable (a local
``pip install -e .``, CI) it does nothing. The second code cell is the parameters cell,
tagged ``parameters`` as papermill expects.
"""
from __future__ import annotations

import pathlib

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = pathlib.Path(__file__).resolve().parent
COLAB = "https://colab.research.google.com/github/<owner>/espcn-mtcnn-jax/blob/main/notebooks"

INSTALL = '''\
# Install this repository (Colab). Does nothing where it is already installed (`pip install -e .`).
REPO_URL = "https://github.com/<owner>/espcn-mtcnn-jax"  # <- set this to your clone or fork
try:
  import espcn_jax, mtcnn_jax  # noqa: F401
except ImportError:
  import importlib, subprocess, sys
  subprocess.run([sys.executable, "-m", "pip", "install", "-q", f"git+{REPO_URL}"], check=True)
  importlib.invalidate_caches()
  import espcn_jax, mtcnn_jax  # noqa: F401
print("espcn_jax from", espcn_jax.__file__)'''

DEVICES = '''\
import jax

print("JAX", jax.__version__, "on", jax.default_backend())
print(jax.devices())'''


def _md(text: str):
  return new_markdown_cell(text.strip("\n"))


def _code(text: str, *tags: str):
  cell = new_code_cell(text.strip("\n"))
  if tags:
    cell.metadata["tags"] = list(tags)
  return cell


def _notebook(cells) -> nbformat.NotebookNode:
  nb = new_notebook(cells=cells)
  for i, cell in enumerate(nb.cells):   # stable ids: regenerating gives the same file
    cell.id = f"cell-{i:02d}"
  nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                               "language": "python"}
  nb.metadata["language_info"] = {"name": "python"}
  nb.metadata["accelerator"] = "GPU"   # Colab's default runtime for these notebooks
  nb.metadata["colab"] = {"provenance": []}
  return nb


# --------------------------------------------------------------------------- quick start

QUICK_START = [
    _md(f'''
# ESPCN and MTCNN in JAX: quick start

[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]({COLAB}/quick_start.ipynb)

Two 2016 papers in pure, functional JAX, with the weights shipped in the package:

1. **ESPCN** super-resolution: a photo shrunk 3x is brought back with bicubic interpolation
   and with ESPCN, next to the original.
2. **MTCNN** face detection, side by side with OpenCV's Haar cascade.

Nothing is downloaded but the package itself. It runs unchanged on a CPU, GPU or TPU runtime
(*Runtime > Change runtime type*). Run the cells top to bottom; the first installs the
repository (set `REPO_URL` to your clone or fork first).
'''),
    _code(INSTALL),
    _md('''
**Parameters.** Change them and re-run the notebook. `PHOTO` takes a path (upload a file
with the folder icon on the left) or a URL; empty uses the embedded public-domain portrait.
'''),
    _code('''
SCALE = 3              # 2, 3 or 4: the shipped ESPCN models
PHOTO = ""             # path or URL of your own photo; "" = the embedded portrait
MIN_FACE_SIZE = 20     # smallest face MTCNN looks for, in pixels
HAAR = "haar_alt2"     # the OpenCV cascade to compare: haar_alt2, haar_alt, haar_default, ...
''', "parameters"),
    _md("The devices JAX found (one CPU, a GPU, or the eight cores of a TPU):"),
    _code(DEVICES),
    _md('''
## 1. Super-resolution with the shipped ESPCN weights

The literature's protocol: the photo is the high-resolution (HR) image; the low-resolution
(LR) input is its MATLAB-style bicubic reduction by `SCALE`, rounded to 8 bits. ESPCN
upscales the luma (Y) and the colour channels are upscaled bicubically. PSNR is measured on
Y with `SCALE` border pixels removed.
'''),
    _code('''
import pathlib
import urllib.parse
import urllib.request

import matplotlib.pyplot as plt
import numpy as np

import espcn_jax
from espcn_jax import data
from espcn_mtcnn_common import image_io
from espcn_mtcnn_common.demo_photo import grace_hopper

params, card = espcn_jax.load_pretrained(SCALE)
if PHOTO.startswith(("http://", "https://")):    # download it next to the notebook
  suffix = pathlib.Path(urllib.parse.urlparse(PHOTO).path).suffix
  PHOTO = urllib.request.urlretrieve(PHOTO, "photo" + suffix)[0]
photo = image_io.read_image(PHOTO, mode="rgb") if PHOTO else grace_hopper()

hr = data.mod_crop(photo, SCALE)                               # uint8, sides divisible by SCALE
lr = data.degrade(hr / 255.0, SCALE)                           # float in [0, 1], 8-bit levels
lr_u8 = np.round(lr * 255).astype(np.uint8)
bicubic = np.round(data.bicubic_upscale(lr, SCALE) * 255).astype(np.uint8)
espcn = espcn_jax.upscale(params, lr_u8)                       # uint8 [H, W, 3]
print(f"HR {hr.shape}, LR {lr_u8.shape}, ESPCN output {espcn.shape}")
'''),
    _code('''
def y_psnr(image):
  return espcn_jax.psnr(data.to_model_space(image, 1), data.to_model_space(hr, 1), border=SCALE)

panels = [("LR (nearest)", lr_u8), (f"bicubic x{SCALE}: {y_psnr(bicubic):.2f} dB", bicubic),
          (f"ESPCN x{SCALE}: {y_psnr(espcn):.2f} dB", espcn), ("HR (original)", hr)]
h, w = hr.shape[:2]
side = min(h, w) // 3                                          # a zoomed crop near the centre
top, left = (h - side) // 2, (w - side) // 2
fig, axes = plt.subplots(2, 4, figsize=(16, 8.5))
for (title, image), full, zoom in zip(panels, axes[0], axes[1]):
  full.imshow(image, extent=(0, w, h, 0), interpolation="nearest")
  full.set_title(title)
  zoom.imshow(image, extent=(0, w, h, 0), interpolation="nearest")
  zoom.set_xlim(left, left + side)
  zoom.set_ylim(top + side, top)
for ax in axes.flat:
  ax.axis("off")
fig.suptitle(f"ESPCN x{SCALE} (PSNR on Y, border {SCALE})")
fig.tight_layout()
plt.show()
'''),
    _md('''
The same score on the Y channel alone, exactly as the README's tables are made (HR Y, its
bicubic reduction, ESPCN in model space):
'''),
    _code('''
pair = data.make_pair("photo", photo, scale=SCALE, channels=1)
sr = data.to_8bit_levels(espcn_jax.super_resolve(params, pair.lr))
print(f"ESPCN x{SCALE}: PSNR {espcn_jax.psnr(sr, pair.hr, border=SCALE):.2f} dB, "
      f"SSIM {espcn_jax.ssim(sr, pair.hr, border=SCALE):.4f}")
'''),
    _md('''
## 2. Face detection: MTCNN and a Haar cascade

`mtcnn_jax.detect` runs the published MTCNN weights (converted to JAX) and returns boxes,
scores and five landmarks per face. The embedded test images are the portrait and a collage
of its face at six sizes, with known boxes (white). Each detector draws its faces in green.
'''),
    _code('''
import types

import mtcnn_jax
from mtcnn_jax import detectors
from mtcnn_jax.demo_faces import sample_faces
from mtcnn_jax.draw import draw_detections

haar = detectors.make_detector(HAAR, min_face_size=MIN_FACE_SIZE)
images = [(ann.file, image, ann.boxes) for ann, image in sample_faces()]
if PHOTO:
  images.append(("your photo", photo, np.zeros((0, 4))))

fig, axes = plt.subplots(len(images), 2, figsize=(14, 6 * len(images)), squeeze=False)
for (name, image, truth), row in zip(images, axes):
  known = types.SimpleNamespace(boxes=truth, scores=np.ones(len(truth)))
  base = draw_detections(image, known, colour=(255, 255, 255), scores=False)
  found = {"MTCNN": mtcnn_jax.detect(image, min_face_size=MIN_FACE_SIZE),
           HAAR: types.SimpleNamespace(**haar(image))}
  for ax, (detector, faces) in zip(row, found.items()):
    ax.imshow(draw_detections(base, faces))
    ax.set_title(f"{name}: {detector} finds {len(faces.boxes)} (known faces: {len(truth)})")
    ax.axis("off")
fig.tight_layout()
plt.show()
'''),
    _md('''
MTCNN also gives landmarks, which align faces to 112x112 crops (the ArcFace template):
'''),
    _code('''
from mtcnn_jax.draw import align_faces

name, image, _ = images[1]
faces = mtcnn_jax.detect(image, min_face_size=MIN_FACE_SIZE)
crops = align_faces(image, faces.landmarks)
print(faces.scores.round(3))
if len(crops):
  plt.figure(figsize=(2 * len(crops), 2))
  plt.imshow(np.concatenate(list(crops), axis=1))
  plt.axis("off")
  plt.show()
'''),
    _md('''
**Next.** The command-line tools (`espcn-upscale`, `mtcnn-detect`, and the video versions),
the evaluation on the research datasets and training are described in the repository's
README. `train_on_colab.ipynb` trains both models on a Colab GPU or TPU.
'''),
]

# --------------------------------------------------------------------------- training

TRAIN = [
    _md(f'''
# Train ESPCN and MTCNN on a Colab GPU or TPU

[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]({COLAB}/train_on_colab.ipynb)

1. ESPCN x3 with the recipe of the shipped model (`espcn_jax/configs/x3.py`) on a TFDS
   dataset Colab downloads (DIV2K by default) or on a folder of your images;
2. its validation curve and evaluation figures;
3. MTCNN: one stage of the cascade (P-Net).

Pick a runtime with *Runtime > Change runtime type* (GPU or TPU; a CPU works, slowly). The
batch is sharded over every device JAX finds (tested on virtual CPU devices; not yet on a
TPU). When Google Drive is mounted the workdirs live
there, so after a disconnect re-running the notebook resumes from the last checkpoint.

The first cell installs the repository: set `REPO_URL` to your clone or fork.
'''),
    _code(INSTALL),
    _md('''
**Parameters** (papermill-style: this cell is tagged `parameters`). `SMOKE = True` replaces
every size with a seconds-long version on the embedded photos, which trains a useless model
but runs every step: CI runs the notebook that way (it sets the environment variable
`NOTEBOOK_SMOKE=1`; with papermill, `-p SMOKE True`). Data specs: `tfds:NAME[:SPLIT]` (a TFDS
dataset, prepared below; slices such as `train[:200]` work), a folder of images, or `samples`
(the embedded photos). DIV2K photos are large: 200 of them with the recipe's augmentation
need an estimated 6 GB of RAM (Colab has about 12 GB).
'''),
    _code('''
import os

SMOKE = os.environ.get("NOTEBOOK_SMOKE", "0") == "1"   # True: a seconds-long run (CI)
WORKDIR = ""          # "" = MyDrive/espcn-mtcnn-jax when Drive is mounted, else ./runs

ESPCN_TRAIN_DATA = "tfds:div2k/bicubic_x3:train[:200]"   # 200 of DIV2K's 800 2K photos
ESPCN_VAL_DATA = "tfds:div2k/bicubic_x3:validation[:20]"
ESPCN_STEPS = 60_000                  # the shipped recipe's length
ESPCN_SCALE_AUGMENT = (1.0, 0.8, 0.6)  # the recipe's extra shrunk copies; (1.0,) halves the RAM

MTCNN_FACES = "tfds:wider_face:train[:3000]"   # or an annotations.json (see mtcnn_jax/tfds_faces.py)
MTCNN_STEPS = 10_000                  # P-Net steps (the cascade config's)
''', "parameters"),
    _code('''
if SMOKE:  # the embedded photos and a few steps: seconds on a CPU
  ESPCN_TRAIN_DATA = ESPCN_VAL_DATA = "samples"
  ESPCN_STEPS, MTCNN_STEPS = 20, 6
  ESPCN_SCALE_AUGMENT = (1.0,)
  MTCNN_FACES = ""      # made from the embedded face photos below
print("SMOKE" if SMOKE else "FULL", "run:", ESPCN_TRAIN_DATA, ESPCN_STEPS, "steps;",
      MTCNN_FACES or "embedded faces", MTCNN_STEPS, "steps")
'''),
    _md("## Devices and workdir"),
    _code(DEVICES),
    _code('''
import pathlib

try:                                   # Colab: keep the runs on Google Drive
  from google.colab import drive
  IN_COLAB = True
except ImportError:
  IN_COLAB = False
if IN_COLAB and (not WORKDIR or WORKDIR.startswith("/content/drive")):
  drive.mount("/content/drive")
if not WORKDIR:
  WORKDIR = "/content/drive/MyDrive/espcn-mtcnn-jax" if IN_COLAB else "runs"
suffix = "_smoke" if SMOKE else ""
ESPCN_DIR = pathlib.Path(WORKDIR, "espcn_x3" + suffix).absolute()
MTCNN_DIR = pathlib.Path(WORKDIR, "mtcnn" + suffix).absolute()
print("ESPCN workdir:", ESPCN_DIR, "\\nMTCNN workdir:", MTCNN_DIR)
'''),
    _md('''
## Data

The trainers read TFDS datasets without TensorFlow, so they must be prepared in the
random-access `array_record` format. This cell downloads and prepares the ones named above
(downloads of several GB each, from the datasets' publishers) into `~/tensorflow_datasets` (set
`TFDS_DATA_DIR` to keep them elsewhere). Skipped in smoke mode and for folders. If a download
fails (WIDER FACE is served from Google Drive, which rate-limits), upload the data and point the
parameters at it instead: a folder of HR images for ESPCN, an `annotations.json` in the format
of `mtcnn_jax/tfds_faces.py` for MTCNN.
'''),
    _code('''
from espcn_mtcnn_common.tfds_images import parse_tfds_spec

for spec in dict.fromkeys([ESPCN_TRAIN_DATA, ESPCN_VAL_DATA, MTCNN_FACES]):
  if spec.startswith("tfds:") and not SMOKE:
    import tensorflow_datasets as tfds
    builder = tfds.builder(parse_tfds_spec(spec)[0])
    if not builder.is_prepared():
      builder.download_and_prepare(file_format="array_record")
    print(spec, "prepared in", builder.data_dir)
'''),
    _md('''
## ESPCN x3

The shipped model's recipe (`espcn_jax/configs/x3.py`: 17x17 LR patches, batch 64, Adam 3e-3
with cosine decay, flips and rotations) with the data and length above. Checkpoints go to the
workdir every 2,500 steps; if the workdir holds a run, it resumes. The bar shows the progress;
validation PSNR is logged every 5,000 steps.
'''),
    _code('''
from espcn_jax import train as espcn_train
from espcn_jax.configs import x3

config = x3.get_config("smoke" if SMOKE else "")
config.train_data, config.val_data = ESPCN_TRAIN_DATA, ESPCN_VAL_DATA
config.num_steps = ESPCN_STEPS
config.scale_augment = tuple(ESPCN_SCALE_AUGMENT)
result = espcn_train.train_and_evaluate(config, str(ESPCN_DIR))
print(result)
'''),
    _md("The training loss and the validation PSNR, from the workdir's `metrics.jsonl`:"),
    _code('''
import json

import matplotlib.pyplot as plt

records = [json.loads(line) for line in (ESPCN_DIR / "metrics.jsonl").read_text().splitlines()
           if line.strip()]
val = [r for r in records if "val_psnr" in r]
fig, (ax_loss, ax_val) = plt.subplots(1, 2, figsize=(12, 4))
ax_loss.plot([r["step"] for r in records if "loss" in r],
             [r["loss"] for r in records if "loss" in r])
ax_loss.set(yscale="log", xlabel="step", ylabel="training loss")
ax_val.plot([r["step"] for r in val], [r["val_psnr"] for r in val], "r.-")
ax_val.set(xlabel="step", ylabel="validation PSNR (dB)")
fig.tight_layout()
plt.show()
'''),
    _md('''
**Evaluation** of the best checkpoint on the embedded photos (the literature's protocol: Y
channel, MATLAB bicubic LR, border 3), against bicubic and the shipped x3 model. The figures
show LR, bicubic, the model and HR where the model gains most.
'''),
    _code('''
import matplotlib
from IPython.display import Image, display

from espcn_jax import evaluate as espcn_eval

ours = espcn_eval.evaluate("samples", 3, espcn_eval.resolve_model(str(ESPCN_DIR), 3),
                           keep_outputs=True, progress=False)
shipped = espcn_eval.evaluate("samples", 3, espcn_eval.resolve_model("pretrained", 3),
                              progress=False)
print(espcn_eval.format_table(ours))
print(f"\\nmean PSNR: ours {ours['mean']['psnr']:.2f} dB, shipped x3 {shipped['mean']['psnr']:.2f} "
      f"dB, bicubic {ours['bicubic_mean']['psnr']:.2f} dB")
backend = matplotlib.get_backend()     # write_figures switches to Agg; switched back below
written = espcn_eval.write_figures(ours, ESPCN_DIR / "figures", max_images=2)
matplotlib.use(backend)
for path in written:
  if path.name.startswith("panels_"):
    display(Image(filename=str(path)))
'''),
    _md('''
The trained model upscales like the shipped one:
`espcn_jax.upscale(params, image, activation=info["activation"], centre=info["centre"])`
with `params, info = espcn_jax.checkpoint.load_model(ESPCN_DIR, scale=3)`, or
`espcn-upscale photo.jpg --model ESPCN_DIR` on the command line.

## MTCNN: P-Net

The cascade's first stage, trained on random crops of annotated faces (negatives,
positives, parts). The full run reads WIDER FACE from TFDS (written out once under the
workdir); the smoke run writes the embedded face photos and their boxes as an annotation file.
'''),
    _code('''
from PIL import Image as PILImage

from mtcnn_jax.demo_faces import sample_faces

if not MTCNN_FACES:   # smoke: the embedded photos as a tiny annotated set
  faces_dir = pathlib.Path(WORKDIR, "embedded_faces").absolute()
  (faces_dir / "images").mkdir(parents=True, exist_ok=True)
  entries = []
  for ann, image in sample_faces():
    PILImage.fromarray(image).save(faces_dir / "images" / f"{pathlib.Path(ann.file).stem}.png")
    entries.append({"file": f"images/{pathlib.Path(ann.file).stem}.png",
                    "width": image.shape[1], "height": image.shape[0],
                    "boxes": ann.boxes.tolist(), "ignore": []})
  (faces_dir / "annotations.json").write_text(json.dumps({"images": entries}))
  MTCNN_FACES = str(faces_dir / "annotations.json")
print("faces:", MTCNN_FACES)
'''),
    _code('''
from mtcnn_jax import train as mtcnn_train
from mtcnn_jax.configs import cascade

config = cascade.get_config("smoke" if SMOKE else "")
config.face_annotations = MTCNN_FACES
config.landmark_annotations = ""       # P-Net has no landmark head
config.pnet.num_steps = MTCNN_STEPS
result = mtcnn_train.train_stage(config, str(MTCNN_DIR), "pnet")
print(result)
'''),
    _code('''
records = [json.loads(line) for line in
           (MTCNN_DIR / "pnet" / "metrics.jsonl").read_text().splitlines() if line.strip()]
fig, ax = plt.subplots(figsize=(7, 4))
for key in ("loss", "val_det"):
  points = [(r["step"], r[key]) for r in records if key in r]
  if points:
    ax.plot(*zip(*points), ".-", label=key)
ax.set(xlabel="step", ylabel="loss", title="P-Net")
ax.legend()
plt.show()
print("P-Net params:", MTCNN_DIR / "params" / "pnet.npz")
'''),
    _md('''
**Next stages.** R-Net and O-Net learn from the hard examples the stages before them
propose: `mtcnn_train.train_stage(config, MTCNN_DIR, "rnet")`, then `"onet"` (O-Net also
wants a landmark set, e.g. `config.landmark_annotations = "tfds:celeb_a:train"`), or all
three with `mtcnn_train.train_cascade`. The finished cascade loads with
`mtcnn_jax.params.load_params(str(MTCNN_DIR / "params"))`.
'''),
]


def main() -> None:
  for name, cells in (("quick_start", QUICK_START), ("train_on_colab", TRAIN)):
    nb = _notebook(cells)
    nbformat.validate(nb)
    path = HERE / f"{name}.ipynb"
    path.write_text(nbformat.writes(nb) + "\n")
    print("wrote", path)


if __name__ == "__main__":
  main()
