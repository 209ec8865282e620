"""TFDS datasets of images, built and read without TensorFlow.

``tensorflow_datasets`` only needs TensorFlow for ``tfds.load``/``as_dataset``
and for the ``tfrecord`` format. Datasets stored with
``file_format='array_record'`` are written by a plain
``tfds.core.GeneratorBasedBuilder`` and read back through ``tfds.data_source``
(random access, NumPy decoding), so neither step imports TensorFlow:

* :func:`build_image_folder_dataset` turns a folder of HR images into a TFDS
  dataset (one split ``train``, features ``image`` and ``name``) whose images
  are stored as PNG, so pixels round-trip exactly.
* :func:`load_tfds_images` reads the images of any prepared dataset that has a
  random-access format (ours, or e.g. ``div2k/bicubic_x3`` prepared with
  ``file_format='array_record'``) as ``(name, uint8 array)`` pairs. It never
  downloads or prepares anything.
* :func:`parse_tfds_spec` parses ``"tfds:NAME[:VERSION][:SPLIT]"`` strings.

Our image feature has a dynamic channel count (grey and RGB images may be
mixed), which TFDS's own NumPy decoder cannot handle (it only handles a fixed
channel count), so images of such features are decoded here with PIL.
"""
from __future__ import annotations

import io
import pathlib
import re

import numpy as np
from PIL import Image
import tensorflow_datasets as tfds

__all__ = [
    "IMAGE_EXTENSIONS",
    "build_image_folder_dataset",
    "load_tfds_images",
    "parse_tfds_spec",
]

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
_SPEC_PREFIX = "tfds:"
_NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")
_VERSION_RE = re.compile(r"^\d+\.\d+\.\d+$")
_METADATA_KEY = "source_files"
# PIL modes stored as they are (8 bits per channel), and conversions for the
# other 8-bit modes. 16-bit and float modes are rejected.
_UINT8_MODES = ("L", "LA", "RGB", "RGBA")
_MODE_CONVERSIONS = {
    "1": "L", "La": "LA", "PA": "RGBA", "RGBa": "RGBA", "RGBX": "RGB",
    "CMYK": "RGB", "YCbCr": "RGB", "LAB": "RGB", "HSV": "RGB",
}
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_8BIT_COLOR_TYPES = (0, 2, 4, 6)  # grey, RGB, grey+alpha, RGBA


# ------------------------------------------------------------------ building


def build_image_folder_dataset(
    folder: str | pathlib.Path,
    data_dir: str | pathlib.Path,
    name: str | None = None,
    version: str = "1.0.0",
) -> str:
  """Stores the images of ``folder`` as a TFDS dataset in ``data_dir``.

  The dataset has one split ``train`` holding every image file directly in
  ``folder`` (extensions :data:`IMAGE_EXTENSIONS`, case-insensitive, sorted by
  file name, in that order) and the features ``image`` (uint8
  ``[H, W, C]``, any ``C``: grey, grey+alpha, RGB or RGBA; stored as PNG, so
  lossless) and ``name`` (the file stem). Images are stored with the pixels
  ``np.asarray(PIL.Image.open(path))`` gives; palette, bilevel and CMYK-like
  images are converted to RGB(A)/L first. The files are written with
  ``file_format='array_record'`` under ``data_dir/name/version``.

  If that dataset is already built it is reused as is (nothing is decoded or
  written); it must have been built from files with the same names and sizes,
  otherwise a ``ValueError`` asks to delete it or choose another name/version.

  Args:
    folder: directory of HR images (not searched recursively).
    data_dir: TFDS data directory to write to (created if needed).
    name: dataset name, a snake_case identifier that is not the name of a
      dataset registered in TFDS. Defaults to the sanitized folder name.
    version: dataset version ``"X.Y.Z"``.

  Returns:
    The dataset name, to pass to :func:`load_tfds_images` with ``data_dir``.

  Raises:
    ValueError: if the folder is missing or holds no images, if an image cannot
      be read, if ``name`` is invalid, or if the dataset already exists but
      was built from other files.
  """
  folder = pathlib.Path(folder)
  files = _list_image_files(folder)
  _check_unique_stems(files)
  name = _default_name(folder) if name is None else _validate_name(name)
  fingerprint = _fingerprint(files)
  builder = _make_builder(name, version, files, fingerprint, data_dir)
  if builder.is_prepared():
    _check_same_source(builder, fingerprint)
  else:
    builder.download_and_prepare()
  return name


