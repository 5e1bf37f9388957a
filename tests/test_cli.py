"""Users' mistakes on the command line end in one ``error: ...`` paragraph naming the culprit, a non-zero exit and
no traceback. Most cases call the entry points in-process (fast); one per entry module goes through a real
``python -m``."""
import subprocess
import sys

import pytest

from bmp.cli import main as cli_main
from bmp.models import tiny_bert


@pytest.fixture(scope="module")
def corrupt_teacher(tmp_path_factory):
    folder = tmp_path_factory.mktemp("corrupt")
    tiny_bert().save_pretrained(folder)
    weights = folder / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])  # a save killed midway
    return folder


def bad_inputs(corrupt: str) -> list[tuple[list[str], str]]:
    return [
        (["nope"], "'nope'"),
        (["prune", "--teacher", "/no/such/teacher", "--profile", "smoke"], "/no/such/teacher"),
        (["prune", "--teacher", corrupt, "--profile", "smoke"], corrupt),
        (["prune", "--teacher", corrupt, "--profile", "nope"], "'nope'"),
        (["prune", "--teacher", corrupt, "--preset", "nope", "--profile", "smoke"], "'nope'"),
        (["prune", "--teacher", corrupt, "--lam", "-1", "--profile", "smoke"], "-1"),
        (["prune", "--teacher", corrupt, "--epochs", "-2", "--profile", "smoke"], "--epochs"),
        (["prune", "--teacher", corrupt, "--alpha", "1.5", "--profile", "smoke"], "alpha"),
        (["prune", "--teacher", corrupt, "--temperature", "0", "--profile", "smoke"], "temperature"),
        (["prune", "--teacher", corrupt, "--alpha", "0.5", "--no-distill", "--profile", "smoke"], "--no-distill"),
        (["prune", "--teacher", corrupt, "--target-speedup", "2.5", "--lam", "20", "--profile", "smoke"], "--lam"),
        (["prune", "--teacher", corrupt, "--target-method", "topk", "--profile", "smoke"], "--target-method"),
        (["finalize", "--pruned", "/no/such/run", "--teacher", corrupt, "--profile", "smoke"], "/no/such/run"),
        (["control", "--teacher", "/no/such/teacher", "--profile", "smoke"], "/no/such/teacher"),
        (["layer-drop", "--teacher", "/no/such/teacher", "--profile", "smoke"], "/no/such/teacher"),
        (["sweep", "--teacher", corrupt, "--profile", "smoke", "hybrid:x"], "'hybrid:x'"),
        (["sweep", "--teacher", corrupt, "--profile", "smoke", "nope:10"], "'nope'"),
        (["sweep", "--teacher", corrupt, "--profile", "smoke"], "no sweep point"),
        (["sweep", "--teacher", corrupt, "--profile", "smoke", "--best", "2.5"], "--seed"),
        (["sweep", "--teacher", corrupt, "--profile", "smoke", "--best", "2.5", "--seed", "43"], "--best 2.5"),
        (["finetune", "--profile", "nope"], "'nope'"),
        (["course", "--profile", "smoke", "--only", "99"], "99"),
    ]


@pytest.mark.parametrize("case", range(len(bad_inputs(""))))
def test_bad_input_names_the_culprit_without_a_traceback(case, corrupt_teacher, capsys):
    argv, culprit = bad_inputs(str(corrupt_teacher))[case]
    code = cli_main(argv)
    err = capsys.readouterr().err
    assert code != 0, f"{argv} exited 0"
    assert err.startswith("error: ") or "\nerror: " in err, f"{argv}: no 'error:' line in {err!r}"
    assert culprit in err, f"{argv}: the message doesn't name {culprit!r}: {err!r}"
    assert "Traceback" not in err


@pytest.mark.parametrize("argv,culprit", [
    (["-m", "bmp", "prune", "--teacher", "/no/such/teacher"], "/no/such/teacher"),
    (["-m", "bmp.bench", "pareto", "--records", "/no/such/records"], "/no/such/records"),
])
def test_real_entry_points_exit_non_zero_with_one_error_line(argv, culprit):
    done = subprocess.run([sys.executable, *argv], capture_output=True, text=True, timeout=300)
    assert done.returncode != 0
    assert "error: " in done.stderr and culprit in done.stderr and "Traceback" not in done.stderr


