import pytest

from course_utils.profiles import ProfileError, current_profile, pick

SIZES = {"ci": {"steps": 10, "width": 8}, "cpu": {"steps": 100, "width": 32}, "gpu": {"steps": 1000, "width": 256}}


def test_parameter_wins_over_environment(monkeypatch):
    monkeypatch.setenv("COURSE_PROFILE", "gpu")
    assert pick(SIZES, "ci").steps == 10
    assert pick(SIZES).steps == 1000


def test_default_is_the_laptop_profile(monkeypatch):
    monkeypatch.delenv("COURSE_PROFILE", raising=False)
    assert current_profile() == "cpu"
    assert pick(SIZES).profile == "cpu"


def test_unknown_profile_is_explained_in_french(monkeypatch):
    monkeypatch.setenv("COURSE_PROFILE", "tpu")
    with pytest.raises(ProfileError, match="Profil inconnu.*ci, cpu, gpu"):
        pick(SIZES)


def test_every_profile_must_define_the_same_settings():
    broken = {**SIZES, "gpu": {"steps": 1000}}
    with pytest.raises(ProfileError, match="width"):
        pick(broken, "ci")
    with pytest.raises(ProfileError, match="manquantes.*gpu"):
        pick({"ci": {}, "cpu": {}}, "ci")
