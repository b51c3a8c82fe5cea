"""How many threads a cohort computes with, chosen by timing its own steps while it trains.

A second BLAS or OpenMP thread helps a large cohort on a quiet machine and costs several times
its step on a busy one, where it waits for a core that another process holds (the NumPy engine
at C = 16 on 64-300-100-10 ran 3.2x slower at two threads than at one with one of two cores
busy, ``benchmarks/population.py --under-load``). No fixed rule gets both right, so with
``threads=None`` the cohort measures: :class:`ThreadChooser` times blocks of steps at one
thread and at the library's count in turn, keeps the faster, and measures again every
:attr:`ThreadChooser.every` blocks or when blocks turn much slower than they were (the load
changed). :class:`Pacer` drives it from the cohort loop.

The choice must not change any number, so adaptation runs only where the engine's own step and
evaluation, run on a copy of its weights at each count, give bit-identical results
(:func:`paced`, the engine's ``agree`` check): the libraries promise no such thing (OpenBLAS
0.3.31 on a 784-input layer sums its 785-long products in another order on two threads), so it
is checked per run, and where they differ the count stays fixed as before.
"""

from __future__ import annotations

import contextlib
import math
import statistics
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Protocol

from ._choice import SMALL_WORK, check_threads

#: seconds between two reads of the machine's idle time (Linux counts it in ticks of 10 ms per
#: core; a read costs 2-15 us, which per block of a small cohort's steps would cost 10%)
IDLE_WALL = 0.05


class Knob(Protocol):
    """A library's thread count: read it, set it."""

    def get(self) -> int:
        """The count now."""

    def set(self, n: int) -> None:
        """Compute on ``n`` threads from now on."""


class TorchKnob:
    """torch's intra-op threads (its OpenMP pool and MKL), ``torch.set_num_threads``."""

    def __init__(self) -> None:
        import torch

        self._torch = torch

    def get(self) -> int:
        return int(self._torch.get_num_threads())

    def set(self, n: int) -> None:
        if self._torch.get_num_threads() != n:
            self._torch.set_num_threads(n)


class BlasKnob:
    """NumPy's BLAS threads through ``threadpoolctl`` (every BLAS it finds loaded), found once
    so that each change is one library call."""

    def __init__(self, libs: Sequence[Any]) -> None:
        self._libs = list(libs)
        self._now = self.get()

    @classmethod
    def find(cls) -> BlasKnob | None:
        """The knob of the BLAS libraries loaded now; ``None`` without ``threadpoolctl`` or
        without a BLAS it knows."""
        try:
            from threadpoolctl import ThreadpoolController
        except ImportError:
            return None
        libs = ThreadpoolController().select(user_api="blas").lib_controllers
        return cls(libs) if libs else None

    def get(self) -> int:
        return max(int(lib.get_num_threads() or 1) for lib in self._libs)

    def set(self, n: int) -> None:
        if n != self._now:
            for lib in self._libs:
                lib.set_num_threads(n)
            self._now = n


