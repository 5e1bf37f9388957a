"""End to end on the smoke profile (tiny BERT, shipped sample): teacher -> pruned -> packed -> filled, recorded."""
import json

import numpy as np
import pytest

from bmp.models import load_base, load_tokenizer
from bmp.profiles import get_profile
from bmp.training.evaluation import fast_bf16, prepare_data
from bmp.training.finalize import finalize_run
from bmp.training.finetune import finetune_dense
from bmp.training.prune import prune_run, recipe_for

PROVENANCE_KEYS = {"command", "base_model", "data_split", "profile", "hardware", "date", "git_commit"}


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    results = root / "results"
    profile = get_profile("smoke")
    data = prepare_data(profile, load_tokenizer())
    import os
    old = os.environ.get("BMP_RESULTS_DIR")
    os.environ["BMP_RESULTS_DIR"] = str(results)
    try:
        teacher = finetune_dense(profile, output_dir=root / "teacher", data=data, disable_tqdm=True)
        recipe = recipe_for("struct", lam=50.0, score_lr=0.2)
        # the seed passed as the sweep passes it (it goes to the trainer and into the record's provenance)
        pruned = prune_run(teacher.output_dir, recipe, profile, root / "struct", data=data, disable_tqdm=True, seed=42)
        final = finalize_run(pruned.output_dir, teacher.output_dir, profile, data=data, disable_tqdm=True, seed=42)
    finally:
        if old is None:
            os.environ.pop("BMP_RESULTS_DIR")
        else:
            os.environ["BMP_RESULTS_DIR"] = old
    return {"teacher": teacher, "pruned": pruned, "final": final, "results": results, "data": data}


def test_every_stage_is_recorded_with_provenance(pipeline):
    records = {p.name: json.loads(p.read_text()) for p in pipeline["results"].glob("*.json")}
    assert {r["kind"] for r in records.values()} == {"dense", "pruned", "packed", "filled"}
    for rec in records.values():
        assert PROVENANCE_KEYS <= set(rec["provenance"])
        assert rec["provenance"]["profile"] == "smoke" and rec["provenance"]["seed"] == 42
        assert "sample" in rec["provenance"]["data_split"]
        assert 0 <= rec["metrics"]["f1"] <= 100 and rec["metrics"]["eval_split"] == "sample"
        assert rec["config"]["bf16_autocast"] is fast_bf16()  # the default precision, as the run trained


@pytest.mark.parametrize("flag, autocast", [([], True), (["--fp32"], False)])
def test_the_record_says_the_precision_the_run_trained_in(pipeline, tmp_path, monkeypatch, flag, autocast):
    """--fp32 turns off the bf16 autocast a CPU with fast bf16 gets by default (to match runs made without it), and
    the record says what the run did, not what the CPU could."""
    import bmp.training.skeleton as skeleton
    from bmp.training.control import main

    monkeypatch.setattr(skeleton, "fast_bf16", lambda: True)  # as on a CPU with AVX512-BF16, whatever this one has
    monkeypatch.setenv("BMP_RESULTS_DIR", str(tmp_path / "results"))
    main(["--teacher", str(pipeline["teacher"].output_dir), "--profile", "smoke", "--output", str(tmp_path / "run"),
          "--name", "precision", "--max-steps", "2", *flag])
    saved = json.loads((tmp_path / "results" / "control__precision.json").read_text())
    assert saved["config"]["bf16_autocast"] is autocast


