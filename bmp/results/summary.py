"""Regenerate the README's results section from ``data/results/`` (never typed by hand).

    python -m bmp.results.summary            # rewrites the block between the results markers in README.md
"""
from __future__ import annotations

import argparse
from pathlib import Path

from bmp.results.analysis import Analysis, analyse
from bmp.results.intervals import NO_PREDICTIONS, judge, verdict
from bmp.results.records import PROBES_DIR, REPO_ROOT, hardware_label, load_records
from bmp.results.seeds import f1_text, preset_of
from bmp.results.serving import serving_lines
from bmp.results.speeds import TIMED
from bmp.results.targets import TARGETS, check_all
from bmp.results.tradeoff import RUN_KINDS, train_epochs_of

START, END = "<!-- results:start -->", "<!-- results:end -->"
KIND_ORDER = {"dense": 0, "control": 1, "pruned": 2, "packed": 3, "filled": 4, "distil-recipe": 5, "torch-pruning": 6}
TAKEAWAY_KINDS = ("filled", "distil-recipe", "torch-pruning")  # the models one would ship, and the baselines


def _fmt(value, spec: str) -> str:
    return "–" if value is None else format(value, spec)


def results_table(records: list[dict]) -> str:
    """One markdown row per recorded model run, in pipeline order. The CPU speedup column is each record's own
    timing; the analysis above it may use one timing run of every model instead (it says which)."""
    rows = [r for r in records if r["kind"] in KIND_ORDER]
    rows.sort(key=lambda r: (r["provenance"]["profile"], KIND_ORDER[r["kind"]], r["name"]))
    lines = ["| run | kind | profile | seed | epochs | EM | F1 | validation F1 | linear density / fill rate "
             "| heads per layer | FFN neurons per layer | CPU speedup (own timing) | data split |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        m = r["metrics"]
        density = m.get("fill_rate", m.get("linear_density"))
        lines.append(
            f"| {r['name']} | {r['kind']} | {r['provenance']['profile']} | {_fmt(r['provenance'].get('seed'), 'd')} | "
            f"{_fmt(train_epochs_of(r, records), 'g')} | {_fmt(m.get('exact_match'), '.1f')} | "
            f"{_fmt(m.get('f1'), '.1f')} | {_fmt(m.get('validation_f1'), '.1f')} | {_fmt(density, '.3f')} | "
            f"{m.get('heads_per_layer', '–')} | {m.get('neurons_per_layer', '–')} | "
            f"{_fmt(m.get('cpu_speedup'), '.2f')} | {m.get('eval_split', '?')} |")
    return "\n".join(lines)


def _filling_gain(analysis: Analysis, setting) -> float | None:
    """Mean F1 the filled setting gained over its packed setting (same name ending in -packed), or None."""
    if setting.kind != "filled" or not setting.name.endswith("-filled"):
        return None
    packed_name = setting.name.removesuffix("-filled") + "-packed"
    packed = next((s for s in analysis.settings if s.kind == "packed" and s.name == packed_name), None)
    return None if packed is None else setting.f1 - packed.f1


def takeaways(records: list[dict], analysis: Analysis | None = None) -> str:
    """One line per filled, layer-dropped or Torch-Pruning setting, fastest first: F1 (mean ± std over seeds, or
    marked single-seed) against its teacher's reference, speed (from the analysis's one speed source), size,
    training epochs after the teacher, and what filling gained over the packed model."""
    analysis = analysis or analyse(records)
    lines = []
    for s in sorted(analysis.of_kinds(TAKEAWAY_KINDS), key=lambda s: -(s.speedup or 0.0)):
        line = f"- **{s.name}**: {s.f1_text()}"
        if s.f1_drop is not None:
            line += (f", {-s.f1_drop:+.1f} vs its reference {s.reference_f1:.1f}"
                     + (" (no control yet)" if s.control_missing else ""))
        else:
            line += ", its teacher not recorded"
        line += f", at {s.speedup:.2f}x CPU speed" if s.speedup is not None else ", speed not timed"
        if s.fill_rate is not None:
            line += f" and fill rate {s.fill_rate:.2f}"
        if s.train_epochs is not None:
            line += f", {s.train_epochs:g} epochs after the teacher"
        gain = _filling_gain(analysis, s)
        if gain is not None:
            line += f"; filling gained {gain:+.1f} F1 over the packed model"
        lines.append(line + ".")
    return "\n".join(lines)


def _gap_lines(comparison, target, label: str, lead: str = "") -> list[str]:
    """One line per compared point: the rival chosen on validation F1, the signed gap (``lead`` names whom it
    favours, "struct is"), its 95% interval and its verdict against ``target``'s margin."""
    lines = []
    for p in comparison.points:
        s = p.point
        head = (f"- {label} {s.name} ({f1_text(s.f1, s.f1_std, len(s.seeds))} at {s.speedup:.2f}x, "
                f"{_fmt(s.train_epochs, 'g')} epochs)")
        if p.rival is None:
            lines.append(f"{head}: faster than every like-for-like rival, so not compared (no extrapolation).")
            continue
        r = p.rival
        judged = "" if target is None else f": {verdict(p.interval, target.margin)}"
        ci = ("no interval (" + NO_PREDICTIONS + ")" if p.interval is None
              else f"95% CI [{p.interval.low:+.1f}, {p.interval.high:+.1f}]")
        lines.append(f"{head}: meets {r.name} ({f1_text(r.f1, r.f1_std, len(r.seeds))} at {r.speedup:.2f}x, "
                     f"chosen on validation F1), {lead + ' ' if lead else ''}**{p.gap:+.1f} F1**, {ci}{judged}.")
    return lines


def verdict_rule() -> str:
    """The verdict rule as :func:`bmp.results.intervals.judge` states it (its docstring's first paragraph)."""
    first = judge.__doc__.split("\n\n")[0]
    return " ".join(first.replace("``", "").split())


def targets(records: list[dict], analysis: Analysis | None = None) -> str:
    """The targets of :data:`bmp.results.targets.TARGETS`, checked as ``python -m bmp.bench pareto`` checks them:
    the reference (max of teacher and control trained as long), where the speeds come from, the verdict rule, each
    verdict, then every point of the comparisons at equal speed with its rival, interval and verdict."""
    analysis = analysis or analyse(records)
    if not analysis.pruned and not analysis.of_kinds(("distil-recipe", "torch-pruning")):
        return "_No packed or filled run recorded yet._"
    by_gap = {t.gap: t for t in TARGETS if t.gap is not None}
    lines = [f"- Reference (of the teacher most runs came from; each run is measured against its own teacher's, "
             f"with controls trained as long): {analysis.reference.describe()}.",
             f"- Speeds: {analysis.describe_speed()}.",
             "- Settings, and the rival each comparison meets, are chosen on validation F1 and reported on held-out "
             "F1 (mean ± std over seeds); where a record has no validation F1, a target's choice falls back to "
             "held-out F1 and says so, and a comparison leaves it out.",
             f"- Verdicts: {verdict_rule()} Intervals are 95%, paired over the held-out questions and pooled over "
             "seeds (`bmp.results.intervals`)."]
    for c in check_all(analysis):
        lines.append(f"- {c.target.describe()}: **{c.status}**; {c.note}.")
    lines += _gap_lines(analysis.struct_vs_hybrid, by_gap.get("struct_vs_hybrid"), "struct point", "struct is")
    lines += _gap_lines(analysis.vs_distil_recipe, by_gap.get("vs_distil_recipe"), "vs the layer-dropped student")
    lines += _gap_lines(analysis.vs_torch_pruning, by_gap.get("vs_torch_pruning"), "vs the Torch-Pruning model")
    lines += serving_lines(records, analysis)
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
        spread = base.get("max_s", 0) / base["min_s"] if base.get("min_s") else None
        lines.append(f"| dense base ({m['base']}) | {_fmt(base.get('median_s'), '.3f')} | {_fmt(spread, '.2f')} | "
                     "1.00 | – | – |")
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
        lines.append(f"- `{r['name']}` ({r['provenance']['command']}) on "
                     f"{hardware_label(r['provenance']['hardware'])}: {parts}; total {sum(times.values()) / 60:.1f} "
                     f"min (commit {r['provenance']['git_commit']}, {r['provenance']['date'][:10]})")
    if len(rows) > 1:
        lines.append(f"- newest time of each notebook, summed: {sum(newest.values()) / 60:.1f} min")
    return "\n".join(lines)


def probe_table(probes: list[dict]) -> str:
    """One row per probe (``scripts/probe_recipe.sh``): its settings, as its record states them, and what it kept,
    scored on the validation articles (the probes choose settings; they are never reported as results)."""
    lines = ["| probe | from | preset | λ attention / FFN | head L1 scale | score LR | cool-down | distillation "
             "| head floor | steps | linear density | heads kept | FFN neurons kept | validation F1 |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in sorted(probes, key=lambda r: r["name"]):
        config, m = r.get("config", {}), r["metrics"]
        recipe = config.get("recipe", {})
        pruning, reg = recipe.get("pruning", {}), recipe.get("regularization", {})
        distill = recipe.get("distillation", {})
        heads, neurons = m.get("heads_per_layer") or [], m.get("neurons_per_layer") or []
        teacher = Path(str(config.get("teacher", "–")))
        teaching = "none" if config.get("distill") is False else \
            f"α {_fmt(distill.get('alpha'), 'g')}, T {_fmt(distill.get('temperature'), 'g')}"
        head_scale = reg.get("head_scale") if pruning.get("attention") == "head" else None  # heads only
        lines.append(
            f"| {r['name']} | {teacher.parent.name if teacher.name == 'final' else teacher.name} | "
            f"{preset_of(r['name']) or '–'} | "
            f"{_fmt(reg.get('attention'), 'g')} / {_fmt(reg.get('ffn'), 'g')} | {_fmt(head_scale, '.2f')} | "
            f"{_fmt(recipe.get('score_learning_rate'), 'g')} | {_fmt(recipe.get('schedule_cooldown'), 'g')} | "
            f"{teaching} | "
            f"{pruning.get('min_heads', 0)} | {_fmt(config.get('max_steps'), 'd')} | "
            f"{_fmt(m.get('linear_density'), '.3f')} | {sum(heads) if heads else '–'} | "
            f"{sum(neurons) if neurons else '–'} | "
            f"{_fmt(m.get('validation_f1'), '.1f')} |")
    return "\n".join(lines)


def render(records: list[dict], figures: list[Path] = (), root: Path = REPO_ROOT, probes: list[dict] = ()) -> str:
    if not records:
        return "_No recorded runs yet._"
    images = [f"![{p.stem}]({p.relative_to(root).as_posix()})" for p in figures]
    provenance_lines = sorted({f"{r['provenance']['base_model']} · {r['provenance']['data_split']} · "
                               f"{hardware_label(r['provenance']['hardware'])}"
                               for r in records if r["kind"] in KIND_ORDER})
    analysis = analyse(records)
    return "\n".join([
        takeaways(records, analysis), "", f"Targets ({TIMED['device'].upper()}, batch {TIMED['batch']} x sequence "
        f"{TIMED['seq']}, {TIMED['dtype']}):", targets(records, analysis), "",
        results_table(records), "",
        "Runs above (base model · data split · hardware):", *[f"- {line}" for line in provenance_lines], "",
        *([""] + images if images else []), "",
        *(["Every model timed in one run:", "", speed_tables(records), ""] if any(
            r["kind"] == "timing" for r in records) else []),
        "Measured notebook times:", course_times(records),
        *(["", "Recipe probes (short pruning runs; `scripts/probe_recipe.sh`, records in `data/results/probes`):", "",
           probe_table(probes)] if probes else []),
    ])


FIGURES = Path("docs") / "figures"  # next to the README


def write_figures(records: list[dict], directory: Path) -> list[Path]:
    """The two trade-off figures, drawn from the records, as PNGs the README embeds."""
    from bmp.results.plots import f1_vs_fill_rate, f1_vs_speedup

    runs = [r for r in records if r["kind"] in RUN_KINDS]
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
    probes = load_records(PROBES_DIR) if PROBES_DIR.is_dir() else []
    new = f"{head}{START}\n{render(records, figures, readme.parent, probes)}\n{END}{tail}"
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
