"""espcn_mtcnn_common.conv_impl: the static choice between CPU-tuned and plain XLA forms."""
from __future__ import annotations

import jax
import pytest

from espcn_mtcnn_common.conv_impl import CONV_IMPLS, resolve_conv_impl


def test_auto_picks_the_cpu_tuned_forms_on_cpu_and_explicit_values_pass_through():
  assert jax.default_backend() == "cpu"
  assert resolve_conv_impl("auto") == "cpu_tuned"
  assert [resolve_conv_impl(c) for c in ("cpu_tuned", "xla")] == ["cpu_tuned", "xla"]
  assert set(CONV_IMPLS) == {"auto", "cpu_tuned", "xla"}


@pytest.mark.parametrize("bad", ["gpu", "", "XLA", None])
def test_unknown_values_are_refused_with_the_choices(bad):
  with pytest.raises(ValueError, match="conv_impl must be one of .*auto.*cpu_tuned.*xla"):
    resolve_conv_impl(bad)
