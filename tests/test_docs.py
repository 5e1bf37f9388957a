"""The guides' code runs as written (the smoke scale of their own journeys)."""
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def python_blocks(path: Path) -> list[str]:
    return re.findall(r"```python\n(.*?)```", path.read_text(), flags=re.S)


@pytest.mark.slow
def test_your_own_model_guide_runs(tmp_path):
    """docs/your-own-model.md: its script runs end to end in a scratch folder and loads the packed model."""
    (block,) = python_blocks(REPO / "docs" / "your-own-model.md")
    script = tmp_path / "guide.py"
    script.write_text(block)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(REPO), "BMP_RESULTS_DIR": str(tmp_path / "results"),
           "BMP_PROFILE": "smoke"}
    done = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "PackedBertForQuestionAnswering" in done.stdout
    assert (tmp_path / "outputs" / "your-own-model" / "model-int8.onnx").is_file()
    assert len(list((tmp_path / "results").glob("*.json"))) == 4  # dense, pruned, packed, filled


def test_pruning_trainer_docstring_example_runs(tmp_path, monkeypatch):
    """PruningTrainer's docstring example, run as written: it prunes something in 4 steps."""
    import textwrap

    from bmp.training.trainer import PruningTrainer

    code = textwrap.dedent(PruningTrainer.__doc__.split("::\n\n", 1)[1].split("\n\n    The optimizer")[0])
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(code, "PruningTrainer.__doc__", "exec"), namespace)  # noqa: S102 - our own docstring
    assert namespace["trainer"].state.global_step == 4
    import bmp
    assert bmp.kept_report(namespace["trainer"].model).linear_density < 1
