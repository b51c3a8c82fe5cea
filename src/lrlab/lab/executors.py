"""Executors that run a study's cohorts somewhere else: :class:`RayExecutor` on a Ray cluster
(or a local Ray on this machine).

The driver stays the only writer of the store: :func:`~lrlab.lab.study.run_study` writes each
cohort's result as the executor yields it, so progress, resume and a killed run behave exactly
as in-process. Each cohort is one Ray task with its CPUs (or a GPU); a task whose worker dies
is retried by Ray up to ``max_retries`` times, then its trials are stored as failed with the
reason, and the study goes on (a later ``lrlab run`` retries them).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from .._checks import integer, number
from .study import Cohort, CohortResult, failed_result

__all__ = ["MIN_COHORT", "RayExecutor"]

#: the smallest cohort a study is split into for more workers: below it the time per
#: configuration rises (benchmarks/cohort_size.py; the table is in benchmarks/RESULTS.md)
MIN_COHORT = 32


class RayExecutor:
    """Run each cohort as a Ray task; yield results as they finish.

    Args:
        address: The cluster to join (``"ray://host:10001"``, ``"host:6379"`` or ``"auto"``);
            ``None`` starts a local Ray on this machine (or uses the one already started in
            this process).
        num_cpus: CPUs each cohort task asks for.
        num_gpus: GPUs each cohort task asks for (``1`` with ``train.device = "cuda"``).
        max_retries: Times Ray re-runs a cohort whose worker died, before its trials are
            stored as failed.
        init: Extra keyword arguments for ``ray.init`` when this executor starts Ray (e.g.
            ``{"num_cpus": 2}``).

    Attributes:
        workers: Cohorts that can run at once (the cluster's CPUs, or GPUs, over each task's
            share), known once Ray is started; :meth:`cohort_size` splits a study for them.

    Example:
        >>> RayExecutor(num_cpus=2, max_retries=1)
        RayExecutor(address=None, num_cpus=2.0, num_gpus=0.0, max_retries=1)
    """

    def __init__(
        self,
        address: str | None = None,
        *,
        num_cpus: float = 1,
        num_gpus: float = 0,
        max_retries: int = 2,
        init: dict[str, Any] | None = None,
    ) -> None:
        if address is not None and (not isinstance(address, str) or not address.strip()):
            raise ValueError(f"RayExecutor: address must be a non-empty string, got {address!r}")
        self.address = address
        self.num_cpus = number("RayExecutor", "num_cpus", num_cpus, lo=0.0)
        self.num_gpus = number("RayExecutor", "num_gpus", num_gpus, lo=0.0)
        if self.num_cpus == 0 and self.num_gpus == 0:
            raise ValueError("RayExecutor: num_cpus and num_gpus are both 0; a task needs one")
        self.max_retries = integer("RayExecutor", "max_retries", max_retries, lo=0)
        self.init = dict(init or {})
        self.workers: int | None = None

    def __repr__(self) -> str:
        return (
            f"RayExecutor(address={self.address!r}, num_cpus={self.num_cpus}, "
            f"num_gpus={self.num_gpus}, max_retries={self.max_retries})"
        )

    def _ray(self) -> Any:
        try:
            import ray
        except ImportError:
            raise ImportError("the Ray executor needs Ray: pip install 'lrlab[ray]'") from None
        if not ray.is_initialized():
            kwargs = {"address": self.address, "include_dashboard": False, **self.init}
            if self.address is None:
                kwargs.setdefault("log_to_driver", False)
            ray.init(**kwargs)
        resources = ray.cluster_resources()
        shares = []
        if self.num_cpus:
            shares.append(resources.get("CPU", 0.0) / self.num_cpus)
        if self.num_gpus:
            shares.append(resources.get("GPU", 0.0) / self.num_gpus)
        self.workers = max(1, int(min(shares)))
        return ray

    def start(self) -> int:
        """Start (or join) Ray now; return :attr:`workers`."""
        self._ray()
        assert self.workers is not None
        return self.workers

    def cohort_size(self, trials: int) -> int:
        """The largest cohort for ``trials`` pending trials: enough cohorts for every worker,
        none smaller than :data:`MIN_COHORT` (below it each configuration costs more)."""
        workers = self.workers if self.workers is not None else self.start()
        return max(MIN_COHORT, math.ceil(trials / workers))

    def map(
        self, fn: Callable[[Cohort], CohortResult], cohorts: Sequence[Cohort]
    ) -> Iterator[CohortResult]:
        """Submit every cohort; yield each result as it finishes (in any order)."""
        ray = self._ray()
        task = ray.remote(
            num_cpus=self.num_cpus, num_gpus=self.num_gpus, max_retries=self.max_retries
        )(_call)
        pending = {task.remote(fn, c): (c, time.perf_counter()) for c in cohorts}
        try:
            while pending:
                ready, _ = ray.wait(list(pending), num_returns=1)
                ref = ready[0]
                cohort, started = pending.pop(ref)
                try:
                    yield ray.get(ref)
                except (ray.exceptions.RayTaskError, ray.exceptions.RayError) as exc:
                    reason = _reason(exc, self.max_retries)
                    yield failed_result(cohort, reason, time.perf_counter() - started)
        finally:
            for ref in pending:  # the driver stopped (Ctrl-C, an error): stop the rest
                ray.cancel(ref, force=True)


def _call(fn: Callable[[Cohort], CohortResult], cohort: Cohort) -> CohortResult:
    return fn(cohort)


def _reason(exc: BaseException, retries: int) -> str:
    """One line naming what went wrong with a cohort's task."""
    kind = type(exc).__name__
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    if "WorkerCrashed" in kind or "died" in first.lower() or "ActorDied" in kind:
        return f"worker died ({kind}) after {retries} retries: {first}"[:500]
    cause = getattr(exc, "cause", None)
    if cause is not None:
        return f"{type(cause).__name__}: {cause}"[:500]
    return f"{kind}: {first}"[:500]
