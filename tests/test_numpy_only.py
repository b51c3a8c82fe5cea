"""With NumPy alone, the lab trains MLPs: ``lrlab demo`` runs on the NumPy engine, and what
needs torch or matplotlib says which extra to install, in one line.

Each test runs Python in a subprocess whose imports of the optional frameworks fail as they
do where those are not installed (a ``sys.meta_path`` finder installed by ``-c`` code).
"""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

BLOCKED = ("torch", "jax", "keras", "matplotlib", "sklearn", "pandas")

NUMPY_ONLY = textwrap.dedent(
    f"""
    import sys

    class NotInstalled:
        def find_spec(self, name, path=None, target=None):
            top = name.partition(".")[0]
            if top in {BLOCKED!r}:
                raise ModuleNotFoundError(f"No module named {{top!r}}", name=top)
            return None

    sys.meta_path.insert(0, NotInstalled())
    """
)


def _run(code: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", NUMPY_ONLY + textwrap.dedent(code)],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=300,
    )


def _histories(path: Path) -> dict[str, dict[str, list[float]]]:
    from lrlab.lab.store import Store

    with Store(path, readonly=True) as store:
        return {r["trial_id"]: store.history(r["trial_id"]) for r in store.records()}


def test_the_demo_trains_and_prints_its_table_with_numpy_alone(tmp_path):
    out = _run(
        f"""
        from lrlab.cli import main
        status = main(["demo", "--out", {str(tmp_path / "bare")!r}, "--epochs", "5"])
        loaded = sorted(m for m in sys.modules if m.partition(".")[0] in {BLOCKED!r})
        print("loaded:", loaded)
        sys.exit(status)
        """,
        tmp_path,
    )
    assert out.returncode == 0, out.stderr
    assert "loaded: []" in out.stdout
    done = re.search(
        r"study blobs_lr: (\d+) trials \(\1 run now, 0 already done, 0 failed\)", out.stdout
    )
    assert done is not None, out.stdout
    table = out.stdout.splitlines()[1:]
    assert "val_accuracy" in table[0] and len(table) > 8  # a header and a row per configuration
    errors = [line for line in out.stderr.splitlines() if "figures" in line]
    assert errors == ["no figures: they need matplotlib: pip install 'lrlab[plot]'"]
    assert "Traceback" not in out.stderr

    # the NumPy engine computes the same numbers with torch installed as without it
    pytest.importorskip("torch")
    from lrlab import demos
    from lrlab.lab.spec import Study
    from lrlab.lab.study import run_study

    study = Study.from_toml(demos.path()).override({"train.epochs": 5})
    run_study(study, tmp_path / "full.sqlite")
    bare = _histories(tmp_path / "bare" / "lrlab.sqlite")
    full = _histories(tmp_path / "full.sqlite")
    assert bare.keys() == full.keys()
    for trial, history in full.items():
        for key, values in history.items():
            np.testing.assert_array_equal(bare[trial][key], values, err_msg=f"{trial} {key}")


def test_a_study_on_a_gpu_says_it_needs_torch_in_one_line(tmp_path):
    out = _run(
        """
        from lrlab.cli import main
        sys.exit(main(["demo", "--out", "d", "--device", "cuda", "--quiet"]))
        """,
        tmp_path,
    )
    assert out.returncode == 2, out.stderr
    assert out.stderr.strip().splitlines() == [
        "lrlab: error: train.device: 'cuda' needs torch: pip install 'lrlab[torch]'"
    ]


@pytest.mark.parametrize("model", ["MLP(2, (3,), 2)", "TorchModule(lambda: None, 2)"])
def test_the_torch_engine_says_it_needs_torch(tmp_path, model):
    out = _run(
        f"""
        import numpy as np
        from lrlab.lab.models import MLP, TorchModule
        from lrlab.lab.optim import SGD
        from lrlab.lab.population import train_population
        from lrlab.schedules import constant

        class Data:
            x_train, y_train = np.zeros((4, 2)), np.zeros(4, dtype=int)
            x_test = y_test = None

        try:
            train_population(Data, {model}, SGD(), [constant(0.1)], [0], epochs=1,
                             batch_size=2, engine="auto" if "Torch" in {model!r} else "torch")
        except ModuleNotFoundError as exc:
            print(exc)
        """,
        tmp_path,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "this needs torch: pip install 'lrlab[torch]'"


def test_auto_picks_the_numpy_engine_for_any_mlp_without_torch(tmp_path):
    out = _run(
        """
        from lrlab.lab.engine import auto_engine
        from lrlab.lab.models import MLP
        print(auto_engine(MLP(784, (300, 100), 10), 1024, 32))
        """,
        tmp_path,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "numpy"


def test_the_range_test_and_its_validation_run_with_numpy_alone(tmp_path):
    out = _run(
        f"""
        from lrlab.lab.range_test import find_lr
        from lrlab.lab.data import blobs
        from lrlab.lab.models import MLP
        from lrlab.lab.optim import SGD
        rep = find_lr(blobs(), MLP(2, (50,), 3), SGD(momentum=0.9), batch_size=32, repeats=2,
                      validate=True, validate_epochs=2, validate_seeds=2)
        print([r.stop_reason for r in rep.results], len(rep.validation.candidates))
        print(sorted(m for m in sys.modules if m.partition(".")[0] in {BLOCKED!r}))
        """,
        tmp_path,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == ["['completed', 'completed'] 3", "[]"]
