"""Deploy packed models: export to ONNX (checked against torch), run with ONNX Runtime, quantise to int8.

    result = export_onnx(bmp.pack(model), "model.onnx")        # result.max_abs_diff: vs torch, with padding
    quantize_int8("model.onnx", "model-int8.onnx")                   # per-channel int8 weights
    qa = OrtQAModel(ort_session("model-int8.onnx", threads=2))       # called like a Hugging Face QA model
    bmp.squad.answer.answer(questions, contexts, qa, tokenizer)

Needs the ``deploy`` extra (onnx, onnxruntime, onnxscript); importing this package does not.
"""
from bmp.deploy.export import ExportResult, check_onnx, export_onnx
from bmp.deploy.runtime import OrtQAModel, QAOutput, ort_session, quantize_int8

__all__ = ["ExportResult", "OrtQAModel", "QAOutput", "check_onnx", "export_onnx", "ort_session", "quantize_int8"]
