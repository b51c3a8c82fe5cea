"""The thread choice of a cohort (lrlab.lab.engine._threads): the chooser on made-up durations,
the pacer on a fake clock, and runs whose numbers must not depend on the count chosen."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pytest

from lrlab.lab.engine import _threads
from lrlab.lab.engine._threads import Pacer, ThreadChooser, counts_agree, paced
from lrlab.lab.models import MLP
from lrlab.lab.optim import SGD
from lrlab.lab.population import train_population
from lrlab.schedules import constant


class FakeKnob:
    def __init__(self, n: int = 2) -> None:
        self.n, self.history = n, []

    def get(self) -> int:
        return self.n

    def set(self, n: int) -> None:
        self.n = n
        self.history.append(n)


def feed(chooser: ThreadChooser, per_step: dict[int, float], blocks: int) -> list[int]:
    """Run ``blocks`` blocks where a step at count c takes ``per_step[c]``; the counts run."""
    ran = []
    for _ in range(blocks):
        count, steps = chooser.next()
        chooser.record(count, per_step[count] * steps, steps)
        ran.append(count)
    return ran


def test_chooser_starts_on_one_thread_then_probes_and_keeps_the_faster():
    chooser = ThreadChooser((2, 1), first=3, rounds=2, lead=10.0)
    ran = feed(chooser, {1: 1.0, 2: 0.5}, 7)
    assert ran == [1, 1, 1, 1, 2, 1, 2]  # three blocks at 1, then the probe 1, 2, 1, 2
    assert chooser.choice == 2 and chooser.decisions == [(7, 2)]
    assert chooser.next() == (2, chooser.block)


def test_chooser_drops_a_count_once_it_is_lead_times_slower():
    chooser = ThreadChooser((1, 2), first=1, rounds=3, lead=2.0)
    ran = feed(chooser, {1: 1.0, 2: 5.0}, 4)
    assert ran == [1, 1, 2, 1]  # 2's other turns dropped after its first
    assert chooser.choice == 1 and not chooser.probing
    assert chooser.blocks == {1: 3, 2: 1}


def test_chooser_ties_keep_fewer_threads():
    chooser = ThreadChooser((1, 2), first=1, rounds=1)
    feed(chooser, {1: 1.0, 2: 1.0}, 3)
    assert chooser.choice == 1


def test_chooser_reprobes_after_every_blocks_and_backs_off_while_the_choice_holds():
    chooser = ThreadChooser((1, 2), first=1, rounds=1, every=4, most=16, budget=0.0)
    feed(chooser, {1: 1.0, 2: 1.5}, 3)  # first block, probe 1, probe 2
    assert chooser.decisions == [(3, 1)] and chooser.every == 4
    feed(chooser, {1: 1.0, 2: 1.5}, 4)
    assert chooser.probing
    feed(chooser, {1: 1.0, 2: 1.5}, 2)
    assert len(chooser.decisions) == 2 and chooser.every == 8  # the same count: doubled
    feed(chooser, {1: 1.0, 2: 1.5}, 10)
    assert chooser.every == 16  # capped at most
    feed(chooser, {1: 3.0, 2: 1.0}, 16 + 2)
    assert chooser.choice == 2 and chooser.every == 4  # a new choice starts over


def test_chooser_probes_a_much_slower_count_rarely():
    chooser = ThreadChooser((1, 2), first=1, rounds=1, every=4, most=1000, budget=20.0)
    feed(chooser, {1: 1.0, 2: 20.0}, 3)
    # trying 2 again costs probe_block * 20 steps: worth it every 20 * that many steps
    assert chooser.every == 20 * chooser.probe_block * 20 // chooser.block


def test_chooser_reprobes_when_blocks_turn_slow():
    chooser = ThreadChooser((1, 2), first=1, rounds=1, every=1000, patience=2, slow=1.5)
    feed(chooser, {1: 2.0, 2: 1.0}, 3)
    assert chooser.choice == 2
    feed(chooser, {1: 2.0, 2: 1.0}, 5)
    assert not chooser.probing
    feed(chooser, {1: 2.0, 2: 1.9}, 1)  # 1.9 > lead(2) * 2.0? no; > 1.5 * median 1.0: yes
    assert not chooser.probing  # one slow block is not enough
    feed(chooser, {1: 2.0, 2: 1.9}, 1)
    assert chooser.probing
    feed(chooser, {1: 1.0, 2: 1.9}, 2)
    assert chooser.choice == 1


def test_chooser_reprobes_when_the_choice_is_slower_than_the_other_count_was():
    chooser = ThreadChooser((1, 2), first=1, rounds=1, every=1000, patience=2, lead=2.0)
    feed(chooser, {1: 1.0, 2: 1.0}, 3)
    assert chooser.choice == 1
    feed(chooser, {1: 2.5, 2: 1.0}, 2)  # 2.5 > 2 * 1.0 (2's probe), from the first block
    assert chooser.probing


def test_chooser_skips_probes_while_one_thread_gets_too_little_of_a_core():
    chooser = ThreadChooser((1, 2), first=4, rounds=1, share=0.8, most=64)
    for _ in range(4):  # one thread ran 40% of the wall time: no idle core for a second
        count, steps = chooser.next()
        chooser.record(count, 8.0, steps, cpu=0.4 * 8)
    assert not chooser.probing and chooser.skipped == 1 and chooser.every == 8
    for _ in range(8):
        chooser.record(1, 8.0, 8, cpu=8.0)  # a whole core again
    assert chooser.probing


def test_chooser_skips_probes_while_no_other_core_is_idle():
    # one thread got its whole core, but the other cores were idle 0.2 of a core: busy
    chooser = ThreadChooser((1, 2), first=4, rounds=1, idle=0.5, most=64)
    chooser.note_idle(0.2 * 0.1, 0.1)
    for _ in range(4):
        count, steps = chooser.next()
        chooser.record(count, 8.0, steps, cpu=8.0)
    assert not chooser.probing and chooser.skipped == 1
    for _ in range(8):  # a core free again: summed over the window, idle >= 0.5 of a core
        chooser.note_idle(1.0 * 0.1, 0.1)
        chooser.record(1, 8.0, 8, cpu=8.0)
    assert chooser.probing
    # without idle times (a platform that does not report them) the probe runs as before
    plain = ThreadChooser((1, 2), first=4, rounds=1, idle=0.5)
    for _ in range(4):
        count, steps = plain.next()
        plain.record(count, 8.0, steps, cpu=8.0)
    assert plain.probing


class Noting(ThreadChooser):
    """A chooser that keeps what :meth:`note_idle` was told."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.noted: list[tuple[float, float]] = []
        self.ends: list[float] = []  # the clock when told, where ``now`` is set
        self.now: Any = None

    def note_idle(self, idle: float, seconds: float) -> None:
        self.noted.append((idle, seconds))
        if self.now is not None:
            self.ends.append(self.now())
        super().note_idle(idle, seconds)


