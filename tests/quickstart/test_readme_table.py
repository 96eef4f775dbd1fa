"""The README's Quick start tables come from the committed quickstart report, never typed by hand."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "benchmarks" / "results" / "quickstart"
NUMBER = re.compile(r"\d+(?:\.\d+)?")


def _script():
    spec = importlib.util.spec_from_file_location("quickstart_readme", ROOT / "benchmarks" / "quickstart_readme.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _block(text: str, script) -> str:
    return text[text.index(script.BEGIN):text.index(script.END)]


def test_readme_block_is_what_the_committed_report_gives():
    script = _script()
    report = json.loads((RESULTS / "report.json").read_text())
    readme = (ROOT / "README.md").read_text()
    assert script.replace_block(readme, script.render_block(report)) == readme, \
        "README.md is stale: run python benchmarks/quickstart_readme.py"
    assert script.main(["--check"]) == 0


def test_every_figure_of_the_readme_tables_is_in_the_committed_report():
    """Each number in the README's table rows appears in the committed report.md's text."""
    script = _script()
    rows = [line for line in _block((ROOT / "README.md").read_text(), script).splitlines()
            if line.startswith("|") and not line.startswith("|---")]
    assert len(rows) >= 8
    report_md = (RESULTS / "report.md").read_text()
    report_numbers = set(NUMBER.findall(report_md))
    figures = [n for row in rows for cell in row.strip("|").split("|")[1:] for n in NUMBER.findall(cell)]
    assert len(figures) >= 20
    missing = sorted({n for n in figures if n not in report_numbers})
    assert not missing, f"README figures not in {RESULTS / 'report.md'}: {missing}"


def test_the_committed_report_is_a_full_default_run():
    from edgedistill.quickstart.config import QuickstartConfig

    report = json.loads((RESULTS / "report.json").read_text())
    assert report["schema"] == "edgedistill.quickstart-report"
    assert report["config"] == json.loads(json.dumps(QuickstartConfig().to_dict()))  # the defaults, not --tiny
    assert set(report["train"]["curve"]["coreset"]) == {"2", "5", "10"}
    for plot in ("curve", "latency", "coreset", "confusion"):
        assert (RESULTS / "plots" / f"{plot}.png").read_bytes()[:4] == b"\x89PNG"


def test_check_fails_on_a_hand_typed_figure(tmp_path, monkeypatch):
    script = _script()
    readme = (ROOT / "README.md").read_text()
    block = _block(readme, script)
    first = NUMBER.search(block[block.index("|"):])
    typed = readme.replace(block, block.replace(first.group(0), first.group(0) + "9", 1))
    fake_root = tmp_path / "repo"
    (fake_root / "benchmarks" / "results").mkdir(parents=True)
    (fake_root / "README.md").write_text(typed)
    monkeypatch.setattr(script, "ROOT", fake_root)
    assert script.main(["--check"]) == 1
