"""RFAD time to accuracy: the library's RFAD beside the original RFAD code, side by side in one process.

Setting (the original code's, as DESIGN.md records its CPU measurement): FSDD spoken digits as
32x32 MFCC maps (16 kHz, 1 s, hop 32 ms; official split: train 10-49, valid 5-9), 10 samples
per class, 8 random nets of 256 channels, depth 3, a real batch of 256 per step, Platt loss,
nets re-drawn every step. Every variant starts from the same coreset (random real clips of each
class, per-band standardised) and draws the same real batches.

Variants, advanced one step each in turn (round robin, so load swings hit all alike):
  original      yolky/RFAD's own `models.ConvNet_wide` (imported from a checkout given by
                --rfad-source: width 128 x k=2 = 256 channels, conv biases, no norm, flattened
                features without a head), driven by a transcription of one iteration of its
                `distillation.distill_dataset` on the CPU: a loop over the 8 nets, the nets'
                weights requiring gradients as there, the learned identity transform, K = 2ΦΦᵀ +
                0.01 with its trace jitter 5e-3, a float64 `linalg.solve`, Platt loss with its
                scale k, AdaBelief (lr 1e-3, eps 1e-16; transcribed from torch_optimizer, which
                is not installed here). The original hard-codes CUDA; nothing else is changed.
  lib w256 before   the library's nets at width 256 as they ran before this benchmark: every
                conv block through the fused C kernel, float32, chunk 16 (its default); a few
                steps only (it computes what "lib w256 fp32" computes: the losses are compared).
  lib w256 fp32 the library now: the first block through the fused kernel, the wide blocks on
                oneDNN convolutions (channels last), chunk 64.
  lib w256 bf16 the same with `precision="bf16"` (bf16 autocast of the wide blocks; AMX on this CPU).
  lib default   the library's default nets (7 x width 16, time-pooled, 128-feature heads).
The library variants run `RFADConfig.nets` + `rfad.step_loss` + Adam, exactly what `distill`
runs per step (its lr 0.01, Platt scale 10 at start). Time is the steps' wall time only;
validation accuracy is scored every --eval-every steps outside the timed region by one fixed
scorer for all: KRR (ridge 1e-4) with fixed random nets (8 x width 64, flattened, 512 features)
fitted on the coreset, on the 300 validation clips. Writes
benchmarks/results/rfad_time_to_accuracy.{md,json,png}.

    python benchmarks/rfad_time_to_accuracy.py --rfad-source /path/to/RFAD [--steps 12] [--fast-steps 40]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import os
import platform
import time
from datetime import datetime, timezone
from functools import partial
from pathlib import Path

import numpy as np
import torch

RESULTS = Path(__file__).resolve().parent / "results"
SHARED = Path(os.environ.get("EDGEDISTILL_SHARED_DATA", Path(__file__).resolve().parents[1] / ".." / "shared" / "data"))


def fsdd_32x32(work: Path):
    """The FSDD feature cache as 32x32 MFCC maps (prepared once under `work`): (train, valid)."""
    from edgedistill.data.featureset import FeatureSet
    from edgedistill.data.prepare import prepare
    from edgedistill.features import FeatureConfig

    config = FeatureConfig(sample_rate=16000, clip_seconds=1.0, hop_ms=32.0, n_mels=32, n_mfcc=32, kind="mfcc")
    feats = FeatureSet.load(prepare("fsdd", SHARED / "fsdd", config, work / "fsdd-32x32", split="official",
                                    progress=False))
    return feats.by_split("train"), feats.by_split("valid")


class AdaBelief(torch.optim.Optimizer):
    """torch_optimizer.AdaBelief as the original RFAD uses it (no weight decay, no rectification)."""

    def __init__(self, params, lr: float, eps: float, betas=(0.9, 0.999)) -> None:
        super().__init__(params, {"lr": lr, "eps": eps, "betas": betas})

    @torch.no_grad()
    def step(self) -> None:
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if not state:
                    state.update(step=0, exp_avg=torch.zeros_like(p), exp_avg_var=torch.zeros_like(p))
                state["step"] += 1
                m, v = state["exp_avg"], state["exp_avg_var"]
                m.mul_(beta1).add_(p.grad, alpha=1 - beta1)
                residual = p.grad - m
                v.mul_(beta2).addcmul_(residual, residual, value=1 - beta2)
                denom = (v.add_(group["eps"]).sqrt() / math.sqrt(1 - beta2 ** state["step"])).add_(group["eps"])
                p.addcdiv_(m, denom, value=-group["lr"] / (1 - beta1 ** state["step"]))


class Original:
    """One iteration of yolky/RFAD `distillation.distill_dataset` (platt, no label learning) on the CPU."""

    def __init__(self, source: Path, z0: np.ndarray, ys: np.ndarray, n_classes: int, n_models: int, seed: int,
                 lr: float = 1e-3, jit: float = 5e-3) -> None:
        spec = importlib.util.spec_from_file_location("rfad_original_models", source / "models.py")
        models = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(models)
        side = z0.shape[-1]
        self.model_class = partial(models.ConvNet_wide, 1, net_norm="none", im_size=(side, side), k=2, chopped_head=True)
        self.x = torch.nn.Parameter(torch.tensor(z0[:, None]))
        self.transform = torch.nn.Parameter(torch.eye(z0[0].size))
        self.k = torch.nn.Parameter(torch.tensor(0.0).double())
        self.y = torch.nn.functional.one_hot(torch.as_tensor(ys), n_classes).float() - 1 / n_classes
        self.n_classes, self.n_models, self.jit = n_classes, n_models, jit
        self.optim = AdaBelief([{"params": [self.x]}, {"params": [self.transform], "lr": 5e-5},
                                {"params": [self.k], "lr": 1e-2}], lr=lr, eps=1e-16)
        self.rng = np.random.default_rng(seed)

    def coreset(self) -> torch.Tensor:
        """The coreset as the original scores it: x through the learned transform, (M, F, T)."""
        with torch.no_grad():
            return (self.x.reshape(len(self.x), -1) @ self.transform).reshape(self.x.shape)[:, 0]

    def step(self, xb_norm: torch.Tensor, yb: torch.Tensor) -> float:
        self.optim.zero_grad()
        torch.manual_seed(int(self.rng.integers(0, 50000)))
        models = [self.model_class(n_random_features=4096).eval() for _ in range(self.n_models)]
        data = (self.x.reshape(len(self.x), -1) @ self.transform).view(*self.x.shape)
        feats = [m(data) for m in models]
        phi_c = torch.cat(feats, 1) / np.sqrt(self.n_models * feats[0].shape[1])
        size = len(phi_c)
        k_xx = (2 * phi_c @ phi_c.T) + 0.01
        k_xx = k_xx + (self.jit * torch.eye(size) * torch.trace(k_xx) / size)
        with torch.no_grad():
            batch = xb_norm[:, None]
            inner = [m(batch).detach() for m in models]
            phi_b = torch.cat(inner, 1) / np.sqrt(self.n_models * inner[0].shape[1])
        solved = torch.linalg.solve(k_xx.double(), self.y.double())
        preds = (2 * (phi_b @ phi_c.T) + 0.01).double() @ solved
        loss = torch.nn.CrossEntropyLoss()(torch.exp(self.k) * preds, yb)
        loss.backward()
        self.optim.step()
        return float(loss.detach())


class Library:
    """The library's RFAD step: `RFADConfig.nets` + `rfad.step_loss` + Adam, as `rfad.distill` runs it."""

    def __init__(self, config, z0: np.ndarray, ys: np.ndarray, n_classes: int, shape, mean, std,
                 fuse_all: bool = False) -> None:
        from edgedistill.methods.krr import regression_targets

        self.config, self.shape, self.mean, self.std, self.fuse_all = config, shape, mean, std, fuse_all
        self.z = torch.tensor(z0, requires_grad=True)
        self.targets = regression_targets(ys, n_classes)
        self.log_scale = torch.tensor(np.log(10.0), dtype=torch.float64, requires_grad=True)
        self.optim = torch.optim.Adam([{"params": [self.z], "lr": config.lr},
                                       {"params": [self.log_scale], "lr": config.label_lr}])
        self.index = 0

    def coreset(self) -> torch.Tensor:
        return self.z.detach()

    def step(self, xb_raw: torch.Tensor, yb: torch.Tensor) -> float:
        from edgedistill.methods import random_features
        from edgedistill.methods.rfad import step_loss, step_seed

        nets = self.config.nets(self.shape, step_seed(self.config.seed, 1, self.index), self.mean, self.std, "cpu")
        self.index += 1
        limit = random_features.FUSED_MAX_CHANNELS
        random_features.FUSED_MAX_CHANNELS = 10**9 if self.fuse_all else limit  # "before": every block fused
        try:
            loss = step_loss(nets, xb_raw, yb, self.z, self.targets, self.log_scale, self.config)
            self.optim.zero_grad(set_to_none=True)
            loss.backward()
        finally:
            random_features.FUSED_MAX_CHANNELS = limit
        self.optim.step()
        return float(loss)