def test_pacer_reads_idle_time_now_and_then_over_one_thread_stretches_only():
    from lrlab.lab.engine._threads import IDLE_WALL

    clock = ticking(0.01)
    now = [0.0]
    knob = FakeKnob(2)
    counts: list[tuple[float, int]] = []  # (time, threads) at each tick

    def timed() -> float:
        now[0] = clock()
        counts.append((now[0], knob.n))
        return now[0]

    reads = []

    def idle() -> float:  # half a core idle all along
        reads.append(now[0])
        return 0.5 * now[0]

    steps = Noting((1, 2), first=3, rounds=1, block=2, probe_block=1, lead=100.0)
    steps.now = lambda: now[0]
    ends = Noting((1, 2), first=10**6)
    pace = Pacer(knob, steps, 40, clock=timed, cpu_clock=None, eval_chooser=ends, idle_clock=idle)
    for b in range(40):
        pace.before(b)
        pace.after(b)
    assert steps.noted and steps.noted == ends.noted  # both choosers hear of each stretch
    assert all(abs(i / t - 0.5) < 1e-9 for i, t in steps.noted)
    # read every IDLE_WALL seconds, and before a block that may start a probe
    gaps = [b - a for a, b in itertools.pairwise(reads)]
    assert sum(g < IDLE_WALL for g in gaps) <= len(steps.decisions) + 1 < len(gaps) // 2
    # the probe ran a step at 2 threads: no noted stretch contains a tick at 2 threads
    assert steps.blocks[2] >= 1
    at_two = [t for t, n in counts if n == 2]
    assert at_two and len(steps.ends) == len(steps.noted)
    for end, (_, seconds) in zip(steps.ends, steps.noted, strict=True):
        assert not any(end - seconds < t <= end for t in at_two)


