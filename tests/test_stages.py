"""The bring-your-own journeys on a tiny model and files of the user's own: the Python entry points end to end,
the same on the command line (files with unusual names), and a folder that refuses another run's checkpoints."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from transformers import TrainingArguments

import bmp
from bmp.squad import load_sample

REPO = Path(__file__).resolve().parents[1]


def write_jsonl(path: Path, examples: list[dict]) -> Path:
    path.write_text("".join(json.dumps(example) + "\n" for example in examples))
    return path


def write_squad_json(path: Path, examples: list[dict]) -> Path:
    """Official-format SQuAD v1.1: one paragraph per example (titles kept)."""
    articles: dict[str, list] = {}
    for e in examples:
        articles.setdefault(e["title"], []).append({"context": e["context"], "qas": [{
            "id": e["id"], "question": e["question"],
            "answers": [{"text": t, "answer_start": s} for t, s in zip(e["answers"]["text"],
                                                                      e["answers"]["answer_start"])]}]})
    path.write_text(json.dumps({"version": "1.1", "data": [{"title": t, "paragraphs": p}
                                                         for t, p in articles.items()]}))
    return path


@pytest.fixture(scope="module")
def user_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("my data")
    sample = load_sample()
    train = write_jsonl(folder / "my train questions.jsonl", sample.train[:48])
    dev = write_squad_json(folder / "dev set (v2).json", sample.eval[:16])
    return train, dev


def args_for(folder, steps: int) -> TrainingArguments:
    """A user's own arguments: a few steps, no reporting, CPU."""
    return TrainingArguments(str(folder), max_steps=steps, per_device_train_batch_size=8, learning_rate=5e-4,
                             report_to=[], use_cpu=True, save_steps=2, disable_tqdm=True, seed=3)


def test_python_journey(user_files, tmp_path, monkeypatch):
    monkeypatch.setenv("BMP_RESULTS_DIR", str(tmp_path / "results"))
    train, dev = user_files
    data = bmp.load_squad(train=train, validation=dev)
    assert (len(data.train), len(data.validation), len(data.eval)) == (48, 16, 16)  # used as given

    teacher = bmp.finetune("tiny", data, output_dir=tmp_path / "teacher", args=args_for(tmp_path, 4),
                           profile="smoke")
    assert teacher.metrics["eval_questions"] == 16 and teacher.metrics["train_steps"] == 4
    run = bmp.prune(teacher, data, preset="hybrid", lam=200, score_lr=1.0, output_dir=tmp_path / "pruned",
                    args=args_for(tmp_path, 6), profile="smoke")
    assert run.metrics["train_steps"] == 6
    small = bmp.finalize(run, teacher, data, args=args_for(tmp_path, 2), profile="smoke")
    assert small.output_dir == tmp_path / "pruned" / "filled"
    assert (small.output_dir / "README.md").is_file(), "no model card"

    scores = bmp.evaluate(small, data.validation, max_seq_length=128, doc_stride=48)
    assert scores["f1"] == pytest.approx(small.metrics["f1"], abs=1e-6)  # same questions, same windows
    assert scores["eval_questions"] == 16

    kinds = sorted(json.loads(p.read_text())["kind"] for p in (tmp_path / "results").glob("*.json"))
    assert kinds == ["dense", "filled", "packed", "pruned"]

    onnx = pytest.importorskip("onnxruntime") and bmp.export_onnx(small, tmp_path / "model.onnx")
    assert onnx.max_abs_diff < 1e-4
    assert bmp.quantize_int8(tmp_path / "model.onnx", tmp_path / "model-int8.onnx").is_file()


def test_user_arguments_win_over_the_profile(tmp_path):
    from bmp.profiles import get_profile
    from bmp.training.skeleton import run_arguments

    mine = TrainingArguments(str(tmp_path / "elsewhere"), gradient_accumulation_steps=4, report_to=["none"],
                             learning_rate=1e-5, save_steps=7, use_cpu=True)
    args = run_arguments(get_profile("smoke"), tmp_path / "run", mine, default_epochs=1, default_lr=1.0)
    assert (args.gradient_accumulation_steps, args.learning_rate, args.save_steps) == (4, 1e-5, 7)
    assert Path(args.output_dir) == tmp_path / "run"
    with pytest.raises(ValueError, match="either your own TrainingArguments"):
        run_arguments(get_profile("smoke"), tmp_path / "run", mine, default_epochs=1, default_lr=1.0, max_steps=3)


