"""The peer baseline: Torch-Pruning cuts the teacher's heads and FFN neurons, then it is distilled as long as bmp.

Torch-Pruning (``torch-pruning`` 1.6) is what a user would reach for instead of bmp: it removes whole attention heads
and FFN neurons, by weight magnitude or first-order Taylor importance, through its dependency graph. The result is
distilled for as many steps as bmp's prune + fill, then packed, timed and recorded like bmp's own runs.

Only heads and FFN neurons go, never the hidden size (embeddings, LayerNorms, every layer's input), and the six
encoder linears keep ``density`` of their parameters. How many each layer keeps (:mod:`bmp.training.peer_plan`):

- ``--scope global`` (the default, what its users pick): heads ranked against heads and neurons against neurons
  across all layers, as ``MetaPruner(global_pruning=True)`` ranks them, so layers differ;
- ``--scope per-layer``: the same counts in every layer (its local pruning, its BERT example's setting);
- ``--iterative-steps N``: N steps on its linear schedule, each scored afresh on ``--taylor-batches`` new training
  batches (no training between steps: the distillation comes after, as for one shot).

bmp counts and Torch-Pruning cuts, rather than ``MetaPruner`` doing both, because ``MetaPruner`` can miss the budget:
its dependency graph refuses to empty a layer, so a global ranking that would take a layer's last head skips that
layer's heads altogether, and its local head schedule compounds over steps (ceil(ratio x heads left) each step).

    python -m bmp torch-pruning --teacher runs/teacher-course/final --density 0.3 --iterative-steps 4
    python -m bmp torch-pruning --teacher runs/teacher-course/final --like hybrid-lam240-course-filled --scope per-layer
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
from bmp.packing.pack import ALIGN_FFN, pack
from bmp.packing.saving import save_packed
from bmp.profiles import SEED, Profile, get_profile
from bmp.pruning.anatomy import encoder_layers
from bmp.squad import train_collator
from bmp.training import flags
from bmp.training.evaluation import QAData
from bmp.training.peer_plan import (
    SCOPES,
    budget,
    kept_units,
    layer_counts,
    recorded_fill_rate,
    step_densities,
)
from bmp.training.skeleton import (
    RunResult,
    distil_train,
    main_first,
    model_metrics,
    open_distil_run,
    record_run,
    run_arguments,
    written,
)

IMPORTANCES = ("taylor", "magnitude")
TAYLOR_BATCHES = 8  # training batches whose summed gradients score the Taylor importance, at every step
INSTALL_HINT = "install the peer extra: pip install -e '.[peer]' (torch-pruning>=1.6,<1.7)"
PRUNING_FILE = "peer_pruning.json"  # next to the saved pruned model: what was kept, and how it was chosen
BEFORE_SCOPES = {"scope": "per-layer", "iterative_steps": 1}  # what a pruned folder saved before these existed was


@dataclass(frozen=True)
class PeerPruning:
    """How Torch-Pruning prunes: the linear density to keep, the importance, the scope of its ranking (``global``
    across layers or ``per-layer``), the steps it takes, and the FFN width alignment."""

    density: float
    importance: str = "taylor"
    taylor_batches: int = TAYLOR_BATCHES  # fresh ones at each step
    align_ffn: int = ALIGN_FFN  # kept neurons are a multiple of this, so packing adds no padding
    scope: str = "global"
    iterative_steps: int = 1  # 1: one shot

    def __post_init__(self):
        if not 0 < self.density <= 1:
            raise ValueError(f"density must lie in (0, 1] (the share of the encoder's linear parameters kept), "
                             f"got {self.density}: e.g. --density 0.3")
        if self.importance not in IMPORTANCES:
            raise ValueError(f"unknown importance {self.importance!r}: choose one of {', '.join(IMPORTANCES)}")
        if self.scope not in SCOPES:
            raise ValueError(f"unknown scope {self.scope!r}: choose --scope global (heads and neurons ranked across "
                             "layers) or --scope per-layer (the same counts in every layer)")
        for flag, value in (("--taylor-batches", self.taylor_batches), ("--iterative-steps", self.iterative_steps),
                            ("align_ffn", self.align_ffn)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{flag} must be a whole number >= 1, got {value!r}: e.g. {flag} 4"
                                 + (" (1 = one shot)" if flag == "--iterative-steps" else ""))

    @property
    def label(self) -> str:
        """The part of a run's name that tells the variants apart: ``taylor-global-it4``, ``magnitude-per-layer``."""
        steps = f"-it{self.iterative_steps}" if self.iterative_steps > 1 else ""
        batches = (f"-tb{self.taylor_batches}" if self.importance == "taylor" and self.taylor_batches != TAYLOR_BATCHES
                   else "")
        return f"{self.importance}-{self.scope}{steps}{batches}"