def test_the_steps_idle_time_keeps_the_epochs_end_from_probing_a_busy_machine():
    # the steps found no idle core; the epoch's end, one short block, uses what they saw
    steps = ThreadChooser((1, 2), first=10**6, block=2)
    ends = ThreadChooser((1, 2), first=1, rounds=1, block=1, probe_block=1)
    pace = Pacer(
        FakeKnob(2),
        steps,
        9,
        clock=ticking(0.01),  # an epoch's end alone is too short to tell
        cpu_clock=None,
        eval_chooser=ends,
        idle_clock=lambda: 0.0,
    )
    counts = []
    for _ in range(4):
        for b in range(9):
            pace.before(b)
            pace.after(b)
        pace.end_epoch()
        counts.append(pace.knob.get())
        pace.after_eval()
    assert counts == [1, 1, 1, 1] and ends.skipped >= 1 and ends.blocks[2] == 0


def test_idle_time_is_read_from_proc_stat_for_the_cpus_the_process_may_use(monkeypatch):
    from lrlab.lab.engine._threads import machine_idle, spare_time

    if machine_idle() is None:  # not Linux: nothing to read, and nothing is made up
        assert spare_time() is None
        return
    first, second = spare_time(), spare_time()
    assert 0 <= first <= second  # counters since boot: they only grow
    every = machine_idle()
    monkeypatch.setattr(_threads, "_AFFINITY", frozenset({b"cpu0"}))
    one = machine_idle()
    assert one is not None and 0 <= one <= every + 1.0  # one core's line of the total


def test_no_idle_verdict_on_too_short_a_reading_and_slow_blocks_make_it_due():
    from lrlab.lab.engine._threads import IDLE_WALL

    chooser = ThreadChooser((1, 2), first=4, rounds=1, idle=0.5)
    chooser.note_idle(0.0, IDLE_WALL / 5)  # a few ms read as 0 idle: no verdict yet
    for _ in range(4):
        count, steps = chooser.next()
        chooser.record(count, 8.0, steps, cpu=8.0)
    assert chooser.probing and chooser.skipped == 0
    # where idle times are coming (a pacer with an idle clock), the probe waits for enough
    waiting = ThreadChooser((1, 2), first=4, rounds=1, idle=0.5)
    waiting.awaits_idle = True
    for _ in range(6):
        waiting.note_idle(0.0, IDLE_WALL / 10)
        count, steps = waiting.next()
        waiting.record(count, 8.0, steps, cpu=8.0)
    assert not waiting.probing and waiting.skipped == 0  # 0.6 IDLE_WALL read: no verdict
    for _ in range(5):
        waiting.note_idle(0.0, IDLE_WALL / 10)
        waiting.record(1, 8.0, 8, cpu=8.0)
    assert not waiting.probing and waiting.skipped == 1  # enough read: busy, skipped
    # after a decision, two slow blocks in a row: the third (patience=3) may start a probe
    slow = ThreadChooser((1, 2), first=1, rounds=1, every=1000, patience=3, slow=1.5)
    feed(slow, {1: 1.0, 2: 1.0}, 5)
    assert not slow.due
    feed(slow, {1: 5.0, 2: 5.0}, 2)
    assert slow.due


def ticking(step: float = 1.0) -> Any:
    now = [0.0]

    def clock() -> float:
        now[0] += step
        return now[0]

    return clock