def test_prune_and_finalize_record_fp32_once(pipeline, tmp_path, monkeypatch):
    """--fp32 reaches prune's and finalize's records as their precision, once (not again among their settings)."""
    import bmp.training.skeleton as skeleton
    from bmp.training.finalize import main as finalize
    from bmp.training.prune import main as prune

    monkeypatch.setattr(skeleton, "fast_bf16", lambda: True)  # the default would be bf16 autocast
    monkeypatch.setenv("BMP_RESULTS_DIR", str(tmp_path / "results"))
    teacher, run = str(pipeline["teacher"].output_dir), tmp_path / "run"
    prune(["--teacher", teacher, "--profile", "smoke", "--output", str(run), "--name", "p", "--max-steps", "2",
           "--fp32"])
    finalize(["--pruned", str(run / "final"), "--teacher", teacher, "--profile", "smoke", "--output", str(run),
              "--name", "p", "--max-steps", "2", "--fp32"])
    for kind, name in (("pruned", "p"), ("packed", "p-packed"), ("filled", "p-filled")):
        config = json.loads((tmp_path / "results" / f"{kind}__{name}.json").read_text())["config"]
        assert config["bf16_autocast"] is False and "bf16" not in config and "fp16" not in config


def test_packing_keeps_the_pruned_predictions(pipeline):
    pruned, (packed, filled) = pipeline["pruned"], pipeline["final"]
    # exact packing: same answers up to bf16 rounding of the (optional) autocast evaluation
    assert packed.metrics["f1"] == pytest.approx(pruned.metrics["f1"], abs=2.0)
    assert packed.metrics["heads_per_layer"] == pruned.metrics["heads_per_layer"]
    assert 0 < packed.metrics["fill_rate"] <= 1
    assert filled.metrics["fill_rate"] == packed.metrics["fill_rate"]  # filling does not change the shape


def test_teacher_checkpoint_resumes_instead_of_restarting(pipeline, tmp_path):
    teacher_dir = pipeline["teacher"].output_dir
    assert (teacher_dir / "config.json").is_file()
    assert any(p.name.startswith("checkpoint-") for p in teacher_dir.parent.iterdir())


def test_missing_teacher_names_the_fix(tmp_path):
    from bmp.models import load_saved

    with pytest.raises(FileNotFoundError, match="python -m bmp finetune"):
        load_saved(tmp_path / "nowhere")


def test_unknown_model_offline_names_the_options():
    with pytest.raises(OSError, match="embedded"):
        load_base("no-such-org/no-such-model")


def test_a_second_longer_fill_is_recorded_apart(pipeline, tmp_path, monkeypatch):
    from bmp.results.records import load_records, train_epochs_of

    monkeypatch.setenv("BMP_RESULTS_DIR", str(tmp_path / "results"))
    profile = get_profile("smoke")
    (filled,) = finalize_run(pipeline["pruned"].output_dir, pipeline["teacher"].output_dir, profile,
                             output_dir=tmp_path / "struct-fill2", data=pipeline["data"], name="struct-fill2",
                             record_packed=False, epochs=2, disable_tqdm=True)
    (rec,) = load_records(tmp_path / "results")
    assert (rec["kind"], rec["name"], rec["config"]["epochs"]) == ("filled", "struct-fill2-filled", 2)
    pruned_rec = json.loads(pipeline["pruned"].record_path.read_text())
    assert pruned_rec["config"]["output_dir"] == rec["config"]["pruned"]  # the link train_epochs_of follows
    assert train_epochs_of(rec, [pruned_rec, rec]) == profile.prune_epochs + 2
    with pytest.raises(ValueError, match="nothing to do"):
        finalize_run(pipeline["pruned"].output_dir, pipeline["teacher"].output_dir, profile, do_fill=False,
                     record_packed=False)


