"""Tests of export.py (the deployment CLI): artefacts, cards, errors."""
from __future__ import annotations

import json

import numpy as np
import pytest

import export
from espcn_mtcnn_common import onnx_build
from espcn_mtcnn_common.deploy_files import card_path, load_exported

# The export extra (pip install -e ".[export]"); CI installs it.
for _module in ("onnx", "onnxruntime", "flatbuffers"):
  pytest.importorskip(_module, reason='the export extra is missing: pip install -e ".[export]"')


def test_espcn_onnx_export_writes_model_and_card(tmp_path, capsys):
  command = ["espcn", "--format=onnx", "--model=pretrained", "--scale=3", f"--out={tmp_path}"]
  assert export.main(command) == 0
  path = tmp_path / "espcn_x3_y.onnx"
  card = json.loads(card_path(path).read_text())
  assert card["command"] == "python export.py " + " ".join(command)
  assert card["input"]["layout"] == "NCHW"
  assert card["input"]["shape"] == ["batch", 1, "height", "width"]
  assert card["scale"] == 3 and card["opset"] == 13 and "Set14" in card["results"]
  assert max(card["verification"].values()) <= 1e-5
  assert f"{path}  (max |diff| from JAX: onnxruntime" in capsys.readouterr().out
  lr = np.random.default_rng(0).random((1, 1, 10, 14), np.float32)
  assert onnx_build.run_onnxruntime(path.read_bytes(), {"lr": lr})["sr"].shape == (1, 1, 30, 42)


def test_espcn_jax_export_of_the_rgb_model(tmp_path):
  assert export.main(["espcn", "--format=jax", "--scale=3", "--channels=3", "--no-verify",
                      f"--out={tmp_path}"]) == 0
  program = load_exported(tmp_path / "espcn_x3_rgb.jaxexport")
  assert program.call(np.zeros((1, 4, 5, 3), np.float32)).shape == (1, 12, 15, 3)
  assert json.loads(card_path(tmp_path / "espcn_x3_rgb.jaxexport").read_text())["channels"] == 3


def test_mtcnn_onnx_export_writes_three_nets(tmp_path):
  assert export.main(["mtcnn", "--format=onnx", "--weights=wider600", f"--out={tmp_path}"]) == 0
  names = sorted(p.name for p in tmp_path.iterdir())
  assert names == sorted(f"mtcnn_wider600_{n}.onnx{s}" for n in ("pnet", "rnet", "onet")
                         for s in ("", ".json"))
  card = json.loads((tmp_path / "mtcnn_wider600_onet.onnx.json").read_text())
  assert card["output"]["names"] == ["prob", "offsets", "landmarks"]


def test_mtcnn_jax_export_writes_nets_and_a_cascade_per_canvas(tmp_path):
  assert export.main(["mtcnn", "--format=jax", "--canvas=64x80", "--no-verify",
                      f"--out={tmp_path}"]) == 0
  cascade = tmp_path / "mtcnn_published_cascade_64x80.jaxexport"
  assert [str(a.shape) for a in load_exported(cascade).in_avals] == ["(64, 80, 3)", "()", "()",
                                                                      "(3,)"]
  card = json.loads(card_path(cascade).read_text())
  assert card["canvas"] == [64, 80] and card["results"]["detector"] == "mtcnn"
  assert (tmp_path / "mtcnn_published_pnet.jaxexport").is_file()


@pytest.mark.parametrize("argv, message", [
    (["espcn", "--format=onnx", "--platforms=cuda"], "--platforms applies to --format=jax"),
    (["espcn", "--format=jax", "--platforms=gpu"], "--platforms must be among"),
    (["espcn", "--model=all", "--scale=3"], "--model=all exports every shipped model"),
    (["espcn", "--scale=5"], "no shipped ESPCN weights for x5"),
    (["espcn", "--model=/nonexistent/workdir"], "no such checkpoint folder"),
    (["mtcnn", "--format=jax", "--canvas=480"], "canvas must be HEIGHTxWIDTH"),
    (["mtcnn", "--format=onnx", "--canvas=480x640"], "--canvas applies to --format=jax only"),
    (["mtcnn", "--weights=/nonexistent/folder"], "lacks pnet.npz"),
])
def test_bad_settings_give_one_line_errors(tmp_path, capsys, argv, message):
  assert export.main(argv + [f"--out={tmp_path / 'out'}"]) == 2
  err = capsys.readouterr().err
  assert err.startswith("error: ") and message in err and err.count("\n") == 1
  assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_an_output_path_that_is_a_file_is_refused(tmp_path, capsys):
  (tmp_path / "file").write_text("")
  assert export.main(["espcn", f"--out={tmp_path / 'file'}"]) == 2
  assert "is an existing file, not a folder" in capsys.readouterr().err


def test_help_lists_tasks_and_formats(capsys):
  with pytest.raises(SystemExit) as stop:
    export.main(["mtcnn", "--help"])
  out = capsys.readouterr().out
  assert stop.value.code == 0 and "--format {onnx,jax}" in out and "--canvas" in out
