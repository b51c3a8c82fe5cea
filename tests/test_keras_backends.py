"""The Keras tests and the Keras doctests on every Keras 3 backend: TensorFlow, JAX and torch.

Keras fixes its backend when it is first imported, so one process runs Keras on one backend.
This process runs every Keras test on its own backend (``KERAS_BACKEND``, torch in CI); the
tests here run the same Keras subset in a fresh process for each of the other backends (side by
side) and fail with the tail of that run's output. A backend whose package is not installed is
skipped, naming it. TensorFlow is imported only in the TensorFlow process.

The subprocesses start as soon as the session's tests are collected (``conftest.py`` calls
:func:`start_subsets` and moves the tests that wait for them to the end), so they run beside the
rest of the suite instead of after it.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent

#: backend -> the package it needs
BACKENDS = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}

#: test files that are all about Keras (or about TensorFlow, which only its process imports)
KERAS_FILES = [
    "tests/test_integrations_keras.py",
    "tests/test_finder_keras.py",
    "tests/test_finder_keras_validate.py",
    "tests/test_schedules_tensorflow.py",
]
#: the Keras tests of files that test other things too; ``SELECT`` picks them by name
MIXED_TESTS = [
    "tests/test_schedules_golden.py::test_golden",  # its keras: (and keras2:) cases
    "tests/test_schedules_golden.py::test_keras_float32_restart_boundaries",
    "tests/test_schedules_staircase.py::test_keras_schedule_switches_at_multiples",
    "tests/test_control_early_stopping.py::test_golden_keras",
    "tests/test_control_plateau.py",
    "tests/test_integrations_parity.py::test_all_adapters_give_the_schedule_at_every_step",
    "tests/test_integrations_parity.py::test_plateau_multiplier_agrees_across_adapters",
]
#: the Keras doctests: the guide and the modules whose examples build Keras objects
KERAS_DOCS = [
    "docs/keras.md",
    "src/lrlab/integrations/keras",
    "src/lrlab/keras.py",
]
#: ``-k`` is case-insensitive and matches file names too: every test of the Keras files, every
#: doctest of the Keras modules, the Keras tests and cases of the mixed files, and the parity
#: tests (every adapter, Keras' among them)
SELECT = "keras or tensorflow or adapters"
TAIL = 6000


def _current_backend() -> str:
    keras = pytest.importorskip("keras")
    return keras.backend.backend()


def _other_backends() -> list[str]:
    current = os.environ.get("KERAS_BACKEND", "tensorflow")  # Keras' own default
    return [b for b in BACKENDS if b != current]


def _asked(backend: str) -> bool:
    """``LRLAB_KERAS_BACKENDS=tensorflow,jax`` limits the subprocesses (unset: every other one)."""
    asked = os.environ.get("LRLAB_KERAS_BACKENDS")
    return asked is None or backend in {b.strip() for b in asked.split(",")}


def test_this_process_runs_the_keras_tests_on_its_backend():
    """The subprocesses below cover exactly the backends this process does not."""
    backend = _current_backend()
    assert backend == os.environ.get("KERAS_BACKEND", "tensorflow")
    assert sorted([*_other_backends(), backend]) == sorted(BACKENDS)


def test_the_subset_names_existing_files():
    for path in (*KERAS_FILES, *MIXED_TESTS, *KERAS_DOCS):
        assert (ROOT / path.partition("::")[0]).exists(), path


#: backend -> (command, process, log) of the subsets started this session
_STARTED: dict[str, tuple[list[str], Any, Path]] = {}


def start_subsets() -> dict[str, tuple[list[str], Any, Path]]:
    """Start the Keras subset for every other installed backend at once, once per session (they
    run side by side: the wall time is the slowest one's, not the sum)."""
    if _STARTED or importlib.util.find_spec("keras") is None:
        return _STARTED
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        "-k",
        SELECT,
        *KERAS_FILES,
        *MIXED_TESTS,
        *KERAS_DOCS,
    ]
    logs = Path(tempfile.mkdtemp(prefix="lrlab-keras-backends-"))
    for backend in _other_backends():
        if importlib.util.find_spec(BACKENDS[backend]) is None or not _asked(backend):
            continue
        env = dict(os.environ, KERAS_BACKEND=backend, JAX_PLATFORMS="cpu")
        env["TF_CPP_MIN_LOG_LEVEL"] = "2"
        log = logs / f"{backend}.log"
        with open(log, "w") as f:
            proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=f, stderr=subprocess.STDOUT)
        _STARTED[backend] = (cmd, proc, log)
    return _STARTED


@pytest.fixture(scope="module")
def runs() -> Iterator[dict[str, tuple[list[str], Any, Path]]]:
    """The subsets (started here if the session has not started them); each test below waits
    for its own."""
    pytest.importorskip("keras")
    yield start_subsets()
    stop_subsets()


def stop_subsets() -> None:
    """Kill the subsets still running (a test failed before waiting for them, or the session
    ended early) and remove their logs."""
    for _, proc, log in _STARTED.values():
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        log.unlink(missing_ok=True)
    if _STARTED:
        shutil.rmtree(next(iter(_STARTED.values()))[2].parent, ignore_errors=True)
    _STARTED.clear()


@pytest.mark.parametrize("backend", _other_backends())
def test_keras_subset_on_backend(backend: str, runs: dict[str, tuple[list[str], Any, Path]]):
    """``pytest -k 'keras or tensorflow or adapters'`` over the Keras tests and doctests, in a
    process with ``KERAS_BACKEND=backend``."""
    pytest.importorskip("keras")
    if not _asked(backend):
        pytest.skip(f"not asked for: LRLAB_KERAS_BACKENDS={os.environ['LRLAB_KERAS_BACKENDS']!r}")
    if backend not in runs:
        pytest.skip(f"the {backend} backend needs {BACKENDS[backend]!r}, which is not installed")
    cmd, proc, log = runs[backend]
    code = proc.wait()
    text = log.read_text()
    if code != 0:
        pytest.fail(
            f"KERAS_BACKEND={backend}: {' '.join(cmd[1:])} exited {code}\n...{text[-TAIL:]}",
            pytrace=False,
        )
    assert " passed" in text and " failed" not in text, text[-TAIL:]