class ThreadChooser:
    """Which of ``counts`` computes the next block of steps, from the seconds steps took.

    It starts at the fewest threads (cheap to be wrong with: a second thread can cost 20
    times the step on a busy machine, one thread at worst the speed-up it forgoes) for
    ``first`` blocks, then probes: blocks of ``probe_block`` steps at each count in turn
    (``1, N, 1, N`` for ``rounds=2``), dropping a count's remaining turns once its fastest
    step took more than ``lead`` times another's (a losing count can cost 20 steps' time per
    step on a busy machine, so it is tried as little as that shows). It then keeps the count
    whose median block was fastest (ties keep fewer threads; on a machine whose load comes and
    goes one lucky block must not decide) and runs blocks of ``block`` steps at it. It probes
    again after ``every`` blocks, an interval that doubles, up to ``most``, each time a probe
    keeps the same count (and starts over when the count changes), and is at least long
    enough that probing a count ``r`` times slower costs ``1 / budget`` of the steps between
    probes (so a count 20 times slower is tried about every 800 steps), or when ``patience``
    blocks in a row took more than ``slow`` times the median of the last ``window`` (the load
    changed) or more than ``lead`` times the probe's time of another count (the choice was
    wrong). A probe is skipped (as if the fewest threads had won it) while the blocks at one
    thread got less than ``share`` of a core (their CPU time over their wall time, the
    median of the last ``window``): then no core is idle, and the one thread already waits
    for its own. It is also skipped while the machine's other cores were idle for less than
    ``idle`` of a core in the last ``window`` stretches at one thread that :meth:`note_idle`
    was told of (where the platform reports idle time): a step at a second thread that must
    wait for a busy core costs several one-thread steps (a whole run at two threads took
    2.3-3.5x one thread's time, ``benchmarks/population.py --under-load``), more than a short
    run ever wins back. It sees only durations, so it is tested with made-up ones.

    Attributes:
        choice: The count kept now.
        decisions: ``(block, count)`` for each probe's outcome, in order.
        blocks: How many blocks ran at each count.

    Example:
        >>> chooser = ThreadChooser((1, 2), rounds=2, first=1)
        >>> for seconds in (1.0, 1.0, 3.0):  # one block at 1, then the probe: 1 s a step at
        ...     count, steps = chooser.next()  # 1 thread, 3 s at 2 threads: 2 is dropped
        ...     chooser.record(count, seconds * steps, steps)
        >>> chooser.choice, chooser.next(), chooser.decisions
        (1, (1, 8), [(3, 1)])
    """

    def __init__(
        self,
        counts: Sequence[int],
        *,
        rounds: int = 2,
        first: int = 4,
        block: int = 8,
        probe_block: int = 1,
        every: int = 16,
        most: int = 512,
        slow: float = 2.0,
        window: int = 8,
        patience: int = 3,
        lead: float = 2.0,
        budget: float = 20.0,
        share: float = 0.9,
        idle: float = 0.5,
    ) -> None:
        self.counts = tuple(sorted(set(counts)))
        self.rounds, self.block, self.probe_block = rounds, block, probe_block
        self.base_every, self.every, self.most = every, first, most
        self.slow, self.window, self.patience, self.lead = slow, window, patience, lead
        self.budget, self.share, self.idle = budget, share, idle
        self.skipped = 0  # probes skipped for want of an idle core
        self._shares: list[float] = []
        self._idles: list[tuple[float, float]] = []  # (idle core-seconds, seconds) a stretch
        #: whether idle times will come (:meth:`note_idle`): then no probe before enough of them
        self.awaits_idle = False
        self.choice = self.counts[0]
        self.decisions: list[tuple[int, int]] = []
        self.blocks = {c: 0 for c in self.counts}
        self._queue: list[int] = []
        self._samples: dict[int, list[float]] = {}
        self._other = float("inf")  # the fastest probe time of the counts not chosen
        self._recent: list[float] = []
        self._since = self._slow_run = self._block = 0

    @property
    def probing(self) -> bool:
        """Whether the next block is a probe's."""
        return bool(self._queue)

    @property
    def due(self) -> bool:
        """Whether recording the next block (not a probe's) may start a probe: the interval is
        up, or one more slow block would make ``patience`` of them."""
        if self._queue:
            return False
        return self._since + 1 >= self.every or self._slow_run + 1 >= self.patience

    def _probe(self) -> None:
        self._queue = [c for _ in range(self.rounds) for c in self.counts]
        self._samples = {c: [] for c in self.counts}

    def next(self) -> tuple[int, int]:
        """The count to run the next block at, and its steps."""
        if self._queue:
            return self._queue[0], self.probe_block
        return self.choice, self.block

    def record(self, count: int, seconds: float, steps: int, cpu: float | None = None) -> None:
        """The block just run at ``count`` took ``seconds`` for ``steps`` steps, and ``cpu``
        seconds of this thread's CPU time (``None``: not measured)."""
        self.blocks[count] = self.blocks.get(count, 0) + 1
        self._block += 1
        if cpu is not None and count == self.counts[0] and seconds > 0:
            self._shares = [*self._shares, cpu / seconds][-self.window :]
        per_step = seconds / max(1, steps)
        if self._queue:
            if count == self._queue[0]:
                self._queue.pop(0)
                self._samples[count].append(per_step)
                self._drop_losers()
            if not self._queue:
                self._decide()
            return
        median = statistics.median(self._recent) if len(self._recent) >= 3 else None
        self._recent = [*self._recent, per_step][-self.window :]
        self._since += 1
        slower = per_step > self.lead * self._other or (
            median is not None and per_step > self.slow * median
        )
        self._slow_run = self._slow_run + 1 if slower else 0
        if self._since >= self.every or self._slow_run >= self.patience:
            starved = self._starved() if self.choice == self.counts[0] else False
            if starved is None:  # idle time is coming but too little is read yet: wait
                return
            if starved:
                self.skipped += 1
                self._since, self._slow_run = 0, 0
                self.every = min(2 * self.every, self.most)
                return
            self._probe()

    def note_idle(self, idle: float, seconds: float) -> None:
        """The machine's other cores were idle ``idle`` core-seconds in ``seconds`` of work at
        the fewest threads (the steps' or the epochs' ends: both see the same machine)."""
        if seconds > 0:
            self._idles.append((idle, seconds))
            # the last ``window`` stretches, or more while fewer add up to IDLE_WALL
            while (
                len(self._idles) > self.window and sum(t for _, t in self._idles[1:]) >= IDLE_WALL
            ):
                self._idles.pop(0)

    def _starved(self) -> bool | None:
        """Whether one thread got less than :attr:`share` of a core in its recent blocks, or
        the other cores were idle for less than :attr:`idle` of a core in the recent stretches
        :meth:`note_idle` was told of (summed: the platform counts idle time in ticks);
        ``None`` while :attr:`awaits_idle` and less than :data:`IDLE_WALL` seconds were read
        (Linux counts idle time in 10 ms ticks: a few milliseconds may read 0 on an idle
        machine, and a probe on a busy one costs several steps)."""
        if len(self._shares) >= 3 and statistics.median(self._shares) < self.share:
            return True
        wall = sum(t for _, t in self._idles)
        if wall < IDLE_WALL:
            return None if self.awaits_idle else False
        return sum(i for i, _ in self._idles) < self.idle * wall

    def _drop_losers(self) -> None:
        """Drop the remaining turns of a count already ``lead`` times slower than another."""
        best = {c: min(s) for c, s in self._samples.items() if s}
        if len(best) < 2:
            return
        top = min(best.values())
        losers = {c for c, t in best.items() if t > self.lead * top}
        self._queue = [c for c in self._queue if c not in losers]
        if losers and len(set(self._queue)) <= 1:  # nothing left to compare: decide now
            self._queue = []

    def _decide(self) -> None:
        best = {c: statistics.median(s) for c, s in self._samples.items() if s}
        choice = min(best, key=lambda c: (best[c], c))
        self._other = min([t for c, t in best.items() if c != choice], default=float("inf"))
        same = choice == self.choice and self.decisions
        every = 2 * self.every if same else self.base_every
        ratio = max(best.values()) / max(best[choice], 1e-12)  # the slowest count's cost
        afford = math.ceil(self.budget * self.probe_block * ratio / self.block)
        self.every = min(max(every, afford), self.most)
        self.choice = choice
        self.decisions.append((self._block, choice))
        self._samples = {c: [] for c in self.counts}
        self._recent, self._since, self._slow_run = [], 0, 0


