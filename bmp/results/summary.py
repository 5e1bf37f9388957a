"""Regenerate the results from ``data/results/`` (never typed by hand): the full block in ``docs/results.md`` and
the README's short map of it (the syllabus with its measured times, the headline figure, one table of targets).

    python -m bmp summary            # rewrites the blocks between the markers in docs/results.md and README.md
"""
from __future__ import annotations

import argparse
from pathlib import Path

from bmp.results.analysis import Analysis, analyse
from bmp.results.attempts import attempt_lines, attempt_table
from bmp.results.concepts import CONCEPTS_DIR, concept_lines
from bmp.results.expected import EXPECTED_DIR, expected
from bmp.results.fronts import FRONT_DIR, Front, fronts
from bmp.results.records import PROBES_DIR, REPO_ROOT, fmt, hardware_label, load_records, repo_relative, train_epochs_of
from bmp.results.seeds import preset_of
from bmp.results.serving import serving_lines
from bmp.results.speeds import TIMED
from bmp.results.target_runs import LANDING_DIR, landing_lines, target_run_lines
from bmp.results.tradeoff import RUN_KINDS
from bmp.results.verdicts import comparison_lines, front_section, target_table

START, END = "<!-- results:start -->", "<!-- results:end -->"  # docs/results.md: everything
MAP_START, MAP_END = "<!-- map:start -->", "<!-- map:end -->"  # README.md: the syllabus and the headline
RESULTS_DOC = Path("docs") / "results.md"
# One row per notebook: the question it answers and what the learner builds (times come from the course records).
SYLLABUS = (
    ("01_movement_scores", "Which weights matter, and how does training tell?", "movement scores by hand, then "
     "against magnitude"),
    ("02_blocks_heads_neurons", "Why don't sparse weights run faster?", "block, head and neuron masks; packing"),
    ("03_squad_data_and_metric", "What is SQuAD, and how is it scored?", "windows, offsets, the official metric"),
    ("04_teacher_finetuning", "What does the student learn from?", "the dense teacher, with a validation curve"),
    ("05_pruning_with_distillation", "How do scores, λ and the schedule prune?", "a hybrid pruning run"),
    ("06_finalization", "How does pruning become speed?", "the packed and filled model, timed"),
    ("07_speed_and_size", "Was it worth it?", "your run on the recorded front, against TinyBERT and DistilBERT"),
    ("08_ship_it", "How does it serve?", "ONNX, int8, answers from the shipped model"),
)
KIND_ORDER = {"dense": 0, "control": 1, "pruned": 2, "packed": 3, "filled": 4, "distil-recipe": 5, "torch-pruning": 6}
TAKEAWAY_KINDS = ("filled", "distil-recipe", "torch-pruning")  # the models one would ship, and the baselines



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
            f"| {r['name']} | {r['kind']} | {r['provenance']['profile']} | {fmt(r['provenance'].get('seed'), 'd')} | "
            f"{fmt(train_epochs_of(r, records), 'g')} | {fmt(m.get('exact_match'), '.1f')} | "
            f"{fmt(m.get('f1'), '.1f')} | {fmt(m.get('validation_f1'), '.1f')} | {fmt(density, '.3f')} | "
            f"{m.get('heads_per_layer', '–')} | {m.get('neurons_per_layer', '–')} | "
            f"{fmt(m.get('cpu_speedup'), '.2f')} | {m.get('eval_split', '?')} |")
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


def targets(records: list[dict], analysis: Analysis | None = None) -> str:
    """The targets of :data:`bmp.results.targets.TARGETS`, checked as ``python -m bmp.bench pareto`` checks them
    (:func:`comparison_lines`), then each run pruned to a target and what int8 serving costs."""
    analysis = analysis or analyse(records)
    if not analysis.pruned and not analysis.of_kinds(("distil-recipe", "torch-pruning")):
        return "_No packed or filled run recorded yet._"
    lines = comparison_lines(analysis)
    lines += target_run_lines(analysis, records)
    lines += attempt_lines(analysis.attempts)
    lines += serving_lines(records, analysis)
    return "\n".join(lines)


