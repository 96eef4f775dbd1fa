"""Why `train` with resnet18 was slower at 2 ranks than at 1 on this CPU: the cost of batch-norm
statistics synchronised across ranks (`edgedistill.models.rank_batchnorm`).

One training step (forward, cross-entropy, backward, Adam) of resnet18 (width 16) and cnn4 on a
random (32, 40, 101) batch, timed at 1 process x 1 thread and at 2 ranks x 1 thread (torchrun,
gloo) under DistributedDataParallel with the library's rank-synchronised batch norm (what
`train --nproc 2` runs: the same model as one process), and with each rank's own batch norm (no
synchronisation: a lower bound, NOT the same model). The Python-level all-reduces per step (the
batch norms'; DDP's gradient buckets are not counted) and the seconds spent inside them are
recorded. Median of --steps steps after two warm-up steps. Writes
benchmarks/results/train_bn_sync.{md,json}.

    python benchmarks/train_bn_sync.py [--steps 10]
    /other/venv/bin/python benchmarks/train_bn_sync.py --tag train_bn_sync_before   # another checkout's code

The ranks import edgedistill from the interpreter running this script; the table names that
checkout and its commit, so an earlier commit's batch norm can be timed beside the current one.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
import time
from pathlib import Path

from rank_script import run_ranks  # beside this script

RESULTS = Path(__file__).resolve().parent / "results"

RANK = """
import json, os, sys, time
import numpy as np
import torch
import torch.distributed as dist
from edgedistill import distributed
from edgedistill.models import build_model
from edgedistill.models.rank_batchnorm import sync_batchnorm

model, mode, steps = sys.argv[1], sys.argv[2], int(sys.argv[3])
torch.set_num_threads(1)
distributed.setup("cpu")
world = distributed.world_size()
calls = {"n": 0, "s": 0.0}
if world > 1:
    plain_all_reduce = dist.all_reduce
    def counted(*args, **kwargs):
        t = time.perf_counter()
        out = plain_all_reduce(*args, **kwargs)
        calls["s"] += time.perf_counter() - t
        calls["n"] += 1
        return out
    dist.all_reduce = counted
torch.manual_seed(0)
x = torch.randn(32 // world, 40, 101)
y = torch.randint(0, 10, (32 // world,))
net = build_model(model, 10, (40, 101), **({"width": 16} if model == "resnet18" else {}))
if mode == "synced":
    net = sync_batchnorm(net)
if world > 1:
    net = torch.nn.parallel.DistributedDataParallel(net)
opt = torch.optim.Adam(net.parameters(), 1e-3)
times, counts, inside = [], [], []
for i in range(steps + 2):
    calls.update(n=0, s=0.0)
    t = time.perf_counter()
    loss = torch.nn.functional.cross_entropy(net(x), y)
    opt.zero_grad()
    loss.backward()
    opt.step()
    times.append(time.perf_counter() - t)
    counts.append(calls["n"])
    inside.append(calls["s"])
if distributed.rank() == 0:
    print(json.dumps({"s_per_step": float(np.median(times[2:])), "all_reduces": counts[-1],
                      "s_in_all_reduce": float(np.median(inside[2:]))}))
if world > 1:
    dist.destroy_process_group()
"""


def run(model: str, mode: str, world: int, steps: int) -> dict:
    script = Path(tempfile.mkdtemp()) / "rank.py"
    script.write_text(RANK)
    return run_ranks(script, world, [model, mode, steps])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--models", default="resnet18,cnn4")
    parser.add_argument("--tag", default="train_bn_sync", help="results file name (without extension)")
    args = parser.parse_args()
    import edgedistill

    checkout = Path(edgedistill.__file__).resolve().parents[1]
    commit = subprocess.run(["git", "-C", str(checkout), "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True, check=False).stdout.strip() or "unknown"
    dirty = subprocess.run(["git", "-C", str(checkout), "status", "--porcelain", "edgedistill"], capture_output=True,
                           text=True, check=False).stdout.strip()
    code = f"{commit}{' + uncommitted changes' if dirty else ''}"
    rows = []
    for model in args.models.split(","):
        for world, mode in [(1, "plain"), (2, "synced"), (2, "local")]:
            load = os.getloadavg()[0]
            result = run(model, mode, world, args.steps)
            rows.append({"model": model, "world_size": world, "batch_norm": mode, **result,
                         "load_avg_1min": round(load, 2)})
            print(rows[-1], flush=True)
    created = time.strftime("%Y-%m-%d %H:%M")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{args.tag}.json").write_text(json.dumps({"created": created, "code": code, "steps": args.steps,
                                                         "rows": rows}, indent=1))
    names = {"plain": "one process", "synced": "rank-synchronised (the library)", "local": "per rank (not synchronised)"}
    lines = ["# Training step at 1 vs 2 ranks: the cost of synchronised batch norm (CPU, gloo)", "",
             f"edgedistill at commit {code}; {os.cpu_count()} CPU cores shared with other jobs, {created}; 1 thread per process, global batch 32 of "
             f"40x101, resnet18 at width 16, cnn4 at its default; median of {args.steps} steps after 2 warm-up steps. "
             "All-reduces: the batch norms' Python-level calls per step (DDP's gradient buckets not counted).", "",
             "| model | world size | batch norm | s/step | all-reduces per step | s inside them | load avg (1 min) |",
             "|---|---|---|---|---|---|---|"]
    lines += [f"| {r['model']} | {r['world_size']} | {names[r['batch_norm']]} | {r['s_per_step']:.3f} | {r['all_reduces']} | "
              f"{r['s_in_all_reduce']:.3f} | {r['load_avg_1min']} |" for r in rows]
    (RESULTS / f"{args.tag}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