class Pacer:
    """The cohort loop's side of the thread choice.

    Steps: before a block's first step it sets the count ``chooser`` asks for, after its last
    step it reports the block's time. A block is consecutive steps of one epoch; one that
    reaches the epoch's end is run but not timed (the last batch may be smaller), unless
    epochs are a single step, and neither is the run's first step (it allocates and binds
    what the rest reuse). The epoch's end (its totals and evaluation, whose matmuls are larger
    than a step's and may split where a step's do not) has a chooser of its own,
    ``eval_chooser``, that sees one epoch's end as a block. Before the first computation at
    more threads than the fewest, ``agree()`` is asked once; if it says no, everything stays
    at the fewest. With an ``idle_clock`` (:func:`spare_time`) it also tells both choosers how
    idle the machine's other cores were while it ran at the fewest threads, read at most every
    :data:`IDLE_WALL` seconds and before a block that may start a probe. Without a chooser the
    pacer does nothing.

    Example:
        >>> ticks = iter(range(100))
        >>> class Knob:
        ...     n = 2
        ...     def get(self): return self.n
        ...     def set(self, n): self.n = n
        >>> chooser = ThreadChooser((1, 2), rounds=1, first=1, block=2, probe_block=1)
        >>> pace = Pacer(Knob(), chooser, 8, clock=lambda: float(next(ticks)), cpu_clock=None)
        >>> for b in range(8):  # 0 warms up, 1-2 a block at 1, 3 and 4 probe, then the choice
        ...     pace.before(b); pace.after(b)
        >>> pace.summary()["blocks"], pace.summary()["decisions"]
        ({1: 3, 2: 1}, [(3, 1)])
    """

    def __init__(
        self,
        knob: Knob | None = None,
        chooser: ThreadChooser | None = None,
        steps_per_epoch: int = 1,
        clock: Callable[[], float] = time.perf_counter,
        fixed: int | None = None,
        agree: Callable[[], bool] | None = None,
        cpu_clock: Callable[[], float] | None = time.thread_time,
        eval_chooser: ThreadChooser | None = None,
        idle_clock: Callable[[], float | None] | None = None,
    ) -> None:
        self.knob, self.chooser, self.clock = knob, chooser, clock
        self.steps_per_epoch, self.fixed, self.agree = steps_per_epoch, fixed, agree
        self.agreed: bool | None = None
        self.cpu_clock, self.idle_clock = cpu_clock, idle_clock
        if eval_chooser is None and chooser is not None:
            eval_chooser = ThreadChooser(chooser.counts, first=1, rounds=1, block=1, probe_block=1)
        self.eval_chooser = eval_chooser
        for c in (chooser, eval_chooser):
            if c is not None and idle_clock is not None:
                c.awaits_idle = True
        self._count = self._steps = self._left = self._eval_count = 0
        self._t0: float | None = None
        self._e0: float | None = None
        self._c0 = self._ec0 = 0.0
        self._mark: tuple[float, float] | None = None  # (clock, spare time) of the last read
        self._at: int | None = None  # the count set last
        self._clean = False  # whether everything since the mark ran at the fewest threads
        self._warm = self._eval_warm = False

    def _set(self, count: int) -> bool:
        """Compute at ``count`` from now on; ``False`` where the counts disagree (then the
        pacer has fixed the fewest for good)."""
        assert self.knob is not None and self.chooser is not None
        if count != self.chooser.counts[0] and self.agreed is None:
            self.agreed = self.agree() if self.agree is not None else True
            if not self.agreed:  # the counts would change the numbers: the fewest, for good
                self.fixed, self.chooser = self.chooser.counts[0], None
                self.knob.set(self.fixed)
                return False
        self.knob.set(count)
        self._at = count
        if count != self.chooser.counts[0]:
            self._clean = False
        return True

    def _cpu(self) -> float:
        return self.cpu_clock() if self.cpu_clock is not None else 0.0

    def _watch_idle(self, due: bool = False) -> None:
        """Every :data:`IDLE_WALL` seconds or more, and before a chooser may decide on a
        probe (``due``), tell both choosers how idle the machine's other cores were since the
        last read, where everything in between ran at the fewest threads (at more, this
        process's own threads fill the cores)."""
        if self.idle_clock is None or self.chooser is None:
            return
        now = self.clock()
        if self._mark is not None and now - self._mark[0] < IDLE_WALL and not due:
            return
        spare = self.idle_clock()
        if spare is None:  # the platform stopped saying: decide without it
            self.idle_clock = None
            for c in (self.chooser, self.eval_chooser):
                if c is not None:
                    c.awaits_idle = False
            return
        if self._mark is not None and self._clean:
            t0, s0 = self._mark
            for chooser in (self.chooser, self.eval_chooser):
                if chooser is not None:
                    chooser.note_idle(max(0.0, spare - s0), now - t0)
        self._mark = (now, spare)
        self._clean = self._at == self.chooser.counts[0]

    def before(self, b: int) -> None:
        """Step ``b`` of the epoch is next."""
        if self.chooser is None or self._left > 0:
            return
        self._count, self._steps = self.chooser.next()
        if not self._set(self._count):
            return
        if not self._warm:  # the run's first step: untimed; the idle time is read from here
            self._warm, self._left, self._t0 = True, 1, None
            self._watch_idle()
            return
        self._left = self._steps
        self._t0, self._c0 = self.clock(), self._cpu()

    def after(self, b: int) -> None:
        """Step ``b`` of the epoch has run."""
        if self.chooser is None:
            return
        self._left -= 1
        if b == self.steps_per_epoch - 1 and self.steps_per_epoch > 1:
            self._left, self._t0 = 0, None
        elif self._left == 0 and self._t0 is not None:
            cpu = self._cpu() - self._c0 if self.cpu_clock is not None else None
            seconds = self.clock() - self._t0
            self._watch_idle(self.chooser.due)  # first: the chooser may decide as it records
            self.chooser.record(self._count, seconds, self._steps, cpu)
            self._t0 = None

    def end_epoch(self) -> None:
        """The epoch's steps ended (a block left open is not timed); its end follows, at the
        count ``eval_chooser`` asks for, timed until :meth:`after_eval`."""
        self._t0, self._left = None, 0
        if self.chooser is None or self.eval_chooser is None:
            return
        self._eval_count = self.eval_chooser.next()[0]
        if not self._set(self._eval_count):
            return
        self._e0, self._ec0 = self.clock(), self._cpu()

    def after_eval(self) -> None:
        """The epoch's end (totals, evaluation) has run."""
        if self.chooser is None or self.eval_chooser is None or self._e0 is None:
            return
        if self._eval_warm:  # the first epoch's end allocates: untimed
            cpu = self._cpu() - self._ec0 if self.cpu_clock is not None else None
            seconds = self.clock() - self._e0
            self._watch_idle(self.eval_chooser.due)
            self.eval_chooser.record(self._eval_count, seconds, 1, cpu)
        self._eval_warm, self._e0 = True, None

    def summary(self) -> dict[str, Any]:
        """``adaptive``; with it, the ``counts`` compared and, for the steps and for the
        epochs' ends (``eval_*``), the ``decisions`` ``(block, count)``, the ``blocks`` run at
        each count and the probes skipped; without, the ``fixed`` count (``None``: left as it
        was) and, where the counts disagreed, ``counts_agree: False``."""
        if self.chooser is None:
            out: dict[str, Any] = {"adaptive": False, "fixed": self.fixed}
            return out if self.agreed is None else {**out, "counts_agree": False}
        c, e = self.chooser, self.eval_chooser
        out = {
            "adaptive": True,
            "counts": c.counts,
            "decisions": list(c.decisions),
            "blocks": dict(c.blocks),
            "probes_skipped": c.skipped,
        }
        if e is not None:
            out |= {"eval_decisions": list(e.decisions), "eval_blocks": dict(e.blocks)}
        return out


