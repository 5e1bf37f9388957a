"""The device scripts: they run where no test can (a lent GPU machine), so what can be checked here is."""
import importlib.util
import json
import subprocess
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).resolve().parent.parent / "scripts"


@pytest.mark.parametrize("script", sorted(SCRIPTS.glob("*.sh")), ids=lambda path: path.name)
def test_shell_scripts_parse(script):
    done = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def load_prepare_carry():
    spec = importlib.util.spec_from_file_location("prepare_carry", SCRIPTS / "prepare_carry.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_prepare_carry_copies_the_config_of_each_recorded_model(tmp_path):
    prepare_carry = load_prepare_carry()
    records, model = tmp_path / "records", tmp_path / "runs" / "hybrid" / "filled"
    records.mkdir()
    model.mkdir(parents=True)
    (model / "config.json").write_text('{"hidden_size": 64}')
    for name, kind, folder in [("hybrid x-filled", "filled", model), ("teacher", "dense", model),
                               ("gone-packed", "packed", tmp_path / "missing")]:
        (records / f"{kind}__{name}.json").write_text(json.dumps(
            {"name": name, "kind": kind, "metrics": {}, "config": {"output_dir": str(folder)}, "provenance": {}}))
    copied = prepare_carry.copy_packed_configs(tmp_path / "carry", str(records))
    assert copied == ["hybrid x-filled"]  # dense models are timed as the base; a missing folder is skipped
    assert (tmp_path / "carry" / "packed" / "hybrid-x-filled" / "config.json").read_text() == '{"hidden_size": 64}'


def test_the_gpu_machine_gets_wheels_of_this_environments_versions(monkeypatch, tmp_path):
    prepare_carry = load_prepare_carry()
    from importlib.metadata import version
    calls = []
    monkeypatch.setattr(prepare_carry.subprocess, "run", lambda command, check: calls.append(command))
    prepare_carry.download_wheels(tmp_path / "whl")
    command = calls[0]
    assert command[command.index("--python-version") + 1] == prepare_carry.DEVICE_PYTHON
    assert f"transformers=={version('transformers')}" in command and "--no-deps" in command