def test_evaluate_needs_a_tokenizer_for_a_bare_model():
    with pytest.raises(ValueError, match="needs its tokenizer"):
        bmp.evaluate(bmp.tiny_bert(), load_sample().eval[:2])


def cli(*args, cwd: Path, env: dict) -> subprocess.CompletedProcess:
    """``python -m bmp ARGS`` run in this process: the same entry point (``bmp.cli.main``), its exit code, stdout and
    stderr, without a new interpreter's start-up for every command."""
    import contextlib
    import io

    from bmp.cli import main

    out, err = io.StringIO(), io.StringIO()
    saved = os.getcwd(), sys.argv[:], os.environ.get("BMP_RESULTS_DIR")
    os.chdir(cwd)
    os.environ["BMP_RESULTS_DIR"] = env["BMP_RESULTS_DIR"]
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(list(args))
    finally:
        os.chdir(saved[0])
        sys.argv = saved[1]
        if saved[2] is None:
            os.environ.pop("BMP_RESULTS_DIR", None)
        else:
            os.environ["BMP_RESULTS_DIR"] = saved[2]
    return subprocess.CompletedProcess(args, code, out.getvalue(), err.getvalue())


@pytest.fixture(scope="module")
def cli_env(tmp_path_factory):
    work = tmp_path_factory.mktemp("cli work")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(REPO), "BMP_RESULTS_DIR": str(work / "results")}
    return work, env


