"""Speed of everything recorded, on this machine: ``python -m bmp.bench timing [--record]``

Times, in one interleaved run per dtype (:func:`bmp.speed.timing.time_interleaved`):

- the dense base (the embedded model, a folder given with ``--base``, or a random model of its shape);
- every packed, filled, distil-recipe or Torch-Pruning model whose record (``config.output_dir``) points at a folder
  on disk: its weights when they are there, else a random model built from its ``config.json`` (speed depends on the
  shape only), also looked for in ``--shapes-dir/<record name>/config.json`` (what ``scripts/prepare_carry.py``
  copies); models of one architecture (a run's packed and filled models) are timed once and share that timing;
- the reference architectures of :mod:`bmp.results.references`, with random weights, against BERT-base.

Only the forward pass is timed, on a synthetic batch without padding: no tokenization, no post-processing, like
the reference implementation's measurements. Tokenizing one batch of SQuAD questions is timed on its own and
reported as ``tokenize_s_per_batch``.

Defaults: on a GPU batch 128 x 384 in fp32 and fp16, 10 repeats; on the CPU batch 8 x 384 in fp32, 3 repeats,
without BERT-large WWM (several times BERT-base's seconds per pass there; add it with ``--references all``).
``--small`` shrinks everything for a dry run. ``speedups`` are over the dense base; ``reference_speedups`` over
BERT-base. ``--record`` writes one record of kind ``timing`` per dtype into data/results.
"""
from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch
from transformers import BertConfig, BertForQuestionAnswering

from bmp.models import EMBEDDED_SHAPE
from bmp.packing.flops import flop_check
from bmp.results.records import REPO_ROOT, hardware, hardware_label, load_records, provenance, record, repo_relative
from bmp.results.tradeoff import RUN_KINDS
from bmp.speed.architectures import BASELINE, build_reference
from bmp.speed.timing import CPU_SETTING, synthetic_batch, time_interleaved

DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
CPU_SKIPPED_REFERENCES = ("BERT-large WWM",)
SMALL_REFERENCES = ("BERT-base", "TinyBERT-4")
DEFAULT_SHAPES_DIR = ".carry/packed"


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bmp.bench timing", description=__doc__.splitlines()[0])
    parser.add_argument("--device", default=None, help="default: cuda when available, else cpu")
    parser.add_argument("--dtypes", default=None, help="comma list of fp32,fp16,bf16 (default: fp32,fp16 on "
                                                       "cuda, fp32 on cpu)")
    parser.add_argument("--batch", type=int, default=None, help="default 128 on cuda, 8 on cpu")
    parser.add_argument("--seq", type=int, default=None, help="default 384")
    parser.add_argument("--repeats", type=int, default=None, help="default 10 on cuda, 3 on cpu")
    parser.add_argument("--warmup", type=int, default=None, help="default 3 on cuda, 2 on cpu")
    parser.add_argument("--base", default="embedded", help="'embedded', 'random' (its shape) or a model folder")
    parser.add_argument("--records", default=None, help="records to read (default: data/results, whatever "
                        "$BMP_RESULTS_DIR says; that is where --record writes)")
    parser.add_argument("--shapes-dir", default=DEFAULT_SHAPES_DIR,
                        help="fallback folder of <record name>/config.json for models not on disk")
    parser.add_argument("--references", default=None,
                        help="'all', 'none' or a comma list of names (default: all; on cpu all but BERT-large WWM)")
    parser.add_argument("--squad", default=None, help="SQuAD file for the tokenization timing (default: the dev "
                                                      "file if found, else the project's sample)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--tf32", action="store_true", help="allow TF32 matmuls in fp32 on Ampere or newer (off "
                                                            "by default: true fp32)")
    parser.add_argument("--small", action="store_true", help="dry run: batch 2 x 64, 1 repeat, BERT-base and "
                                                             "TinyBERT-4 only")
    parser.add_argument("--record", action="store_true", help="write one 'timing' record per dtype to data/results")
    parser.add_argument("--run", type=int, default=1, help="which timing run this is: the targets judge a speed on "
                        "the median of >= 3 interleaved runs, each recorded apart (run 1 keeps the plain name)")
    args = parser.parse_args(argv)
    if args.run < 1:
        raise ValueError(f"--run counts timing runs from 1, got {args.run}")
    cuda = (args.device or ("cuda" if torch.cuda.is_available() else "cpu")).startswith("cuda")
    args.device = args.device or ("cuda" if cuda else "cpu")
    defaults = dict(dtypes="fp32,fp16" if cuda else "fp32", batch=128 if cuda else CPU_SETTING.batch,
                    seq=CPU_SETTING.seq,
                    repeats=10 if cuda else 3, warmup=3 if cuda else 2)
    if args.small:
        defaults.update(batch=2, seq=64, repeats=1, warmup=1)
    for key, value in defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    args.dtypes = [d.strip() for d in args.dtypes.split(",") if d.strip()]
    unknown = [d for d in args.dtypes if d not in DTYPES]
    if unknown:
        parser.error(f"unknown dtypes {unknown}; choose from {sorted(DTYPES)}")
    return args


