"""Evaluation: the literature's bicubic figures, the report format, figures, CLIs."""
from __future__ import annotations

import json
import subprocess
import sys
import warnings

import numpy as np
import pytest
from PIL import Image

import evaluate as evaluate_cli
from espcn_jax import cli as upscale_cli
from espcn_jax import data, evaluate, metrics, model_card, pretrained, train
from tests.conftest import REPO
from tests.espcn_jax.helpers import tiny_config, write_images

# Bicubic baselines of the SR literature (SRCNN, Dong et al. 2014/2016; VDSR;
# ESPCN): Y channel BT.601, border = scale, MATLAB bicubic imresize.
PUBLISHED_BICUBIC = {
    ("Set5", 2): 33.66, ("Set5", 3): 30.39, ("Set5", 4): 28.42,
    ("Set14", 2): 30.24, ("Set14", 3): 27.54, ("Set14", 4): 26.00,
}


@pytest.mark.parametrize("dataset, scale", sorted(PUBLISHED_BICUBIC))
def test_bicubic_reproduces_the_published_psnr(sr_data, dataset, scale):
  pairs = data.load_pairs(str(sr_data / dataset), scale, channels=1)
  psnrs = [metrics.psnr(data.bicubic_upscale(p.lr, scale), p.hr, border=scale) for p in pairs]
  assert abs(np.mean(psnrs) - PUBLISHED_BICUBIC[(dataset, scale)]) < 0.01


def test_evaluate_bicubic_set5_x3_report(sr_data):
  result = evaluate.evaluate(str(sr_data / "Set5"), 3, evaluate.resolve_model("bicubic", 3),
                             progress=False)
  assert abs(result["mean"]["psnr"] - 30.39) < 0.01
  assert abs(result["mean"]["ssim"] - 0.8682) < 0.001     # SRCNN (TPAMI 2016) Table
  assert result["num_images"] == 5 and [r["name"] for r in result["images"]][0] == "baby"
  assert "border = 3" in result["protocol"] and "Y channel" in result["protocol"]


def test_single_channel_images_are_y_as_they_are(sr_data):
  # Set14's bridge is single-channel: it must not be mapped to 16..235.
  pair = [p for p in data.load_pairs(str(sr_data / "Set14"), 3, 1) if p.name == "bridge"][0]
  raw = np.asarray(Image.open(sr_data / "Set14" / "bridge.png"), np.float64) / 255
  np.testing.assert_array_equal(pair.hr[..., 0], data.mod_crop(raw, 3).astype(np.float32))


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
  images = write_images(tmp_path_factory.mktemp("images"), n=2, size=(48, 51))
  workdir = tmp_path_factory.mktemp("run")
  train.train_and_evaluate(tiny_config(images, images, num_steps=3), workdir)
  return images, workdir


def test_evaluate_cli_writes_json_images_and_figures(trained, tmp_path, capsys):
  images, workdir = trained
  out = tmp_path / "report.json"
  code = evaluate_cli.main(["espcn", f"--data={images}", "--scale=3", f"--model={workdir}",
                            f"--out={out}", f"--save-images={tmp_path / 'sr'}", "--no-progress"])
  assert code == 0
  report = json.loads(out.read_text())
  assert set(report["mean"]) >= {"psnr", "ssim", "cosine"}
  assert {"psnr", "ssim", "cosine", "bicubic"} <= set(report["images"][0])
  assert [r["name"] for r in report["images"]] == ["img0", "img1"]
  saved = sorted(p.name for p in (tmp_path / "sr").iterdir())
  assert saved == ["img0.png", "img1.png"]
  assert Image.open(tmp_path / "sr" / "img0.png").size == (51, 48)
  figures = sorted(p.name for p in (tmp_path / "report_figures").iterdir())
  assert {"panels_img0.png", "cosine_img0.png", "training_curve.png"} <= set(figures)
  table = capsys.readouterr().out
  assert "gain dB" in table and "mean" in table


def test_evaluate_cli_bad_inputs_exit_with_a_message(trained, tmp_path, capsys):
  images, workdir = trained
  (tmp_path / "empty").mkdir()
  assert evaluate_cli.main(["espcn", f"--data={tmp_path / 'empty'}", "--model=bicubic",
                            f"--out={tmp_path / 'r.json'}", "--no-progress"]) == 2
  assert "no image files" in capsys.readouterr().err
  (tmp_path / "bad").mkdir()
  (tmp_path / "bad" / "broken.png").write_bytes(b"not a png at all")
  assert evaluate_cli.main(["espcn", f"--data={tmp_path / 'bad'}", "--model=bicubic",
                            f"--out={tmp_path / 'r.json'}", "--no-progress"]) == 2
  assert "broken.png" in capsys.readouterr().err
  assert evaluate_cli.main(["espcn", f"--data={images}", "--scale=2", f"--model={workdir}",
                            f"--out={tmp_path / 'r.json'}", "--no-progress"]) == 2
  assert "x3, not x2" in capsys.readouterr().err


