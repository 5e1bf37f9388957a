"""Setup files agree with each other: environment.yml lists what pyproject.toml requires, CI runs the README's
command."""
import re

import tomllib
import yaml


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~\[ ;]", requirement.strip().strip('"'), maxsplit=1)[0].lower()


INSTALLED_EXTRAS = ("course", "test", "deploy", "peer")  # what `make setup` installs


def test_make_setup_installs_every_extra_the_course_and_tests_need(repo_root):
    makefile = (repo_root / "Makefile").read_text()
    extras = ",".join(INSTALLED_EXTRAS)
    assert f'-e ".[{extras}]"' in makefile


def test_environment_yml_matches_pyproject(repo_root):
    project = tomllib.loads((repo_root / "pyproject.toml").read_text())["project"]
    wanted = {_name(r) for r in project["dependencies"]}
    for extra in INSTALLED_EXTRAS:
        wanted |= {_name(r) for r in project["optional-dependencies"][extra]}
    env = yaml.safe_load((repo_root / "environment.yml").read_text())
    pip_block = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    listed = {_name(r) for r in pip_block if not r.startswith("-e")}
    assert wanted == listed, f"only in pyproject: {wanted - listed}; only in environment.yml: {listed - wanted}"


def test_ci_runs_the_readme_test_command(repo_root):
    readme = (repo_root / "README.md").read_text()
    ci = (repo_root / ".ci" / "run").read_text()
    assert "make test" in readme and re.search(r"^make test$", ci, re.M)
    assert "make course" in readme