def speed_tables(records: list[dict]) -> str:
    """One table per ``timing`` record (``python -m bmp.bench timing --record``): every model timed in one run, one
    row per architecture (a run's packed and filled models share their shape, so they share a row)."""
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
        lines.append(f"| dense base ({m['base']}) | {fmt(base.get('median_s'), '.3f')} | {fmt(spread, '.2f')} | "
                     "1.00 | – | – |")
        shared = m.get("timed_as", {})  # a run's packed model has its filled model's shape: one timing for both
        for name, speedup in sorted(m["speedups"].items(), key=lambda item: item[1]):
            if shared.get(name, name) != name:
                continue
            t, check = timings[name], m.get("flop_checks", {}).get(name, {})
            also = sorted(other for other, timed in shared.items() if timed == name and other != name)
            label = f"{name} (also {', '.join(also)})" if also else name
            lines.append(f"| {label} | {t['median_s']:.3f} | {t['max_s'] / t['min_s']:.2f} | {speedup:.2f} | "
                         f"{fmt(check.get('linear_flop_reduction'), '.2f')} | "
                         f"{fmt(check.get('ratio_to_linear_reduction'), '.2f')} |")
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
            f"α {fmt(distill.get('alpha'), 'g')}, T {fmt(distill.get('temperature'), 'g')}"
        head_scale = reg.get("head_scale") if pruning.get("attention") == "head" else None  # heads only
        lines.append(
            f"| {r['name']} | {teacher.parent.name if teacher.name == 'final' else teacher.name} | "
            f"{preset_of(r['name']) or '–'} | "
            f"{fmt(reg.get('attention'), 'g')} / {fmt(reg.get('ffn'), 'g')} | {fmt(head_scale, '.2f')} | "
            f"{fmt(recipe.get('score_learning_rate'), 'g')} | {fmt(recipe.get('schedule_cooldown'), 'g')} | "
            f"{teaching} | "
            f"{pruning.get('min_heads', 0)} | {fmt(config.get('max_steps'), 'd')} | "
            f"{fmt(m.get('linear_density'), '.3f')} | {sum(heads) if heads else '–'} | "
            f"{sum(neurons) if neurons else '–'} | "
            f"{fmt(m.get('validation_f1'), '.1f')} |")
    return "\n".join(lines)


def render(records: list[dict], figures: list[Path] = (), root: Path = REPO_ROOT, probes: list[dict] = (),
           concepts: list[dict] = (), landing: list[dict] = (), fronts_: list[Front] = ()) -> str:
    """The full block of ``docs/results.md``; ``probes``, ``concepts`` and ``landing``: the records of
    ``data/results/probes``, ``concepts`` and ``landing``, and ``fronts_`` each CPU kind's front (each section only
    when there are some)."""
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
        *(["", "Concept probes behind notebook 05 (movement against magnitude at equal densities, and the heads "
               "learned blocks empty against the same blocks shuffled; `scripts/probe_concepts.sh`, records in "
               "`data/results/concepts`):", "", *concept_lines(concepts)] if concept_lines(concepts) else []),
        *(["", "Speed targets from the course's own teacher (`scripts/target_landing.sh`, records in "
               "`data/results/landing`; the latency model's prediction against finalize's fresh-process timing):",
           "", *landing_lines(landing)] if landing_lines(landing) else []),
        *[line for front in fronts_ for line in _front_block(front)],
    ])


def _front_block(front: Front) -> list[str]:
    """A front's section of ``docs/results.md``, under a line that says where it was made and by what."""
    section = front_section(list(front.records))
    if not section:
        return []
    first = front.folder.name == FRONT_DIR.name  # the one with the λ front its targets were set against
    return ["", f"The front from the course's own teacher on an {front.label}"
                + (", a target against the λ front it replaces," if first else "") + " and the comparisons with "
                "paired intervals (" + ("`scripts/target_front.sh` and " if first else "") + "`scripts/review_front.sh`"
                f", records in `{repo_relative(front.folder)}`):", "", *section]


FIGURES = Path("docs") / "figures"  # next to the README
GAPS = "gaps"  # the figure of every front's judged gaps with their intervals


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


def write_gap_chart(fronts_: list[Front], directory: Path) -> list[Path]:
    """Every judged gap of each front with its interval (:func:`bmp.results.gap_chart.gap_chart`), as a PNG; none
    while no front has a gap with an interval."""
    from bmp.results.gap_chart import gap_chart, gap_rows

    places = [(f"{front.label} front", analyse(list(front.records)), list(front.records))
              for front in fronts_ if front.any_filled()]
    if not any(gap_rows(analysis, records) for _, analysis, records in places):
        return []
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{GAPS}.png"
    gap_chart(places).savefig(path, dpi=110, bbox_inches="tight")
    return [path]


