"""Why `device learn` misses its goal on the keyword benchmark: the trade-off between the old-class drop and the new word.

Same artifacts, user clips (3 seeds x 3 / 5 / 10 clips of `stop` from one training speaker) and
evaluation clips (test + valid speakers) as benchmarks/device_learn.py, but in one process on
the learners' own functions, so that each way of adding the word can be swept:
  head (cnn4 trunk, old columns frozen): the trained new column with its bias lowered by 0-4
    logits; the bias lowered to the median leave-one-clip-out margin of the user's clips (an
    on-device calibration); mixup negatives (user clip mixed into a replay clip, replay label)
    and time-shifted positives; weight imprinting (the clips' mean embedding as the column);
    and an oracle: the column trained on all 80 real training clips of `stop` (8 speakers) and
    all 829 real old-class clips, its threshold then picked on the evaluation clips themselves.
    For imprinting and the oracle the row gives the best new-class accuracy at a drop of at most
    2 points over every threshold (an upper bound the device cannot reach: it has no such clips);
  krr: the new clips' weight (repeats, in replay classes) x the ridge;
  full: the whole network at three learning rates; only the new class's classifier row; and
    distillation on 160 mixed replay clips (the old model's outputs as targets); the drop is also
    given with the new class's logit left out (what the old classes lose to the body's drift alone).
Scores as device_learn.md: drop = old-class accuracy before - after (points), new / ceiling =
new-class accuracy / the same mode's all-data retrain (head 80 %, full 45 %, krr 40 %).

Usage: python benchmarks/device_learn_frontier.py [WORK] [--out benchmarks/results]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from device_learn import environment, eval_set, manifest  # benchmarks/ is sys.path[0] when run as a script

from edgedistill.device import full, head, krr
from edgedistill.device.artifacts import read_meta
from edgedistill.device.devmodel import load_graph, load_params
from edgedistill.device.learn import _balanced, _widen_full, _widen_head
from edgedistill.device.predictor import feature_config_of, load_predictor, softmax
from edgedistill.device.runtime import load_session
from edgedistill.device.trainset import load_labelled

NEW = 8  # index of `stop` after the 8 old classes
MAX_DROP = 2.0


class Bench:
    """Evaluation clips, replay coreset and the 9 user-clip sets (seed, k) as features."""

    def __init__(self, work: Path) -> None:
        self.work = work
        config = load_predictor(work / "head_old").feature_config
        labels = load_predictor(work / "head_old").labels + ["stop"]
        data = load_labelled(eval_set(work), config, "test").aligned_to(labels)
        self.x, self.y = data.x, data.y
        self.old = self.y < NEW
        core = load_labelled(work / "coreset", config)
        self.cs_x, self.cs_y = core.x, core.y
        rows = manifest(work)
        speakers = sorted({r["speaker"] for r in rows if r["split"] == "train"})
        self.user = {}
        for seed in range(3):
            rng = np.random.default_rng(seed)  # the same draw as device_learn.py
            speaker = str(rng.choice(speakers))
            stop = [r["path"] for r in rows if r["label"] == "stop" and r["speaker"] == speaker]
            order = rng.permutation(len(stop))
            for k in (3, 5, 10):
                self.user[seed, k] = load_labelled(self._folder(seed, k, [stop[i] for i in order[:k]]), config).x
        all_train = load_labelled(work / "feat_all", config, "train")
        self.real_stop = all_train.x[all_train.y == all_train.labels.index("stop")]
        old_train = load_labelled(work / "feat_old", config, "train")
        self.real_old_x, self.real_old_y = old_train.x, old_train.y

    def _folder(self, seed: int, k: int, paths: list[str]) -> Path:
        out = self.work / "frontier" / f"user_s{seed}_k{k}" / "stop"
        if not out.exists():
            out.mkdir(parents=True)
            for p in paths:
                (out / Path(p).name).symlink_to(self.work / "synth" / p)
        return out.parent

    def score(self, pred: np.ndarray, before: np.ndarray) -> tuple[float, float]:
        """(drop in points, new-class accuracy) of predictions on the evaluation clips."""
        drop = 100 * (np.mean(before[self.old] == self.y[self.old]) - np.mean(pred[self.old] == self.y[self.old]))
        return float(drop), float(np.mean(pred[~self.old] == NEW))


def best_under_drop(bench: Bench, score: np.ndarray, old_pred: np.ndarray) -> float:
    """Highest new-class accuracy over thresholds t (new class where score > t) with drop <= MAX_DROP (picked on the eval clips)."""
    best = 0.0
    for t in np.concatenate([[np.inf], np.sort(score)]):
        drop, new = bench.score(np.where(score > t, NEW, old_pred), old_pred)
        if drop <= MAX_DROP:
            best = max(best, new)
    return best


def head_rows(bench: Bench) -> list[dict]:
    model = bench.work / "head_old"
    session = load_graph(model, read_meta(model), "backbone", None, 1)
    base = load_params(model)
    mean, std = base["mean"], base["std"]
    z = lambda x: (head.embed(session, x) - mean) / std  # noqa: E731
    z_eval, z_cs = z(bench.x), z(bench.cs_x)
    old_logits = z_eval @ base["w"] + base["b"]
    old_pred = old_logits.argmax(1)

    def column(zx, y, seed, epochs=100):
        """The new column trained as `device learn` does (frozen old columns) on standardised embeddings."""
        init = {**_widen_head(base, NEW + 1, seed), "mean": np.zeros(zx.shape[1]), "std": np.ones(zx.shape[1])}
        mask = {"w": np.zeros_like(init["w"]), "b": np.zeros_like(init["b"])}
        mask["w"][:, NEW], mask["b"][NEW] = 1.0, 1.0
        params, _ = head.train_head(zx, y, NEW + 1, head.HeadConfig(epochs=epochs, seed=seed), init=init, trainable=mask)
        return params["w"][:, NEW], params["b"][NEW]

    def fire(w, b, offset=0.0):
        return bench.score(np.where(z_eval @ w + b - offset > old_logits.max(1), NEW, old_pred), old_pred)

    rows: dict[str, list] = {}
    for (seed, k), ux in bench.user.items():
        zu = z(ux)
        x, y = _balanced(z_cs, bench.cs_y, zu, np.full(k, NEW))
        w, b = column(x, y, seed)
        for off in (0, 1, 2, 3, 4):
            rows.setdefault(f"trained column, bias lowered by {off}", []).append(fire(w, b, off))
        margins = []
        for i in range(k):  # leave-one-clip-out margin of each user clip over the best old class
            xi, yi = _balanced(z_cs, bench.cs_y, np.delete(zu, i, 0), np.full(k - 1, NEW))
            wi, bi = column(xi, yi, seed)
            margins.append(zu[i] @ wi + bi - (zu[i] @ base["w"] + base["b"]).max())
        rows.setdefault("bias lowered to the median leave-one-out margin", []).append(fire(w, b, max(0.0, float(np.median(margins)))))
        rng = np.random.default_rng(seed)
        i, j, lam = rng.integers(0, len(bench.cs_x), 160), rng.integers(0, k, 160), rng.uniform(0.3, 0.6, (160, 1, 1))
        shifted = np.stack([np.roll(ux[t % k], rng.integers(-8, 9), axis=1) for t in range(20)])
        xa = np.concatenate([z_cs, z((lam * ux[j] + (1 - lam) * bench.cs_x[i]).astype(np.float32)), z(shifted)])
        ya = np.concatenate([bench.cs_y, bench.cs_y[i], np.full(20, NEW)])
        wa, ba = column(xa, ya, seed)
        for off in (0, 3):
            rows.setdefault(f"mixup negatives + shifted positives, bias lowered by {off}", []).append(fire(wa, ba, off))
        proto = zu.mean(0) / np.linalg.norm(zu.mean(0))
        rows.setdefault("imprinted column (2 x unit mean embedding), best threshold", []).append(
            (None, best_under_drop(bench, 2 * z_eval @ proto - old_logits.max(1), old_pred)))
    zs, zo = z(bench.real_stop), z(bench.real_old_x)
    w, b = column(np.concatenate([zo, zs]), np.concatenate([bench.real_old_y, np.full(len(zs), NEW)]), 0, epochs=60)
    oracle = best_under_drop(bench, z_eval @ w + b - old_logits.max(1), old_pred)
    out = [summary("head", name, values, 0.80) for name, values in rows.items()]
    out.append(summary("head", f"oracle: {len(zs)} real clips of 8 speakers + {len(zo)} real old clips, best threshold", [(None, oracle)], 0.80))
    return out


def krr_rows(bench: Bench) -> list[dict]:
    model = bench.work / "krr_old"
    session = load_graph(model, read_meta(model), "features", None, 1)
    phi = lambda x: krr.features_of(session, x, 64)  # noqa: E731
    phi_eval, phi_cs = phi(bench.x), phi(bench.cs_x)
    old_pred = load_predictor(model).logits(bench.x).argmax(1)
    phi_user = {key: phi(ux) for key, ux in bench.user.items()}
    out = []
    for reg in (1e-4, 0.03, 0.1, 0.2):
        for weight in (1, 2, 3):
            values = []
            for (seed, k), pu in phi_user.items():
                f, y = _balanced(phi_cs, bench.cs_y, pu, np.full(k, NEW), weight)
                w, _ = krr.krr_fit(f, krr.regression_targets(y, NEW + 1), reg)
                values.append(bench.score((phi_eval @ w).argmax(1), old_pred))
            out.append(summary("krr", f"new weight {weight}, ridge {reg:g}", values, 0.40))
    return out


def full_rows(bench: Bench) -> list[dict]:
    step = bench.work / "step9"
    meta, step_meta = read_meta(bench.work / "full_old"), read_meta(step)
    old = load_params(bench.work / "full_old")
    stats = (old["mean"], old["std"])
    session = load_session(step / "train_step.onnx", None, 1)
    forward, forward_old = load_session(step / "forward.onnx", None, 1), load_session(bench.work / "step8" / "forward.onnx", None, 1)
    shapes = step_meta.extra["param_shapes"]
    logits = lambda s, p, x: s.run_named({"features": x.astype(np.float32), "mean": stats[0], "std": stats[1], "params": p})["logits"]  # noqa: E731
    old_pred = logits(forward_old, old["params"], bench.x).argmax(1)
    sizes = {name: int(np.prod(shape)) for name, shape in shapes.items()}
    starts = dict(zip(sizes, np.cumsum([0] + list(sizes.values())[:-1])))
    new_row = np.zeros(sum(sizes.values()), dtype=bool)
    new_row[starts["w3"] + NEW * shapes["w3"][1] : starts["w3"] + sizes["w3"]] = True
    new_row[starts["b3"] + NEW] = True
    variants = {"whole network, lr 3e-3 (the default)": dict(lr=3e-3), "whole network, lr 1e-3": dict(lr=1e-3),
                "whole network, lr 3e-4": dict(lr=3e-4), "new classifier row only, lr 1e-2": dict(lr=1e-2, only=new_row),
                "whole network + distillation on 160 mixed replay clips, lr 1e-3": dict(lr=1e-3, mix=160)}
    out = []
    for name, opts in variants.items():
        values, drift = [], []
        for (seed, k), ux in bench.user.items():
            init = _widen_full(old["params"], meta.method, shapes, NEW, NEW + 1, seed)
            x, y = _balanced(bench.cs_x, bench.cs_y, ux, np.full(k, NEW))
            targets = np.eye(NEW + 1, dtype=np.float32)[y]
            if opts.get("mix"):
                rng = np.random.default_rng(seed)
                a, c = rng.integers(0, len(bench.cs_x), (2, opts["mix"]))
                lam = rng.uniform(0, 0.5, (opts["mix"], 1, 1))
                mixed = (lam * bench.cs_x[c] + (1 - lam) * bench.cs_x[a]).astype(np.float32)
                soft = softmax(logits(forward_old, old["params"], mixed))
                x = np.concatenate([x, mixed])
                targets = np.concatenate([targets, np.concatenate([soft, np.zeros((len(soft), 1))], 1).astype(np.float32)])
            params, _ = train_masked(session, init, x, targets, full.FullConfig(lr=opts["lr"], seed=seed), stats, opts.get("only"))
            after = logits(forward, params, bench.x)
            values.append(bench.score(after.argmax(1), old_pred))
            drift.append(bench.score(after[:, :NEW].argmax(1), old_pred)[0])
        out.append({**summary("full", name, values, 0.45), "drop_without_new_class": float(np.mean(drift))})
    return out


def train_masked(session, init, x, targets, config, stats, only):
    """full.train_full, with every parameter outside `only` put back after each step when `only` is given."""
    if only is None:
        params, history = full.train_full(session, init, x, targets, config, stats=stats)
        return params["params"], history
    original, frozen = full.train_step, ~only

    def step(session, params, *args):
        loss, new, m, v = original(session, params, *args)
        return loss, np.where(frozen, init, new).astype(np.float32), m, v

    full.train_step = step
    try:
        params, history = full.train_full(session, init, x, targets, config, stats=stats)
    finally:
        full.train_step = original
    return params["params"], history


def summary(mode: str, name: str, values: list, ceiling: float) -> dict:
    drops = [d for d, _ in values if d is not None]
    news = np.array([n for _, n in values])
    row = {"mode": mode, "variant": name, "new_acc": float(news.mean()), "new_vs_ceiling": float(news.mean() / ceiling), "runs": len(values)}
    if drops:
        row.update(drop_mean=float(np.mean(drops)), drop_max=float(np.max(drops)))
    print(json.dumps(row), flush=True)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("work", nargs="?", default="/tmp/edgedistill-device-bench")
    parser.add_argument("--out", default=str(Path(__file__).resolve().parent / "results"))
    opts = parser.parse_args()
    bench = Bench(Path(opts.work))
    rows = head_rows(bench) + krr_rows(bench) + full_rows(bench)
    out = Path(opts.out)
    env = environment()
    (out / "device_learn_frontier.json").write_text(json.dumps({"environment": env, "rows": rows}, indent=1) + "\n")
    lines = ["# On-device learning: old-class drop vs new-word accuracy, per way of adding `stop`", "",
             f"{env['date']} · {env['machine']} · load average {env['load_average']} · from `benchmarks/device_learn_frontier.py` "
             "(see its docstring); 3 seeds x 3 / 5 / 10 user clips = 9 runs per row, coreset replay; 20 evaluation clips of `stop` "
             "(one clip = 5 points of new-class accuracy), 221 of the old classes.", "",
             "`best thr.` rows pick the threshold on the evaluation clips (the highest new-class accuracy with a drop of at most "
             "2 points): an upper bound, not something the device can do.", "",
             "| mode | variant | drop mean (points) | drop max | new class % | new / ceiling | full: drop without the new class |",
             "|---|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        drop = (f"{r['drop_mean']:.1f} | {r['drop_max']:.1f}") if "drop_mean" in r else "≤ 2 (best thr.) | —"
        drift = f"{r['drop_without_new_class']:.1f}" if "drop_without_new_class" in r else ""
        lines.append(f"| {r['mode']} | {r['variant']} | {drop} | {100 * r['new_acc']:.1f} | {r['new_vs_ceiling']:.2f} | {drift} |")
    (out / "device_learn_frontier.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
