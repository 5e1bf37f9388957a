"""Users' mistakes on the command line end in one ``error: ...`` paragraph naming the culprit, a non-zero exit and
no traceback. Most cases call the entry points in-process (fast); two go through a real ``python -m``."""
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
        (["prune", "--teacher", corrupt, "--epochs", "-2", "--profile", "smoke"], "prune_epochs"),
        (["finalize", "--pruned", "/no/such/run", "--teacher", corrupt, "--profile", "smoke"], "/no/such/run"),
        (["control", "--teacher", "/no/such/teacher", "--profile", "smoke"], "/no/such/teacher"),
        (["layer-drop", "--teacher", "/no/such/teacher", "--profile", "smoke"], "/no/such/teacher"),
        (["sweep", "--teacher", corrupt, "--profile", "smoke", "hybrid:x"], "'hybrid:x'"),
        (["sweep", "--teacher", corrupt, "--profile", "smoke", "nope:10"], "'nope'"),
        (["finetune", "--profile", "nope"], "'nope'"),
        (["course", "--profile", "smoke", "--only", "99"], "99"),
    ]


@pytest.mark.parametrize("case", range(14))
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
    (["-m", "bmp.bench", "nope"], "'nope'"),
    (["-m", "bmp.bench", "pareto", "--records", "/no/such/records"], "/no/such/records"),
])
def test_real_entry_points_exit_non_zero_with_one_error_line(argv, culprit):
    done = subprocess.run([sys.executable, *argv], capture_output=True, text=True, timeout=300)
    assert done.returncode != 0
    assert "error: " in done.stderr and culprit in done.stderr and "Traceback" not in done.stderr
