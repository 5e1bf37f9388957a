"""Paired intervals on synthetic per-question scores, the one verdict rule, the predictions saved beside a record,
and re-scoring a recorded model from its folder."""
import json

import numpy as np
import pytest

from bmp.results.intervals import (
    INCONCLUSIVE,
    MET,
    MISSED,
    Gap,
    SpeedInterval,
    combine,
    difference_of_gaps,
    judge,
    mean_gap,
    paired_gap,
    seeds_interval,
    speed_interval,
    verdict,
)
from bmp.results.records import Predictions, load_predictions, load_records, predictions_path, record


def _scores(values, prefix="q"):
    return {f"{prefix}{i}": float(v) for i, v in enumerate(values)}


@pytest.fixture
def base():
    """Per-question F1 of a model on 500 questions: most all or nothing, some partial."""
    rng = np.random.default_rng(1)
    return np.clip(rng.choice([0.0, 100.0, 50.0, 66.7], size=500, p=[0.3, 0.55, 0.1, 0.05]), 0, 100)


# ---------------------------------------------------------------- the paired bootstrap

def test_an_identical_pair_gives_zero(base):
    gap = paired_gap([_scores(base)], [_scores(base)])
    assert (gap.estimate, gap.low, gap.high, gap.questions) == (0.0, 0.0, 0.0, 500)


def test_a_constant_shift_gives_an_interval_at_the_shift(base):
    gap = paired_gap([_scores(base + 2)], [_scores(base)])
    assert gap.ci95 == pytest.approx([2.0, 2.0]) and gap.estimate == pytest.approx(2.0)


def test_a_noisy_shift_gives_an_interval_around_it(base):
    rng = np.random.default_rng(2)
    a = base + 2 + rng.normal(0, 10, size=base.size)
    gap = paired_gap([_scores(a)], [_scores(base)])
    assert gap.low < gap.estimate < gap.high and gap.low < 2 < gap.high
    assert gap.high - gap.low < 4  # the noise's SE is 10 / sqrt(500) ~ 0.45: the interval is about +-0.9
    assert paired_gap([_scores(a)], [_scores(base)]) == gap  # a fixed random state: the same interval every time
    reversed_ = paired_gap([_scores(base)], [_scores(a)])
    assert reversed_.estimate == pytest.approx(-gap.estimate)


def test_a_difference_of_gaps_is_the_gap_of_the_per_question_differences(base):
    """(A - its reference) - (B - its reference), question by question: with the references alike it is the plain
    paired gap A - B, interval and all; a reference that scores every question 3 higher costs A 3 F1."""
    rng = np.random.default_rng(4)
    a, b = base + rng.normal(1, 10, size=base.size), base + rng.normal(0, 10, size=base.size)
    reference = base + rng.normal(0, 5, size=base.size)
    alike = difference_of_gaps([_scores(a)], [_scores(reference)], [_scores(b)], [_scores(reference)])
    plain = paired_gap([_scores(a)], [_scores(b)])
    assert alike.estimate == pytest.approx(plain.estimate) and alike.ci95 == pytest.approx(plain.ci95)
    assert alike.low < alike.estimate < alike.high
    higher = difference_of_gaps([_scores(a)], [_scores(reference + 3)], [_scores(b)], [_scores(reference)])
    assert higher.estimate == pytest.approx(plain.estimate - 3) and higher.ci95 == pytest.approx(
        [plain.low - 3, plain.high - 3], abs=0.05)
    with pytest.raises(ValueError, match="share no question"):
        difference_of_gaps([_scores(a)], [_scores(a, prefix="v")], [_scores(b)], [_scores(b)])


def test_pairing_is_narrower_than_the_models_own_spread(base):
    """Two models that agree on most questions: the gap's interval is far narrower than either score's."""
    rng = np.random.default_rng(3)
    flips = rng.random(base.size) < 0.05  # the other model answers 5% of questions differently
    other = np.where(flips, 100.0 - base, base)
    gap = paired_gap([_scores(other)], [_scores(base)])
    unpaired_se = np.sqrt(base.var(ddof=1) / base.size + other.var(ddof=1) / other.size)
    assert gap.high - gap.low < 2 * 1.96 * unpaired_se / 2


def test_pooling_over_seeds_averages_each_question(base):
    seeds = [_scores(base + 1), _scores(base + 3)]  # pooled: base + 2
    gap = paired_gap(seeds, [_scores(base)])
    assert gap.ci95 == pytest.approx([2.0, 2.0]) and (gap.seeds_a, gap.seeds_b) == ((2,), (1,))
    # only the questions every model answered are compared
    fewer = {k: v for k, v in _scores(base).items() if k != "q0"}
    assert paired_gap(seeds, [fewer]).questions == 499


def test_the_mean_over_points_is_bootstrapped_as_one(base):
    gap = mean_gap([([_scores(base + 1)], [_scores(base)]), ([_scores(base + 3)], [_scores(base)])])
    assert gap.ci95 == pytest.approx([2.0, 2.0]) and gap.seeds_a == (1, 1)
    with pytest.raises(ValueError, match="share no question"):
        paired_gap([_scores(base)], [_scores(base, prefix="other")])


