"""`edgedistill select` and `edgedistill compare` end to end on the toy feature cache (CliRunner)."""

import json

import numpy as np
from typer.testing import CliRunner

from edgedistill.cli.main import app
from edgedistill.methods.selection import load_selection

TINY = ["--epochs", "2", "--min-steps", "0", "--batch-size", "16", "--no-augment", "--threads", "1", "--model-arg", "width=4"]
runner = CliRunner()


def invoke(*args):
    result = runner.invoke(app, [str(a) for a in args])
    return result


def test_select_writes_a_selection(toy_features_dir, toy_featureset, tmp_path):
    out = tmp_path / "sel"
    result = invoke("select", toy_features_dir, "--strategy", "bald", "--budget", "8,25%", "--rounds", "2",
                    "--mc-passes", "3", "--out", out, "--seed", "2", *TINY, "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["n_selected"] == data["budget"] == 16 and data["pool_size"] == 64
    assert [r["n_labelled"] for r in data["rounds"]] == [4, 6, 8, 12, 16]  # 2 rounds to 8, 2 more to 16
    assert data["budgets"] == [8, 16]
    selection = load_selection(out, features=toy_featureset.config)
    assert len(np.unique(selection.indices)) == 16
    assert selection.meta.method["al"]["strategy"] == "bald" and selection.meta.extra["budgets"] == [8, 16]
    assert selection.meta.method["model_kwargs"] == {"width": 4}
    assert 0.0 <= data["accuracy"] <= 1.0


def test_select_user_errors(toy_features_dir, tmp_path):
    result = invoke("select", toy_features_dir, "--budget", "2", "--out", tmp_path / "x", *TINY)
    assert result.exit_code != 0 and "fewer than the 4 classes" in str(result.exception)
    result = invoke("select", toy_features_dir, "--out", tmp_path / "z", "--model-arg", "width")
    assert "write key=value" in str(result.exception)


def test_compare_table_and_resume(toy_features_dir, tmp_path):
    out = tmp_path / "report"
    args = ["compare", toy_features_dir, "--strategies", "entropy", "--budgets", "20%", "--ipc", "2",
            "--seeds", "1", "--rounds", "1", "--out", out, *TINY]
    result = invoke(*args, "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["jobs"] == 3  # full, one AL trajectory through 8 samples and 20 %, random 2 per class
    assert [r["method"] for r in data["rows"]][0] == "Full data"
    assert {(r["method"], r["n_samples"]) for r in data["rows"]} == {
        ("Full data", 64), ("AL Max Entropy", 13), ("AL Max Entropy", 8), ("Random balanced (real)", 8)}
    for name in ("report.md", "report.csv", "report.json", "accuracy_vs_budget.png"):
        assert (out / name).stat().st_size > 0
    stamps = {p.name: p.stat().st_mtime_ns for p in (out / "jobs").glob("*.json")}
    again = invoke(*args)  # table output; every job is reused
    assert again.exit_code == 0, again.output
    assert "Full data" in again.stdout
    assert {p.name: p.stat().st_mtime_ns for p in (out / "jobs").glob("*.json")} == stamps


def test_compare_generator_rows(toy_features_dir, toy_generator_dir, tmp_path):
    result = invoke("compare", toy_features_dir, "--strategies", "", "--generator", toy_generator_dir,
                    "--ppc", "3", "--seeds", "1", "--out", tmp_path / "report", *TINY, "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert {(r["method"], r["n_samples"]) for r in data["rows"]} == {("Full data", 64), ("Generated gen", 12)}
    bad = invoke("compare", toy_features_dir, "--generator", toy_generator_dir, "--ppc", "many",
                 "--out", tmp_path / "bad")
    assert bad.exit_code != 0 and "--ppc" in str(bad.exception)
