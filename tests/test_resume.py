"""Kill a run with SIGKILL right after a checkpoint, resume it with the same command, and compare with a run that
was never interrupted: every run kind must end with the same weights (masks included, for pruning)."""
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from bmp.models import load_saved, load_tokenizer, tiny_bert

SCRIPT = Path(__file__).with_name("kill_resume.py")
FINAL = {"finetune": "final", "prune": "final", "fill": "filled", "layer-drop": "final"}


def launch(kinds, teacher, output, results, pruned=None, kill_at=None) -> int:
    env = {**os.environ, "BMP_RESULTS_DIR": str(results), "BMP_PROFILE": "smoke"}
    command = [sys.executable, str(SCRIPT), *kinds, "--teacher", str(teacher), "--output", str(output)]
    command += ["--pruned", str(pruned)] if pruned else []
    command += ["--kill-at", str(kill_at)] if kill_at is not None else []
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=600).returncode


@pytest.fixture(scope="module")
def teacher(tmp_path_factory):
    folder = tmp_path_factory.mktemp("teacher")
    tiny_bert(seed=3).save_pretrained(folder)
    load_tokenizer().save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def straight(teacher, tmp_path_factory):
    """Every kind run without interruption, one after the other in one process, each in its own folder (the fill
    fills the prune run's model)."""
    out = tmp_path_factory.mktemp("straight")
    assert launch(["prune", "fill", "finetune", "layer-drop"], teacher, out, out / "results") == 0
    return out


def state(folder: Path) -> dict:
    return load_saved(folder).state_dict()


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["finetune", "prune", "fill", "layer-drop"])
def test_killed_run_resumes_to_the_same_weights(kind, teacher, straight, tmp_path):
    killed = tmp_path / "killed"
    source = straight / "prune" / "final" if kind == "fill" else None
    code = launch([kind], teacher, killed, tmp_path / "results", source, kill_at=4)
    assert code == -9, f"the run was not killed (exit {code})"
    assert not (killed / FINAL[kind]).exists()
    assert launch([kind], teacher, killed, tmp_path / "results", source) == 0  # the same command again
    expected, got = state(straight / kind / FINAL[kind]), state(killed / FINAL[kind])
    assert expected.keys() == got.keys()
    for key in expected:
        torch.testing.assert_close(got[key], expected[key], rtol=0, atol=1e-6, msg=f"{kind}: {key} differs")


def test_a_half_written_checkpoint_is_skipped(tmp_path):
    from bmp.training.checkpoints import resume_point

    good, torn = tmp_path / "checkpoint-2", tmp_path / "checkpoint-4"
    for folder in (good, torn):
        folder.mkdir()
        tiny_bert().save_pretrained(folder)
        (folder / "trainer_state.json").write_text("{}")
        (folder / "optimizer.pt").write_bytes(b"x")
    weights = torn / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:500])  # killed while writing the model
    with pytest.warns(UserWarning, match="checkpoint-4"):
        assert resume_point(tmp_path) == str(good)
    (good / "trainer_state.json").unlink()
    with pytest.warns(UserWarning):
        assert resume_point(tmp_path) is None