# ---------------------------------------------------------------- the verdict rule

@pytest.mark.parametrize("low, high, expected", [(-0.8, -0.2, MET), (-1.0, 0.5, MET), (-2.5, -1.5, MISSED),
                                                 (-1.5, -0.5, INCONCLUSIVE)])
def test_the_verdict_rule(low, high, expected):
    gap = Gap((low + high) / 2, low, high, (1,), (1,), 100)
    assert verdict(gap, margin=1.0) == expected  # within 1 F1 below
    assert judge(low, high, -1.0) == expected


def test_no_interval_is_inconclusive_and_conditions_combine():
    assert verdict(None, 1.0) == INCONCLUSIVE and judge(None, None, 0.0) == INCONCLUSIVE
    gap = Gap(3.0, 2.5, 3.5, (1,), (1,), 100)
    assert verdict(gap, margin=-2.0) == MET and verdict(gap, margin=-4.0) == MISSED  # at least 2 (4) F1 above
    assert combine(MET, MET) == MET and combine(MET, INCONCLUSIVE) == INCONCLUSIVE
    assert combine(INCONCLUSIVE, MISSED) == MISSED and combine() == INCONCLUSIVE


# ---------------------------------------------------------------- predictions beside the record

def _predictions():
    return Predictions({"heldout": {"b": ("Denver Broncos", 1.0, 1.0), "a": ("1990", 0.0, 2 / 3)},
                        "validation": {"v": ("", 0.0, 0.0)}})


def _prov():
    return {"command": "test", "base_model": "tiny", "data_split": "test", "profile": "smoke", "hardware": {},
            "date": "2026-01-01T00:00:00+00:00", "git_commit": "test", "seed": 42}


def _timing_runs(speedups):
    return [{"metrics": {"speedups": {"m": x}}} for x in speedups]


def test_a_median_speed_is_bounded_by_its_runs_range_then_by_order_statistics():
    """Three runs: the median with the runs' range. Twelve: the median's 95% interval from the order statistics
    (the 3rd and 10th of the sorted runs), narrower than the range, which only widens as runs accumulate."""
    three = speed_interval(_timing_runs([2.4, 2.5, 2.6]), "m")
    assert (three.estimate, three.low, three.high, three.runs) == (2.5, 2.4, 2.6, 3) and "range" in three.how
    runs = [2.31, 2.55, 2.49, 2.50, 2.52, 2.42, 2.44, 2.50, 2.49, 2.50, 2.47, 2.52]
    twelve = speed_interval(_timing_runs(runs), "m")
    ordered = sorted(runs)
    assert (twelve.low, twelve.high) == (ordered[2], ordered[9]) and twelve.runs == 12
    assert min(runs) < twelve.low <= twelve.estimate <= twelve.high < max(runs)
    assert "95% order-statistic interval" in twelve.how


def test_predictions_round_trip_with_deterministic_bytes(tmp_path):
    path = record("run", "filled", {"f1": 83.3, "predictions": _predictions()}, _prov(), directory=tmp_path)
    sidecar = predictions_path(path)
    first = sidecar.read_bytes()
    (found,) = load_records(tmp_path)  # the sidecar is no record
    assert found["metrics"]["predictions"] == str(sidecar)  # outside the repository: its path as given
    assert load_predictions(found) == _predictions()
    assert load_predictions(found)["heldout"]["a"] == ("1990", 0.0, 0.6667)
    record("run", "filled", {"f1": 83.3, "predictions": _predictions()}, _prov(), directory=tmp_path)
    assert sidecar.read_bytes() == first  # no timestamp, sorted keys: rewriting changes nothing
    assert json.loads(path.read_text())["metrics"]["f1"] == 83.3


def test_a_record_without_predictions_stays_valid(tmp_path):
    record("old", "filled", {"f1": 60.0}, _prov(), directory=tmp_path)
    (found,) = load_records(tmp_path)
    assert load_predictions(found) is None
    found["metrics"]["predictions"] = "data/results/predictions/nowhere.json.gz"
    with pytest.raises(FileNotFoundError, match="rescore"):
        load_predictions(found)


def test_question_scores_average_to_the_official_scores():
    from bmp.squad.metric import question_scores, squad_scores

    golds = {"a": ["Denver Broncos", "Broncos"], "b": ["1990"], "c": ["the Sun"]}
    predictions = {"a": "broncos", "b": "in 1990 or so", "zz": "ignored"}
    per_question = question_scores(predictions, golds)
    assert per_question["a"] == (1.0, 1.0) and per_question["c"] == (0.0, 0.0)  # no prediction: 0
    with pytest.warns(UserWarning):
        scores = squad_scores(predictions, golds)
    assert scores["f1"] == pytest.approx(100 * sum(f for _, f in per_question.values()) / 3)


# ---------------------------------------------------------------- python -m bmp rescore