def test_pacer_sets_counts_and_times_whole_blocks_only():
    knob = FakeKnob(2)
    chooser = ThreadChooser((1, 2), first=1, rounds=1, block=3, probe_block=2)
    pace = Pacer(knob, chooser, steps_per_epoch=10, clock=ticking(), cpu_clock=None)
    for b in range(10):
        pace.before(b)
        pace.after(b)
    # step 0: warm-up (untimed); 1-3: a block at 1; 4-5 probe 1; 6-7 probe 2; 8-9: a block of
    # 3 at the choice cut by the epoch's end (untimed)
    assert knob.history == [1, 1, 1, 2, 1]
    assert chooser.blocks == {1: 2, 2: 1}
    assert pace.summary()["decisions"] == [(3, 1)]


def test_pacer_times_the_epochs_end_with_a_chooser_of_its_own():
    knob = FakeKnob(2)
    steps = ThreadChooser((1, 2), first=10**6)  # the steps stay at 1
    ends = ThreadChooser((1, 2), first=1, rounds=1, block=1, probe_block=1, lead=10.0)
    pace = Pacer(knob, steps, 4, clock=ticking(), cpu_clock=None, eval_chooser=ends)
    seen = []
    for _ in range(5):
        for b in range(4):
            pace.before(b)
            pace.after(b)
        pace.end_epoch()
        seen.append(knob.n)
        pace.after_eval()
    # epoch 0's end warms up, 1's runs at 1, then the probe: 1 at epoch 2, 2 at epoch 3
    assert seen == [1, 1, 1, 2, 1]
    assert pace.summary()["eval_blocks"] == {1: 3, 2: 1}
    assert pace.summary()["eval_decisions"] == [(3, 1)]


def test_pacer_stays_on_one_thread_where_counts_disagree():
    knob = FakeKnob(2)
    chooser = ThreadChooser((1, 2), first=1, rounds=1, block=1, probe_block=1)
    asked = []
    pace = Pacer(
        knob, chooser, 20, clock=ticking(), agree=lambda: asked.append(1) or False, cpu_clock=None
    )
    for b in range(20):
        pace.before(b)
        pace.after(b)
    assert asked == [1] and set(knob.history) == {1}
    assert pace.summary() == {"adaptive": False, "fixed": 1, "counts_agree": False}


def test_paced_restores_the_count_and_fixes_what_is_asked():
    knob = FakeKnob(2)
    with paced(knob, 1, 10**6, 10, lambda k, c: True) as pace:
        assert knob.n == 1 and pace.summary() == {"adaptive": False, "fixed": 1}
    assert knob.n == 2
    with paced(knob, None, 10, 10, None) as pace:  # no check: the fixed rule, small work
        assert knob.n == 1
    with paced(knob, None, 10**6, 10, None) as pace:
        assert knob.n == 2
    with pytest.raises(RuntimeError), paced(knob, None, 10**6, 10, lambda k, c: True) as pace:
        assert knob.n == 1 and pace.summary()["adaptive"]
        raise RuntimeError
    assert knob.n == 2
    with pytest.raises(ValueError, match="threads must be >= 1"), paced(knob, 0, 1, 1, None):
        pass


def test_counts_agree_compares_bits_and_keeps_its_answer_per_key():
    knob = FakeKnob(1)
    calls = []

    def probe() -> list[np.ndarray]:
        calls.append(knob.n)
        # one ulp apart at two threads: close by any tolerance, different bits
        last = 2.0 if knob.n == 1 else np.nextafter(2.0, 3.0)
        return [np.array([1.0, last]), np.array([0.1])]

    assert not counts_agree(knob, (1, 2), probe, key=("test", 1))
    assert not counts_agree(knob, (1, 2), probe, key=("test", 1))
    assert calls == [1, 2]
    assert counts_agree(knob, (1, 2), lambda: [np.arange(3)])
    _threads._AGREED.pop((("test", 1), (1, 2)))


class Blobs:
    rng = np.random.default_rng(0)
    x_train = rng.normal(size=(100, 4))  # batches of 8: the last has 4 rows
    y_train = rng.integers(0, 3, 100)
    x_test = rng.normal(size=(40, 4))
    y_test = rng.integers(0, 3, 40)


def run(engine: str, threads: int | None, **kw: Any) -> Any:
    return train_population(
        Blobs(),
        MLP(4, (16, 8), 3),
        SGD(momentum=0.9),
        [constant(0.05), constant(0.2), constant(0.01)],
        [0, 1, 2],
        epochs=3,
        batch_size=8,
        engine=engine,
        threads=threads,
        keep_params=True,
        eval_train=True,
        **kw,
    )


