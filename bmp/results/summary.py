"""Regenerate the README's results section from ``data/results/`` (never typed by hand).

    python -m bmp.results.summary            # rewrites the block between the results markers in README.md
"""
from __future__ import annotations

import argparse
from pathlib import Path

from bmp.results.records import REPO_ROOT, hardware_label, load_records
from bmp.results.tradeoff import train_epochs_of

START, END = "<!-- results:start -->", "<!-- results:end -->"
KIND_ORDER = {"dense": 0, "pruned": 1, "packed": 2, "filled": 3, "distil-recipe": 4}


def _fmt(value, spec: str) -> str:
    return "–" if value is None else format(value, spec)


def results_table(records: list[dict]) -> str:
    """One markdown row per recorded model run, in pipeline order."""
    rows = [r for r in records if r["kind"] in KIND_ORDER]
    rows.sort(key=lambda r: (r["provenance"]["profile"], KIND_ORDER[r["kind"]], r["name"]))
    lines = ["| run | kind | profile | epochs | EM | F1 | linear density / fill rate | heads per layer "
             "| FFN neurons per layer | CPU speedup | data split |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        m = r["metrics"]
        density = m.get("fill_rate", m.get("linear_density"))
        lines.append(
            f"| {r['name']} | {r['kind']} | {r['provenance']['profile']} | {_fmt(train_epochs_of(r, records), 'g')} | "
            f"{_fmt(m.get('exact_match'), '.1f')} | {_fmt(m.get('f1'), '.1f')} | {_fmt(density, '.3f')} | "
            f"{m.get('heads_per_layer', '–')} | {m.get('neurons_per_layer', '–')} | "
            f"{_fmt(m.get('cpu_speedup'), '.2f')} | {m.get('eval_split', '?')} |")
    return "\n".join(lines)


def _teacher_f1(records: list[dict], run: dict) -> float | None:
    """F1 of the teacher a run was pruned from (matched by folder), else of the newest dense record."""
    dense = [r for r in records if r["kind"] == "dense"]
    teacher_dir = str(run.get("config", {}).get("teacher"))
    named = [r for r in dense if str(r.get("config", {}).get("output_dir")) == teacher_dir]
    pool = named or dense
    return max(pool, key=lambda r: r["provenance"]["date"])["metrics"]["f1"] if pool else None


def takeaways(records: list[dict]) -> str:
    """One line per filled or layer-dropped model: F1 against its teacher, speed, size, training epochs after the
    teacher, and what filling gained over the packed model it started from."""
    packed_of = {str(r["config"].get("pruned")): r for r in records if r["kind"] == "packed" and "config" in r}
    lines = []
    for r in sorted(records, key=lambda r: -(r["metrics"].get("cpu_speedup") or 0)):
        if r["kind"] not in ("filled", "distil-recipe"):
            continue
        m, teacher = r["metrics"], _teacher_f1(records, r)
        line = (f"- **{r['name']}**: F1 {m['f1']:.1f}" + (f" ({m['f1'] - teacher:+.1f} vs its teacher's "
                f"{teacher:.1f})" if teacher is not None else "") +
                f" at {m['cpu_speedup']:.2f}x CPU speed and fill rate {m['fill_rate']:.2f}")
        epochs = train_epochs_of(r, records)
        if epochs is not None:
            line += f", {epochs:g} epochs after the teacher"
        packed = packed_of.get(str(r.get("config", {}).get("pruned")))
        if r["kind"] == "filled" and packed:
            line += f"; filling gained {m['f1'] - packed['metrics']['f1']:+.1f} F1 over the packed model"
        lines.append(line + ".")
    return "\n".join(lines)


def _speed_checks(records: list[dict], speed_of: dict[str, float], where: str) -> list[str]:
    pruned = [(r, speed_of[r["name"]], r["metrics"]["f1"] - _teacher_f1(records, r)) for r in records
              if r["kind"] in ("packed", "filled") and speed_of.get(r["name"]) is not None
              and _teacher_f1(records, r) is not None]
    lines = []
    for speed, allowed in ((2.0, 1.0), (3.0, 3.0)):
        best = max((row for row in pruned if row[1] >= speed), key=lambda row: (row[2], row[1]), default=None)
        if best is None:
            lines.append(f"- >= {speed:g}x within {allowed:g} F1 of the teacher ({where}): no model is {speed:g}x "
                         "faster yet.")
            continue
        r, speedup, drop = best
        verdict = "met" if drop >= -allowed else f"missed by {-allowed - drop:.1f} F1"
        lines.append(f"- >= {speed:g}x within {allowed:g} F1 of the teacher ({where}): **{verdict}**; the best model "
                     f"at >= {speed:g}x is {r['name']} ({drop:+.1f} F1 at {speedup:.2f}x, "
                     f"{_fmt(train_epochs_of(r, records), 'g')} epochs after the teacher).")
    return lines


def targets(records: list[dict]) -> str:
    """The sweep's three checks, each pruned model against its own teacher: >= 2x at <= 1 F1 below it, >= 3x
    within 3 F1, and the F1 gap over the layer-dropped students at equal speed (``python -m bmp.bench pareto``).
    The speed checks use each record's own timing, then again every CPU timing of all models in one run
    (``python -m bmp.bench timing --device cpu --record``) at the same batch 8 x 384 in fp32."""
    from bmp.results.targets import summarize

    own = {r["name"]: r["metrics"]["cpu_speedup"] for r in records if r["metrics"].get("cpu_speedup") is not None}
    if not any(r["kind"] in ("packed", "filled") for r in records if r["name"] in own):
        return "_No packed or filled run recorded yet._"
    lines = _speed_checks(records, own, "timed against the teacher when recorded")
    for r in sorted((r for r in records if r["kind"] == "timing"), key=lambda r: r["name"]):
        m = r["metrics"]
        if m.get("device") == "cpu" and m.get("dtype") == "fp32" and (m.get("batch"), m.get("seq")) == (8, 384):
            lines += _speed_checks(records, m["speedups"], f"all timed in one run, {r['provenance']['date'][:10]}")
    summary = summarize(records)
    for row in summary["f1_gap_details"]:
        if row["gap"] is None:
            lines.append(f"- vs the layer-dropped student {row['name']} ({row['f1']:.1f} F1 at {row['speedup']:.2f}x): "
                         "no pruned model trained as long reaches its speed.")
        else:
            lines.append(f"- vs the layer-dropped student {row['name']} ({row['f1']:.1f} F1 at {row['speedup']:.2f}x, "
                         f"{_fmt(row['train_epochs'], 'g')} epochs): the pruned front trained no longer is at "
                         f"{row['pruned_front_f1']:.1f} F1 there, **{row['gap']:+.1f} F1**.")
    return "\n".join(lines)


def speed_tables(records: list[dict]) -> str:
    """One table per ``timing`` record (``python -m bmp.bench timing --record``): every model timed in one run."""
    blocks = []
    for r in sorted((r for r in records if r["kind"] == "timing"), key=lambda r: r["name"]):
        m, prov = r["metrics"], r["provenance"]
        lines = [f"`{prov['command']}` on {m['hardware']}, {m['dtype']}, batch {m['batch']} x sequence {m['seq']}, "
                 f"median of {m['repeats']} (commit {prov['git_commit']}, {prov['date'][:10]}):", "",
                 "| model | median s | max/min | speedup | linear-FLOP reduction | speedup / reduction |",
                 "|---|---|---|---|---|---|"]
        timings = m["timings"]
        base = timings.get("dense base", {})
        lines.append(f"| dense base ({m['base']}) | {_fmt(base.get('median_s'), '.3f')} | "
                     f"{_fmt(base.get('max_s', 0) / base['min_s'] if base.get('min_s') else None, '.2f')} | 1.00 | – | – |")
        for name, speedup in sorted(m["speedups"].items(), key=lambda item: item[1]):
            t, check = timings[name], m.get("flop_checks", {}).get(name, {})
            lines.append(f"| {name} | {t['median_s']:.3f} | {t['max_s'] / t['min_s']:.2f} | {speedup:.2f} | "
                         f"{_fmt(check.get('linear_flop_reduction'), '.2f')} | "
                         f"{_fmt(check.get('ratio_to_linear_reduction'), '.2f')} |")
        for name, speedup in sorted(m.get("reference_speedups", {}).items(), key=lambda item: item[1]):
            t = timings[name]
            lines.append(f"| {name} architecture, random weights (speedup vs BERT-base) | {t['median_s']:.3f} | "
                         f"{t['max_s'] / t['min_s']:.2f} | {speedup:.2f} | – | – |")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def course_times(records: list[dict]) -> str:
    rows = sorted((r for r in records if r["kind"] == "course-times"), key=lambda r: r["provenance"]["date"])
    if not rows:
        return "_No recorded course run yet: `make course` records one._"
    lines, newest = [], {}
    for r in rows:
        times = r["metrics"]["notebooks_s"]
        newest.update(times)
        parts = ", ".join(f"{k[:2]}: {v / 60:.1f} min" for k, v in times.items())
        lines.append(f"- `{r['name']}` ({r['provenance']['command']}) on {hardware_label(r['provenance']['hardware'])}: "
                     f"{parts}; total {sum(times.values()) / 60:.1f} min (commit {r['provenance']['git_commit']}, "
                     f"{r['provenance']['date'][:10]})")
    if len(rows) > 1:
        lines.append(f"- newest time of each notebook, summed: {sum(newest.values()) / 60:.1f} min")
    return "\n".join(lines)


def render(records: list[dict], figures: list[Path] = (), root: Path = REPO_ROOT) -> str:
    if not records:
        return "_No recorded runs yet._"
    images = [f"![{p.stem}]({p.relative_to(root).as_posix()})" for p in figures]
    provenance_lines = sorted({f"{r['provenance']['base_model']} · {r['provenance']['data_split']} · "
                               f"{hardware_label(r['provenance']['hardware'])}"
                               for r in records if r["kind"] in KIND_ORDER})
    return "\n".join([
        takeaways(records), "", "Targets (CPU, batch 8 x sequence 384, fp32):", targets(records), "",
        results_table(records), "",
        "Runs above (base model · data split · hardware):", *[f"- {line}" for line in provenance_lines], "",
        *([""] + images if images else []), "",
        *(["Every model timed in one run:", "", speed_tables(records), ""] if any(
            r["kind"] == "timing" for r in records) else []),
        "Measured notebook times:", course_times(records),
    ])


FIGURES = Path("docs") / "figures"  # next to the README


def write_figures(records: list[dict], directory: Path) -> list[Path]:
    """The two trade-off figures, drawn from the records, as PNGs the README embeds."""
    from bmp.results.plots import f1_vs_fill_rate, f1_vs_speedup

    runs = [r for r in records if r["kind"] in ("packed", "filled", "distil-recipe")]
    if not runs:
        return []
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, draw in (("f1_vs_speedup", f1_vs_speedup), ("f1_vs_fill_rate", f1_vs_fill_rate)):
        path = directory / f"{name}.png"
        draw(records).savefig(path, dpi=110, bbox_inches="tight")
        paths.append(path)
    return paths


def update_readme(readme: Path = REPO_ROOT / "README.md", records: list[dict] | None = None) -> bool:
    text = readme.read_text()
    if START not in text or END not in text:
        raise ValueError(f"{readme} lacks the {START} / {END} markers that delimit the generated results")
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    records = records if records is not None else load_records()
    figures = write_figures(records, readme.parent / FIGURES)
    new = f"{head}{START}\n{render(records, figures, readme.parent)}\n{END}{tail}"
    changed = new != text
    readme.write_text(new)
    return changed


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--readme", default=str(REPO_ROOT / "README.md"))
    args = parser.parse_args(argv)
    print("README updated" if update_readme(Path(args.readme)) else "README already up to date")


if __name__ == "__main__":
    from bmp.cli import run

    raise SystemExit(run(main))