class Scorer:
    """Validation KRR accuracy of a normalised coreset on fixed random nets (one draw, same for all)."""

    def __init__(self, shape, valid_norm: torch.Tensor, valid_y: np.ndarray, ys: np.ndarray, n_classes: int) -> None:
        from edgedistill.methods.krr import chunked_features, regression_targets
        from edgedistill.methods.random_features import RandomFeatureConfig, random_feature_nets

        config = RandomFeatureConfig(n_nets=8, width=64, depth=3, n_features=512, time_pool=False)
        self.nets = random_feature_nets(shape, config, seed=12345)
        with torch.no_grad():
            self.phi_v = chunked_features(self.nets.from_normalized, valid_norm, 64).double()
        self.valid_y, self.targets = valid_y, regression_targets(ys, n_classes)

    def __call__(self, z: torch.Tensor) -> float:
        from edgedistill.methods.krr import chunked_features, krr_predict

        with torch.no_grad():
            pred = krr_predict(self.phi_v, chunked_features(self.nets.from_normalized, z, 64), self.targets, 1e-4)
        return float((pred.argmax(1).numpy() == self.valid_y).mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rfad-source", type=Path, default=None,
                        help="a checkout of yolky/RFAD (its models.py is imported; nothing of it is copied here)")
    parser.add_argument("--work", type=Path, default=Path("/tmp/edgedistill-bench"), help="feature cache folder")
    parser.add_argument("--steps", type=int, default=12, help="steps of the original and 'lib w256 fp32'")
    parser.add_argument("--fast-steps", type=int, default=40, help="steps of 'lib w256 bf16' and 'lib default'")
    parser.add_argument("--before-steps", type=int, default=3, help="steps of the 'lib w256 before' variant")
    parser.add_argument("--eval-every", type=int, default=2)
    parser.add_argument("--level", type=float, default=None,
                        help="validation accuracy to reach (default: the starting accuracy + --gain)")
    parser.add_argument("--gain", type=float, default=0.05)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--ipc", type=int, default=10)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--only", default="", help="comma-separated variant names to run (default all)")
    parser.add_argument("--tag", default="rfad_time_to_accuracy")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--render", type=Path, default=None,
                        help="re-write the table and plot from a results JSON of an earlier run (no steps run)")
    args = parser.parse_args()
    if args.render:
        saved = json.loads(args.render.read_text())
        for name in ("gain", "ipc", "batch", "threads"):
            setattr(args, name, type(getattr(args, name))(saved["args"][name]))
        level = float(saved["args"]["level"]) if saved["args"]["level"] != "None" else saved["start_accuracy"] + args.gain
        write_results(saved["runs"], level, saved["start_accuracy"], args, created=saved["created"], record=saved["args"])
        return
    if args.rfad_source is None or not (args.rfad_source / "models.py").exists():
        parser.error(f"--rfad-source {args.rfad_source}: no models.py there; pass a checkout of yolky/RFAD")
    torch.set_num_threads(args.threads)

    from edgedistill.methods.random_features import band_stats
    from edgedistill.methods.rfad import RFADConfig, initial_coreset

    train, valid = fsdd_32x32(args.work)
    shape, n_classes = train.config.shape, train.n_classes
    x_train = np.asarray(train.x, dtype=np.float32)
    mean, std = band_stats(x_train)
    norm = lambda x: ((x - mean[:, None]) / std[:, None]).astype(np.float32)  # noqa: E731
    base = RFADConfig(ipc=args.ipc, batch_size=args.batch, loss="platt", init="real", seed=args.seed, redraw_every=1)
    z0, ys = initial_coreset(train, base, mean, std)
    wide = base.replace(n_nets=8, width=256, time_pool=False, chunk=64)
    variants = {
        "original": (Original(args.rfad_source, z0, ys, n_classes, 8, args.seed), args.steps),
        "lib w256 before": (Library(wide.replace(chunk=16, precision="fp32"), z0, ys, n_classes, shape, mean, std,
                                    fuse_all=True), args.before_steps),
        "lib w256 fp32": (Library(wide.replace(precision="fp32"), z0, ys, n_classes, shape, mean, std), args.steps),
        "lib w256 bf16": (Library(wide.replace(precision="bf16"), z0, ys, n_classes, shape, mean, std),
                          args.fast_steps),
        "lib default": (Library(base, z0, ys, n_classes, shape, mean, std), args.fast_steps),
    }
    if args.only:
        variants = {k: v for k, v in variants.items() if k in args.only.split(",")}
    scorer = Scorer(shape, torch.tensor(norm(np.asarray(valid.x))), valid.y, ys, n_classes)
    start_accuracy = scorer(torch.tensor(z0))
    level = args.level if args.level is not None else start_accuracy + args.gain
    print(f"start accuracy {start_accuracy:.4f}; level {level:.4f}", flush=True)
    runs = {name: {"steps": [], "evals": [{"step": 0, "seconds": 0.0, "accuracy": start_accuracy}]} for name in variants}
    for step in range(max(n for _, n in variants.values())):
        rng = np.random.default_rng([args.seed, step])
        index = np.sort(rng.choice(len(train), args.batch, replace=False))
        xb, yb = x_train[index], torch.as_tensor(train.y[index])
        for name, (runner, n_steps) in variants.items():
            if step >= n_steps:
                continue
            batch = torch.tensor(norm(xb) if isinstance(runner, Original) else xb)
            load = os.getloadavg()[0]
            t0 = time.perf_counter()
            loss = runner.step(batch, yb)
            seconds = time.perf_counter() - t0
            run = runs[name]
            run["steps"].append({"step": step + 1, "seconds": seconds, "loss": loss, "load1": load})
            if (step + 1) % args.eval_every == 0 or step + 1 == n_steps:
                run["evals"].append({"step": step + 1, "seconds": sum(s["seconds"] for s in run["steps"]),
                                     "accuracy": scorer(runner.coreset())})
            print(f"{name:16s} step {step + 1:3d} {seconds:7.2f} s loss {loss:.4f} load {load:.2f}"
                  + (f" acc {run['evals'][-1]['accuracy']:.4f}" if run["evals"][-1]["step"] == step + 1 else ""),
                  flush=True)
    write_results(runs, level, start_accuracy, args)


