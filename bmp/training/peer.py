"""The peer baseline: Torch-Pruning cuts the teacher's heads and FFN neurons, then it is distilled as long as bmp.

Torch-Pruning (``torch-pruning`` 1.6) is what a user would reach for instead of bmp: it removes whole attention heads
and FFN neurons in one shot, by weight magnitude or first-order Taylor importance. The result is distilled for as many
steps as bmp's prune + fill, then packed, timed and recorded like bmp's own runs.

Only heads and FFN neurons go: Torch-Pruning would also shrink the hidden size (embeddings, LayerNorms, every
layer's input) unless the embeddings are ignored, which bmp never does. Pruning is *per layer*: every layer keeps
the same number of heads and the same number of neurons (Torch-Pruning's local pruning, its BERT example's
setting), sized so that the six encoder linears keep ``density`` of their parameters.

    python -m bmp torch-pruning --teacher runs/teacher-course/final --density 0.3 [--importance magnitude]
    python -m bmp torch-pruning --teacher runs/teacher-course/final --like hybrid-lam240-course-filled
"""
from __future__ import annotations

import argparse
import copy
import json
import shutil
import time
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path

import torch
from torch import nn

from bmp.models import load_saved
from bmp.packing.pack import pack
from bmp.packing.saving import save_packed
from bmp.packing.size import dense_linear_params, linear_params_of_layer
from bmp.profiles import Profile, get_profile
from bmp.pruning.anatomy import base_model, encoder_layers
from bmp.training import kit
from bmp.training.finalize import ALIGN_FFN
from bmp.training.flags import add_data_flags, add_run_flags, add_training_flags, data_from, trainer_overrides
from bmp.training.skeleton import distil_train, open_teacher, qa_data, written

IMPORTANCES = ("taylor", "magnitude")
FILL_RATE_DIGITS = 3  # --like: a recorded fill rate, rounded so that the run's name stays readable
TAYLOR_BATCHES = 8  # training batches whose summed gradients score the Taylor importance
INSTALL_HINT = "install the peer extra: pip install -e '.[peer]' (torch-pruning>=1.6,<1.7)"
PRUNING_FILE = "peer_pruning.json"  # next to the saved pruned model: what was kept, and how it was chosen


@dataclass(frozen=True)
class PeerPruning:
    """How Torch-Pruning prunes: the linear density to keep, the importance, and the FFN width alignment."""

    density: float
    importance: str = "taylor"
    taylor_batches: int = TAYLOR_BATCHES
    align_ffn: int = ALIGN_FFN  # kept neurons are a multiple of this, so packing adds no padding

    def __post_init__(self):
        if not 0 < self.density <= 1:
            raise ValueError(f"density must lie in (0, 1] (the share of the encoder's linear parameters kept), "
                             f"got {self.density}: e.g. --density 0.3")
        if self.importance not in IMPORTANCES:
            raise ValueError(f"unknown importance {self.importance!r}: choose one of {', '.join(IMPORTANCES)}")
        if self.taylor_batches < 1 or self.align_ffn < 1:
            raise ValueError(f"taylor_batches and align_ffn must be >= 1, got {self.taylor_batches}, "
                             f"{self.align_ffn}")


@dataclass(frozen=True)
class LayerPlan:
    """What every layer keeps, and the linear density that gives (the fill rate of the packed model)."""

    heads: int
    neurons: int
    density: float


@dataclass(frozen=True)
class Pruned:
    """Torch-Pruning's pruned model (transformers classes, narrower linears) and which original heads and neurons
    each layer kept, in order."""

    model: nn.Module
    kept_heads: tuple[tuple[int, ...], ...]
    kept_neurons: tuple[tuple[int, ...], ...]


