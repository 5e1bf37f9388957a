"""Packed (or dense) BERT-family QA model -> ONNX file, checked against torch before it is handed out.

The export uses the TorchScript exporter (``dynamo=False``): on these models it takes seconds and reproduces the
torch logits to ~1e-6, including packed layers with no heads or no FFN neurons left (zero-width matmuls are valid
ONNX). Attention is traced from transformers' eager implementation: the same function as SDPA, but a plain
MatMul-Softmax-MatMul graph that ONNX Runtime ran about 15% faster at batch 8 x 384 (fp32 and int8) than the
traced SDPA decomposition, and as fast at batch 1 x 128.

The file takes ``input_ids``, ``attention_mask`` and ``token_type_ids`` of shape ``(batch, sequence)``, both axes
dynamic, and returns ``start_logits`` and ``end_logits`` of the same shape. A DistilBERT file takes no
``token_type_ids`` (its model has none; :func:`input_names` says which inputs a model's file takes).
"""
from __future__ import annotations

import copy
import importlib.util
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from bmp.deploy.runtime import INPUT_NAMES, INSTALL_HINT, OUTPUT_NAMES, ort_session
from bmp.pruning.anatomy import UnsupportedModelError, anatomy_of

DEFAULT_OPSET = 17
# (batch, sequence) of the validation inputs: two shapes unlike the export example, so a shape baked into the
# graph by tracing shows up as a failure instead of a silently wrong model.
VALIDATION_SHAPES = ((3, 23), (1, 57))


@dataclass(frozen=True)
class ExportResult:
    """Where the ONNX file went, its opset, and the largest |logit difference| vs torch seen in validation
    (``nan`` when validation was skipped)."""

    path: Path
    opset: int
    max_abs_diff: float


def input_names(model: nn.Module) -> tuple[str, ...]:
    """The inputs ``model``'s ONNX file takes: :data:`INPUT_NAMES`, less ``token_type_ids`` for an architecture
    without them (DistilBERT)."""
    try:
        with_types = anatomy_of(model).token_types
    except UnsupportedModelError:
        with_types = True  # not one of the pruned families: give it every input, as before
    return INPUT_NAMES if with_types else tuple(name for name in INPUT_NAMES if name != "token_type_ids")


class _LogitsOnly(nn.Module):
    """Positional inputs in (``names`` in order), a ``(start, end)`` tuple out: the plain signature the ONNX graph
    gets."""

    def __init__(self, model: nn.Module, names: tuple[str, ...]):
        super().__init__()
        self.model, self.names = model, names

    def forward(self, *inputs):  # each (B, T) int64
        out = self.model(**dict(zip(self.names, inputs)))
        return out.start_logits, out.end_logits  # (B, T), (B, T)


