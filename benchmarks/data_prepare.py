"""Benchmark the data layer: `prepare` files/s on the FSDD sample and `synth` clips/s.

Usage: python benchmarks/data_prepare.py [--data ../shared/data] [--workers 1 2] [--out benchmarks/results]
Writes data_prepare.json and data_prepare.md (machine, date, load average, figures). CPU
seconds are given for prepare only (synthesis runs in forkserver grandchildren). Timings
depend on the machine and its load: the results file records both; no test asserts them.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def cpu_seconds() -> float:
    """CPU time of this process and its finished children (load-independent, unlike wall time)."""
    import resource

    return sum(resource.getrusage(who).ru_utime + resource.getrusage(who).ru_stime
               for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data", help="shared data folder (default ../shared/data)")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="worker counts to time (default 1 2)")
    parser.add_argument("--synth-per-word", type=int, default=60, help="clips per word for the synth run (default 60, 10 words)")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results", help="results folder")
    args = parser.parse_args()

    from edgedistill.data.prepare import prepare
    from edgedistill.data.synth import synthesize

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for workers in args.workers:
            if (args.data / "fsdd").is_dir():
                start, cpu = time.perf_counter(), cpu_seconds()
                prepare("fsdd", args.data / "fsdd", "kws", Path(tmp) / f"fsdd-{workers}", workers=workers, progress=False)
                seconds = time.perf_counter() - start
                rows.append({"task": "prepare fsdd (3000 wav, 8 kHz -> kws 40x101)", "workers": workers, "items": 3000,
                             "seconds": round(seconds, 2), "cpu_s": round(cpu_seconds() - cpu, 2), "per_s": round(3000 / seconds, 1)})
                start = time.perf_counter()
                prepare("fsdd", args.data / "fsdd", "kws", Path(tmp) / f"fsdd-{workers}", progress=False)
                rows.append({"task": "prepare fsdd again (cache hit)", "workers": workers, "items": 3000,
                             "seconds": round(time.perf_counter() - start, 3), "cpu_s": None, "per_s": None})
            n = 10 * args.synth_per_word
            start = time.perf_counter()
            synthesize(Path(tmp) / f"synth-{workers}", per_word=args.synth_per_word, seed=0, workers=workers, progress=False)
            seconds = time.perf_counter() - start
            rows.append({"task": f"synth 10 keywords x {args.synth_per_word}", "workers": workers, "items": n,
                         "seconds": round(seconds, 2), "cpu_s": None, "per_s": round(n / seconds, 1)})
            print(json.dumps(rows[-1]))
    report = {"machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.processor() or platform.platform()}",
              "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
              "load_average_1m_at_end": round(os.getloadavg()[0], 2), "results": rows}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "data_prepare.json").write_text(json.dumps(report, indent=2) + "\n")
    lines = [f"# Data layer throughput\n", f"Machine: {report['machine']}  ", f"Date: {report['date']}  ",
             f"1-min load average at the end: {report['load_average_1m_at_end']} (shared machine: figures are lower bounds)\n",
             "| task | workers | items | wall s | CPU s | items/s (wall) |", "|---|---|---|---|---|---|"]
    lines += [f"| {r['task']} | {r['workers']} | {r['items']} | {r['seconds']} | {r['cpu_s'] or '-'} | {r['per_s'] or '-'} |"
              for r in rows]
    (args.out / "data_prepare.md").write_text("\n".join(lines) + "\n")
    print((args.out / "data_prepare.md").read_text())


if __name__ == "__main__":
    main()