def test_upscale_cli_file_folder_alpha_and_errors(trained, tmp_path, capsys):
  images, workdir = trained
  assert upscale_cli.main([str(images / "img0.png"), "-o", str(tmp_path / "one.png"),
                           f"--model={workdir}"]) == 0
  assert Image.open(tmp_path / "one.png").size == (153, 144)
  rgba = np.dstack([np.asarray(Image.open(images / "img1.png")),
                    np.full((48, 51), 200, np.uint8)])
  folder = tmp_path / "in"
  folder.mkdir()
  Image.fromarray(rgba).save(folder / "alpha.png")
  Image.open(images / "img0.png").convert("L").save(folder / "grey.png")
  assert upscale_cli.main([str(folder), "-o", str(tmp_path / "out"), f"--model={workdir}",
                           "--no-progress"]) == 0
  alpha_out = Image.open(tmp_path / "out" / "alpha.png")
  assert alpha_out.mode == "RGBA" and alpha_out.size == (153, 144)
  assert np.all(np.asarray(alpha_out)[..., 3] == 200)
  assert Image.open(tmp_path / "out" / "grey.png").mode == "L"
  assert upscale_cli.main([str(images), "-o", str(tmp_path / "x"), f"--model={workdir}",
                           "--scale=4"]) == 2
  assert "x3, not x4" in capsys.readouterr().err


def test_evaluate_cli_refuses_unwritable_outputs_before_the_work(tmp_path, capsys):
  blocker = tmp_path / "file"
  blocker.write_text("x")
  for flag in (f"--out={blocker / 'r.json'}", f"--figures={blocker / 'figs'}",
               f"--save-images={blocker / 'imgs'}"):
    args = ["espcn", "--model=bicubic", "--no-progress", flag]
    if not flag.startswith("--out"):
      args.append(f"--out={tmp_path / 'r.json'}")
    assert evaluate_cli.main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and f"{blocker} is a" in err   # "... is a file" / "an existing file"
    assert not (tmp_path / "r.json").exists()


def test_upscale_cli_keeps_alpha_without_saying_it_drops_it(trained, tmp_path, capsys):
  # read_image warns "alpha channel dropped"; the CLI keeps alpha, so it must not pass that on.
  images, workdir = trained
  rgba = np.dstack([np.asarray(Image.open(images / "img1.png")),
                    np.full((48, 51), 100, np.uint8)])
  folder = tmp_path / "in"
  folder.mkdir()
  Image.fromarray(rgba).save(folder / "alpha.png")
  with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    assert upscale_cli.main([str(folder / "alpha.png"), "-o", str(tmp_path / "one.png"),
                             f"--model={workdir}"]) == 0
    assert upscale_cli.main([str(folder), "-o", str(tmp_path / "out"), f"--model={workdir}",
                             "--no-progress"]) == 0
  assert not [w for w in caught if "alpha" in str(w.message)]
  assert "alpha" not in capsys.readouterr().err
  for out in (tmp_path / "one.png", tmp_path / "out" / "alpha.png"):
    assert Image.open(out).mode == "RGBA"


def test_train_script_runs_a_smoke_config(tmp_path):
  images = write_images(tmp_path / "images", n=2, size=(40, 40))
  cmd = [sys.executable, "train.py", "espcn", "--config=espcn_jax/configs/default.py:smoke",
         f"--workdir={tmp_path / 'run'}", f"--config.train_data={images}",
         "--config.val_data=", "--config.num_steps=2", "--config.log_every=1",
         "--config.model.features=(8,4)", "--config.patch_size=8", "--config.progress_bar=False"]
  done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300)
  assert done.returncode == 0, done.stderr[-2000:]
  assert (tmp_path / "run" / "ckpt" / "2").is_dir()
  usage = subprocess.run([sys.executable, "train.py", "nosuchtask"], cwd=REPO,
                         capture_output=True, text=True, timeout=60)
  assert usage.returncode == 2 and "Known tasks: espcn" in usage.stderr


