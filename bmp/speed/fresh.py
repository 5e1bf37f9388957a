"""A saved model's CPU speedup over its saved dense teacher, measured in a fresh Python process.

Run records time the folders they saved in a new process: that is what a user who loads the model gets, and it
keeps whatever state a training process leaves behind (allocator, threads, autocast wrappers) out of the timing.
Speeds that are compared with each other come from one ``python -m bmp.bench timing`` run instead, which times
every model in the same process.

    python -m bmp.speed.fresh runs/teacher-course/final runs/hybrid-lam40-course/filled   # prints one JSON line
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import torch

from bmp.speed.timing import CPU_SETTING

BATCH, SEQ, REPEATS = CPU_SETTING.batch, CPU_SETTING.seq, CPU_SETTING.repeats


def cpu_speedup(model, dense, batch: int = BATCH, seq: int = SEQ, repeats: int = REPEATS) -> dict:
    """Forward-pass speedup of ``model`` over ``dense`` on CPU (fp32), both timed in the same interleaved run."""
    from bmp.speed.timing import synthetic_batch, time_interleaved

    input_ids, attention_mask = synthetic_batch(dense.config.vocab_size, batch, seq)
    timings = time_interleaved({"dense": dense, "packed": model}, input_ids, attention_mask, repeats=repeats,
                               device="cpu", dtype=torch.float32)
    return {"cpu_speedup": timings["dense"].median_s / timings["packed"].median_s,
            "cpu_dense_median_s": timings["dense"].median_s, "cpu_packed_median_s": timings["packed"].median_s,
            "cpu_timing": {"batch": batch, "seq": seq, "threads": timings["packed"].threads, "repeats": repeats,
                           "packed_spread": timings["packed"].spread, "dense_spread": timings["dense"].spread}}


def saved_speedup(dense_dir, model_dir, batch: int = BATCH, seq: int = SEQ, repeats: int = REPEATS) -> dict:
    """:func:`cpu_speedup` of two saved folders, loaded and timed in this process."""
    from bmp.models import load_saved

    return cpu_speedup(load_saved(model_dir), load_saved(dense_dir), batch, seq, repeats)


def fresh_speedup(dense_dir, model_dir, batch: int = BATCH, seq: int = SEQ, repeats: int = REPEATS) -> dict:
    """:func:`saved_speedup` run in a new Python process (see the module docstring for why)."""
    command = [sys.executable, "-m", "bmp.speed.fresh", str(Path(dense_dir).resolve()), str(Path(model_dir).resolve()),
               "--batch", str(batch), "--seq", str(seq), "--repeats", str(repeats)]
    package_root = str(Path(__file__).resolve().parents[2])  # so that the child imports this same bmp
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")]))}
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"timing {model_dir} against {dense_dir} in a fresh process failed "
                           f"(exit {done.returncode}):\n{done.stderr[-2000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["cpu_timing"]["fresh_process"] = True
    return result


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m bmp.speed.fresh", description=__doc__.splitlines()[0])
    parser.add_argument("dense", help="folder of the dense teacher")
    parser.add_argument("model", help="folder of the packed, filled or layer-dropped model")
    parser.add_argument("--batch", type=int, default=BATCH)
    parser.add_argument("--seq", type=int, default=SEQ)
    parser.add_argument("--repeats", type=int, default=REPEATS)
    args = parser.parse_args(argv)
    result = saved_speedup(args.dense, args.model, args.batch, args.seq, args.repeats)
    result["cpu_timing"]["pid"] = os.getpid()  # the caller checks that the timing ran in another process
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    from bmp.cli import run

    raise SystemExit(run(main))