def _minutes(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    return f"{seconds:.0f} s" if seconds < 60 else f"{seconds / 60:.0f} min"


def syllabus(records: list[dict], expectation=None) -> str:
    """The course, one row per notebook, with each notebook's newest measured time under the course profile, and
    what its default run should reach (``expectation``, a :class:`~bmp.results.expected.Expected`)."""
    runs = sorted((r for r in records if r["kind"] == "course-times"), key=lambda r: r["provenance"]["date"])
    times = {name: seconds for r in runs for name, seconds in r["metrics"]["notebooks_s"].items()}
    lines = ["| notebook | the question | what you build | time (course profile, 2 cores) |", "|---|---|---|---|"]
    for name, question, builds in SYLLABUS:
        seconds = times.get(name)
        lines.append(f"| [{name[:2]}](notebooks/{name}.py) {name[3:].replace('_', ' ')} | {question} | {builds} | "
                     f"{_minutes(seconds)} |")
    if times:
        newest = runs[-1]
        lines += ["", f"`make course` ran all of them in {sum(times.values()) / 60:.0f} min on "
                      f"{hardware_label(newest['provenance']['hardware'])} (commit {newest['provenance']['git_commit']}"
                      f", {newest['provenance']['date'][:10]}); it writes executed notebooks, figures and your own "
                      "runs' records to the ignored `outputs/`."]
    if expectation is not None:
        lines += ["", f"With the defaults, {expectation}: that is where the course's own run lands (recorded in "
                      "`data/results/expected` by `scripts/expected_run.sh`)."]
    return "\n".join(lines)


def headline(records: list[dict], figures: list[Path] = (), root: Path = REPO_ROOT,
             fronts_: list[Front] = ()) -> str:
    """The README's results: the speed figure, then one row per target and place (verdict, what was measured, the
    gap's interval, the speed), judged on each CPU kind's front (``fronts_``, whose models keep their per-question
    predictions) and on the main sweep, and where the attempts and the target runs are."""
    if not records:
        return "_No recorded runs yet._"
    analysis = analyse(records)
    lines = [f"![{p.stem}]({p.relative_to(root).as_posix()})" for p in figures if p.stem == "f1_vs_speedup"]
    setting = f"{TIMED['device'].upper()}, batch {TIMED['batch']} x sequence {TIMED['seq']}, {TIMED['dtype']}"
    judged = [(front, analyse(list(front.records))) for front in fronts_ if front.any_filled()]
    places = [(f"{front.label} front", analysed) for front, analysed in judged] + [("main sweep", analysis)]
    lines += ["", f"Targets ({setting}; held-out F1). Each row names the reference its models are held to: the "
                  "stronger of their teacher and that teacher's control trained as long. A front is every run from "
                  "one teacher on one CPU kind, whose models keep their per-question predictions "
                  "(`scripts/review_front.sh`); the main sweep is `scripts/sweep.sh`:", "",
              *target_table(places)]
    lines += [line for p in figures if p.stem == GAPS
              for line in ("", f"![{p.stem}]({p.relative_to(root).as_posix()})")]
    tried = [(front, attempt) for front, analysed in judged for attempt in analysed.attempts]
    if tried:
        kept = sum(bool(attempt.becomes_recipe) for _, attempt in tried)
        lines += ["", f"Attempts to close the gap at the headline targets, each held to its own reference: "
                      f"{len(tried)} tried, {kept} landing nearer it than the plain run on validation. Each "
                      "number is how much nearer its reference (F1) it landed than the plain run; a winner that may "
                      "be as fast as its target (its speed's interval reaching it) is what the target is judged on "
                      "(the table above names each chosen run), a slower one is not; what each changed is in "
                      "[docs/results.md](docs/results.md):", "",
                  *attempt_table([(f"{front.label} front", attempt) for front, attempt in tried])]
    aimed = [line for front, analysed in judged for line in target_run_lines(analysed, list(front.records))]
    if aimed:
        lines += ["", f"A speed instead of a λ (`--target-speedup`): {len(aimed)} target settings on the fronts, "
                      "each against the λ front at its speed where one is like for like, are in "
                      "[docs/results.md](docs/results.md)."]
    return "\n".join(lines)


def _replace_block(path: Path, start: str, end: str, body: str) -> bool:
    text = path.read_text()
    if start not in text or end not in text:
        raise ValueError(f"{path} lacks the {start} / {end} markers that delimit its generated part")
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    new = f"{head}{start}\n{body}\n{end}{tail}"
    path.write_text(new)
    return new != text


def side_records() -> tuple[list[dict], list[dict], list[dict], list[Front]]:
    """The records :func:`render` reads beside the comparison's: the recipe probes, the concept probes, the target
    runs from the course's teacher with that teacher's record (``data/results/expected``), and each CPU kind's front
    (:mod:`bmp.results.fronts`, each holding its own teacher)."""
    probes, concepts, landing = (load_records(folder) if folder.is_dir() else []
                                 for folder in (PROBES_DIR, CONCEPTS_DIR, LANDING_DIR))
    landing += [r for r in load_records(EXPECTED_DIR) if r["kind"] == "dense"] if EXPECTED_DIR.is_dir() else []
    return probes, concepts, landing, fronts()


def update_readme(readme: Path = REPO_ROOT / "README.md", records: list[dict] | None = None) -> bool:
    """Rewrite the generated parts of ``docs/results.md`` (beside the README) and of the README itself, and the
    figures; True when anything changed."""
    root = readme.parent
    records = records if records is not None else load_records()
    side = side_records()
    figures = write_figures(records, root / FIGURES) + write_gap_chart(side[3], root / FIGURES)
    full = _replace_block(root / RESULTS_DOC, START, END, render(records, figures, root / RESULTS_DOC.parent, *side))
    short = _replace_block(readme, MAP_START, MAP_END, "\n\n".join([syllabus(records, expected()),
                                                                         headline(records, figures, root, side[3])]))
    return full or short


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--readme", default=str(REPO_ROOT / "README.md"))
    args = parser.parse_args(argv)
    print("results updated" if update_readme(Path(args.readme)) else "results already up to date")


if __name__ == "__main__":
    from bmp.cli import run

    raise SystemExit(run(main))
