import pytest

from course_utils import timing


class FakeClock:
    """perf_counter that only moves when a timed function says so."""

    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


@pytest.fixture
def clock(monkeypatch):
    fake = FakeClock()
    monkeypatch.setattr(timing.time, "perf_counter", fake)
    return fake


def timed_fn(clock, durations):
    calls = []

    def fn():
        clock.now += durations[len(calls)]
        calls.append(len(calls))
        return len(calls)

    return fn, calls


def test_warmup_calls_are_made_but_not_timed(clock):
    fn, calls = timed_fn(clock, [50.0, 60.0, 0.3, 0.1, 0.5, 0.2, 9.0])
    times, last = timing.time_calls(fn, repeat=5, warmup=2)
    assert len(calls) == 7 and last == 7
    assert times == pytest.approx([0.3, 0.1, 0.5, 0.2, 9.0])


def test_median_and_best(clock):
    fn, calls = timed_fn(clock, [50.0, 60.0, 0.3, 0.1, 0.5, 0.2, 9.0])
    assert timing.median_seconds(fn, repeat=5, warmup=2) == pytest.approx(0.3)
    assert len(calls) == 7
    fn, calls = timed_fn(clock, [0.004, 0.001, 0.002])
    assert timing.best_seconds(fn, repeat=3) == pytest.approx(0.001) and len(calls) == 3
    fn, _ = timed_fn(clock, [0.4, 0.1])
    assert timing.median_seconds(fn, repeat=2, warmup=0) == pytest.approx(0.25)  # even count: mean of the middle two
    assert isinstance(timing.median_seconds(timed_fn(clock, [1.0])[0], repeat=1, warmup=0), float)


def test_defaults(clock):
    fn, calls = timed_fn(clock, [1.0] * 10)
    timing.median_seconds(fn)
    assert len(calls) == 7  # 2 warm-up + 5 timed
    fn, calls = timed_fn(clock, [1.0] * 10)
    timing.best_seconds(fn)
    assert len(calls) == 3  # no warm-up, 3 timed


def test_invalid_counts():
    with pytest.raises(ValueError):
        timing.time_calls(lambda: None, repeat=0)
    with pytest.raises(ValueError):
        timing.median_seconds(lambda: None, repeat=3, warmup=-1)


def test_synchronize_around_each_timed_call(clock, monkeypatch):
    events = []
    monkeypatch.setattr(timing, "synchronize", lambda device=None: events.append(("sync", device)))
    fn, _ = timed_fn(clock, [1.0] * 5)
    timing.time_calls(lambda: events.append(("call", fn())), repeat=2, warmup=1, device="cuda")
    assert [e[0] for e in events] == ["call", "sync", "call", "sync", "sync", "call", "sync"]
    assert all(device == "cuda" for kind, device in events if kind == "sync")


def test_synchronize_on_cpu_is_a_no_op():
    timing.synchronize("cpu")
    timing.synchronize(None)


def test_interleaved_ratios_alternate_the_order():
    order = []

    def run(name, cost):
        def fn():
            order.append(name)
            return cost

        return fn

    ratios = timing.interleaved_ratios(run("A", 3.0), run("B", 1.5), rounds=4)
    assert order == ["A", "B", "B", "A", "A", "B", "B", "A"]
    assert ratios == [2.0, 2.0, 2.0, 2.0]
    with pytest.raises(ValueError):
        timing.interleaved_ratios(run("A", 1.0), run("B", 1.0), rounds=0)
    with pytest.raises(ValueError):
        timing.interleaved_ratios(run("A", 1.0), run("B", 0.0), rounds=1)


def test_median_speedup_survives_a_busy_machine(clock):
    """A slow spell hits both runs of a round: the median ratio stays the true speed-up."""
    slowdown = iter([1, 1, 5, 5, 1, 1, 1, 1, 8, 8])  # one factor per timed call, equal within a round

    def work(seconds):
        def fn():
            clock.now += seconds * next(slowdown)

        return fn

    median, ratios = timing.median_speedup(work(2.0), work(0.5), rounds=5)
    assert median == pytest.approx(4.0) and ratios == pytest.approx([4.0] * 5)


def test_median_speedup_ignores_one_disturbed_round(clock):
    factors = iter([1, 1, 1, 1, 1, 9, 1, 1, 1, 1])  # the candidate of round 3 is hit alone

    def work(seconds):
        def fn():
            clock.now += seconds * next(factors)

        return fn

    median, ratios = timing.median_speedup(work(3.0), work(1.0), rounds=5)
    assert median == pytest.approx(3.0) and min(ratios) == pytest.approx(3.0 / 9)


def test_seconds_and_warmup(clock):
    calls = []

    def fn():
        calls.append(1)
        clock.now += 0.25

    assert timing.seconds(fn)() == pytest.approx(0.25)
    timing.median_speedup(fn, fn, rounds=1, warmup=2)
    assert len(calls) == 1 + 2 * 2 + 2
    with pytest.raises(ValueError):
        timing.median_speedup(fn, fn, warmup=-1)
