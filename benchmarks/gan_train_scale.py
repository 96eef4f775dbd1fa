"""GAN step and `train` step cost at world size 1 and 2 (torchrun, gloo on this CPU): the GAN and
train rows of the issue-21 scale table (RFAD's are `rfad_scale.py`). Writes
benchmarks/results/gan_train_scale.{json,md}.

    nice -n 5 python benchmarks/gan_train_scale.py [--gan-steps 6] [--epochs 3]

Each configuration runs in fresh processes on a synthetic 40x101 feature cache (10 classes, 400
clips, the one `rfad_scale.py` uses). The loops' progress updates are timestamped in the rank
process (the progress class is swapped for a recorder), so pool training, data loading and
start-up are not timed: GAN, the generator steps after the first (default GANConfig: batch 64,
n_critic 2, width sized to the data; the L_SML pool is cut to 2 x 2 epochs, which changes only the
start-up); train, the epochs after the first (full data, batch 32, cnn4 at its default width and
resnet18 at width 16). Three layouts: 1 process x 2 threads, 1 x 1, 2 processes x 1 thread. The
load average is recorded: the machine is shared, so figures are comparable only within a run.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from rank_script import run_ranks  # noqa: E402
from rfad_scale import make_cache  # noqa: E402

RESULTS = Path(__file__).parent / "results"

RANK = """
import json, sys, time
import numpy as np
import torch
from edgedistill import distributed
from edgedistill.data.featureset import FeatureSet

kind, feat, count, threads = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
torch.set_num_threads(threads)
stamps = []

class Recorder:
    def __init__(self, *args, **kwargs):
        pass
    def __enter__(self):
        return self
    def __exit__(self, *exc):
        return False
    def update(self, *args, **kwargs):
        stamps.append(time.perf_counter())
    advance = update

train = FeatureSet.load(feat).by_split("train")
if kind == "gan":
    from edgedistill.methods.gan import loop
    from edgedistill.methods.gan.config import GANConfig
    loop.Progress = Recorder
    config = GANConfig(steps=count, pool_epochs=2, pool_every=1, device="cpu", threads=threads)
    gen = loop.distill(train, config, progress=False)
    extra = {"width": gen.builder_kwargs["width"], "batch": config.batch_size, "n_critic": config.n_critic}
else:
    from edgedistill import training
    from edgedistill.train_config import TrainConfig
    training.Progress = Recorder
    model, kwargs = ("cnn4", {}) if kind == "cnn4" else ("resnet18", {"width": 16})
    config = TrainConfig(epochs=count, min_steps=0, batch_size=32, device="cpu", threads=threads)
    training.train_model(model, np.asarray(train.x), train.y, train.labels, config, model_kwargs=kwargs, progress=False)
    extra = {"batch": config.batch_size, "steps_per_epoch": -(-len(train) // config.batch_size)}
gaps = np.diff(stamps)
if distributed.is_main():
    print(json.dumps({"seconds": float(gaps[1:].mean()), "timed": len(gaps) - 1, **extra}))
"""


def run(kind: str, cache: Path, world: int, count: int, threads: int) -> dict:
    script = Path(tempfile.mkdtemp()) / "rank.py"
    script.write_text(RANK)
    return run_ranks(script, world, [kind, cache, count, threads], threads)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gan-steps", type=int, default=6, help="generator steps (the first is not timed)")
    parser.add_argument("--epochs", type=int, default=3, help="training epochs (the first is not timed)")
    parser.add_argument("--kinds", default="gan,cnn4,resnet18", help="comma-separated subset of gan,cnn4,resnet18")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        cache = make_cache(Path(tmp), (40, 101))
        for kind in args.kinds.split(","):
            for world, threads in [(1, 2), (1, 1), (2, 1)]:
                load = os.getloadavg()[0]
                result = run(kind, cache, world, args.gan_steps if kind == "gan" else args.epochs, threads)
                per_step = result["seconds"] if kind == "gan" else result["seconds"] / result["steps_per_epoch"]
                rows.append({"workload": {"gan": f"GAN step (gan-cnn, width {result.get('width')}, n_critic "
                                                 f"{result.get('n_critic')})", "cnn4": "train cnn4",
                                          "resnet18": "train resnet18 width 16"}[kind],
                             "kind": kind, "world_size": world, "threads_per_rank": threads,
                             "s_per_step": round(per_step, 4), "samples_per_s": round(result["batch"] / per_step, 1),
                             "steps_timed": result["timed"] * (1 if kind == "gan" else result["steps_per_epoch"]),
                             "load_avg_1min_before": round(load, 2), "load_avg_1min_after": round(os.getloadavg()[0], 2)})
                print(rows[-1], flush=True)
    meta = {"shape": "40x101", "clips": 400, "classes": 10, "gan": "GANConfig defaults (batch 64, n_critic 2), pool 2 x 2 epochs",
            "train": "batch 32, full data, augment on", "cpu_count": os.cpu_count(), "created": time.strftime("%Y-%m-%d %H:%M")}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "gan_train_scale.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=1))
    lines = ["# GAN and train step cost: world size 1 vs 2 (torchrun, gloo, CPU)", "",
             f"{meta['cpu_count']} CPU cores (shared with other jobs), synthetic 40x101 cache, 400 clips, 10 classes. "
             f"GAN: {meta['gan']}; train: {meta['train']}. Steps after the first generator step / first epoch are timed "
             "from the loop's own progress updates. Each run's 1-minute load average before and after is recorded.", "",
             "| workload | world size | threads/rank | s/step | samples/s | steps timed | load avg before / after |",
             "|---|---|---|---|---|---|---|"]
    lines += [f"| {r['workload']} | {r['world_size']} | {r['threads_per_rank']} | {r['s_per_step']} | {r['samples_per_s']} | "
              f"{r['steps_timed']} | {r['load_avg_1min_before']} / {r['load_avg_1min_after']} |" for r in rows]
    (RESULTS / "gan_train_scale.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