def same(a: Any, b: Any) -> None:
    np.testing.assert_array_equal(a.params, b.params)
    for k in a.history:
        np.testing.assert_array_equal(a.history[k], b.history[k])


@pytest.fixture
def eager(monkeypatch: pytest.MonkeyPatch) -> None:
    """Choosers that probe at every chance: the count changes every step or two."""
    kw = {"first": 1, "every": 1, "most": 1, "block": 1, "probe_block": 1, "budget": 0.0}
    kw |= {"share": 0.0, "idle": 0.0}  # whatever else the machine runs meanwhile
    original = ThreadChooser.__init__

    def init(self: ThreadChooser, counts: Any, **given: Any) -> None:
        original(self, counts, **{**kw, **given})

    monkeypatch.setattr(ThreadChooser, "__init__", init)
    monkeypatch.setattr(_threads, "machine_idle", lambda: None)  # no waiting for idle times


def two_threads(engine: str) -> Any:
    """The engine's library at 2 threads for the block, then as it was."""
    if engine == "torch":
        torch = pytest.importorskip("torch")
        before = torch.get_num_threads()

        class Torch:
            def __enter__(self) -> None:
                torch.set_num_threads(2)

            def __exit__(self, *exc: Any) -> None:
                torch.set_num_threads(before)

        return Torch()
    threadpoolctl = pytest.importorskip("threadpoolctl")
    return threadpoolctl.threadpool_limits(2, user_api="blas")


@pytest.mark.parametrize("engine", ["numpy", "torch"])
@pytest.mark.parametrize("batch_order", ["shared", "per_seed"])
def test_adaptive_threads_give_the_numbers_of_one_thread(eager, engine, batch_order):
    with two_threads(engine):
        one = run(engine, 1, batch_order=batch_order)
        adaptive = run(engine, None, batch_order=batch_order)
    info = adaptive.extra["threads"]
    if info.get("counts_agree") is False:  # this machine's library: one thread throughout
        assert info["fixed"] == 1
    else:
        assert info["adaptive"] and info["blocks"][2] > 0 and info["blocks"][1] > 0
    same(one, adaptive)


@pytest.mark.parametrize("engine", ["numpy", "torch"])
def test_where_counts_disagree_the_run_keeps_one_thread(eager, engine, monkeypatch):
    monkeypatch.setattr(_threads, "_AGREED", {})
    module = "lrlab.lab.engine._numpy" if engine == "numpy" else "lrlab.lab.engine._torch"
    if engine == "torch":
        pytest.importorskip("torch")
    monkeypatch.setattr(f"{module}.counts_agree", lambda knob, counts, probe, key: False)
    with two_threads(engine):
        one = run(engine, 1)
        adaptive = run(engine, None)
    assert adaptive.extra["threads"] == {"adaptive": False, "fixed": 1, "counts_agree": False}
    same(one, adaptive)


def test_engine_probe_leaves_the_engine_as_it_was():
    from lrlab.lab.engine import make_engine

    data = (Blobs.x_train, Blobs.y_train)
    test = (Blobs.x_test, Blobs.y_test)
    engine = make_engine("numpy", MLP(4, (16,), 3), 3, data, test, batch_size=8, dtype="float64")
    engine.init([0, 1, 2], SGD(momentum=0.9))
    theta = engine.params()
    first, second = engine.probe(), engine.probe()
    assert all(np.array_equal(a, b) for a, b in zip(first, second, strict=True))
    np.testing.assert_array_equal(engine.params(), theta)


def test_library_counts_are_restored_after_an_adaptive_run():
    threadpoolctl = pytest.importorskip("threadpoolctl")
    torch = pytest.importorskip("torch")

    def blas() -> list[int]:
        info = threadpoolctl.threadpool_info()
        return [i["num_threads"] for i in info if i["user_api"] == "blas"]

    before_blas, before_torch = blas(), torch.get_num_threads()
    for engine in ("numpy", "torch"):
        run(engine, None)
        assert blas() == before_blas and torch.get_num_threads() == before_torch