def test_ship_records_each_form_of_the_chosen_run(pipeline, tmp_path, monkeypatch, capsys):
    from bmp.results.records import load_records
    from bmp.training.ship import main, ship_accuracy

    monkeypatch.setenv("BMP_RESULTS_DIR", str(tmp_path / "results"))
    filled = pipeline["final"][1]
    metrics = ship_accuracy(filled.output_dir, get_profile("smoke"), onnx_dir=tmp_path)
    assert (tmp_path / "model.onnx").is_file() and (tmp_path / "model-int8.onnx").is_file()
    assert metrics["onnx_max_abs_diff"] <= 1e-4
    # the same function in fp32, so the same answers (up to a near-tie flipping)
    assert metrics["ort_fp32_f1"] == pytest.approx(metrics["torch_fp32_f1"], abs=1.0)
    (by_folder,) = load_records(tmp_path / "results")
    assert by_folder["name"] == "ship-struct-filled" and "run" not in by_folder["config"]
    assert by_folder["config"]["bf16_autocast"] is False  # the torch form ran in fp32, whatever the CPU
    # each form's answers are kept, so the int8 cost gets a paired interval; the sidecar scores what the record says
    from bmp.results.records import load_predictions
    from bmp.results.shipped import shipped as ships

    answers = load_predictions(by_folder)
    assert set(answers) == {"torch_fp32", "ort_fp32", "ort_int8"}
    assert len(answers["ort_int8"]) == metrics["eval_questions"]
    for form in answers:
        f1 = 100 * np.mean([row[2] for row in answers[form].values()])
        assert f1 == pytest.approx(metrics[f"{form}_f1"], abs=1e-2)
    (ship,) = ships([by_folder])
    assert ship.drop_ci95 is not None and ship.drop_ci95[0] <= ship.f1_drop + 1e-9 <= ship.drop_ci95[1] + 2e-9

    # --best: the setting the records choose, shipped as its run (any speed will do on a tiny model)
    main(["--best", "0", "--records", str(pipeline["results"]), "--teacher", str(pipeline["teacher"].output_dir)])
    shipped = [r for r in load_records(tmp_path / "results") if r["config"].get("run")]
    (record,) = shipped
    run_records = {r["name"]: r for r in load_records(pipeline["results"])}
    assert record["config"]["run"] in run_records and record["name"] == f"ship-{record['config']['run']}"
    assert record["config"]["model"] == run_records[record["config"]["run"]]["config"]["output_dir"]
    assert record["provenance"]["profile"] == "smoke"  # the run's own profile
    main(["--best", "0", "--records", str(pipeline["results"]), "--unless-recorded"])
    assert "have a ship record" in capsys.readouterr().out
    assert len(load_records(tmp_path / "results")) == 2


def test_ship_refuses_what_it_cannot_ship(pipeline, tmp_path):
    from bmp.training.ship import main

    with pytest.raises(ValueError, match="--best 1000: no recorded pruned run"):
        main(["--best", "1000", "--records", str(pipeline["results"])])
    with pytest.raises(ValueError, match="distilled from"):
        main(["--best", "0", "--records", str(pipeline["results"]), "--teacher", str(tmp_path / "other")])
    with pytest.raises(FileNotFoundError, match="no such folder"):
        main(["--model", str(tmp_path / "nowhere")])


def test_a_run_from_a_teacher_names_the_teachers_base(tmp_path, monkeypatch):
    """The full profile asks for BERT-base but may train its teacher from another base: the runs distilled from
    that teacher must name the base the teacher really started from, not the profile's wish."""
    from types import SimpleNamespace

    from bmp.results.records import provenance, record
    from bmp.training.skeleton import record_run

    monkeypatch.setenv("BMP_RESULTS_DIR", str(tmp_path / "results"))
    profile = get_profile("smoke")
    data = SimpleNamespace(splits=SimpleNamespace(description="sample"))
    teacher = tmp_path / "teacher" / "final"
    record("teacher", "dense", {"f1": 50.0}, provenance(base_model="runs/other-base", data_split="sample",
                                                          profile="smoke"), config={"output_dir": str(teacher)})
    from_teacher = json.loads(record_run("student", "control", {"f1": 1.0}, profile, data, seed=42,
                                         bf16=False, teacher=teacher).read_text())
    assert from_teacher["provenance"]["base_model"] == "runs/other-base"
    assert from_teacher["config"]["bf16_autocast"] is False  # as the run's arguments said, whatever the CPU has
    unknown = json.loads(record_run("other", "control", {"f1": 1.0}, profile, data, seed=42,
                                    bf16=True, teacher=tmp_path / "elsewhere").read_text())
    assert unknown["provenance"]["base_model"] == profile.model
    assert unknown["config"]["bf16_autocast"] is True
    given = json.loads(record_run("given", "control", {"f1": 1.0}, profile, data, seed=42, bf16=False,
                                  teacher=teacher, base_model="embedded").read_text())
    assert given["provenance"]["base_model"] == "embedded"


