"""Answer a question about a context with any QA model (dense, masked or packed).

transformers 5 removed the ``question-answering`` pipeline; this is the same path in a few lines: windows with
offsets, one forward pass, the best span mapped back to text.
"""
from __future__ import annotations

import torch

from bmp.squad.features import EVAL_ONLY_COLUMNS, prepare_eval_features
from bmp.squad.postprocess import postprocess_predictions


@torch.inference_mode()
def answer(question: str, context: str, model, tokenizer, max_length: int = 384, doc_stride: int = 128,
           max_answer_length: int = 30) -> str:
    examples = {"id": ["q"], "question": [question], "context": [context]}
    features = prepare_eval_features(examples, tokenizer, max_length, doc_stride)
    inputs = {k: v for k, v in features.items() if k not in EVAL_ONLY_COLUMNS}
    batch = tokenizer.pad(inputs, return_tensors="pt")
    device = next(model.parameters()).device
    was_training = model.training
    out = model.eval()(**{k: v.to(device) for k, v in batch.items()})
    model.train(was_training)
    start, end = out.start_logits.float().cpu().numpy(), out.end_logits.float().cpu().numpy()
    prediction = postprocess_predictions([{"id": "q", "context": context}], features, start, end,
                                         max_answer_length=max_answer_length)
    return prediction["q"]
