"""Notebook 05's concept probes, read from records: movement against magnitude at equal densities, and the heads
learned blocks empty against shuffled ones (records made by hand here, so the rows are known)."""
from bmp.results.concepts import concept_lines, empty_head_shares, movement_vs_magnitude
from bmp.results.records import load_records, record


def _records(folder):
    prov = {"command": "test", "date": "2026-12-06"}
    for method, keep, val in (("movement", 0.5, 60.0), ("magnitude", 0.5, 58.0), ("movement", 0.25, 50.0),
                              ("magnitude", 0.25, 41.0)):
        record(f"probe-{method}-block-keep{keep:g}", "pruned",
               {"f1": val + 1, "validation_f1": val, "linear_density": keep, "train_steps": 150,
                "heads_per_layer": [12] * 6}, prov, directory=folder)
        record(f"probe-{method}-block-keep{keep:g}", "empty-heads",
               {"method": method, "heads": 72, "learned_empty_share": 0.25 if keep < 0.5 else 0.0,
                "random_empty_share": 0.001, "random_empty_share_range": [0.0, 0.014],
                "value_output_density": keep, "shuffles": 200}, prov, directory=folder)
    record("hybrid-lam60-course", "pruned", {"f1": 1.0, "validation_f1": 1.0}, prov, directory=folder)  # not a probe
    return load_records(folder)


def test_the_probes_pair_up_by_share_kept(tmp_path):
    rows = movement_vs_magnitude(_records(tmp_path))
    assert [(r["keep"], r["method"]) for r in rows] == [(0.5, "magnitude"), (0.5, "movement"), (0.25, "magnitude"),
                                                       (0.25, "movement")]
    assert rows[1]["validation_f1"] == 60.0 and rows[1]["heads"] == 72 and rows[1]["steps"] == 150


def test_empty_heads_and_the_markdown_tables(tmp_path):
    records = _records(tmp_path)
    shares = empty_head_shares(records)
    assert len(shares) == 4 and shares[-1]["learned"] == 0.25 and shares[-1]["random_range"] == (0.0, 0.014)
    text = "\n".join(concept_lines(records))
    assert "| movement | 0.25 | 0.250 | 150 | 72 | 50.0 | 51.0 |" in text
    assert "| 25% | 25% of 72 | 0.1% (0.0%–1.4%, 200 draws) |" in text
    assert concept_lines([]) == []