def _list_image_files(folder: pathlib.Path) -> list[pathlib.Path]:
  """Image files directly in ``folder``, sorted by file name."""
  if not folder.is_dir():
    raise ValueError(f"Image folder {str(folder)!r} does not exist or is not a "
                     "directory.")
  files = sorted((p for p in folder.iterdir()
                  if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS),
                 key=lambda p: p.name)
  if not files:
    raise ValueError(f"Image folder {str(folder)!r} contains no images (looked "
                     f"for {', '.join(IMAGE_EXTENSIONS)}).")
  return files


def _check_unique_stems(files: list[pathlib.Path]) -> None:
  """Names are file stems, so ``a.png`` and ``a.jpg`` cannot both be used."""
  seen = {}
  for path in files:
    if path.stem in seen:
      raise ValueError(f"Images {seen[path.stem].name!r} and {path.name!r} "
                       f"in {str(path.parent)!r} have the same name "
                       f"{path.stem!r}.")
    seen[path.stem] = path


def _default_name(folder: pathlib.Path) -> str:
  """Snake_case identifier from the folder name, clear of registered names."""
  name = re.sub(r"[^a-z0-9]+", "_", folder.resolve().name.lower()).strip("_")
  if not name or not name[0].isalpha():
    name = f"images_{name}".rstrip("_")
  if _is_registered(name):
    name += "_images"
  return name


def _validate_name(name: str) -> str:
  if not _NAME_RE.match(name):
    raise ValueError(f"Invalid TFDS dataset name {name!r}: use a snake_case "
                     "identifier (lowercase letters, digits, underscores, "
                     "starting with a letter).")
  if _is_registered(name):
    raise ValueError(f"Dataset name {name!r} is a dataset registered in TFDS; "
                     "reading it back would use that builder. Pick another.")
  return name


def _is_registered(name: str) -> bool:
  try:
    tfds.builder_cls(name)
  except tfds.core.DatasetNotFoundError:
    return False
  return True


def _fingerprint(files: list[pathlib.Path]) -> list[list]:
  """``[[file name, size in bytes], ...]``: identifies the source files."""
  return [[p.name, p.stat().st_size] for p in files]


def _check_same_source(builder, fingerprint: list[list]) -> None:
  stored = (builder.info.metadata or {}).get(_METADATA_KEY)
  if stored != fingerprint:
    raise ValueError(
        f"TFDS dataset {builder.name!r} at {builder.data_dir} was built from "
        "other image files than those now in the folder (or not by "
        "build_image_folder_dataset). Delete that directory, or pass another "
        "name or version.")


def _make_builder(name: str, version: str, files: list[pathlib.Path],
                  fingerprint: list[list], data_dir):
  """Instance of a one-off ``GeneratorBasedBuilder`` for ``files``."""
  dataset_name = name

  class _ImageFolderBuilder(tfds.core.GeneratorBasedBuilder,
                            skip_registration=True):
    """Images of one folder; split ``train``; features ``image``, ``name``."""

    name = dataset_name
    VERSION = tfds.core.Version(version)
    RELEASE_NOTES = {version: "Built by espcn_mtcnn_common.tfds_images."}
    # TFDS looks for a checksums file next to the builder's module, which
    # needs the `importlib_resources` backport when the builder lives in a
    # package; a builder made on the fly has no such file anyway.
    code_path = None

    def _info(self):
      return self.dataset_info_from_configs(
          description=f"Images of the folder {files[0].parent}.",
          features=_image_features(),
          metadata=tfds.core.MetadataDict({_METADATA_KEY: fingerprint}),
          disable_shuffling=True,  # keep the sorted file order
      )

    def _split_generators(self, dl_manager):
      del dl_manager
      return {"train": self._generate_examples()}

    def _generate_examples(self):
      for index, path in enumerate(files):
        yield index, {"image": _png_bytes(path), "name": path.stem}

  return _ImageFolderBuilder(data_dir=str(data_dir), file_format="array_record")


def _image_features():
  # encoding_format=None: TFDS rejects a `None` channel count with 'png', but
  # our encoder (below) always gives it PNG bytes.
  return tfds.features.FeaturesDict({
      "image": tfds.features.Image(shape=(None, None, None), dtype=np.uint8,
                                   encoding_format=None),
      "name": tfds.features.Text(),
  })