def test_rescore_saves_the_predictions_of_a_recorded_model(tmp_path):
    from dataclasses import asdict

    from bmp.models import TINY, load_tokenizer, tiny_bert
    from bmp.profiles import get_profile
    from bmp.training.evaluation import evaluate_both, fast_bf16, prepare_data
    from bmp.training.rescore import main, rescore

    folder = tmp_path / "model"
    tiny_bert(0).save_pretrained(folder)
    tokenizer = load_tokenizer(TINY)
    tokenizer.save_pretrained(folder)
    profile = get_profile("smoke")
    metrics = evaluate_both(tiny_bert(0), prepare_data(profile, tokenizer), tokenizer)
    assert metrics["predictions"].keys() == {"heldout", "validation"}
    old = {k: v for k, v in metrics.items() if k != "predictions"}  # as a record made before predictions
    config = {"profile": asdict(profile), "bf16_autocast": fast_bf16(), "output_dir": str(folder)}
    path = record("tiny-filled", "filled", old, _prov(), config, directory=tmp_path / "results")
    before = json.loads(path.read_text())

    found = rescore(folder, "tiny-filled", tmp_path / "results")
    after = json.loads(path.read_text())
    assert after["metrics"].pop("predictions") == found.predictions_path
    assert after == before  # every other field as it was
    saved = load_predictions({**after, "metrics": {"predictions": found.predictions_path}, "_path": str(path)})
    assert 100 * np.mean([f1 for _, _, f1 in saved["heldout"].values()]) == pytest.approx(old["f1"], abs=0.01)

    path.write_text(json.dumps({**before, "metrics": {**old, "f1": old["f1"] + 1.0}}))  # not this model's score
    with pytest.raises(ValueError, match=r"scores heldout F1 .* but record tiny-filled says"):
        main([str(folder), "--record", "tiny-filled", "--records", str(tmp_path / "results")])
    with pytest.raises(ValueError, match="no record of that name"):
        rescore(folder, "missing", tmp_path / "results")


def test_a_rebuilt_model_is_checked_against_its_tracked_record(tmp_path, capsys):
    from bmp.training.rescore import main, reproduced

    tracked, rebuilt, folder = tmp_path / "results", tmp_path / "rebuilt", tmp_path / "model"
    made = {"bf16_autocast": False, "output_dir": "runs/teacher/final"}
    record("teacher", "dense", {"f1": 63.32, "validation_f1": 62.57}, _prov(), made, directory=tracked)
    record("teacher", "dense", {"f1": 63.34, "validation_f1": 62.57}, _prov(), made, directory=rebuilt)
    assert reproduced("teacher", rebuilt, tracked) == {"heldout": (63.32, 63.34), "validation": (62.57, 62.57)}
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    before = (tracked / "dense__teacher.json").read_text()
    main([str(folder), "--record", "teacher", "--records", str(tracked), "--rebuilt", str(rebuilt)])
    assert "reproduces teacher: heldout F1 63.34 (recorded 63.32)" in capsys.readouterr().out
    assert (tracked / "dense__teacher.json").read_text() == before  # nothing written

    record("teacher", "dense", {"f1": 63.34, "validation_f1": 62.57}, _prov(), {**made, "bf16_autocast": True},
           directory=rebuilt)  # the same scores by chance, in another precision
    with pytest.raises(ValueError, match="made with bf16 autocast True, the tracked record with False: rebuild it "
                                         "with the record's precision"):
        reproduced("teacher", rebuilt, tracked)
    record("teacher", "dense", {"f1": 63.32, "validation_f1": 62.0}, _prov(), made, directory=rebuilt)  # another
    with pytest.raises(ValueError, match="rebuilt teacher scores validation F1 62.000, the tracked record 62.570"):
        reproduced("teacher", rebuilt, tracked)
    record("teacher", "dense", {"f1": 63.32}, _prov(), made, directory=rebuilt)  # evaluated otherwise
    with pytest.raises(ValueError, match="holds no validation_f1"):
        reproduced("teacher", rebuilt, tracked)
    with pytest.raises(FileNotFoundError, match="no saved model there"):
        main([str(tmp_path / "nowhere"), "--record", "teacher", "--records", str(tracked), "--rebuilt", str(rebuilt)])


def test_a_setting_with_several_seeds_is_as_fast_as_its_slowest_seeds_model_allows():
    """Each seed prunes a different model: the setting's interval spans its seeds' intervals, so it clears a speed
    line only when every seed's model does, and its estimate is their mean."""
    first, second = SpeedInterval(2.485, 2.42, 2.50, 15, "a"), SpeedInterval(2.6, 2.52, 2.75, 3, "b")
    both = seeds_interval([first, second])
    assert (both.estimate, both.low, both.high, both.runs) == (pytest.approx(2.5425), 2.42, 2.75, 3)
    assert "2 seeds' models' speeds, over 3 to 15 timing runs each" in both.how
    assert judge(both.low, both.high, 2.5) == INCONCLUSIVE and judge(second.low, second.high, 2.5) == MET
    assert seeds_interval([second]) is second and seeds_interval([first, None]) is None
