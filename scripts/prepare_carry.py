"""Prepare ``.carry/`` (git-ignored) for ``scripts/gpu_check.sh`` on a machine without bmp's environment.

Writes:

- ``.carry/embedded/``: the embedded base model as a QA model in fp16 (half the bytes; the bench casts it to each
  dtype it times) with its tokenizer;
- ``.carry/squad/dev-v1.1.json.zip``: the SQuAD dev file, for the tokenization timing;
- ``.carry/packed/<record name>/config.json``: the config of every packed, filled or distil-recipe model that a
  record in data/results points at, so its shape can be timed where its weights are not (they are too big to carry);
- ``.whl/``: wheels, for the GPU machine's Python, of the packages its image lacks or holds in another version
  (``scripts/gpu_sweep.sh`` installs them there), at the versions of this environment.

    python scripts/prepare_carry.py [--out .carry] [--squad ../shared/data/squad/dev-v1.1.json.zip] [--no-wheels]
"""
from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

RUN_KINDS = ("packed", "filled", "distil-recipe")
DEVICE_WHEELS = ("datasets", "dill", "multiprocess", "transformers")  # missing from the GPU image, or older there
DEVICE_PYTHON = "3.12"  # the GPU image's python3
DEVICE_PLATFORMS = ("manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64")


def folder_size(folder: Path) -> int:
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())


def save_embedded(out: Path) -> Path:
    import torch

    from bmp.models import load_base

    model, tokenizer = load_base()  # qa_outputs is freshly initialised: fine, the bench only times it
    target = out / "embedded"
    model.to(torch.float16).save_pretrained(target)
    tokenizer.save_pretrained(target)
    return target


def copy_squad(out: Path, source: Path) -> Path | None:
    if not source.is_file():
        print(f"no SQuAD file at {source}: the GPU check will time tokenization on the project's sample")
        return None
    target = out / "squad" / source.name
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)  # not copy2: the source may be read-only
    return target


def copy_packed_configs(out: Path, records_dir: str | None) -> list[str]:
    from bmp.results.records import load_records, slug

    copied = []
    for record in load_records(records_dir):
        output_dir = record.get("config", {}).get("output_dir")
        if record.get("kind") not in RUN_KINDS or not output_dir:
            continue
        folder = Path(output_dir) if Path(output_dir).is_absolute() else REPO_ROOT / output_dir
        if not (folder / "config.json").is_file():
            print(f"skip {record['name']}: no {folder / 'config.json'}")
            continue
        target = out / "packed" / slug(record["name"])
        target.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(folder / "config.json", target / "config.json")
        copied.append(record["name"])
    return copied


def download_wheels(folder: Path) -> list[Path]:
    """pip-download :data:`DEVICE_WHEELS` at this environment's versions for the GPU machine's Python."""
    from importlib.metadata import version

    folder.mkdir(parents=True, exist_ok=True)
    platforms = [arg for platform in DEVICE_PLATFORMS for arg in ("--platform", platform)]
    command = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
               "--python-version", DEVICE_PYTHON, "--implementation", "cp", *platforms, "--dest", str(folder),
               *(f"{name}=={version(name)}" for name in DEVICE_WHEELS)]
    subprocess.run(command, check=True)
    return sorted(folder.glob("*.whl"))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(REPO_ROOT / ".carry"))
    parser.add_argument("--squad", default=str(REPO_ROOT.parent / "shared" / "data" / "squad" / "dev-v1.1.json.zip"))
    parser.add_argument("--records", default=None, help="records to read (default data/results)")
    parser.add_argument("--wheels", default=str(REPO_ROOT / ".whl"), help="where the GPU machine's wheels go")
    parser.add_argument("--no-wheels", action="store_true", help="skip the wheels (scripts/gpu_check.sh needs none)")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    embedded = save_embedded(out)
    print(f"{embedded}: {folder_size(embedded) / 2**20:.1f} MiB")
    squad = copy_squad(out, Path(args.squad))
    if squad:
        print(f"{squad}: {squad.stat().st_size / 2**20:.1f} MiB")
    copied = copy_packed_configs(out, args.records)
    print(f"{out / 'packed'}: configs of {len(copied)} recorded model(s) {copied}")
    carried = folder_size(out)
    if not args.no_wheels:
        wheels = Path(args.wheels)
        print(f"{wheels}: {[path.name for path in download_wheels(wheels)]}")
        carried += folder_size(wheels)
    print(f"total {carried / 2**20:.1f} MiB (the device run carries at most 64 MiB, the checkout included)")


if __name__ == "__main__":
    main()