def _png_bytes(path: pathlib.Path) -> bytes:
  """Lossless PNG bytes of the image at ``path`` (the file itself if it is an
  8-bit non-palette PNG)."""
  data = path.read_bytes()
  image = _open_image(data, path)
  if _is_plain_8bit_png(data):
    return data
  buffer = io.BytesIO()
  _to_uint8_mode(image, path).save(buffer, format="PNG")
  return buffer.getvalue()


def _open_image(data: bytes, source) -> Image.Image:
  """Fully decoded PIL image of the encoded ``data``; ``source`` names it."""
  try:
    image = Image.open(io.BytesIO(data))
    image.load()
  except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
    raise ValueError(f"Cannot read image {source}: {e}") from e
  return image


def _is_plain_8bit_png(data: bytes) -> bool:
  """PNG whose IHDR says 8 bits per sample, colour type grey/RGB(+alpha)."""
  return (data[:8] == _PNG_SIGNATURE and data[12:16] == b"IHDR"
          and data[24] == 8 and data[25] in _PNG_8BIT_COLOR_TYPES)


def _to_uint8_mode(image: Image.Image, source) -> Image.Image:
  """``image`` in one of the modes L, LA, RGB, RGBA."""
  if image.mode in _UINT8_MODES:
    return image
  if image.mode == "P":
    return image.convert("RGBA" if "transparency" in image.info else "RGB")
  if image.mode in _MODE_CONVERSIONS:
    return image.convert(_MODE_CONVERSIONS[image.mode])
  raise ValueError(f"Image {source} has PIL mode {image.mode!r}; only 8-bit "
                   "images are supported.")


# ------------------------------------------------------------------- reading


def load_tfds_images(
    name: str,
    split: str = "train",
    data_dir: str | pathlib.Path | None = None,
    image_key: str | None = None,
) -> list[tuple[str, np.ndarray]]:
  """Reads the images of a locally prepared TFDS dataset, without TensorFlow.

  Uses ``tfds.data_source`` with ``download=False``: nothing is downloaded or
  prepared, so the dataset must exist in ``data_dir`` in a random-access file
  format (``array_record``, as :func:`build_image_folder_dataset` writes).

  Args:
    name: TFDS name, e.g. ``"div2k/bicubic_x3"``, ``"my_set"`` or
      ``"my_set:1.0.0"``.
    split: split to read, e.g. ``"train"``, ``"validation"``, ``"train[:10]"``.
    data_dir: TFDS data directory; ``None`` for TFDS's default
      (``$TFDS_DATA_DIR`` or ``~/tensorflow_datasets``).
    image_key: image feature to read. ``None`` picks ``image`` if present, else
      ``hr``, else the only image feature.

  Returns:
    ``[(name, image), ...]`` in dataset order, where ``image`` is a uint8
    ``[H, W]`` (grey) or ``[H, W, C]`` array and ``name`` is the ``name``
    feature if the dataset has one, else ``f"{split}_{index:05d}"``.

  Raises:
    ValueError: if the dataset is not prepared in ``data_dir``, or has no
      suitable image feature.
  """
  builder = _prepared_builder(name, split, data_dir)
  features = builder.info.features
  key = _pick_image_key(features, image_key, name)
  feature = features[key]
  if feature.np_dtype != np.uint8:
    raise ValueError(f"Image feature {key!r} of {name!r} has dtype "
                     f"{feature.np_dtype}; only uint8 images are supported.")
  # Decode nothing but `name` in TFDS; image features are decoded below (and
  # unused ones, like DIV2K's `lr`, not at all).
  decoders = {k: tfds.decode.SkipDecoding() for k, f in features.items()
              if isinstance(f, tfds.features.Image)}
  source = _data_source(name, split, data_dir, decoders)
  has_name = "name" in features
  out = []
  for index in range(len(source)):
    example = source[index]
    image = _decode_image(feature, example[key], f"{index} of {name}:{split}")
    label = _as_str(example["name"]) if has_name else f"{split}_{index:05d}"
    out.append((label, image))
  return out