def _shipped():
  return pretrained.available()


def test_x3_y_weights_are_shipped():
  assert "espcn_x3_y" in _shipped()


@pytest.mark.parametrize("stem", _shipped())
def test_shipped_weights_reproduce_their_model_card(sr_data, stem):
  """Regression: each shipped model gives its card's Set5 figures (0.01 dB, 0.001 SSIM)."""
  scale, channels = int(stem.split("_")[1][1:]), 3 if stem.endswith("_rgb") else 1
  params, card = pretrained.load_pretrained(scale, channels)
  assert (card["scale"], card["channels"], card["activation"]) == (scale, channels, "tanh")
  assert params["conv3"]["kernel"].shape == (3, 3, 32, channels * scale ** 2)
  model = evaluate.resolve_model("pretrained", scale, channels=channels)
  for space in ("y", "rgb") if channels == 3 else ("y",):
    result = evaluate.evaluate(str(sr_data / "Set5"), scale, model, eval_space=space,
                               progress=False)
    expected = card["results"]["Set5" if space == "y" else "Set5_rgb"]
    assert abs(result["mean"]["psnr"] - expected["psnr"]) < 0.01
    assert abs(result["mean"]["ssim"] - expected["ssim"]) < 0.001
    assert result["mean"]["psnr"] > result["bicubic_mean"]["psnr"] + 1.0


def test_missing_shipped_weights_say_what_exists():
  with pytest.raises(FileNotFoundError, match="shipped: .*espcn_x3_y"):
    pretrained.load_pretrained(8)


def test_main_job_runs_on_the_embedded_default(tmp_path, capsys):
  # `python evaluate.py espcn` with its defaults: embedded photos, shipped weights.
  out = tmp_path / "espcn_eval.json"
  assert evaluate_cli.main(["espcn", f"--out={out}", "--no-progress"]) == 0
  report = json.loads(out.read_text())
  assert report["model"] == "espcn_pretrained_x3" and report["data"] == "samples"
  assert [r["name"] for r in report["images"]] == ["grace_hopper", "zone_plate", "text_chart"]
  assert report["mean"]["psnr"] > report["bicubic_mean"]["psnr"]
  assert (tmp_path / "espcn_eval_figures" / "panels_grace_hopper.png").is_file()


def test_export_writes_weights_and_a_model_card_that_loads(tmp_path):
  images = write_images(tmp_path / "images")
  recipe = tmp_path / "recipe.py"
  recipe.write_text(
      "from tests.espcn_jax.helpers import tiny_config\n"
      f"def get_config(variant=''):\n  return tiny_config({str(images)!r}, {str(images)!r})\n")
  config = tiny_config(images, images)
  train.train_and_evaluate(config, tmp_path / "run")
  out = model_card.export(str(tmp_path / "run"), recipe=str(recipe), eval_sets=[str(images)],
                          out_dir=tmp_path / "weights")
  assert out.name == "espcn_x3_y.npz"
  assert ((tmp_path / "weights" / "espcn_x3_y.metrics.jsonl").read_text()
          == (tmp_path / "run" / "metrics.jsonl").read_text())
  card = json.loads((tmp_path / "weights" / "espcn_x3_y.json").read_text())
  log = [json.loads(l) for l in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
  expected_time = sum((b["step"] - a) / b["steps_per_sec"]
                      for a, b in zip([0] + [r["step"] for r in log], log))
  assert card["wall_time_s"] == round(expected_time)
  assert card["steps"] == config.num_steps and card["batch_size"] == config.batch_size
  assert card["command"].startswith(f"python train.py espcn --config={recipe}")
  params, loaded_card = pretrained.load_pretrained(3, weights_dir=tmp_path / "weights")
  assert loaded_card == card
  result = evaluate.evaluate(str(images), 3, evaluate.ModelSpec("x", params, card),
                             progress=False)
  assert abs(result["mean"]["psnr"] - card["results"]["images"]["psnr"]) < 1e-3


def test_self_ensemble_and_opencv_lr_are_reported_as_such(tmp_path):
  out = tmp_path / "plus.json"
  assert evaluate_cli.main(["espcn", f"--out={out}", "--no-progress", "--figures=none",
                            "--self-ensemble", "--degradation=opencv"]) == 0
  report = json.loads(out.read_text())
  assert report["model"] == "espcn_pretrained_x3+" and report["self_ensemble"] is True
  assert report["degradation"] == "opencv" and "cv2.resize INTER_CUBIC" in report["protocol"]
