"""Run exported models with ONNX Runtime: a session set up for fair CPU timing, int8 weights, and a wrapper that
answers like a Hugging Face QA model.

ONNX Runtime's transformer optimizer (``onnxruntime.transformers.optimizer.optimize_model``, model_type "bert") is
not offered. On a packed MiniLM it can't fuse attention: heads differ per layer, so with ``num_heads=0`` it finds
no head count and fuses only the GELU and skip-LayerNorm ops, and that graph ran 15-25% *slower* than the plain
export under ``ORT_ENABLE_ALL`` (fp32 and int8, batch 8 x 384 and 1 x 128); with ``num_heads=12`` it fuses every
layer as 12 heads and the file fails to load ("hidden_size should be divisible by num_heads"). Its output also
needs ``DefaultTensorType`` before int8 quantisation accepts it.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

INPUT_NAMES = ("input_ids", "attention_mask", "token_type_ids")  # what an exported QA model takes, in order
OUTPUT_NAMES = ("start_logits", "end_logits")
INSTALL_HINT = 'install the deploy extra: pip install -e ".[deploy]" (onnx, onnxruntime, onnxscript)'


def _onnxruntime():
    try:
        import onnxruntime
    except ImportError as err:
        raise ImportError(f"running ONNX models needs onnxruntime: {INSTALL_HINT}") from err
    return onnxruntime


# Graph rewrites ORT_ENABLE_ALL would make that slow these models down. SkipLayerNormFusion folds the residual add,
# and the bias add of the matmul before it, into one SkipLayerNormalization kernel; in an int8 graph that bias
# would otherwise fold into the quantised matmul (MatMulIntegerToFloat), and the fused kernel ran slower than the
# ops it replaced. `python -m bmp.bench deploy --shape best:4` run twice in a row, with and without
# --fuse-skip-layernorm, on 2 threads (the shape of the hybrid λ480 run): ONNX Runtime int8 packed took a median
# 82.8 ms fused and 67.3 ms not at batch 8 x 384 (1.52x and 1.80x torch packed), with fp32 unaffected.
DISABLED_OPTIMIZERS = ("SkipLayerNormFusion",)


def ort_session(path: str | Path, threads: int = 2, disabled_optimizers: tuple[str, ...] = DISABLED_OPTIMIZERS,
                optimized_path: str | Path | None = None):
    """An ``onnxruntime.InferenceSession`` on the CPU with ``threads`` intra-op threads, one inter-op thread,
    every graph optimisation but ``disabled_optimizers`` (see :data:`DISABLED_OPTIMIZERS`), and worker threads
    that sleep between runs. With ``optimized_path``, the graph ONNX Runtime actually runs is saved there.

    Spinning is off because ORT's default keeps its workers busy-waiting after each run: on a small shared CPU
    they then steal the cores from whatever runs next (a torch model timed in the same round, the tokenizer),
    which makes interleaved timings unfair and slows the rest of the program.
    """
    ort = _onnxruntime()
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no ONNX file at {path}: write one with bmp.deploy.export_onnx(model, path)")
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.add_session_config_entry("session.inter_op.allow_spinning", "0")
    if optimized_path is not None:
        options.optimized_model_filepath = str(optimized_path)
    return ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"],
                                disabled_optimizers=list(disabled_optimizers))


def quantize_int8(onnx_path: str | Path, out_path: str | Path, per_channel: bool = True) -> Path:
    """Dynamic int8 quantisation of every MatMul weight (``QInt8``; activations are quantised on the fly).

    ``per_channel=True`` (the default) gives each output column its own scale. On a pruned-and-filled MiniLM it
    cost about 0.4 F1 against 2.2 F1 for one scale per matrix: pruning leaves weight columns of very different
    ranges, which a single scale serves badly. Empty weights (layers with no heads or no FFN neurons left) are left
    in fp32: there is nothing to quantise, and the quantiser can't take the range of an empty tensor.
    """
    _onnxruntime()
    import onnx
    from onnx import numpy_helper
    from onnxruntime.quantization import QuantType, quantize_dynamic

    onnx_path, out_path = Path(onnx_path), Path(out_path)
    if not onnx_path.is_file():
        raise FileNotFoundError(f"no ONNX file at {onnx_path}: write one with bmp.deploy.export_onnx(model, path)")
    graph = onnx.load(str(onnx_path)).graph
    empty = {tensor.name for tensor in graph.initializer if numpy_helper.to_array(tensor).size == 0}
    skip = [node.name for node in graph.node if empty.intersection(node.input)]
    out_path.parent.mkdir(parents=True, exist_ok=True)
    hint = _DropLogMessage("pre-processing before quantization")  # a static-quantisation hint; this is dynamic
    logging.getLogger().addFilter(hint)
    try:
        quantize_dynamic(onnx_path, out_path, per_channel=per_channel, weight_type=QuantType.QInt8,
                         nodes_to_exclude=skip or None)
    finally:
        logging.getLogger().removeFilter(hint)
    return out_path


class _DropLogMessage(logging.Filter):
    def __init__(self, text: str):
        super().__init__()
        self.text = text

    def filter(self, record: logging.LogRecord) -> bool:
        return self.text not in record.getMessage()


@dataclass(frozen=True)
class QAOutput:
    """What a Hugging Face QA model returns, as far as evaluation reads it: ``(batch, sequence)`` logits."""

    start_logits: torch.Tensor
    end_logits: torch.Tensor


class OrtQAModel:
    """An ONNX Runtime session that is called like a Hugging Face QA model::

        model = OrtQAModel(ort_session("model.onnx"))
        out = model(input_ids=ids, attention_mask=mask, token_type_ids=types)  # out.start_logits: torch (B, T)

    so evaluation written for torch models (the fine-tuning code's ``evaluate_qa``, :func:`bmp.squad.answer.answer`)
    runs unchanged: it also has ``training``, ``eval()``, ``train(False)`` and a ``parameters()`` that says "CPU".

    A thin wrapper rather than Optimum's ``ORTModelForQuestionAnswering``: optimum-onnx (0.1.0, the newest)
    requires transformers < 4.58 and fails to import under transformers 5, which bmp needs; and its exporter only
    knows stock architectures, not the per-layer head and neuron counts of ``packed_bert``.
    """

    training = False

    def __init__(self, session):
        if isinstance(session, (str, Path)):
            session = ort_session(session)
        names = [node.name for node in session.get_inputs()]
        missing = [name for name in ("input_ids", "attention_mask") if name not in names]
        outputs = [node.name for node in session.get_outputs()]
        if missing or any(name not in outputs for name in OUTPUT_NAMES):
            raise ValueError(f"the session takes {names} and returns {outputs}; a QA model needs inputs "
                             f"{list(INPUT_NAMES)} and outputs {list(OUTPUT_NAMES)}: export it with "
                             "bmp.deploy.export_onnx")
        self.session = session
        self.input_names = tuple(names)
        self._cpu = torch.empty(0)  # what parameters() yields: callers only read its device

    def __call__(self, input_ids, attention_mask=None, token_type_ids=None, **unused) -> QAOutput:
        ids = _int64(input_ids)  # (B, T)
        given = {"input_ids": ids,
                 "attention_mask": np.ones_like(ids) if attention_mask is None else _int64(attention_mask),
                 "token_type_ids": np.zeros_like(ids) if token_type_ids is None else _int64(token_type_ids)}
        start, end = self.session.run(list(OUTPUT_NAMES), {name: given[name] for name in self.input_names})
        return QAOutput(torch.from_numpy(start), torch.from_numpy(end))  # (B, T) each, fp32

    @property
    def device(self) -> torch.device:
        return torch.device("cpu")

    def parameters(self):
        yield self._cpu

    def eval(self) -> OrtQAModel:
        return self

    def train(self, mode: bool = True) -> OrtQAModel:
        if mode:
            raise ValueError("an ONNX Runtime session can't be trained: train the torch model, then export it again")
        return self


def _int64(values) -> np.ndarray:
    if isinstance(values, torch.Tensor):
        values = values.detach().cpu().numpy()
    return np.ascontiguousarray(values, dtype=np.int64)


__all__ = ["INPUT_NAMES", "INSTALL_HINT", "OUTPUT_NAMES", "OrtQAModel", "QAOutput", "ort_session", "quantize_int8"]