@contextlib.contextmanager
def paced(
    knob: Knob | None,
    threads: int | None,
    work: int,
    steps_per_epoch: int,
    agree: Callable[[Knob, Sequence[int]], bool] | None,
) -> Iterator[Pacer]:
    """The thread setting of one run, restored on exit; yields its :class:`Pacer`.

    ``threads`` given: that count throughout. ``None`` with an ``agree`` check and ``N > 1``
    (the library's count): the run starts on one thread, and 1 and ``N`` are chosen between
    while it trains (:class:`ThreadChooser`); before the first step at ``N``,
    ``agree(knob, (1, N))`` checks that both counts give bit-identical results, and if they do
    not the run stays on one thread (so its numbers never depend on the machine's load or its
    cores). ``None`` without a check (a torch module, N = 1): the fixed rule, one thread below
    :data:`SMALL_WORK` activation elements per step (``work``), else ``N``. Without a knob (no
    ``threadpoolctl``, a GPU) nothing is set.

    Example:
        >>> class Knob:
        ...     n = 2
        ...     def get(self): return self.n
        ...     def set(self, n): self.n = n
        >>> knob = Knob()
        >>> with paced(knob, None, 10**6, 57, lambda k, counts: True) as pace:
        ...     knob.n, pace.summary()["counts"]
        (1, (1, 2))
        >>> with paced(knob, None, 10**6, 57, None) as pace:  # no check: the fixed rule
        ...     knob.n, pace.summary()
        (2, {'adaptive': False, 'fixed': 2})
        >>> knob.n
        2
    """
    check_threads(threads)
    if knob is None:
        yield Pacer(fixed=threads)
        return
    before = knob.get()
    try:
        if threads is not None:
            knob.set(threads)
            yield Pacer(fixed=threads)
        elif before > 1 and agree is not None:
            knob.set(1)
            check = agree
            yield Pacer(
                knob,
                ThreadChooser((1, before)),
                steps_per_epoch,
                agree=lambda: check(knob, (1, before)),
                idle_clock=spare_time if machine_idle() is not None else None,
            )
        else:
            fixed = 1 if work < SMALL_WORK else before
            knob.set(fixed)
            yield Pacer(fixed=fixed)
    finally:
        knob.set(before)


