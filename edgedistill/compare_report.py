"""The comparison's report: rows in the paper's form from finished job records, written as
Markdown, CSV, JSON and a PNG plot of accuracy against the percentage of training samples.

Pure bookkeeping over the JSON records `edgedistill.compare` writes; must not import torch
(matplotlib is imported inside the plot function).
"""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path

import numpy as np

from edgedistill.artifacts import write_json_atomic

AL_NAMES = {"entropy": "Max Entropy", "variation-ratios": "Variation Ratios", "bald": "BALD", "margin": "Margin",
            "random": "Random"}


def method_name(record: dict) -> str:
    """The table's method column for a job record."""
    if record["kind"] == "full":
        return "Full data"
    if record["kind"] == "random":
        return "Random balanced (real)"
    if record["kind"] == "coreset":
        return f"Coreset {Path(record['coreset']).name}"
    if record["kind"] == "generator":
        return f"Generated {Path(record['generator']).name}"
    return f"AL {AL_NAMES.get(record['strategy'], record['strategy'])}"


def budget_records(records: list[dict]) -> list[dict]:
    """One record per (job, budget): an AL trajectory's record becomes one per budget point."""
    return [{**r, **point} for r in records for point in r.get("points") or [{}]]


def summarise(records: list[dict]) -> list[dict]:
    """Rows in the paper's form: method, % of samples, samples per class, accuracy mean/std (in %).

    The full-data row comes first, then methods by name and budgets from largest to smallest;
    std is the population standard deviation over seeds. AL trajectories give a row per budget.
    """
    groups: dict[tuple, list[dict]] = {}
    for r in budget_records(records):
        groups.setdefault((r["kind"] != "full", method_name(r), r["n_samples"]), []).append(r)
    rows = []
    for (_, method, n), group in sorted(groups.items(), key=lambda kv: (kv[0][0], kv[0][1], -kv[0][2])):
        acc = np.array([g["accuracy"] for g in group]) * 100
        uar = np.array([g["uar"] for g in group]) * 100
        pool, classes = group[0]["pool_size"], group[0]["n_classes"]
        rows.append({"method": method, "percent": 100.0 * n / pool, "per_class": n / classes, "n_samples": n,
                     "accuracy_mean": float(acc.mean()), "accuracy_std": float(acc.std(ddof=0)),
                     "uar_mean": float(uar.mean()), "seeds": len(group)})
    return rows


def markdown_table(rows: list[dict]) -> list[str]:
    """The paper-form table as Markdown lines (accuracy mean ± std over seeds)."""
    lines = ["| method | % of samples | samples per class | accuracy (%) | UAR (%) | seeds |", "|---|---:|---:|---:|---:|---:|"]
    return lines + [f"| {r['method']} | {r['percent']:.2f} | {r['per_class']:.1f} | {r['accuracy_mean']:.2f} ± "
                    f"{r['accuracy_std']:.2f} | {r['uar_mean']:.2f} | {r['seeds']} |" for r in rows]


def write_report(rows: list[dict], out: str | Path, title: str, notes: list[str] = ()) -> dict[str, Path]:
    """REPORT/report.md, report.csv, report.json and accuracy_vs_budget.png; `notes` go under the title."""
    out = Path(out)
    paths = {"md": out / "report.md", "csv": out / "report.csv", "json": out / "report.json",
             "png": out / "accuracy_vs_budget.png"}
    write_tables({"": rows}, paths, title, notes)
    return paths


def write_tables(tables: dict[str, list[dict]], paths: dict[str, Path], title: str, notes: list[str] = (),
                 column: str = "model") -> None:
    """Several comparisons (e.g. one per model) in one report: paths["md"|"csv"|"json"|"png"].

    tables: name -> summarised rows; one unnamed table ("") writes the single-comparison form.
    Markdown: a "## name" section per named table. CSV: a leading `column` holding the name when
    there are several tables. JSON: {"title", "notes", "rows"} for one table, {"title", "notes",
    "tables": {name: rows}} for several. PNG: one panel per table.
    """
    if not tables or not all(tables.values()):
        raise ValueError("no finished jobs to report")
    single = list(tables) == [""]
    lines = [f"# {title}", "", *[f"- {note}" for note in notes], ""]
    for name, rows in tables.items():
        lines += ([] if single else [f"## {name}", ""]) + markdown_table(rows) + [""]
    write_text_atomic(paths["md"], "\n".join(lines).rstrip("\n") + "\n")
    flat = [row if single else {column: name, **row} for name, rows in tables.items() for row in rows]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(flat[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(flat)
    write_text_atomic(paths["csv"], buffer.getvalue())
    body = {"rows": tables[""]} if single else {"tables": tables}
    write_json_atomic(paths["json"], {"title": title, "notes": list(notes), **body})
    plot_accuracy(tables, paths["png"], title)


def write_text_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def plot_accuracy(tables: dict[str, list[dict]], path: Path, title: str) -> None:
    """Accuracy against % of training samples (log x), a panel per table: a line per strategy,
    markers for coresets, the full-data figure as a dashed line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(tables), figsize=(7 * len(tables), 4.5), squeeze=False)
    for ax, (name, rows) in zip(axes[0], tables.items()):
        draw_accuracy(ax, rows, name or title)
    if len(tables) > 1:
        fig.suptitle(title)
    fig.tight_layout()
    tmp = path.with_name(f".{path.stem}.tmp{path.suffix}")
    fig.savefig(tmp, dpi=120)
    os.replace(tmp, path)
    plt.close(fig)


def draw_accuracy(ax, rows: list[dict], title: str) -> None:
    """One comparison's accuracy-vs-budget curves on a matplotlib Axes."""
    import matplotlib.ticker

    by_method: dict[str, list[dict]] = {}
    for r in rows:
        by_method.setdefault(r["method"], []).append(r)
    for method, group in by_method.items():
        group = sorted(group, key=lambda r: r["percent"])
        xs, ys, es = ([r[k] for r in group] for k in ("percent", "accuracy_mean", "accuracy_std"))
        if method == "Full data":
            ax.axhline(ys[0], color="black", linestyle="--", label=f"Full data ({ys[0]:.1f} %)")
            continue
        style = (dict(marker="*", markersize=12, linestyle="none") if method.startswith("Coreset")
                 else dict(marker="s", linestyle=":") if method.startswith("Generated") else dict(marker="o"))
        ax.errorbar(xs, ys, yerr=es, capsize=3, label=method, **style)
    ax.set_xscale("log")
    ticks = sorted({round(r["percent"], 2) for r in rows if r["method"] != "Full data"})
    ax.xaxis.set_major_locator(matplotlib.ticker.FixedLocator(ticks))
    ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda value, _: f"{value:g}"))
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.set_xlabel("% of training samples labelled (log scale)")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
