"""lrlab schedules against frozen framework numbers, with no framework installed.

``tests/reference/schedules.json`` holds, for each case of ``tests/test_schedules_golden.py``,
the learning rates that torch, Keras 3 and Optax themselves computed (and the hand-derived
Keras 2 ``decay=`` and fastai ``fit_one_cycle`` values), the lrlab text meant to reproduce them,
and the tolerance (rtol 1e-12 where the framework computed in float64, ~2e-6 for Keras'
float32). Regenerate it with ``python tests/reference/make_schedules.py``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from lrlab.schedules import from_dict, parse

DATA = json.loads((Path(__file__).parent / "reference" / "schedules.json").read_text())
CASES: list[dict[str, Any]] = DATA["cases"]


def _id(case: dict[str, Any]) -> str:
    return f"{case['framework']}:{case['id']}"


def test_either_side_only_at_log_restarts():
    """Only the float32 Keras restarts with ``t_mul != 1`` accept either side of the jump."""
    flagged = {c["id"]: c["f32_either_side"] for c in CASES if c["f32_either_side"]}
    assert flagged
    for cid, steps in flagged.items():
        case = next(c for c in CASES if c["id"] == cid)
        assert "cosine_restarts" in case["lrlab"] and "t_mul=1.0" not in case["lrlab"]
        assert set(steps) <= set(case["steps"])


def test_reference_covers_every_framework():
    counts: dict[str, int] = {}
    for case in CASES:
        counts[case["framework"]] = counts.get(case["framework"], 0) + 1
    assert set(counts) == {"torch", "keras", "keras2", "optax", "fastai"}
    assert min(counts.values()) >= 2
    assert len({c["id"] for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=_id)
def test_lrlab_matches_frozen_framework_numbers(case: dict[str, Any]):
    """lrlab, evaluated on the stored steps, reproduces the stored framework numbers."""
    s = parse(case["lrlab"])
    want = np.asarray(case["values"], dtype=np.float64)
    got = np.asarray(s(np.asarray(case["steps"])), dtype=np.float64)
    assert got.shape == want.shape
    ok = np.abs(got - want) <= case["atol"] + case["rtol"] * np.abs(want)
    if case["dtype"] == "float32" and case["f32_either_side"]:
        # a restart found through a float32 log: the frozen number may sit on either side of
        # it, depending on the CPU that computed it (see test_keras_float32_restart_boundaries)
        idx = [case["steps"].index(k) for k in case["f32_either_side"]]
        left = got.copy()
        left[idx] = s(np.asarray(case["f32_either_side"], dtype=np.float64) - 1e-9)
        ok |= np.abs(left - want) <= case["atol"] + case["rtol"] * np.abs(want)
    if not ok.all():
        rows = "\n".join(
            f"  step {case['steps'][i]}: lrlab {got[i]!r}  {case['call']} {want[i]!r}"
            for i in np.flatnonzero(~ok)[:8]
        )
        pytest.fail(f"{case['lrlab']}: {(~ok).sum()} of {ok.size} steps differ\n{rows}")


@pytest.mark.parametrize("case", CASES, ids=_id)
def test_frozen_schedules_survive_text_and_data(case: dict[str, Any]):
    """The pinned schedule reads back from its repr and its dict form to the same numbers."""
    s = parse(case["lrlab"])
    steps = np.asarray(case["steps"])
    for back in (parse(repr(s)), from_dict(json.loads(json.dumps(s.to_dict())))):
        assert back == s
        np.testing.assert_array_equal(back(steps), s(steps))


def test_scalar_steps_match_vector_steps():
    """A Python-number step gives the same float as the vectorised evaluation."""
    for case in CASES[:: max(1, len(CASES) // 20)]:
        s = parse(case["lrlab"])
        steps = case["steps"][:: max(1, len(case["steps"]) // 10)]
        vec = s(np.asarray(steps))
        for k, v in zip(steps, vec):
            out = s(k)
            assert isinstance(out, float)
            assert out == v