def _not_prepared_error(name: str, split: str, data_dir,
                        why: str) -> ValueError:
  where = f"data_dir {str(data_dir)!r}" if data_dir is not None else (
      "the default data_dir ($TFDS_DATA_DIR or ~/tensorflow_datasets)")
  return ValueError(f"TFDS dataset {name!r} (split {split!r}) is not prepared "
                    f"in {where}: {why}. It is never downloaded here; "
                    "prepare it first with file_format='array_record' (e.g. "
                    "build_image_folder_dataset for an image folder).")


def _prepared_builder(name: str, split: str, data_dir):
  """The TFDS builder of ``name``; ``ValueError`` unless it is prepared."""
  kwargs = {} if data_dir is None else {"data_dir": str(data_dir)}
  try:
    builder = tfds.builder(name, **kwargs)
  except tfds.core.DatasetNotFoundError:
    raise _not_prepared_error(name, split, data_dir,
                              "no such dataset found") from None
  if not builder.is_prepared():
    raise _not_prepared_error(name, split, data_dir,
                              f"nothing at {builder.data_dir}")
  return builder


def open_data_source(name: str, split: str, data_dir=None, decoders=None):
  """A prepared TFDS dataset's random-access source; never downloads.

  Raises:
    ValueError: the dataset is not prepared in ``data_dir`` (or the default).
  """
  _prepared_builder(name, split, data_dir)
  return _data_source(name, split, data_dir, decoders)


def _data_source(name: str, split: str, data_dir, decoders):
  try:
    return tfds.data_source(name, split=split, data_dir=data_dir,
                            download=False, decoders=decoders, try_gcs=False)
  except NotImplementedError as e:  # prepared only as tfrecord
    raise _not_prepared_error(name, split, data_dir,
                              f"no random-access file format ({e})") from e


def _pick_image_key(features, image_key: str | None, name: str) -> str:
  """Key of the image feature to read (see :func:`load_tfds_images`)."""
  image_keys = [k for k, f in features.items()
                if isinstance(f, tfds.features.Image)]
  if image_key is None:
    preferred = [k for k in ("image", "hr") if k in image_keys]
    if preferred:
      image_key = preferred[0]
    elif len(image_keys) == 1:
      image_key = image_keys[0]
    else:
      raise ValueError(f"Cannot choose the image feature of {name!r} among "
                       f"{image_keys} (features: {list(features.keys())}); "
                       "pass image_key.")
  if image_key not in image_keys:
    raise ValueError(f"{image_key!r} is not an image feature of {name!r}; its "
                     f"image features are {image_keys}.")
  return image_key


def _decode_image(feature, data: bytes, source: str) -> np.ndarray:
  """uint8 ``[H, W]`` or ``[H, W, C]`` array of an encoded image feature."""
  channels = feature.shape[-1]
  if channels:  # fixed channel count: TFDS's own NumPy decoding
    array = feature.decode_example_np(data)
  else:  # None (or 0): TFDS cannot decode these without TensorFlow
    image = _to_uint8_mode(_open_image(data, f"example {source}"), source)
    array = np.asarray(image, dtype=np.uint8)
  if array.ndim == 3 and array.shape[-1] == 1:
    array = array[..., 0]
  return array


def _as_str(value) -> str:
  return value.decode("utf-8") if isinstance(value, bytes) else str(value)


# -------------------------------------------------------------------- specs


def parse_tfds_spec(spec: str) -> tuple[str, str] | None:
  """Parses ``"tfds:NAME[:VERSION][:SPLIT]"`` into ``(name, split)``.

  ``"tfds:div2k/bicubic_x3:validation"`` -> ``("div2k/bicubic_x3",
  "validation")``; ``"tfds:my_set"`` -> ``("my_set", "train")``;
  ``"tfds:my_set:1.0.0:test"`` -> ``("my_set:1.0.0", "test")``. The split may
  use TFDS slicing (``"train[:10]"``). Returns ``None`` if ``spec`` does not
  start with ``"tfds:"``.

  Raises:
    ValueError: if the name is empty.
  """
  if not spec.startswith(_SPEC_PREFIX):
    return None
  name, _, rest = spec[len(_SPEC_PREFIX):].strip().partition(":")
  version, _, split = rest.partition(":")
  if _VERSION_RE.match(version):
    name = f"{name}:{version}"
  else:
    split = rest
  if not name:
    raise ValueError(f"No dataset name in TFDS spec {spec!r}.")
  return name, split or "train"
