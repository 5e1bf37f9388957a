"""How the notebooks run under pytest (``make test``: ``pytest --nbmake notebooks/``): on the smoke profile with the
reference solutions in place of the learner's exercises, unless the environment already says otherwise
(``BMP_PROFILE=course pytest --nbmake notebooks/`` runs them at course scale). The settings reach each notebook's
kernel, which starts with the notebook's test, and are taken back afterwards, so the tests that share a worker with
the notebooks see the environment they were given."""
import os

HEADLESS = {"BMP_PROFILE": "smoke", "BMP_SOLUTIONS": "1"}
_given: dict[str, str | None] = {}


def pytest_runtest_setup(item):
    for key, value in HEADLESS.items():
        _given[key] = os.environ.get(key)
        os.environ.setdefault(key, value)


def pytest_runtest_teardown(item):
    for key, value in _given.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    _given.clear()
