"""The notebooks in notebooks/ run top to bottom, and git holds them stripped of outputs.

How the smoke run is chosen: every notebook's parameters cell (tagged ``parameters``)
reads ``SMOKE = os.environ.get("NOTEBOOK_SMOKE", "0") == "1"`` where it has sizes to
shrink; this test starts the kernel with ``NOTEBOOK_SMOKE=1`` (papermill users pass
``-p SMOKE True`` instead). Each notebook runs with nbclient in the ``python3`` kernel of
this environment (``ipykernel`` from the ``test`` extra), in a temporary working folder,
on CPU, with a time limit per notebook; a failing cell fails the test with its error.
The kernel inherits the test's environment (conftest's four virtual CPU devices and the
compilation cache off) and compiles with most XLA optimisations off, as the tests do.

Together the notebooks take about 1.5 minutes on a busy 2-core CPU (most of it compiling
MTCNN for the quick start's two image sizes). Regenerate them with
``python notebooks/make_notebooks.py``.
"""
from __future__ import annotations

import pathlib
import re
import time

import nbclient
import nbformat
import pytest
from nbclient.exceptions import CellExecutionError

REPO = pathlib.Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))
TIMEOUT_S = 240          # per cell and per notebook (nbclient's limit is per cell)
SMOKE_ENV = {"NOTEBOOK_SMOKE": "1", "JAX_PLATFORMS": "cpu", "JAX_DISABLE_MOST_OPTIMIZATIONS": "1"}


def _read(path: pathlib.Path):
  return nbformat.read(path, as_version=4)


def _code_cells(nb):
  return [c for c in nb.cells if c.cell_type == "code"]


def test_there_are_notebooks():
  assert {p.name for p in NOTEBOOKS} >= {"quick_start.ipynb", "train_on_colab.ipynb"}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_stripped_and_starts_with_the_install_cell(path):
  nb = _read(path)
  nbformat.validate(nb)
  for i, cell in enumerate(_code_cells(nb)):
    assert cell.outputs == [] and cell.execution_count is None, (
        f"{path.name}: code cell {i} has stored outputs; regenerate with "
        "python notebooks/make_notebooks.py")
  for cell in nb.cells:
    assert "attachments" not in cell or not cell.attachments, f"{path.name}: attachments"
  first, second = _code_cells(nb)[:2]
  assert "REPO_URL" in first.source and "pip" in first.source and "except ImportError" in \
      first.source, f"{path.name}: the first code cell must be the install cell"
  assert "parameters" in second.metadata.get("tags", []), (
      f"{path.name}: the second code cell must be the papermill parameters cell")


def test_stored_notebooks_are_what_the_generator_writes(tmp_path, monkeypatch):
  """notebooks/*.ipynb are make_notebooks.py's output (edit the generator, not the JSON)."""
  import importlib.util  # pylint: disable=import-outside-toplevel
  spec = importlib.util.spec_from_file_location("make_notebooks",
                                                REPO / "notebooks" / "make_notebooks.py")
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  monkeypatch.setattr(module, "HERE", tmp_path)
  module.main()

  def cells(path):   # what matters, not the nbformat version's JSON layout
    return [(c.cell_type, c.source, dict(c.metadata)) for c in _read(path).cells]

  for path in NOTEBOOKS:
    assert cells(tmp_path / path.name) == cells(path), (
        f"{path.name} differs from make_notebooks.py's output: edit the generator and re-run "
        "python notebooks/make_notebooks.py")


@pytest.mark.slow   # 20-50 s each: a kernel per notebook, the cascade and a training compiled
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_top_to_bottom_with_smoke_parameters(path, tmp_path, monkeypatch):
  for key, value in SMOKE_ENV.items():
    monkeypatch.setenv(key, value)
  nb = _read(path)
  client = nbclient.NotebookClient(nb, kernel_name="python3", timeout=TIMEOUT_S,
                                   resources={"metadata": {"path": str(tmp_path)}})
  start = time.monotonic()
  try:
    client.execute()
  except CellExecutionError as e:
    message = re.sub(r"\x1b\[[0-9;]*m", "", str(e))   # the traceback without colour codes
    pytest.fail(f"{path.name} failed in a cell:\n{message}", pytrace=False)
  elapsed = time.monotonic() - start
  assert elapsed < TIMEOUT_S, f"{path.name} took {elapsed:.0f} s"
  errors = [o for c in _code_cells(nb) for o in c.outputs if o.get("output_type") == "error"]
  assert not errors, errors
  print(f"{path.name}: {elapsed:.1f} s")
