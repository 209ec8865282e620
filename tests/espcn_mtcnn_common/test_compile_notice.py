"""The one-line compile notice (espcn_mtcnn_common/compile_notice.py)."""
from __future__ import annotations

import uuid

import pytest

from espcn_mtcnn_common import compile_notice


@pytest.fixture(autouse=True)
def _follow_the_environment():
  compile_notice.set_quiet(None)
  yield
  compile_notice.set_quiet(None)


def _key():
  return ("test", uuid.uuid4().hex)     # a key no other test has announced


def test_a_new_key_prints_one_stderr_line_once(capsys, monkeypatch):
  monkeypatch.delenv(compile_notice.QUIET_ENV_VAR, raising=False)
  key = _key()
  assert compile_notice.announce(key, "compiling X") is True
  assert compile_notice.announce(key, "compiling X") is False
  captured = capsys.readouterr()
  assert captured.err == "compiling X\n" and captured.out == ""
  assert compile_notice.seen(key)


@pytest.mark.parametrize("value", ["1", "true", "YES", " on "])
def test_the_variable_silences_it(capsys, monkeypatch, value):
  monkeypatch.setenv(compile_notice.QUIET_ENV_VAR, value)
  assert compile_notice.announce(_key(), "compiling Y") is True   # still counted as new
  assert capsys.readouterr().err == ""


@pytest.mark.parametrize("value", ["", "0", "no", "off"])
def test_other_values_do_not(monkeypatch, value):
  monkeypatch.setenv(compile_notice.QUIET_ENV_VAR, value)
  assert not compile_notice.is_quiet()


def test_set_quiet_overrides_the_variable(capsys, monkeypatch):
  monkeypatch.setenv(compile_notice.QUIET_ENV_VAR, "1")
  compile_notice.set_quiet(False)
  compile_notice.announce(_key(), "shown")
  compile_notice.set_quiet(True)
  compile_notice.announce(_key(), "hidden")
  assert capsys.readouterr().err == "shown\n"


def test_the_line_is_also_logged(caplog, monkeypatch):
  monkeypatch.setenv(compile_notice.QUIET_ENV_VAR, "1")
  with caplog.at_level("INFO", logger="espcn_mtcnn_jax.compile"):
    compile_notice.announce(_key(), "logged")
  assert [r.getMessage() for r in caplog.records] == ["logged"]