def reference_names(choice: str | None, device: torch.device, small: bool) -> list[str]:
    from bmp.results.references import reference_architectures

    available = list(reference_architectures())
    if choice is None:
        if small:
            return list(SMALL_REFERENCES)
        skipped = CPU_SKIPPED_REFERENCES if device.type == "cpu" else ()
        return [name for name in available if name not in skipped]
    if choice == "none":
        return []
    if choice == "all":
        return available
    names = [name.strip() for name in choice.split(",") if name.strip()]
    unknown = [name for name in names if name not in available]
    if unknown:
        raise SystemExit(f"unknown reference names {unknown}; available: {available}")
    return [BASELINE, *[name for name in names if name != BASELINE]]


def load_base_model(which: str) -> tuple[torch.nn.Module, str, str | None]:
    """``(model, description, tokenizer folder or None)`` for the dense base, in fp32."""
    if which not in ("embedded", "random"):
        from transformers import AutoModelForQuestionAnswering

        folder = Path(which)
        model = AutoModelForQuestionAnswering.from_pretrained(folder, dtype=torch.float32)
        return model.eval(), f"folder {folder}", str(folder) if (folder / "tokenizer.json").is_file() else None
    if which == "embedded":
        try:
            from bmp.models import embedded_model_path, load_base

            model, _ = load_base()
            return model.float().eval(), "embedded", str(embedded_model_path())
        except (ImportError, OSError):
            pass
    torch.manual_seed(0)
    return BertForQuestionAnswering(BertConfig(**EMBEDDED_SHAPE)).eval(), "random (embedded shape)", None


def _folder(path: str) -> Path:
    folder = Path(path)
    return folder if folder.is_absolute() else REPO_ROOT / folder


def model_for_timing(config_folder: Path, weights: bool) -> torch.nn.Module:
    """The model saved in ``config_folder`` (with its weights when ``weights``, else random of its shape)."""
    values = json.loads((config_folder / "config.json").read_text())
    if values.get("model_type") == "packed_bert":
        from bmp.packing.packed_bert import PackedBertConfig
        from bmp.packing.saving import load_packed
        from bmp.speed.timing import dense_like

        if weights:
            return load_packed(config_folder, dtype=torch.float32)
        return dense_like(PackedBertConfig.from_pretrained(config_folder))
    from transformers import AutoConfig, AutoModelForQuestionAnswering

    if weights:
        return AutoModelForQuestionAnswering.from_pretrained(config_folder, dtype=torch.float32).eval()
    torch.manual_seed(0)
    return AutoModelForQuestionAnswering.from_config(AutoConfig.from_pretrained(config_folder)).eval()


def recorded_models(records: list[dict], shapes_dir: Path) -> tuple[dict, dict, list[dict]]:
    """``({name: model}, {name: how it was built}, skipped)`` for the runs in ``records``."""
    from bmp.results.records import slug

    models, how, skipped = {}, {}, []
    for rec in records:
        if rec.get("kind") not in RUN_KINDS:
            continue
        name, output_dir = rec["name"], rec.get("config", {}).get("output_dir")
        folder = _folder(output_dir) if output_dir else None
        fallback = shapes_dir / slug(name)
        try:
            if folder is not None and (folder / "config.json").is_file():
                weights = any(folder.glob("*.safetensors"))
                models[name] = model_for_timing(folder, weights)
                how[name] = "weights" if weights else "shape from config.json, random weights"
            elif (fallback / "config.json").is_file():
                models[name] = model_for_timing(fallback, False)
                how[name] = f"shape from {fallback / 'config.json'}, random weights"
            else:
                skipped.append({"name": name, "reason": f"no folder at {output_dir} nor {fallback}"})
        except (OSError, ValueError, KeyError) as err:
            skipped.append({"name": name, "reason": f"could not load: {err}"})
    return models, how, skipped