@pytest.mark.parametrize("argv,culprit", [
    (["nope"], "'nope'"),
    (["deploy", "--quick", "--record"], "--quick"),  # would clobber the record targets read
    (["deploy", "--record", "--fuse-skip-layernorm"], "--fuse-skip-layernorm"),
])
def test_bench_refusals_name_the_culprit(argv, culprit, capsys, tmp_path, monkeypatch):
    from bmp.bench.__main__ import main as bench_main

    monkeypatch.setenv("BMP_RESULTS_DIR", str(tmp_path))  # nothing is recorded where the project's records are
    assert bench_main(argv) != 0
    err = capsys.readouterr().err
    assert err.startswith("error: ") and culprit in err and "Traceback" not in err


def _script_commands(path) -> list[tuple[str, str, list[str]]]:
    """``(kind, name, options)`` of every ``python -m bmp`` / ``bmp.bench`` call in a shell script (``step NAME``
    calls included), backslash continuations joined."""
    import re
    import shlex

    text = re.sub(r"\\\n\s*", " ", path.read_text())
    calls = []
    for line in text.splitlines():
        code = line.split("#", 1)[0]
        for match in re.finditer(r'-m (bmp\.bench|bmp) (\S+)(.*?)(?:\||;|$)', code):  # up to a pipe, || or ;
            if match.group(2).startswith(('"', "$")):  # the helpers' own "$@"
                continue
            calls.append(("bench" if match.group(1) == "bmp.bench" else "cli", match.group(2),
                          [t for t in shlex.split(match.group(3)) if t.startswith("--")]))
        step = re.match(r'\s*step "[^"]+" (\S+)(.*)', code)  # sweep.sh: step RECORD COMMAND OPTIONS
        if step:
            calls.append(("cli", step.group(1), [t for t in shlex.split(step.group(2)) if t.startswith("--")]))
        probe = re.match(r'\s*probe (\S+)(.*)', code)  # probe_recipe.sh: probe NAME PRUNE-OPTIONS
        if probe:
            calls.append(("cli", "prune", [t for t in shlex.split(probe.group(2)) if t.startswith("--")]))
        # front.sh's helpers: train COMMAND OPTIONS, need RECORD FOLDER COMMAND OPTIONS, and
        # prune_and_fill RUN TEACHER PRUNE-OPTIONS -- FINALIZE-OPTIONS
        for match in re.finditer(r'(?:^\s*|[|&{;]\s*)(?:train|need \S+ \S+) ([a-z-]+)(.*?)(?:\|\||;|$)', code):
            calls.append(("cli", match.group(1),
                          ["--fp32", *(t for t in shlex.split(match.group(2)) if t.startswith("--"))]))
        both = re.match(r'\s*prune_and_fill (.*)', code)
        if both:
            tokens = shlex.split(both.group(1))[2:]  # past RUN and TEACHER
            split = tokens.index("--")
            for name, given in (("prune", tokens[:split]), ("finalize", tokens[split + 1:])):
                calls.append(("cli", name, ["--fp32", *(t for t in given if t.startswith("--"))]))
    return calls


def _options_of(kind: str, name: str, capsys) -> str:
    import importlib

    from bmp.cli import COMMANDS

    module = importlib.import_module(COMMANDS[name][0] if kind == "cli" else f"bmp.bench.{name}")
    parse = getattr(module, "parse_args", None) or module.main
    with pytest.raises(SystemExit):
        parse(["--help"])
    return capsys.readouterr().out


@pytest.mark.parametrize("script", ["sweep.sh", "probe_recipe.sh", "front.sh", "target_front.sh", "review_front.sh"])
def test_the_recorded_scripts_call_real_commands_and_options(script, capsys):
    """A typo in scripts/sweep.sh would only surface hours into the sweep: every command and option it uses must
    exist (``--record`` is the bench runner's own flag)."""
    from bmp.bench.__main__ import available
    from bmp.cli import COMMANDS
    from bmp.profiles import REPO_ROOT

    calls = _script_commands(REPO_ROOT / "scripts" / script)
    assert calls, f"no python -m bmp calls found in {script}"
    for kind, name, options in calls:
        assert name in (COMMANDS if kind == "cli" else available()), f"{script}: unknown {kind} command {name!r}"
        help_text = _options_of(kind, name, capsys)
        for option in options:
            if option == "--record" and kind == "bench":
                continue
            assert option.split("=")[0] in help_text, f"{script}: {name} has no option {option}"
