"""RayExecutor on a local Ray (2 CPUs, loopback): the same results as in-process, a worker that
dies costs only its cohort (retried, then stored as failed with the reason), and studies are
split for the workers."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import numpy as np
import pytest

ray = pytest.importorskip("ray")

from lrlab.lab.executors import MIN_COHORT, RayExecutor  # noqa: E402
from lrlab.lab.spec import Study  # noqa: E402
from lrlab.lab.store import Store  # noqa: E402
from lrlab.lab.study import run_study  # noqa: E402

STUDY = {
    "name": "ray",
    "data": {"name": "blobs", "n_samples": 200, "n_train": 100},
    "model": {"hidden": [8]},
    "train": {"epochs": 3, "batch_size": 25, "dtype": "float64", "batch_order": "shared"},
    "schedule": "constant({lr})",
    "grid": {"lr": [0.3, 0.1, 0.03, 0.01]},
    "seeds": [0, 1],
}


@pytest.fixture(scope="module", autouse=True)
def local_ray():
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        _node_ip_address="127.0.0.1",
    )
    yield
    ray.shutdown()


def histories(path: Path) -> dict[str, dict[str, list[float | None]]]:
    with Store(path, readonly=True) as store:
        return {r["trial_id"]: store.history(r["trial_id"]) for r in store.records("ray")}


def test_same_results_as_in_process(tmp_path):
    study = Study.from_dict(STUDY)
    here = run_study(study, tmp_path / "here.sqlite", max_members=2)
    there = run_study(study, tmp_path / "ray.sqlite", RayExecutor(), max_members=2)
    assert (there.ran, there.failed, there.cohorts) == (8, 0, here.cohorts)
    a, b = histories(tmp_path / "here.sqlite"), histories(tmp_path / "ray.sqlite")
    assert a.keys() == b.keys()
    for tid in a:
        for k in a[tid]:
            np.testing.assert_allclose(a[tid][k], b[tid][k], rtol=1e-12, atol=0)


def killing(fn, marker: Path, victim_lr: float, times: int):
    """``fn``, except that the worker running the cohort holding ``victim_lr`` kills itself
    (SIGKILL) the first ``times`` times."""

    def run(cohort):
        if any(t.config["schedule"] == f"constant({victim_lr})" for t in cohort.trials):
            marker.mkdir(exist_ok=True)
            tries = len(list(marker.iterdir()))
            if tries < times:
                (marker / str(tries)).touch()
                os.kill(os.getpid(), signal.SIGKILL)
        return fn(cohort)

    return run


class KillingExecutor(RayExecutor):
    def __init__(self, marker: Path, victim_lr: float, times: int, **kw):
        super().__init__(**kw)
        self.marker, self.victim_lr, self.times = marker, victim_lr, times

    def map(self, fn, cohorts):
        return super().map(killing(fn, self.marker, self.victim_lr, self.times), cohorts)


def test_a_killed_worker_is_retried(tmp_path):
    ex = KillingExecutor(tmp_path / "kills", 0.1, times=1, max_retries=2)
    summary = run_study(Study.from_dict(STUDY), tmp_path / "s.sqlite", ex, max_members=2)
    assert (summary.ran, summary.failed) == (8, 0)
    assert len(list((tmp_path / "kills").iterdir())) == 1  # killed once, then it ran


def test_a_worker_that_keeps_dying_fails_only_its_cohort(tmp_path):
    ex = KillingExecutor(tmp_path / "kills", 0.1, times=99, max_retries=1)
    summary = run_study(Study.from_dict(STUDY), tmp_path / "s.sqlite", ex, max_members=2)
    assert (summary.ran, summary.failed) == (8, 2)  # the cohort of lr = 0.1: both seeds
    with Store(tmp_path / "s.sqlite", readonly=True) as store:
        failed = [r for r in store.records("ray") if r["status"] == "failed"]
        assert {r["vars"]["lr"] for r in failed} == {0.1}
        assert all(r["error"].startswith("worker died") for r in failed), failed[0]["error"]
        assert len(list((tmp_path / "kills").iterdir())) == 2  # the first try and one retry
    # the next run retries only the failed trials, and they are done
    again = run_study(Study.from_dict(STUDY), tmp_path / "s.sqlite", RayExecutor())
    assert (again.ran, again.skipped, again.failed) == (2, 6, 0)


def test_cohorts_are_split_for_the_workers(tmp_path):
    ex = RayExecutor()
    assert ex.start() == 2
    assert ex.cohort_size(100) == 50 and ex.cohort_size(10) == MIN_COHORT
    big = {**STUDY, "grid": {"lr": [10.0**-k for k in range(32)]}, "seeds": [0, 1]}
    summary = run_study(Study.from_dict(big), tmp_path / "s.sqlite", ex)
    assert summary.cohorts == 2 and summary.ran == 64  # 64 trials, 2 workers: 32 each


def test_bad_settings_are_named():
    with pytest.raises(ValueError, match="RayExecutor: max_retries must be an integer >= 0"):
        RayExecutor(max_retries=-1)
    with pytest.raises(ValueError, match="num_cpus and num_gpus are both 0"):
        RayExecutor(num_cpus=0)
    with pytest.raises(ValueError, match="address must be a non-empty string"):
        RayExecutor(address="")