def test_cli_journey_with_the_users_files(user_files, cli_env):
    """finetune -> prune -> finalize on the command line, on a JSONL and a SQuAD JSON of unusual names."""
    work, env = cli_env
    train, dev = map(str, user_files)
    files = ["--train-file", train, "--validation-file", dev, "--profile", "smoke"]
    done = cli("finetune", "--model", "tiny", "--output", "teacher", "--max-steps", "3", "--batch-size", "8",
               "--learning-rate", "5e-4", *files, cwd=work, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    done = cli("prune", "--teacher", "teacher/final", "--lam", "200", "--score-lr", "1", "--max-steps", "4",
               "--eval-steps", "2", "--output", "pruned", "--max-seq-length", "96", "--doc-stride", "32", *files,
               cwd=work, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    done = cli("finalize", "--pruned", "pruned/final", "--teacher", "teacher/final", "--max-steps", "2",
               "--max-seq-length", "96", "--doc-stride", "32", *files, cwd=work, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    records = {json.loads(p.read_text())["kind"]: json.loads(p.read_text())
               for p in (work / "results").glob("*.json")}
    assert set(records) == {"dense", "pruned", "packed", "filled"}
    for record in records.values():  # the user's files, as given, name every record's split
        assert record["metrics"]["eval_questions"] == 16
        assert "my train questions.jsonl" in record["provenance"]["data_split"]
    assert records["pruned"]["metrics"]["train_steps"] == 4
    assert [p["step"] for p in records["pruned"]["metrics"]["validation_steps"]] == [2, 4]  # --eval-steps 2
    card = (work / "pruned" / "filled" / "README.md").read_text()
    assert card.startswith("---") and "hybrid" in card


def test_rerun_with_other_settings_is_refused(user_files, cli_env):
    """lambda 100 interrupted (checkpoints, no final), then lambda 2000 in the same folder: refused, naming both;
    --overwrite starts afresh."""
    work, env = cli_env
    train, dev = map(str, user_files)
    common = ["--teacher", "teacher/final", "--score-lr", "1", "--output", "refuse", "--save-steps", "2",
              "--train-file", train, "--validation-file", dev, "--profile", "smoke"]
    if not (work / "teacher" / "final").is_dir():
        pytest.skip("needs the CLI journey's teacher")
    done = cli("prune", "--lam", "100", "--max-steps", "4", *common, cwd=work, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    import shutil
    shutil.rmtree(work / "refuse" / "final")  # as if killed after its last checkpoint
    done = cli("prune", "--lam", "2000", "--max-steps", "4", *common, cwd=work, env=env)
    message = done.stderr.strip().splitlines()[-1]
    assert done.returncode == 2 and message.startswith("error: "), done.stderr[-2000:]
    assert "100.0" in message and "2000.0" in message and "--overwrite" in message
    assert "Traceback" not in done.stderr
    done = cli("prune", "--lam", "2000", "--max-steps", "4", "--overwrite", *common, cwd=work, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    settings = json.loads((work / "refuse" / "run_settings.json").read_text())
    assert settings["recipe"]["regularization"]["attention"] == 2000


def test_bad_training_flags_are_refused(cli_env):
    work, env = cli_env
    done = cli("prune", "--teacher", "nowhere", "--batch-size", "0", cwd=work, env=env)
    assert done.returncode == 2 and "--batch-size must be positive" in done.stderr
    done = cli("finetune", "--validation-file", "x.json", cwd=work, env=env)
    assert done.returncode == 2 and "--train-file" in done.stderr


@pytest.mark.slow
def test_two_processes_write_once(user_files, tmp_path):
    """prune and finalize under a 2-process gloo launch: one record per stage, folders that load, and the same F1
    as one process taking the same batches (file order, the batch split over the processes) to 1e-6."""
    train, dev = map(str, user_files)
    teacher = tmp_path / "teacher"
    bmp.tiny_bert().save_pretrained(teacher)
    bmp.load_tokenizer().save_pretrained(teacher)
    script = str(REPO / "tests" / "ddp_stages.py")
    base = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    two = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", script]
    done = subprocess.run([*two, str(teacher), train, dev, str(tmp_path / "run")], capture_output=True, text=True,
                          env={**base, "BMP_RESULTS_DIR": str(tmp_path / "results")}, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = sorted(line for line in done.stdout.splitlines() if line.startswith("rank "))
    assert len(lines) == 2 and "record=None" in lines[1] and "record=None" not in lines[0], lines
    assert lines[0].split("heads=")[1] == lines[1].split("heads=")[1]  # both loaded the same saved model
    records = [json.loads(p.read_text()) for p in (tmp_path / "results").glob("*.json")]
    assert sorted(r["kind"] for r in records) == ["filled", "packed", "pruned"]
    assert (tmp_path / "run" / "pruned" / "filled" / "README.md").is_file()

    one = subprocess.run([sys.executable, script, str(teacher), train, dev, str(tmp_path / "one")],
                         capture_output=True, text=True, env={**base, "BMP_RESULTS_DIR": str(tmp_path / "results1")},
                         timeout=600)
    assert one.returncode == 0, one.stderr[-3000:]
    alone = {r["kind"]: r for r in map(lambda p: json.loads(p.read_text()), (tmp_path / "results1").glob("*.json"))}
    for record in records:
        assert record["metrics"]["f1"] == pytest.approx(alone[record["kind"]]["metrics"]["f1"], abs=1e-6), \
            record["kind"]
        assert record["metrics"].get("heads_per_layer") == alone[record["kind"]]["metrics"].get("heads_per_layer")


def test_records_of_an_installed_bmp_go_to_the_working_directory(tmp_path, monkeypatch):
    """Installed from a wheel, bmp's root is site-packages: records go to ./outputs/results, never in there."""
    from bmp.results import records

    monkeypatch.delenv("BMP_RESULTS_DIR", raising=False)
    monkeypatch.setattr(records, "REPO_ROOT", tmp_path / "site-packages")
    monkeypatch.chdir(tmp_path)
    assert records.results_dir() == tmp_path / "outputs" / "results"
    monkeypatch.setenv("BMP_RESULTS_DIR", str(tmp_path / "mine"))
    assert records.results_dir() == tmp_path / "mine"


def test_a_student_copied_from_a_used_teacher_trains_its_weights():
    """A trainer freezes its teacher in place; a second run from the same teacher object must still train."""
    from bmp.training.skeleton import open_teacher

    teacher = open_teacher(bmp.tiny_bert().requires_grad_(False), tokenizer=bmp.load_tokenizer())
    student = teacher.copy()
    assert all(p.requires_grad for p in student.parameters()) and student.training
    assert not any(p.requires_grad for p in teacher.model.parameters())  # the teacher is left as it was


def test_the_control_takes_the_users_arguments_and_their_folder(user_files, tmp_path, monkeypatch):
    """bmp.control with your own TrainingArguments: it trains in their folder, with their seed, recorded as such."""
    monkeypatch.setenv("BMP_RESULTS_DIR", str(tmp_path / "results"))
    teacher = tmp_path / "teacher"
    bmp.tiny_bert().save_pretrained(teacher)
    bmp.load_tokenizer().save_pretrained(teacher)
    args = TrainingArguments(str(tmp_path / "my control"), max_steps=1, per_device_train_batch_size=8, seed=7,
                             report_to=[], use_cpu=True, disable_tqdm=True)
    train, dev = user_files
    result = bmp.control(teacher, bmp.load_squad(train=train, validation=dev), args=args, profile="smoke")
    assert result.output_dir == tmp_path / "my control" / "final"
    (record,) = [json.loads(p.read_text()) for p in (tmp_path / "results").glob("*.json")]
    assert record["provenance"]["seed"] == 7 and record["name"].endswith("-s7")
