"""The drifting request streams of partie-10 (course_utils.drift)."""

import numpy as np
import pytest

from course_utils import drift


def test_topics_are_disjoint_and_populated():
    modules = [m for group in drift.TOPICS.values() for m in group]
    assert len(modules) == len(set(modules))
    assert set(drift.REFERENCE_TOPICS).isdisjoint(drift.NEW_TOPICS)
    assert all(size >= 100 for size in drift.topic_sizes().values())


def test_streams_are_reproducible_and_shaped():
    a = drift.make_stream(300, "topic", change_at=100, seed=3)
    b = drift.make_stream(300, "topic", change_at=100, seed=3)
    assert len(a) == 300 and a.vectors.shape == (300, 384) and a.vectors.dtype == np.float32
    assert np.array_equal(a.lengths, b.lengths) and np.array_equal(a.vectors, b.vectors)
    assert not np.array_equal(a.lengths, drift.make_stream(300, "topic", change_at=100, seed=4).lengths)
    assert np.allclose(np.linalg.norm(a.vectors, axis=1), 1, atol=1e-4)


def test_no_drift_control():
    s = drift.reference_sample(2000, seed=1)
    assert s.change_at is None and s.kind == "none" and s.new_topic is None and not s.share.any()
    assert set(s.topics) == set(drift.REFERENCE_TOPICS)
    assert abs(s.lengths.mean() - drift.LENGTH_MEAN) < 5 and abs(s.lengths.std() - drift.LENGTH_SD) < 5


def test_topic_drift_starts_at_the_change():
    s = drift.make_stream(4000, "topic", change_at=1000, seed=2, new_topic="gui", share=0.3)
    new = s.topics == "gui"
    assert not new[:1000].any() and abs(new[1000:].mean() - 0.3) < 0.03
    assert np.array_equal(s.share, np.where(np.arange(4000) >= 1000, 0.3, 0.0))
    assert abs(s.lengths[1000:].std() - drift.LENGTH_SD) < 5  # the lengths do not move


def test_length_drift_keeps_the_mean_and_the_topics():
    for scale in (0.3, 2.0):
        s = drift.make_stream(6000, "length", change_at=2000, seed=5, length_scale=scale)
        before, after = s.lengths[:2000], s.lengths[2000:]
        assert abs(after.mean() - before.mean()) < 6
        assert after.std() / before.std() == pytest.approx(scale, rel=0.08)
    assert set(s.topics) == set(drift.REFERENCE_TOPICS) and s.new_topic is None


def test_gradual_drift_ramps_in():
    s = drift.make_stream(3000, "gradual", change_at=1000, seed=6, new_topic="xml", share=0.5, ramp=1000)
    assert s.share[999] == 0 and s.share[1499] == pytest.approx(0.25) and s.share[2500] == pytest.approx(0.5)
    new = s.topics == "xml"
    assert not new[:1000].any() and new[1000:1500].mean() < new[2000:].mean()
    assert abs(new[2000:].mean() - 0.5) < 0.06


def test_bad_arguments():
    with pytest.raises(ValueError):
        drift.make_stream(10, "sideways")
    with pytest.raises(ValueError):
        drift.make_stream(10, "topic", new_topic="astrology")
    with pytest.raises(ValueError):
        drift.make_stream(10, "topic", change_at=11)