def summary(runs: dict, level: float) -> dict:
    """Per variant: median s/step over all its steps and over the rounds the original ran too
    (side by side: the same load), best accuracy, steps and seconds to `level`, load range."""
    rows = {}
    rounds = len(runs["original"]["steps"]) if "original" in runs else None
    for name, run in runs.items():
        times = [s["seconds"] for s in run["steps"]]
        # accuracies are multiples of 1/n_valid: a tolerance keeps start + gain from missing an exact hit
        reached = next((e for e in run["evals"] if e["accuracy"] >= level - 1e-9 and e["step"] > 0), None)
        rows[name] = {"s_per_step": float(np.median(times)), "steps": len(times),
                      "s_per_step_side_by_side": float(np.median(times[:rounds])),
                      "best_accuracy": max(e["accuracy"] for e in run["evals"]),
                      "seconds_to_level": reached["seconds"] if reached else None,
                      "steps_to_level": reached["step"] if reached else None,
                      "load1": [round(min(s["load1"] for s in run["steps"]), 2), round(max(s["load1"] for s in run["steps"]), 2)]}
    return rows


def write_results(runs: dict, level: float, start_accuracy: float, args, created: str | None = None,
                  record: dict | None = None) -> None:
    """The md table, JSON (runs, summary and the run's arguments: `record` when re-rendering) and plot."""
    rows = summary(runs, level)
    ref = rows.get("original")
    now = created or datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "# RFAD time to accuracy: the library beside the original RFAD code (CPU)", "",
        f"{platform.machine()}, {args.threads} torch threads on a 2-core machine shared with other jobs; "
        f"{now}. FSDD 32x32 MFCC, ipc {args.ipc}, real batch {args.batch}, Platt loss, 8 nets re-drawn every step "
        f"(library default: 7 x width 16). Same starting coreset (random real clips) and batches for all. Seconds are "
        f"the steps' wall time (validation excluded); accuracy: KRR on 300 validation clips with one fixed draw of "
        f"8 x width-64 random nets. Level: {level:.3f} (start {start_accuracy:.3f} + {args.gain:g}). Variants are "
        "described in benchmarks/rfad_time_to_accuracy.py.", "",
        "| variant | s/step (median, rounds beside the original) | speed-up per step vs original | s/step (median, "
        "all its steps) | steps run | best valid acc | steps to level | seconds to level | time-to-level speed-up vs "
        "original | load avg (1 min) during its steps |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, r in rows.items():
        side = r["s_per_step_side_by_side"]
        speed = f"{ref['s_per_step_side_by_side'] / side:.2f}x" if ref else "-"
        to_level = f"{r['seconds_to_level']:.1f}" if r["seconds_to_level"] is not None else f"not reached in {r['steps']}"
        ratio = (f"{ref['seconds_to_level'] / r['seconds_to_level']:.1f}x"
                 if ref and ref["seconds_to_level"] and r["seconds_to_level"] else "-")
        lines.append(f"| {name} | {side:.2f} | {speed} | {r['s_per_step']:.2f} | {r['steps']} | {r['best_accuracy']:.3f} | "
                     f"{r['steps_to_level'] or '-'} | {to_level} | {ratio} | {r['load1'][0]}-{r['load1'][1]} |")
    lines += ["", *same_numbers(runs), ""]
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{args.tag}.md").write_text("\n".join(lines))
    (RESULTS / f"{args.tag}.json").write_text(json.dumps(
        {"created": now, "args": record or {k: str(v) for k, v in vars(args).items() if k != "render"}, "level": level,
         "start_accuracy": start_accuracy, "summary": rows, "runs": runs}, indent=1))
    plot(runs, level, RESULTS / f"{args.tag}.png")
    print("\n".join(lines))


