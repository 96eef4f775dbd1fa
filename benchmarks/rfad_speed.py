"""RFAD seconds per step: the library's batched random nets against a loop over the nets.

10 classes x {2, 10, 50} samples per class on 1 s keyword features (40 x 101 MFCC), real batch
of 128 random feature maps. The reference evaluates the same N nets one at a time (slices of
the same seeded weights) and is otherwise identical (same KRR solve, same loss), so the
losses must agree to 1e-5; the table reports the library's batched nets as they run by
default (eager; on the CPU the conv blocks go through the fused C kernel `conv_relu_pool`),
the same batched nets on plain torch ops (`fused=False`), and through torch.compile
(`RFADConfig.compile`, its one-off compile time in its own column) against the loop, run with
the library's chunking and on the whole batch. Writes benchmarks/results/rfad_speed.{md,json}.

    python benchmarks/rfad_speed.py [--steps 3] [--threads 1,2] [--device auto] [--no-compile]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from edgedistill.methods.krr import regression_targets
from edgedistill.methods.random_features import random_feature_nets
from edgedistill.methods.rfad import RFADConfig, step_loss
from edgedistill.runtime import resolve_device

RESULTS = Path(__file__).resolve().parent / "results"


class LoopNets(nn.Module):
    """The straightforward reference: each random net evaluated on its own, features concatenated."""

    def __init__(self, batched) -> None:
        super().__init__()
        self.b = batched

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.from_normalized((x - self.b.mean) * self.b.inv_std)

    def from_normalized(self, z: torch.Tensor) -> torch.Tensor:
        cfg, width = self.b.config, self.b.config.width
        outs = []
        for i in range(cfg.n_nets):
            h = z.unsqueeze(1)
            for weight in self.b.convs():
                h = F.relu(F.conv2d(h, weight[i * width:(i + 1) * width], padding=1))
                h = F.avg_pool2d(h, kernel_size=(2 if h.shape[2] >= 2 else 1, 2 if h.shape[3] >= 2 else 1))
            outs.append(h.flatten(1) @ self.b.head[i])
        return torch.cat(outs, dim=1) * self.b.scale


def time_steps(nets, xb, yb, z0, targets, log_scale, config, steps: int) -> tuple[float, float, float]:
    """Median seconds of one forward+backward step on the coreset, the first step's loss and its seconds."""
    times, first = [], None
    for _ in range(steps + 1):  # first call warms up
        z = z0.clone().requires_grad_(True)
        start = time.perf_counter()
        loss = step_loss(nets, xb, yb, z, targets, log_scale, config)
        loss.backward()
        if z.device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
        first = float(loss.detach()) if first is None else first
    return float(np.median(times[1:])), first, times[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=3, help="timed steps per setting (default 3)")
    parser.add_argument("--threads", default="1", help="torch CPU threads, comma-separated: one table each (default 1)")
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda (default auto)")
    parser.add_argument("--load-note", default="CPU shared with other jobs", help="what else ran, for the table header")
    parser.add_argument("--ipc", default="2,10,50", help="comma-separated samples per class (default 2,10,50)")
    parser.add_argument("--compile", action=argparse.BooleanOptionalAction, default=True,
                        help="also time the torch.compile path (default on)")
    args = parser.parse_args()
    device = resolve_device(args.device)
    n_classes, shape = 10, (40, 101)
    tables: dict[int, list[dict]] = {}
    ipcs = [int(v) for v in args.ipc.split(",")]
    for threads in [int(v) for v in args.threads.split(",")]:
        torch.set_num_threads(threads)
        rows = tables.setdefault(threads, [])
        for ipc in ipcs:
            rows.append(time_eager(setting(ipc, n_classes, shape, device), args))
            print(json.dumps({"threads": threads, **rows[-1]}), flush=True)
            write_tables(tables, device, args)
    # torch.compile last, for every thread count: once inductor has compiled a graph, the eager
    # torch-ops timings of this process were measured up to 2x slower
    for threads, rows in tables.items():
        torch.set_num_threads(threads)
        for row in rows if args.compile else []:
            time_compiled(row, setting(row["ipc"], n_classes, shape, device), args)
            print(json.dumps({"threads": threads, **row}), flush=True)
            write_tables(tables, device, args)


def setting(ipc: int, n_classes: int, shape: tuple[int, int], device) -> dict:
    """The inputs of one row, the same in every pass: config, real batch, coreset, targets."""
    rng = np.random.default_rng(ipc)
    config = RFADConfig(ipc=ipc, batch_size=128, device=str(device))
    return {"config": config, "shape": shape, "device": device,
            "xb": torch.as_tensor(rng.standard_normal((config.batch_size, *shape)), dtype=torch.float32, device=device),
            "yb": torch.as_tensor(rng.integers(0, n_classes, config.batch_size), device=device),
            "z0": torch.as_tensor(rng.standard_normal((ipc * n_classes, *shape)), dtype=torch.float32, device=device),
            "targets": regression_targets(np.repeat(np.arange(n_classes), ipc), n_classes).to(device),
            "log_scale": torch.tensor(np.log(10.0), dtype=torch.float64, device=device)}