@dataclass(frozen=True)
class Pruned:
    """Torch-Pruning's pruned model (transformers classes, narrower linears), which original heads and neurons each
    layer kept, in order, and what each step kept per layer."""

    model: nn.Module
    kept_heads: tuple[tuple[int, ...], ...]
    kept_neurons: tuple[tuple[int, ...], ...]
    steps: tuple[dict, ...] = ()  # per step: its density, and the heads and neurons each layer kept


def torch_prune(model: nn.Module, spec: PeerPruning, grad_batches=None) -> Pruned:
    """A pruned copy of ``model`` made with Torch-Pruning (``model`` is left as it was).

    At each of ``spec.iterative_steps`` steps Torch-Pruning's importance scores every head and FFN neuron,
    :func:`~bmp.training.peer_plan.layer_counts` says how many each layer keeps at the step's density (the same in
    every layer, or ranked across layers), and Torch-Pruning's dependency graph removes each layer's lowest-scored
    ones: whole heads (Q, K, V rows and the output's columns), FFN rows and columns. The embeddings and the QA head
    stay, so the hidden size does. ``"taylor"`` needs ``grad_batches`` (training batches with start/end positions):
    each step sums the loss gradients of ``spec.taylor_batches`` fresh ones to score ``|w * dL/dw|``. Nothing is
    trained between steps; only the scores are renewed on the smaller model."""
    tp = _torch_pruning()
    model = copy.deepcopy(model).float().eval().requires_grad_(True)
    config, parts = model.config, encoder_layers(model)
    kept_heads = [list(range(part.num_heads)) for part in parts]
    kept_neurons = [list(range(part.ffn_size)) for part in parts]
    importance = (tp.importance.GroupTaylorImportance() if spec.importance == "taylor"
                  else tp.importance.GroupMagnitudeImportance(p=2))
    device = next(model.parameters()).device
    example = {name: torch.ones(1, 16, dtype=torch.long, device=device)
               for name in ("input_ids", "attention_mask", "token_type_ids")}
    steps = []
    for step, density in enumerate(step_densities(spec.density, spec.iterative_steps)):
        graph = tp.DependencyGraph().build_dependency(
            model, example_inputs=example, output_transform=lambda out: out.start_logits.sum() + out.end_logits.sum())
        if spec.importance == "taylor":
            _accumulate_gradients(model, _step_batches(grad_batches, step, spec.taylor_batches), spec.taylor_batches)
        parts = encoder_layers(model)
        groups = [(graph.get_pruning_group(p.query, tp.prune_linear_out_channels, list(range(p.query.out_features))),
                   graph.get_pruning_group(p.ffn_in, tp.prune_linear_out_channels, list(range(p.ffn_size))))
                  for p in parts]
        head_scores = [importance(heads).view(p.num_heads, -1).mean(1) for p, (heads, _) in zip(parts, groups)]
        neuron_scores = [importance(neurons) for _, neurons in groups]
        counts = layer_counts(head_scores, neuron_scores, config, density, spec.scope, spec.align_ffn)
        for i, part in enumerate(parts):
            heads, neurons = kept_units(head_scores[i], counts[0][i]), kept_units(neuron_scores[i], counts[1][i])
            d = part.head_dim
            _cut(graph, part.query, [h * d + j for h in range(part.num_heads) if h not in heads for j in range(d)])
            _cut(graph, part.ffn_in, [n for n in range(part.ffn_size) if n not in neurons])
            kept_heads[i] = [kept_heads[i][h] for h in heads]
            kept_neurons[i] = [kept_neurons[i][n] for n in neurons]
            part.self_attention.num_attention_heads = len(heads)  # transformers reads the head count from Q's width;
            part.self_attention.all_head_size = len(heads) * d  # keep the attributes true
        steps.append({"density": round(density, 4), "heads": [len(h) for h in kept_heads],
                      "neurons": [len(n) for n in kept_neurons]})
    model.zero_grad(set_to_none=True)
    pruned = Pruned(model.eval(), tuple(map(tuple, kept_heads)), tuple(map(tuple, kept_neurons)), tuple(steps))
    _check_pruned(pruned, spec)
    return pruned


