"""RFAD step cost at world size 1 and 2 (torchrun, gloo on this CPU) and per input value at 40x101
vs 64x201 (UrbanSound8K-shaped), 10 per class. Writes benchmarks/results/rfad_scale.{json,md}.

    nice -n 10 python benchmarks/rfad_scale.py [--steps 3]

Each configuration runs in fresh processes on a synthetic feature cache (10 classes, 400 clips):
one warm-up step, then `--steps` timed steps (default nets: 7 x width 16, batch 128, ipc 10).
The load average is recorded: the machine is shared, so figures are comparable only within a run.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from rank_script import run_ranks  # beside this script

RESULTS = Path(__file__).parent / "results"

RANK = """
import json, sys, time
import torch
from edgedistill import distributed
from edgedistill.data.featureset import FeatureSet
from edgedistill.methods.rfad import RFADConfig, distill
torch.set_num_threads(int(sys.argv[3]))
train = FeatureSet.load(sys.argv[1]).by_split("train")
config = RFADConfig(ipc=10, init="real", device="cpu", steps=1)
distill(train, config, progress=False)  # warm-up: imports, kernel build
started = time.perf_counter()
distill(train, config.replace(steps=int(sys.argv[2])), progress=False)
seconds = time.perf_counter() - started
if distributed.is_main():
    print(json.dumps({"seconds": seconds, "world": distributed.world_size()}))
"""


def make_cache(root: Path, shape: tuple[int, int]) -> Path:
    from edgedistill.data.featureset import FeatureSet
    from edgedistill.features import FeatureConfig

    config = FeatureConfig(kind="logmel", n_mels=shape[0], clip_seconds=(shape[1] - 1) * 0.01)
    if config.shape != shape:
        raise SystemExit(f"cannot make a {shape} feature config (got {config.shape})")
    rng = np.random.default_rng(0)
    y = np.arange(400) % 10
    x = (rng.standard_normal((400, *shape)) + y[:, None, None] * 0.05).astype(np.float32)
    path = root / f"cache_{shape[0]}x{shape[1]}"
    FeatureSet(x=x, y=y, labels=[f"c{i}" for i in range(10)], config=config, split=np.full(400, "train", dtype=object),
               dataset="synthetic").save(path)
    return path


def run(cache: Path, world: int, steps: int, threads: int) -> float:
    script = Path(tempfile.mkdtemp()) / "rank.py"
    script.write_text(RANK)
    return run_ranks(script, world, [cache, steps, threads], threads)["seconds"] / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=3)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        small = make_cache(Path(tmp), (40, 101))
        large = make_cache(Path(tmp), (64, 201))
        for cache, shape, world, threads in [(small, (40, 101), 1, 2), (small, (40, 101), 2, 1),
                                             (large, (64, 201), 1, 2), (large, (64, 201), 2, 1)]:
            load = os.getloadavg()[0]
            seconds = run(cache, world, args.steps, threads)
            rows.append({"shape": f"{shape[0]}x{shape[1]}", "world_size": world, "threads_per_rank": threads,
                         "s_per_step": round(seconds, 3), "samples_per_s": round(128 / seconds, 1),
                         "us_per_input_value": round(seconds / (128 * shape[0] * shape[1]) * 1e6, 4),
                         "load_avg_1min_before": round(load, 2)})
            print(rows[-1], flush=True)
    meta = {"steps_timed": args.steps, "batch_size": 128, "ipc": 10, "classes": 10, "nets": "7 x width 16, depth 3",
            "cpu_count": os.cpu_count(), "created": time.strftime("%Y-%m-%d %H:%M")}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "rfad_scale.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=1))
    lines = ["# RFAD step cost: world size 1 vs 2 (torchrun, gloo, CPU) and input size", "",
             f"{meta['cpu_count']} CPU cores (shared with other jobs), batch 128, ipc 10, 10 classes, nets {meta['nets']}, "
             f"{args.steps} timed steps after a warm-up step. Each run's 1-minute load average is recorded.", "",
             "| shape | world size | threads/rank | s/step | samples/s | µs per input value | load avg |",
             "|---|---|---|---|---|---|---|"]
    lines += [f"| {r['shape']} | {r['world_size']} | {r['threads_per_rank']} | {r['s_per_step']} | {r['samples_per_s']} | "
              f"{r['us_per_input_value']} | {r['load_avg_1min_before']} |" for r in rows]
    (RESULTS / "rfad_scale.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
