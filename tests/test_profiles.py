"""Profiles: the one frozen config each heavy step reads, chosen by name or by $BMP_PROFILE."""
import pytest

from bmp.profiles import PROFILES, get_profile


def test_the_name_comes_from_the_argument_then_the_environment(monkeypatch):
    monkeypatch.setenv("BMP_PROFILE", "smoke")
    assert get_profile().name == "smoke"
    assert get_profile("course").name == "course"
    monkeypatch.delenv("BMP_PROFILE")
    assert get_profile().name == "course"


def test_an_unknown_profile_names_the_choices(monkeypatch):
    monkeypatch.setenv("BMP_PROFILE", "corse")
    with pytest.raises(ValueError, match="'corse'.*smoke, course, full"):
        get_profile()


@pytest.mark.parametrize("change, field", [({"epochs": 0}, "epochs"), ({"doc_stride": 500}, "doc_stride"),
                                           ({"notebook_fill_epochs": 0.0}, "notebook_fill_epochs"),
                                           ({"data": "hub"}, "data")])
def test_bad_values_are_refused_by_name(change, field):
    with pytest.raises(ValueError, match=f"Profile.{field}"):
        get_profile("smoke").with_(**change)


def test_notebook_fill_defaults_to_the_recorded_runs_fill():
    smoke = get_profile("smoke")
    assert smoke.notebook_fill_epochs is None and smoke.course_fill_epochs == smoke.epochs
    shorter = smoke.with_(notebook_fill_epochs=0.25)
    assert shorter.course_fill_epochs == 0.25 and shorter.epochs == smoke.epochs  # the recorded runs' fill is kept
    for profile in PROFILES.values():
        assert 0 < profile.course_fill_epochs <= profile.epochs