def _cut(graph, linear: nn.Module, rows: list[int]) -> None:
    """Remove ``rows`` of ``linear``'s output and everything coupled to them (Torch-Pruning's dependency graph)."""
    if not rows:
        return
    group = graph.get_pruning_group(linear, _torch_pruning().prune_linear_out_channels, rows)
    if not graph.check_pruning_group(group):
        raise RuntimeError(f"torch-pruning {_version()} refused to remove {len(rows)} of {linear.out_features} "
                           f"outputs of {linear}: a layer must keep at least one head and one neuron")
    group.prune()


def _step_batches(batches, step: int, count: int) -> list | None:
    """The ``count`` batches that score step ``step``: fresh ones, wrapping round when the list runs out."""
    if batches is None:
        return None
    batches = list(batches)
    return [batches[(step * count + i) % len(batches)] for i in range(min(count, len(batches)))]


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


def _check_pruned(pruned: Pruned, spec: PeerPruning) -> None:
    """Torch-Pruning must have cut exactly the planned heads and neurons and nothing else (never the hidden size)."""
    config, tp_version = pruned.model.config, _version()
    parts = encoder_layers(pruned.model)
    for part, heads, neurons in zip(parts, pruned.kept_heads, pruned.kept_neurons):
        got = (len(heads), len(neurons), part.query.in_features, part.attn_out.out_features, part.ffn_out.out_features)
        if got != (part.num_heads, part.ffn_size, *[config.hidden_size] * 3):
            raise RuntimeError(f"torch-pruning {tp_version} left layer {part.index} with {part.num_heads} heads and "
                               f"{part.ffn_size} neurons, hidden sizes {got[2:]}, but the kept indices say {got[:2]}: "
                               f"this torch-pruning version prunes differently; {INSTALL_HINT}")
    want = budget(config, spec.density, spec.scope, spec.align_ffn)
    heads, neurons = [p.num_heads for p in parts], [p.ffn_size for p in parts]
    if (sum(heads), sum(neurons)) != (want.heads, want.neurons) or (
            spec.scope == "per-layer" and len(set(heads)) + len(set(neurons)) > 2):
        raise RuntimeError(f"torch-pruning {tp_version} kept heads {heads} and neurons {neurons} per layer; the "
                           f"{spec.scope} budget is {want.heads} heads and {want.neurons} neurons in all")


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
        info["spec"] = {**BEFORE_SCOPES, **info["spec"]}
        if info["spec"] != asdict(spec):
            raise ValueError(f"{folder} holds a model pruned with {info['spec']}, not {asdict(spec)}: choose another "
                             "--output (or --name), or delete that folder to prune again")
        return load_saved(folder), info
    start = time.perf_counter()
    pruned = torch_prune(teacher, spec, batches)
    packed = packed_from(teacher, pruned, spec.align_ffn)
    info = {"spec": asdict(spec), "kept_heads": pruned.kept_heads, "kept_neurons": pruned.kept_neurons,
            "torch_pruning": _version(), "prune_s": round(time.perf_counter() - start, 1), "steps": pruned.steps}
    partial = folder.with_name(folder.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    save_packed(packed, partial, tokenizer)
    (partial / PRUNING_FILE).write_text(json.dumps(info, indent=1))
    partial.rename(folder)  # a kill before this line leaves only .partial, redone on resume
    return load_saved(folder), json.loads(json.dumps(info))


def training_batches(data: QAData, tokenizer, profile: Profile, count: int) -> list[dict]:
    """The first ``count`` training batches in dataset order (fixed, so the Taylor scores are repeatable)."""
    from torch.utils.data import DataLoader

    loader = DataLoader(data.train_features, batch_size=profile.batch_size, collate_fn=train_collator(tokenizer))
    return [batch for batch, _ in zip(loader, range(count))]


def torch_pruning_run(teacher, linear_density: float, profile: Profile | None = None, output_dir=None,
                      data=None, epochs: float | None = None, importance: str = "taylor",
                      name: str | None = None, seed: int = SEED, args=None, overwrite: bool = False,
                      scope: str = "global", iterative_steps: int = 1, taylor_batches: int = TAYLOR_BATCHES,
                      max_seq_length: int | None = None, doc_stride: int | None = None,
                      **train_overrides) -> RunResult:
    """Prune the teacher's heads and FFN neurons with Torch-Pruning to ``linear_density`` (ranked across layers or
    per layer, in ``iterative_steps`` steps), pack it, distil it for ``epochs`` (default: the profile's prune + fill
    epochs at the pruning learning rate, as bmp trains), then save, evaluate, time and record it as kind
    ``torch-pruning``, named after its variant (``torch-pruning-taylor-global-it4-d0.3-course``)."""
    spec = PeerPruning(linear_density, importance, taylor_batches, scope=scope, iterative_steps=iterative_steps)
    profile = profile or get_profile()
    run = open_distil_run(teacher, data, profile, base=f"torch-pruning-{spec.label}-d{linear_density:g}-{profile.name}",
                          seed=seed, name=name, output_dir=output_dir, epochs=epochs, args=args,
                          max_seq_length=max_seq_length, doc_stride=doc_stride)
    teacher, data, seed, name, output_dir, epochs = (run.teacher, run.data, run.seed, run.name, run.output_dir,
                                                     run.epochs)
    tokenizer = teacher.tokenizer
    output_dir.mkdir(parents=True, exist_ok=True)
    batches = (training_batches(data, tokenizer, profile, spec.taylor_batches * spec.iterative_steps)
               if importance == "taylor" else None)
    args = run_arguments(profile, output_dir, args, default_epochs=epochs, default_lr=profile.prune_learning_rate,
                         **({} if args is not None else {"seed": seed, **train_overrides}))
    with main_first(args):  # the main process prunes and saves; the others then read the saved model
        torch.manual_seed(seed)
        student, info = pruned_model(teacher.model, spec, output_dir / "pruned", tokenizer, batches)
    trainer, train_s = distil_train(student, teacher, data, profile, output_dir, epochs=epochs,
                                    default_lr=profile.prune_learning_rate, args=args, overwrite=overwrite,
                                    settings={"kind": "torch-pruning", "teacher": str(teacher.folder),
                                              "spec": asdict(spec)})
    final = output_dir / "final"
    model = written(trainer.args, final, lambda folder: save_packed(trainer.model, folder, tokenizer))
    metrics, path = {}, None
    if trainer.args.should_save:
        teacher_dir = teacher.saved_folder(output_dir / "teacher")
        metrics = {**model_metrics(model, final, teacher_dir, data, tokenizer, teacher.model.config,
                                  bf16=trainer.args.bf16),
                   "train_s": round(train_s, 1), "train_steps": trainer.state.global_step, "prune_s": info["prune_s"]}
        path = record_run(name, "torch-pruning", metrics, profile, data, seed=seed, bf16=trainer.args.bf16,
                          teacher=teacher.folder,
                          output_dir=final, importance=importance, target_density=linear_density, epochs=epochs,
                          scope=spec.scope, iterative_steps=spec.iterative_steps,
                          taylor_batches=spec.taylor_batches if importance == "taylor" else None,
                          align_ffn=spec.align_ffn, torch_pruning=info["torch_pruning"],
                          kept_heads=info["kept_heads"])
    return RunResult(model, metrics, final, path)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bmp torch-pruning", description=__doc__.splitlines()[0])
    flags.add_run_flags(parser)
    amount = parser.add_mutually_exclusive_group(required=True)
    amount.add_argument("--density", type=float,
                        help="share of the encoder's linear parameters to keep, in (0, 1], e.g. 0.3")
    amount.add_argument("--like", metavar="RUN",
                        help="keep as many as a recorded run kept (its packed fill rate), "
                             "e.g. hybrid-lam240-course-filled")
    parser.add_argument("--importance", choices=IMPORTANCES, default="taylor")
    parser.add_argument("--scope", choices=SCOPES, default="global",
                        help="global: heads and neurons ranked across layers (default); per-layer: the same counts "
                             "in every layer (Torch-Pruning's local pruning)")
    parser.add_argument("--iterative-steps", type=int, default=1, metavar="N",
                        help="prune in N steps, rescoring on fresh batches before each (default 1: one shot)")
    parser.add_argument("--taylor-batches", type=int, default=TAYLOR_BATCHES, metavar="N",
                        help=f"training batches that score each step's Taylor importance (default {TAYLOR_BATCHES})")
    flags.add_data_flags(parser)
    flags.add_training_flags(parser)
    args = parser.parse_args(argv)
    density = args.density if args.like is None else recorded_fill_rate(args.like)
    overrides = flags.trainer_overrides(args)
    result = torch_pruning_run(args.teacher, density, get_profile(args.profile), args.output,
                               data=flags.data_from(args), epochs=overrides.pop("num_train_epochs", None),
                               importance=args.importance, name=args.name, seed=args.seed, overwrite=args.overwrite,
                               scope=args.scope,
                               iterative_steps=args.iterative_steps, taylor_batches=args.taylor_batches,
                               **flags.sequence_from(args), **overrides)
    if result.metrics:
        print(result, {k: result.metrics[k] for k in ("f1", "fill_rate", "cpu_speedup")})


if __name__ == "__main__":
    from bmp.cli import run

    raise SystemExit(run(main))