def test_the_filled_model_shares_the_packed_models_timing(pipeline):
    """Packed and filled have one shape, so finalize times it once (one fresh process, not two)."""
    packed, filled = pipeline["final"]
    assert filled.metrics["cpu_speedup"] == packed.metrics["cpu_speedup"]
    assert filled.metrics["timed_as"] == "packed" and "timed_as" not in packed.metrics


def test_a_folder_trained_in_another_precision_is_refused(tmp_path):
    """Checkpoints made under bf16 autocast are not resumed in fp32 (the record would say fp32 of a mixed run); a
    folder from before the precision was kept says nothing of it, and resumes."""
    from transformers import TrainingArguments

    from bmp.training.skeleton import SETTINGS_FILE, claim_folder

    folder = tmp_path / "run"

    def args(bf16: bool) -> TrainingArguments:
        return TrainingArguments(str(folder), use_cpu=True, bf16=bf16, report_to=[])

    assert claim_folder(folder, {"kind": "control"}, args(False)) is None
    (folder / "final").mkdir()  # the run got as far as its model
    with pytest.raises(ValueError, match=r"other settings \({'bf16': False}\); this run asks for {'bf16': True}"):
        claim_folder(folder, {"kind": "control"}, args(True))
    saved = json.loads((folder / SETTINGS_FILE).read_text())
    (folder / SETTINGS_FILE).write_text(json.dumps({k: v for k, v in saved.items() if k not in ("bf16", "fp16")}))
    assert claim_folder(folder, {"kind": "control"}, args(True)) is None


def test_the_teachers_new_head_is_drawn_from_the_runs_seed(tmp_path, monkeypatch):
    """A teacher can be rebuilt only if its question-answering head (new on top of the base model) starts from the
    run's seed: however much the process drew before, two fine-tunes with one seed make the same model."""
    import torch

    from bmp.results.records import INIT_SEED_KEY

    monkeypatch.setenv("BMP_RESULTS_DIR", str(tmp_path / "results"))
    profile = get_profile("smoke")
    data = prepare_data(profile, load_tokenizer())
    heads = []
    for draws in (1, 7):
        torch.rand(draws)  # the process's generator elsewhere each time
        run = finetune_dense(profile, "embedded", tmp_path / f"teacher-{draws}", data=data, record_name=f"t{draws}",
                             max_steps=1, disable_tqdm=True)
        heads.append(run.model.qa_outputs.weight.detach().clone())
        assert json.loads(run.record_path.read_text())["config"][INIT_SEED_KEY] == 42
    assert torch.equal(heads[0], heads[1])


def test_a_ship_record_without_each_forms_answers_is_shipped_again(tmp_path, monkeypatch):
    """``ship --unless-recorded`` redoes a run whose only ship record keeps no per-question answers (made before
    ship kept them), so that its int8 cost gets an interval."""
    from bmp.results.records import Predictions, record
    from bmp.training.ship import KIND, Shipped, already_shipped

    monkeypatch.setenv("BMP_RESULTS_DIR", str(tmp_path))
    run = Shipped(tmp_path / "model", {"name": "hybrid-lam60-t-filled", "provenance": {"date": "2026-01-01"}})
    provenance = {"date": "2026-01-02"}
    record("ship-old", KIND, {"torch_fp32_f1": 60.0, "ort_int8_f1": 59.5}, provenance, {"run": run.run})
    assert not already_shipped(run)
    answers = Predictions({form: {"q": ("x", 1.0, 1.0)} for form in ("torch_fp32", "ort_fp32", "ort_int8")})
    record("ship-new", KIND, {"torch_fp32_f1": 60.0, "ort_int8_f1": 59.5, "predictions": answers}, provenance,
           {"run": run.run})
    assert already_shipped(run)