def time_eager(s: dict, args) -> dict:
    """One table row: seconds per step of the batched nets (default, torch ops) and the two loops."""
    config, shape, device = s["config"], s["shape"], s["device"]
    xb, yb, z0, targets, log_scale = s["xb"], s["yb"], s["z0"], s["targets"], s["log_scale"]
    ipc, n_classes = config.ipc, targets.shape[1]
    nets = random_feature_nets(shape, config.random_features(), seed=1, device=device)
    ours, loss_ours, _ = time_steps(nets, xb, yb, z0, targets, log_scale, config, args.steps)
    torch_ops = random_feature_nets(shape, config.random_features(), seed=1, device=device, fused=False)
    unfused, loss_unfused, _ = time_steps(torch_ops, xb, yb, z0, targets, log_scale, config, args.steps)
    ref, loss_ref, _ = time_steps(LoopNets(nets), xb, yb, z0, targets, log_scale, config, args.steps)
    whole = dataclasses.replace(config, chunk=max(config.batch_size, len(z0)))  # every net on the whole batch at once
    plain, loss_plain, _ = time_steps(LoopNets(nets), xb, yb, z0, targets, log_scale, whole, args.steps)
    row = {"ipc": ipc, "coreset": ipc * n_classes, "batched_s": ours, "loop_s": ref, "speedup": ref / ours,
           "loop_plain_s": plain, "speedup_plain": plain / ours, "torch_ops_s": unfused, "speedup_torch_ops": ref / unfused,
           "loss_batched": loss_ours, "loss_loop": loss_ref}
    row["loss_abs_diff"] = max(abs(loss_ours - other) for other in (loss_ref, loss_plain, loss_unfused))
    return row


def time_compiled(row: dict, s: dict, args) -> None:
    """Add the torch.compile timing (and its first, compiling step) to an eager row."""
    config = s["config"]
    compiled = random_feature_nets(s["shape"], config.random_features(), seed=1, device=s["device"],
                                   compile_rows=config.chunk)
    fast, loss_fast, first = time_steps(compiled, s["xb"], s["yb"], s["z0"], s["targets"], s["log_scale"], config,
                                        args.steps)
    row.update(compiled_s=fast, compile_first_step_s=first, speedup_compiled=row["loop_s"] / fast,
               speedup_compiled_plain=row["loop_plain_s"] / fast, loss_compiled=loss_fast,
               loss_abs_diff=max(row["loss_abs_diff"], abs(row["loss_batched"] - loss_fast)))


def write_tables(tables: dict[int, list[dict]], device, args) -> None:
    """benchmarks/results/rfad_speed.{json,md} from the rows measured so far, one table per thread count."""
    machine = f"{platform.machine()} {platform.processor() or ''}, device {device}, {args.load_note}"
    date = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    cfg = RFADConfig()
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "rfad_speed.json").write_text(json.dumps({"machine": machine, "date": date,
                                                          "tables": {str(t): rows for t, rows in tables.items()}}, indent=2) + "\n")
    lines = [f"# RFAD seconds per step: batched nets vs a loop over nets\n",
             f"Machine: {machine}; {date}. 10 classes, features 40x101, real batch 128, N={cfg.n_nets} nets, "
             f"width {cfg.width}, depth {cfg.depth}, M={cfg.n_features}; median of {args.steps} steps (forward+backward).\n",
             "The loop reference runs each net on its own, with the library's row chunking (`chunk` rows per call) "
             "or on the whole batch in one call per net. \"batched\" is the library's default (eager; on the CPU the conv "
             "blocks run through the fused C kernel `conv_relu_pool`), \"torch ops\" the same batched nets without "
             "the kernel (`fused=False`), \"compiled\" the torch-ops nets through torch.compile (`distill --compile`), "
             "timed after its first (compiling) step, whose seconds are in the last column. Speed-ups are loop time / "
             "that time; |loss diff| is the largest difference of any variant's loss from the batched one.\n",
             ]
    header = ("| ipc | coreset | loop, chunked (s/step) | loop, whole batch (s/step) | batched (s/step) | speed-up vs chunked | "
              "vs whole | torch ops (s/step) | speed-up vs chunked | compiled (s/step) | speed-up vs chunked | vs whole | "
              "|loss diff| | first compiled step (s) |")
    for threads, rows in tables.items():
        lines += [f"\n## {threads} torch thread(s)\n", header, "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
        lines += [table_row(r) for r in rows]
    (RESULTS / "rfad_speed.md").write_text("\n".join(lines) + "\n")


def table_row(r: dict) -> str:
    """One Markdown row of the speed table."""
    fast = (f"{r['compiled_s']:.3f} | {r['speedup_compiled']:.2f}x | {r['speedup_compiled_plain']:.2f}x"
            if "compiled_s" in r else "- | - | -")
    return (f"| {r['ipc']} | {r['coreset']} | {r['loop_s']:.3f} | {r['loop_plain_s']:.3f} | {r['batched_s']:.3f} | "
            f"{r['speedup']:.2f}x | {r['speedup_plain']:.2f}x | {r['torch_ops_s']:.3f} | {r['speedup_torch_ops']:.2f}x | "
            f"{fast} | {r['loss_abs_diff']:.1e} | "
            + (f"{r['compile_first_step_s']:.1f} |" if "compile_first_step_s" in r else "- |"))


if __name__ == "__main__":
    main()