def export_onnx(model: nn.Module, path: str | Path, *, opset: int = DEFAULT_OPSET, validate: bool = True,
                atol: float = 1e-4, attention: str = "eager") -> ExportResult:
    """Write ``model`` (a packed model from :func:`bmp.pack`, or a dense ``BertForQuestionAnswering``,
    ``RobertaForQuestionAnswering``, ``ElectraForQuestionAnswering`` or ``DistilBertForQuestionAnswering``) to
    ``path`` as ONNX, with dynamic batch and sequence axes.

    The model is exported in eval mode, fp32, on the CPU, with ``attention`` as its attention implementation (a
    copy is made when any of these differ; ``model`` itself is left as it was). With ``validate`` (the default),
    onnxruntime runs the file on random inputs of two shapes whose attention masks include padding, and a
    ValueError is raised when any logit differs from torch by more than ``atol``: a file that passes computes the
    model's function, not just something of the right shape. Layers with no heads or no FFN neurons left export
    as they are (zero-width matmuls).
    """
    _check_exportable(model)
    if importlib.util.find_spec("onnx") is None:
        raise ImportError(f"exporting to ONNX needs the onnx package: {INSTALL_HINT}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    source = _cpu_fp32(model, attention)
    was_training = source.training
    source.eval()
    try:
        example = random_inputs(source.config, batch=2, seq=16, seed=0)
        names = input_names(source)
        axes = {name: {0: "batch", 1: "sequence"} for name in (*names, *OUTPUT_NAMES)}
        with warnings.catch_warnings(), torch.no_grad():
            # The exporter's deprecation notice and tracer warnings about shape checks in transformers' mask
            # code; validation below is what says whether the graph is right.
            warnings.simplefilter("ignore")
            torch.onnx.export(_LogitsOnly(source, names), tuple(example[name] for name in names), str(path),
                              input_names=list(names), output_names=list(OUTPUT_NAMES),
                              dynamic_axes=axes, opset_version=opset, dynamo=False)
    finally:
        source.train(was_training)
    # against the caller's model itself (its own attention kernel and dtype), not the copy that was traced
    diff = check_onnx(model, path, atol=atol) if validate else float("nan")
    return ExportResult(path=path, opset=opset, max_abs_diff=diff)


def check_onnx(model: nn.Module, path: str | Path, *, atol: float = 1e-4, session=None) -> float:
    """Largest |logit difference| between ``model`` (torch) and the ONNX file at ``path`` over
    :data:`VALIDATION_SHAPES`; raises ValueError when it exceeds ``atol``."""
    if session is None:
        session = ort_session(path)
    model = _cpu_fp32(model)
    names = input_names(model)
    worst, was_training = 0.0, model.training
    for seed, (batch, seq) in enumerate(VALIDATION_SHAPES, start=1):
        inputs = {name: tensor for name, tensor in random_inputs(model.config, batch=batch, seq=seq, seed=seed).items()
                  if name in names}
        try:
            with torch.no_grad():
                out = model.eval()(**inputs)
        finally:
            model.train(was_training)
        got = session.run(list(OUTPUT_NAMES), {name: inputs[name].numpy() for name in names})
        for name, expected, actual in zip(OUTPUT_NAMES, (out.start_logits, out.end_logits), got):
            if actual.shape != tuple(expected.shape):
                raise ValueError(f"the ONNX file {path} gives {name} of shape {actual.shape} for inputs of shape "
                                 f"{(batch, seq)}, torch gives {tuple(expected.shape)}: the batch or sequence axis "
                                 "was fixed at export. Re-export with bmp.deploy.export_onnx, which marks them "
                                 "dynamic")
            diff = float(np.abs(actual - expected.numpy()).max())
            if not diff <= atol:  # also catches nan
                raise ValueError(
                    f"the ONNX file {path} differs from the torch model by {diff:.3g} in {name} (over atol={atol:g}) "
                    f"on inputs of shape {(batch, seq)} with padding in the attention mask. Export the model in fp32 "
                    f"eval mode (export_onnx does), try another opset (opset={DEFAULT_OPSET} is the tested one), "
                    "or pass validate=False to keep the file anyway")
            worst = max(worst, diff)
    return worst


def random_inputs(config, *, batch: int, seq: int, seed: int = 0) -> dict[str, torch.Tensor]:
    """Random ``input_ids``, ``token_type_ids`` (question then context) and an ``attention_mask`` in which every
    row after the first is padded, each to a different length; all ``(batch, seq)`` int64."""
    generator = torch.Generator().manual_seed(seed)
    input_ids = torch.randint(0, config.vocab_size, (batch, seq), generator=generator)  # (B, T)
    token_type_ids = torch.zeros_like(input_ids)
    token_type_ids[:, seq // 3:] = 1 if getattr(config, "type_vocab_size", 2) > 1 else 0
    attention_mask = torch.ones_like(input_ids)
    for row in range(1, batch):
        attention_mask[row, max(1, seq - row * seq // (batch + 1)):] = 0  # keep at least one real token
    if batch == 1 and seq > 2:
        attention_mask[0, -(seq // 4):] = 0
    return {"input_ids": input_ids, "attention_mask": attention_mask, "token_type_ids": token_type_ids}


def _check_exportable(model: nn.Module) -> None:
    config = getattr(model, "config", None)
    if config is None or not hasattr(model, "qa_outputs") or not hasattr(config, "vocab_size"):
        raise TypeError(f"export_onnx exports BERT-family question-answering models; got {type(model).__name__}. "
                        "Pass a BertForQuestionAnswering (or RoBERTa, ELECTRA, DistilBERT) or a packed model from "
                        "bmp.pack(model)")
    if any(hasattr(module, "masked_weight") for module in model.modules()):  # bmp's masked linears
        raise ValueError(f"{type(model).__name__} still has masked layers: exporting them would keep every pruned "
                         "weight and the mask arithmetic. Pack it first: export_onnx(bmp.pack(model), path)")
    if "_original_forward" in vars(model):
        raise ValueError("the model still carries a training loop's mixed-precision forward wrapper; export the "
                         "saved model instead (bmp.load_packed(folder) or from_pretrained)")


def _cpu_fp32(model: nn.Module, attention: str | None = None) -> nn.Module:
    """``model`` when it is already fp32 on the CPU (with ``attention`` as its attention implementation, when
    given), else a copy that is: ONNX Runtime runs it there in fp32."""
    parameter = next(model.parameters())
    same_attention = attention is None or model.config._attn_implementation == attention
    if parameter.device.type == "cpu" and parameter.dtype == torch.float32 and same_attention:
        return model
    copied = copy.deepcopy(model).to(device="cpu", dtype=torch.float32)
    if not same_attention:
        copied.set_attn_implementation(attention)
    return copied


__all__ = ["DEFAULT_OPSET", "ExportResult", "check_onnx", "export_onnx", "input_names", "random_inputs"]