def same_numbers(runs: dict) -> list[str]:
    """A line on whether 'lib w256 before' and 'lib w256 fp32' computed the same losses (same nets, same math)."""
    before, now = runs.get("lib w256 before"), runs.get("lib w256 fp32")
    if not before or not now:
        return []
    pairs = list(zip([s["loss"] for s in before["steps"]], [s["loss"] for s in now["steps"]]))
    worst = max(abs(a - b) / abs(b) for a, b in pairs)
    return [f"'lib w256 before' (every block through the fused kernel) and 'lib w256 fp32' (first block fused, wide "
            f"blocks on oneDNN) gave the same losses over {len(pairs)} steps: largest relative difference {worst:.1e}."]


def plot(runs: dict, level: float, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    for name, run in runs.items():
        ax.plot([max(e["seconds"], 0.1) for e in run["evals"]], [e["accuracy"] for e in run["evals"]], marker="o", label=name)
    ax.axhline(level, color="grey", linestyle="--", linewidth=1, label=f"level {level:.3f}")
    ax.set_xscale("log")
    ax.set_xlabel("wall seconds of RFAD steps (log)")
    ax.set_ylabel("validation KRR accuracy")
    ax.set_title("RFAD time to accuracy, FSDD 32x32, ipc 10 (CPU)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=110)


if __name__ == "__main__":
    main()