def machine_idle() -> float | None:
    """Seconds the cores this process may run on have been idle since boot, summed over them
    (Linux's ``/proc/stat``: idle and iowait ticks; the machine's total line where the process
    may use every core, else the lines of its CPU affinity); ``None`` where the platform does
    not say. A CPU quota (cgroup ``cpu.max``) is not seen: a throttled second thread still
    shows as slower in the probe that follows.

    Example:
        >>> idle = machine_idle()
        >>> idle is None or idle >= 0
        True
    """
    try:
        with open("/proc/stat", "rb") as f:
            if _AFFINITY is None:
                fields = f.readline().split()
                return (int(fields[4]) + int(fields[5])) / _TICKS
            total = 0
            for line in f:
                fields = line.split()
                if fields and fields[0] in _AFFINITY:
                    total += int(fields[4]) + int(fields[5])
            return total / _TICKS
    except (OSError, ValueError, IndexError):
        return None


def spare_time() -> float | None:
    """Core-seconds no other process has used: :func:`machine_idle` (since boot) plus this
    process's CPU time on threads other than the calling one (since it started: idle BLAS or
    OpenMP workers of this process still spin for a while after a parallel call, and a second
    thread would take their core, not wait for it; the cohort loop runs no other busy thread);
    ``None`` where the platform does not report idle time. Only differences of two readings
    from the same thread mean anything.

    Example:
        >>> spare = spare_time()
        >>> spare is None or spare >= 0
        True
    """
    idle = machine_idle()
    return None if idle is None else idle + time.process_time() - time.thread_time()