def tokenization_time(tokenizer_folder: str | None, squad: str | None, batch: int, seq: int) -> dict:
    """Seconds to turn ``batch`` SQuAD questions into model windows (median of 3), or why it was skipped."""
    if tokenizer_folder is None:
        return {"tokenize_skipped": "no tokenizer (random base): pass --base with a folder holding one"}
    from transformers import AutoTokenizer

    from bmp.squad.data import find_squad_file, load_sample, read_squad_json
    from bmp.squad.features import prepare_eval_features

    path = Path(squad) if squad else find_squad_file("dev")
    examples = read_squad_json(path) if path else load_sample().eval
    source = repo_relative(path) if path else "bmp synthetic sample"
    examples = examples[:batch]
    columns = {key: [example[key] for example in examples] for key in ("id", "question", "context")}
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_folder)
    times, windows = [], 0
    for _ in range(3):
        start = time.perf_counter()
        features = prepare_eval_features(columns, tokenizer, seq, min(128, seq // 2))
        times.append(time.perf_counter() - start)
        windows = len(features["input_ids"])
    return {"tokenize_s_per_batch": round(statistics.median(times), 5), "tokenize_questions": len(examples),
            "tokenize_windows": windows, "tokenize_source": source}


RECORDS_ITSELF = True  # --record: one record of kind "timing" per dtype, named by hardware, dtype and shape


def architecture(model: torch.nn.Module) -> tuple:
    """What a forward pass's time depends on: the model class and every parameter's name and shape."""
    return type(model).__name__, tuple((name, tuple(p.shape)) for name, p in model.named_parameters())


def same_architecture(models: dict) -> dict[str, str]:
    """``{name: the first model of its architecture}`` for models shaped exactly like an earlier one (a run's packed
    and filled models): timing both would give one shape two speeds, and the gap would be noise."""
    first, timed_as = {}, {}
    for name, model in models.items():
        shape = architecture(model)
        if shape in first:
            timed_as[name] = first[shape]
        else:
            first[shape] = name
    return timed_as


def time_dtype(models: dict, dense_name: str, reference_set: list[str], args, dtype_name: str) -> dict:
    device, dtype = torch.device(args.device), DTYPES[dtype_name]
    for model in models.values():
        model.to(device=device, dtype=dtype)  # in place: one copy of each model on the device
    vocab = next(iter(models.values())).config.vocab_size
    input_ids, attention_mask = synthetic_batch(vocab, args.batch, args.seq)
    timed_as = same_architecture(models)
    timings = time_interleaved({name: m for name, m in models.items() if name not in timed_as}, input_ids,
                               attention_mask, repeats=args.repeats, warmup=args.warmup, device=device, dtype=dtype)
    timings.update({name: timings[twin] for name, twin in timed_as.items()})
    dense = timings[dense_name].median_s
    runs = [name for name in models if name != dense_name and name not in reference_set]
    speedups = {name: round(dense / timings[name].median_s, 3) for name in runs}
    # how close each speedup comes to its linear-FLOP reduction, and why not when it falls short
    flop_checks = {name: flop_check(models[name], models[dense_name], speedups[name], args.seq) for name in runs}
    reference_speedups = {}
    if BASELINE in timings and reference_set:
        base = timings[BASELINE].median_s
        reference_speedups = {name: round(base / timings[name].median_s, 3) for name in reference_set}
    return {
        "dtype": dtype_name, "speedups": speedups, "reference_speedups": reference_speedups,
        "flop_checks": flop_checks,
        "dense_median_s": round(dense, 5),
        "timings": {name: {key: (round(value, 5) if isinstance(value, float) else value)
                           for key, value in t.to_dict().items()} for name, t in timings.items()},
        "unstable": [name for name, t in timings.items() if t.unstable],
        "timed_as": timed_as,  # models of one architecture share its single timing
    }


def main(argv: list[str]) -> dict:
    args = parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = args.tf32
        torch.backends.cudnn.allow_tf32 = args.tf32
    label = hardware_label(hardware()) if device.type == "cuda" else \
        f"CPU {hardware()['cpu']}, {torch.get_num_threads()} threads"

    dense, base_source, tokenizer_folder = load_base_model(args.base)
    dense_name = "dense base"
    records = load_records(args.records)  # a folder that doesn't exist holds no records
    runs, built, skipped = recorded_models(records, _folder(args.shapes_dir))
    references = reference_names(args.references, device, args.small)
    from bmp.results.references import reference_architectures

    architectures = reference_architectures(names=references) if references else {}
    models = {dense_name: dense, **runs}
    for name, config in architectures.items():
        models[name] = build_reference(config)

    result = {"bench": "timing", "device": str(device), "hardware": label, "batch": args.batch, "seq": args.seq,
              "repeats": args.repeats, "threads": torch.get_num_threads(), "tf32": bool(args.tf32),
              "base": base_source, "runs_built": built, "skipped": skipped, "references": references,
              **tokenization_time(tokenizer_folder, args.squad, args.batch, args.seq)}
    result["by_dtype"] = {}
    records_written = []
    for dtype_name in args.dtypes:
        block = time_dtype(models, dense_name, references, args, dtype_name)
        result["by_dtype"][dtype_name] = block
        if args.record:
            metrics = {**{k: result[k] for k in ("device", "hardware", "batch", "seq", "repeats", "threads", "tf32",
                                                 "base", "runs_built", "references")},
                       **{k: v for k, v in result.items() if k.startswith("tokenize_")}, **block}
            name = f"{label}-{dtype_name}-b{args.batch}x{args.seq}" + ("" if args.run == 1 else f"-run{args.run}")
            path = record(name, "timing", metrics,
                          provenance(base_model=base_source, data_split="none: synthetic batch, no padding",
                                     profile="bench"),
                          config={key: value for key, value in vars(args).items()})
            records_written.append(str(path))
    result["records"] = records_written
    result["speedups"] = {d: block["speedups"] for d, block in result["by_dtype"].items()}
    result["reference_speedups"] = {d: block["reference_speedups"] for d, block in result["by_dtype"].items()}
    return result
