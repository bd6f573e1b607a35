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
