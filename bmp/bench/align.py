"""Why packed sizes are padded: ``python -m bmp.bench align [--batch 128 --seq 384 --record]`` (needs a GPU).

The measurement is :func:`bmp.speed.alignment.measure_alignment`; without a GPU this returns
``{"skipped": "no GPU"}`` unless ``--device cpu`` is given (for a dry run of the code path).
"""
from __future__ import annotations

import argparse
from dataclasses import asdict, fields

import torch

from bmp.speed.alignment import DTYPES, AlignmentProbe, measure_alignment


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bmp.bench align", description=__doc__.splitlines()[0])
    parser.add_argument("--device", default=None, help="default: cuda when available, else skip")
    parser.add_argument("--dtype", choices=sorted(DTYPES), default=AlignmentProbe.dtype)
    for field in fields(AlignmentProbe):
        if field.name != "dtype":
            parser.add_argument(f"--{field.name.replace('_', '-')}", type=int, default=field.default)
    parser.add_argument("--record", action="store_true", help="write the result to data/results (kind 'align')")
    return parser.parse_args(argv)


def main(argv: list[str]) -> dict:
    args = parse_args(argv)
    if args.device is None and not torch.cuda.is_available():
        return {"bench": "align", "skipped": "no GPU"}
    probe = AlignmentProbe(**{field.name: getattr(args, field.name) for field in fields(AlignmentProbe)})
    device = torch.device(args.device or "cuda")
    result = measure_alignment(probe, device)
    if args.record:
        from bmp.results.records import hardware, hardware_label, provenance, record

        name = f"{hardware_label(hardware()) if device.type == 'cuda' else 'cpu'}-{args.dtype}-b{args.batch}x{args.seq}"
        path = record(name, "align", result, provenance(base_model="random BERT-base shape", data_split="none "
                      "(synthetic batch)", profile="bench"), config={**asdict(probe), "device": str(device)})
        result["record"] = str(path)
    return result

