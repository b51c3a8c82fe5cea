"""Collection rules: doctests in src/ of modules that need a framework that is not installed are
skipped (their tests in tests/ skip themselves with ``pytest.importorskip``), and the Keras
subsets on the other backends start when collection ends and are waited for last."""

from __future__ import annotations

import importlib.util
import os
from typing import Any

import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")
os.environ.setdefault("MPLBACKEND", "Agg")
# transformers (the Hugging Face trainer tests) must not load its TensorFlow side just because
# TensorFlow is installed for the Keras tests: older releases then need the tf-keras package
os.environ.setdefault("USE_TF", "0")

_NEEDS = {
    "torch": [
        "src/lrlab/integrations/torch",
        "src/lrlab/torch.py",
        "src/lrlab/lab/engine/_torch.py",
        "src/lrlab/lab/engine/_torch_kernels.py",
        "src/lrlab/lab/weights.py",  # its examples load weights into torch and Keras
        "docs/studies.md",
    ],
    "keras": ["src/lrlab/integrations/keras", "src/lrlab/keras.py", "src/lrlab/lab/weights.py"],
    "optax": ["src/lrlab/integrations/optax.py", "src/lrlab/optax.py"],
    "tensorboardX": ["src/lrlab/report/_export.py"],
    "matplotlib": ["docs/report.md"],
}

collect_ignore = [
    path
    for module, paths in _NEEDS.items()
    if importlib.util.find_spec(module) is None
    for path in paths
]


#: the tests that wait for the Keras subsets on the other backends (tests/test_keras_backends.py)
_KERAS_WAITS = "tests/test_keras_backends.py::test_keras_subset_on_backend"
#: the module that started them, to stop them at the session's end
_SUBSETS: list[Any] = []


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Run the tests that wait for the Keras subprocesses last (they start at collection's end,
    :func:`pytest_collection_finish`, and run beside the rest of the suite)."""
    waits = [item for item in items if item.nodeid.startswith(_KERAS_WAITS)]
    if waits:
        items[:] = [item for item in items if not item.nodeid.startswith(_KERAS_WAITS)] + waits


def pytest_collection_finish(session: pytest.Session) -> None:
    waits = [item for item in session.items if item.nodeid.startswith(_KERAS_WAITS)]
    if waits and not session.config.option.collectonly:
        _SUBSETS.append(waits[0].module)
        waits[0].module.start_subsets()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Stop Keras subsets still running (a run stopped early by ``-x``, ``--maxfail`` or
    Ctrl-C never reaches the tests that wait for them)."""
    for module in _SUBSETS:
        module.stop_subsets()