def plan_layers(config, density: float, align_ffn: int = ALIGN_FFN) -> LayerPlan:
    """Heads kept per layer ``round(density * heads)`` (at least one), then the FFN width, a multiple of
    ``align_ffn``, that brings the linear parameters closest to ``density`` of the dense ones."""
    hidden, heads, ffn = config.hidden_size, config.num_attention_heads, config.intermediate_size
    head_dim = getattr(config, "head_dim", None) or hidden // heads
    dense_layer = dense_linear_params(config) / config.num_hidden_layers
    keep_heads = min(heads, max(1, round(density * heads)))
    attention_only = linear_params_of_layer(hidden, keep_heads, head_dim, 0)
    ideal = (density * dense_layer - attention_only) / (2 * hidden + 1)  # each neuron: a row, a column, a bias
    candidates = {min(ffn, max(align_ffn, align_ffn * int(ideal // align_ffn) + step)) for step in (0, align_ffn)}
    neurons = min(candidates, key=lambda n: abs(linear_params_of_layer(hidden, keep_heads, head_dim, n)
                                                - density * dense_layer))
    achieved = linear_params_of_layer(hidden, keep_heads, head_dim, neurons) / dense_layer
    return LayerPlan(keep_heads, neurons, achieved)


def torch_prune(model: nn.Module, spec: PeerPruning, grad_batches=None) -> Pruned:
    """A pruned copy of ``model`` made by Torch-Pruning's ``MetaPruner`` (``model`` is left as it was).

    The embeddings and the QA head are ignored, which keeps the hidden size; each attention group loses whole heads
    (``prune_num_heads``, no head-dim pruning), each FFN group neurons, to the sizes :func:`plan_layers` gives.
    ``"taylor"`` needs ``grad_batches`` (training batches with start/end positions): their summed loss gradients
    score ``|w * dL/dw|``."""
    tp = _torch_pruning()
    plan = plan_layers(model.config, spec.density, spec.align_ffn)
    model = copy.deepcopy(model).float().eval().requires_grad_(True)
    parts = encoder_layers(model)
    heads, ffn = model.config.num_attention_heads, model.config.intermediate_size
    head_ratio = (heads - plan.heads - 0.5) / heads if plan.heads < heads else 0.0  # TP removes ceil(ratio * heads)
    ffn_ratio = 1 - (plan.neurons + 0.5) / ffn if plan.neurons < ffn else 0.0  # TP keeps int((1 - ratio) * ffn)
    ratios = {part.ffn_in: ffn_ratio for part in parts if ffn_ratio > 0}
    # the attention group must have a non-zero width ratio, or Torch-Pruning skips it and its heads with it;
    # with prune_head_dims=False that width ratio removes nothing by itself
    ratios.update({part.query: head_ratio for part in parts if head_ratio > 0})
    device = next(model.parameters()).device
    example = {name: torch.ones(1, 16, dtype=torch.long, device=device)
               for name in ("input_ids", "attention_mask", "token_type_ids")}
    importance = (tp.importance.GroupTaylorImportance() if spec.importance == "taylor"
                  else tp.importance.GroupMagnitudeImportance(p=2))
    pruner = tp.pruner.MetaPruner(
        model, example, importance=importance, pruning_ratio=0.0, pruning_ratio_dict=ratios,
        num_heads={linear: heads for part in parts for linear in (part.query, part.key, part.value)},
        prune_num_heads=True, prune_head_dims=False,
        head_pruning_ratio_dict={linear: head_ratio for part in parts for linear in (part.query, part.key, part.value)},
        ignored_layers=[base_model(model).embeddings, model.qa_outputs],  # keeps the hidden size
        output_transform=lambda out: out.start_logits.sum() + out.end_logits.sum())
    if spec.importance == "taylor":
        _accumulate_gradients(model, grad_batches, spec.taylor_batches)
    dropped_rows = {id(part.query): set() for part in parts}
    dropped_neurons = {id(part.ffn_in): set() for part in parts}
    for group in pruner.step(interactive=True):
        for dep, idxs in group:
            target, out = dep.target.module, pruner.DG.is_out_channel_pruning_fn(dep.handler)
            for seen in (dropped_rows, dropped_neurons):
                if out and id(target) in seen:
                    seen[id(target)].update(int(i) for i in idxs)
        group.prune()
    model.zero_grad(set_to_none=True)
    d = parts[0].head_dim
    kept_heads = tuple(tuple(h for h in range(heads) if not dropped_rows[id(p.query)] & set(range(h * d, h * d + d)))
                       for p in parts)
    kept_neurons = tuple(tuple(n for n in range(ffn) if n not in dropped_neurons[id(p.ffn_in)]) for p in parts)
    for part in encoder_layers(model):  # transformers reads the head count from Q's width; keep the attributes true
        part.self_attention.num_attention_heads = part.query.out_features // d
        part.self_attention.all_head_size = part.query.out_features
    pruned = Pruned(model.eval(), kept_heads, kept_neurons)
    _check_pruned(pruned, plan)
    return pruned


def _torch_pruning():
    try:
        import torch_pruning
    except ImportError as err:
        raise ImportError(f"the Torch-Pruning baseline needs torch_pruning: {INSTALL_HINT}") from err
    return torch_pruning


def _accumulate_gradients(model: nn.Module, batches, limit: int) -> None:
    """Sum the QA loss gradients of the first ``limit`` batches (eval mode: no dropout, so it is repeatable)."""
    if batches is None:
        raise ValueError("Taylor importance needs training batches (grad_batches) for its gradients: pass some, "
                         "or use importance='magnitude'")
    model.zero_grad(set_to_none=True)
    device = next(model.parameters()).device
    used = 0
    for batch in batches:
        if used == limit:
            break
        if "start_positions" not in batch:
            raise ValueError("Taylor batches need start_positions/end_positions: pass training windows "
                             "(tokenize_train + train_collator)")
        loss = model(**{k: v.to(device) for k, v in batch.items()}).loss
        (loss / limit).backward()
        used += 1
    if used == 0:
        raise ValueError("no training batches for the Taylor gradients: the training data is empty")


def _check_pruned(pruned: Pruned, plan: LayerPlan) -> None:
    """Torch-Pruning must have cut exactly the planned heads and neurons and nothing else (never the hidden size)."""
    config, tp_version = pruned.model.config, _version()
    for part, heads, neurons in zip(encoder_layers(pruned.model), pruned.kept_heads, pruned.kept_neurons):
        got = (part.num_heads, part.ffn_size, len(heads), len(neurons), part.query.in_features,
               part.attn_out.out_features, part.ffn_out.out_features)
        want = (plan.heads, plan.neurons, plan.heads, plan.neurons, *[config.hidden_size] * 3)
        if got != want:
            raise RuntimeError(f"torch-pruning {tp_version} pruned layer {part.index} to (heads, neurons, kept "
                               f"heads, kept neurons, hidden x3) {got}, planned {want}: this torch-pruning version "
                               f"prunes differently; {INSTALL_HINT}")


def _version() -> str:
    try:
        return metadata.version("torch-pruning")
    except metadata.PackageNotFoundError:
        return "(not installed)"


def zero_pruned(dense: nn.Module, kept_heads, kept_neurons) -> nn.Module:
    """A copy of the dense ``dense`` with every head and neuron not kept set to zero (Q, K, V rows and the output
    columns; FFN-in rows and FFN-out columns): what bmp's packer reads as dead."""
    model = copy.deepcopy(dense).float().eval()
    with torch.no_grad():
        for part, heads, neurons in zip(encoder_layers(model), kept_heads, kept_neurons):
            d = part.head_dim
            for h in sorted(set(range(part.num_heads)) - set(heads)):
                rows = slice(h * d, (h + 1) * d)
                for linear in (part.query, part.key, part.value):
                    linear.weight[rows] = 0
                    if linear.bias is not None:
                        linear.bias[rows] = 0
                part.attn_out.weight[:, rows] = 0
            dropped = sorted(set(range(part.ffn_size)) - set(neurons))
            part.ffn_in.weight[dropped] = 0
            if part.ffn_in.bias is not None:
                part.ffn_in.bias[dropped] = 0
            part.ffn_out.weight[:, dropped] = 0
    return model


def packed_from(dense: nn.Module, pruned: Pruned, align_ffn: int = ALIGN_FFN):
    """bmp's packed model of what Torch-Pruning kept: the zeroed dense copy, packed. Checked: same heads and
    neurons per layer as Torch-Pruning's model, and the same logits on a fixed input."""
    packed = pack(zero_pruned(dense, pruned.kept_heads, pruned.kept_neurons), align_ffn=align_ffn)
    sizes = [(p.num_heads, p.ffn_size) for p in encoder_layers(packed)]
    wanted = [(p.num_heads, p.ffn_size) for p in encoder_layers(pruned.model)]
    if sizes != wanted:
        raise RuntimeError(f"packing kept (heads, neurons) {sizes} per layer, Torch-Pruning {wanted}: a kept head "
                           "or neuron has all-zero weights, so bmp's packer reads it as dead")
    ids = torch.arange(1, 33).remainder(dense.config.vocab_size)[None]
    inputs = {"input_ids": ids, "attention_mask": torch.ones_like(ids), "token_type_ids": torch.zeros_like(ids)}
    with torch.no_grad():
        ours, theirs = packed.float()(**inputs), pruned.model(**inputs)
    gap = max((ours.start_logits - theirs.start_logits).abs().max(), (ours.end_logits - theirs.end_logits).abs().max())
    if gap > 1e-3:
        raise RuntimeError(f"the packed model's logits differ from Torch-Pruning's by {float(gap):.2g}: the kept "
                           "indices read from Torch-Pruning's groups don't match what it pruned")
    return packed


def pruned_model(teacher: nn.Module, spec: PeerPruning, folder: Path, tokenizer, batches=None):
    """The packed, untrained pruned model: read from ``folder`` if a run already saved it (a resumed run must
    continue the same model), else made with :func:`torch_prune` and saved there atomically."""
    info_path = folder / PRUNING_FILE
    if info_path.is_file():
        info = json.loads(info_path.read_text())
        if info["spec"] != asdict(spec):
            raise ValueError(f"{folder} holds a model pruned with {info['spec']}, not {asdict(spec)}: choose another "
                             "--output (or --name), or delete that folder to prune again")
        return load_saved(folder), info
    start = time.perf_counter()
    pruned = torch_prune(teacher, spec, batches)
    packed = packed_from(teacher, pruned, spec.align_ffn)
    info = {"spec": asdict(spec), "kept_heads": pruned.kept_heads, "kept_neurons": pruned.kept_neurons,
            "torch_pruning": _version(), "prune_s": round(time.perf_counter() - start, 1), "scope": "per-layer"}
    partial = folder.with_name(folder.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    save_packed(packed, partial, tokenizer)
    (partial / PRUNING_FILE).write_text(json.dumps(info, indent=1))
    partial.rename(folder)  # a kill before this line leaves only .partial, redone on resume
    return load_saved(folder), json.loads(json.dumps(info))


def taylor_batches(data: kit.QAData, tokenizer, profile: Profile, count: int) -> list[dict]:
    """The first ``count`` training batches in dataset order (fixed, so the Taylor scores are repeatable)."""
    from torch.utils.data import DataLoader

    from bmp.squad import train_collator

    loader = DataLoader(data.train_features, batch_size=profile.batch_size, collate_fn=train_collator(tokenizer))
    return [batch for batch, _ in zip(loader, range(count))]


def torch_pruning_run(teacher, linear_density: float, profile: Profile | None = None, output_dir=None,
                      data=None, epochs: float | None = None, importance: str = "taylor",
                      name: str | None = None, seed: int = kit.SEED, args=None, overwrite: bool = False,
                      **train_overrides) -> kit.RunResult:
    """Prune the teacher's heads and FFN neurons with Torch-Pruning to ``linear_density``, pack it, distil it for
    ``epochs`` (default: the profile's prune + fill epochs at the pruning learning rate, as bmp trains), then save,
    evaluate, time and record it as kind ``torch-pruning``."""
    spec = PeerPruning(linear_density, importance)
    profile = profile or get_profile()
    teacher = open_teacher(teacher)
    tokenizer = teacher.tokenizer
    data = qa_data(data, tokenizer, profile)
    name = name or kit.run_name(f"torch-pruning-{importance}-d{linear_density:g}-{profile.name}", seed)
    output_dir = Path(output_dir or Path("runs") / name)
    epochs = epochs or profile.prune_epochs + profile.epochs
    output_dir.mkdir(parents=True, exist_ok=True)
    batches = taylor_batches(data, tokenizer, profile, spec.taylor_batches) if importance == "taylor" else None
    torch.manual_seed(seed)
    student, info = pruned_model(teacher.model, spec, output_dir / "pruned", tokenizer, batches)
    trainer, train_s = distil_train(student, teacher, data, profile, output_dir, epochs=epochs,
                                    default_lr=profile.prune_learning_rate, args=args, overwrite=overwrite,
                                    settings={"kind": "torch-pruning", "teacher": str(teacher.folder),
                                              "spec": asdict(spec)}, seed=seed, **train_overrides)
    final = output_dir / "final"
    model = written(trainer.args, final, lambda folder: save_packed(trainer.model, folder, tokenizer))
    metrics, path = {}, None
    if trainer.args.should_save:
        teacher_dir = teacher.saved_folder(output_dir / "teacher")
        metrics = {**kit.model_metrics(model, final, teacher_dir, data, tokenizer, teacher.model.config),
                   "train_s": round(train_s, 1), "train_steps": trainer.state.global_step, "prune_s": info["prune_s"]}
        path = kit.record_run(name, "torch-pruning", metrics, profile, data, seed=seed, teacher=teacher.folder,
                              output_dir=final, importance=importance, target_density=linear_density, epochs=epochs,
                              scope=info["scope"], taylor_batches=spec.taylor_batches if importance == "taylor"
                              else None, align_ffn=spec.align_ffn, torch_pruning=info["torch_pruning"],
                              kept_heads=info["kept_heads"])
    return kit.RunResult(model, metrics, final, path)


def recorded_fill_rate(run: str, directories=None) -> float:
    """The packed fill rate (kept share of the encoder's linear parameters) of the record named ``run``: the budget
    at which the peer is compared with that run. Looks where new records go, then in the tracked data/results."""
    from bmp.results.records import RESULTS_DIR, load_records, results_dir

    directories = directories or list(dict.fromkeys([results_dir(), RESULTS_DIR]))
    for directory in directories:
        for found in load_records(directory):
            if found["name"] == run and found.get("metrics", {}).get("fill_rate") is not None:
                return round(float(found["metrics"]["fill_rate"]), FILL_RATE_DIGITS)
    raise ValueError(f"no record named {run!r} with a fill rate in {', '.join(map(str, directories))}: record that "
                     "run first (python -m bmp sweep), or give --density")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bmp torch-pruning", description=__doc__.splitlines()[0])
    add_run_flags(parser)
    budget = parser.add_mutually_exclusive_group(required=True)
    budget.add_argument("--density", type=float,
                        help="share of the encoder's linear parameters to keep, in (0, 1], e.g. 0.3")
    budget.add_argument("--like", metavar="RUN",
                        help="keep as many as a recorded run kept (its packed fill rate), "
                             "e.g. hybrid-lam240-course-filled")
    parser.add_argument("--importance", choices=IMPORTANCES, default="taylor")
    add_data_flags(parser)
    add_training_flags(parser)
    args = parser.parse_args(argv)
    density = args.density if args.like is None else recorded_fill_rate(args.like)
    overrides = trainer_overrides(args)
    result = torch_pruning_run(args.teacher, density, get_profile(args.profile), args.output, data=data_from(args),
                               epochs=overrides.pop("num_train_epochs", None), importance=args.importance,
                               name=args.name, seed=args.seed, overwrite=args.overwrite, **overrides)
    if result.metrics:
        print(result, {k: result.metrics[k] for k in ("f1", "fill_rate", "cpu_speedup")})


if __name__ == "__main__":
    from bmp.cli import run

    raise SystemExit(run(main))
