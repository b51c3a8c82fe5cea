"""Regenerate ``tests/reference/schedules.json``: the frameworks' own learning rates, frozen.

Run from the repository root, with torch, Keras 3 and JAX + Optax installed::

    KERAS_BACKEND=torch python tests/reference/make_schedules.py

The cases (framework call, keyword arguments, steps, and the lrlab text meant to match) are
the ones of ``tests/test_schedules_golden.py``; this script evaluates each framework schedule
exactly as that test does, in the framework's most precise mode there (torch: Python floats;
Optax: ``jax.enable_x64``; Keras: float32, its only reliable mode under the torch backend;
the hand-derived Keras 2 and fastai formulas: float64), and writes the numbers with the
tolerance to check them at. ``tests/test_schedules_reference.py`` then checks lrlab against
them with no framework installed, so the conventions stay pinned everywhere.

The script also reports (without refusing to write) any case where lrlab disagrees with the
numbers, so a regeneration after a framework upgrade shows at once what moved.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from pathlib import Path
from types import ModuleType

HERE = Path(__file__).resolve().parent
GOLDEN = HERE.parent / "test_schedules_golden.py"
OUT = HERE / "schedules.json"


def _load_golden() -> ModuleType:
    spec = importlib.util.spec_from_file_location("_schedules_golden", GOLDEN)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while being built
    spec.loader.exec_module(module)
    return module


def _versions() -> dict[str, str]:
    import jax
    import keras
    import numpy
    import optax
    import torch

    return {
        "torch": torch.__version__,
        "keras": keras.__version__,
        "keras_backend": keras.config.backend(),
        "jax": jax.__version__,
        "optax": optax.__version__,
        "numpy": numpy.__version__,
    }


def main() -> int:
    os.environ.setdefault("KERAS_BACKEND", "torch")
    import numpy as np

    golden = _load_golden()
    cases, disagree = [], []
    for case in golden.CASES:
        dtype = golden.DTYPES[case.framework][0]
        values = golden.RUNNERS[case.framework](case, dtype)
        rtol, atol = golden.tolerance(case, dtype, values)
        if not np.all(golden.agreement(case, dtype, values)):
            disagree.append(case.id)
        record = case.to_json()
        record.update(dtype=dtype, rtol=rtol, atol=atol, values=values.tolist())
        cases.append(record)
    data = {
        "about": (
            "Learning rates computed by the frameworks' own schedules (torch, Keras 3, Optax) "
            "and by hand-derived formulas (Keras 2 decay=, fastai fit_one_cycle), with the "
            "lrlab text meant to reproduce them. Step k is the rate of the (k+1)-th update."
        ),
        "generated_by": "tests/reference/make_schedules.py",
        "versions": _versions(),
        "cases": cases,
    }
    lines = ",\n".join("  " + json.dumps(c) for c in cases)
    head = json.dumps({k: v for k, v in data.items() if k != "cases"}, indent=1)[:-2]
    OUT.write_text(f'{head},\n "cases": [\n{lines}\n ]\n}}\n')
    json.loads(OUT.read_text())  # well-formed
    print(f"wrote {len(cases)} cases to {OUT}")
    if disagree:
        print(f"lrlab disagrees with {len(disagree)} case(s): {', '.join(disagree)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