def _clock_ticks() -> int:
    import os

    try:
        return int(os.sysconf("SC_CLK_TCK")) or 100
    except (AttributeError, ValueError, OSError):
        return 100


def _affinity() -> frozenset[bytes] | None:
    """The ``/proc/stat`` line names (``b"cpu3"``) of the CPUs this process may run on, or
    ``None`` where it may run on all of them (or the platform does not say)."""
    import os

    try:
        allowed = os.sched_getaffinity(0)
        every = os.cpu_count()
    except (AttributeError, OSError):
        return None
    if every is None or len(allowed) >= every:
        return None
    return frozenset(f"cpu{c}".encode() for c in allowed)


_TICKS = _clock_ticks()
_AFFINITY = _affinity()


#: :func:`counts_agree`'s answers in this process, by the caller's key
_AGREED: dict[Any, bool] = {}


def counts_agree(
    knob: Knob, counts: Sequence[int], probe: Callable[[], list[Any]], key: Any = None
) -> bool:
    """Whether ``probe()`` (arrays or tensors) returns bit-identical results at each count of
    ``counts``; ``knob`` is left at the last count. With a ``key`` (what the probe's shapes
    and code depend on) the answer is kept for the process: a study's runs check once.

    Example:
        >>> import numpy as np
        >>> class Knob:
        ...     n = 1
        ...     def get(self): return self.n
        ...     def set(self, n): self.n = n
        >>> counts_agree(Knob(), (1, 2), lambda: [np.ones(3)])
        True
    """
    import numpy as np

    if key is not None and (key, tuple(counts)) in _AGREED:
        return _AGREED[key, tuple(counts)]
    runs = []
    for n in counts:
        knob.set(n)
        runs.append([_host(a) for a in probe()])
    first = runs[0]
    agree = all(
        len(r) == len(first)
        and all(
            a.shape == b.shape and np.array_equal(a, b, equal_nan=True)
            for a, b in zip(r, first, strict=True)
        )
        for r in runs[1:]
    )
    if key is not None:
        _AGREED[key, tuple(counts)] = agree
    return agree


def _host(a: Any) -> Any:
    """A NumPy copy of an array or a tensor."""
    import numpy as np

    if hasattr(a, "detach"):
        return a.detach().cpu().numpy().copy()
    return np.array(a, copy=True)
