"""The command-line design holds: each setting declared once (option default and help equal the
config field's), shared options mean the same everywhere, the library never imports the CLI,
no import cycle between training and model artifacts, and the README's command table lists
exactly the registered commands."""

from __future__ import annotations

import dataclasses
import re
import subprocess
import sys
from pathlib import Path

import typer.main

from edgedistill.cli.main import app

ROOT = Path(__file__).resolve().parents[2]
SHARED = ("--json", "--seed", "--device", "--threads", "--model-arg", "--resume")


def walk(command=None, path=()):
    """(path, click command) for every leaf command."""
    command = command or typer.main.get_command(app)
    children = getattr(command, "commands", None)
    if not children:
        yield path, command
        return
    for name, child in children.items():
        yield from walk(child, (*path, name))


def config_fields(command) -> dict:
    wrapped = getattr(command.callback, "__wrapped__", None)
    return getattr(wrapped, "config_fields", {})


def test_every_config_option_equals_its_field():
    checked = 0
    for path, command in walk():
        for cls in config_fields(command).values():
            if cls is None:
                continue
            fields = {f.name: f for f in dataclasses.fields(cls)}
            for param in command.params:
                field = fields.get(param.name)
                if field is None or not field.metadata.get("cli", True):
                    continue
                default = field.default
                if isinstance(default, tuple):
                    default = ",".join(map(str, default))
                # generated options, and a command's own parameter of the same name (seed, device, threads), say the same
                assert param.help == field.metadata["help"], (path, param.name, param.help)
                assert param.default == default, (path, param.name, param.default, default)
                checked += 1
    assert checked > 100  # rfad, gan, train, crossval, select, compare, export, quickstart


def test_configured_commands_cover_the_long_running_ones():
    configured = {" ".join(path) for path, command in walk() if config_fields(command)}
    assert {"distill rfad", "distill gan", "train", "crossval", "select", "compare", "export run", "quickstart"} <= configured


def test_shared_options_mean_the_same_everywhere():
    helps: dict[str, set] = {}
    for path, command in walk():
        for param in command.params:
            for flag in param.opts:
                if flag in SHARED:
                    helps.setdefault(flag, set()).add(param.help)
    assert set(helps) == set(SHARED)
    for flag, texts in helps.items():
        assert len(texts) == 1, (flag, texts)


def test_feature_cache_is_the_first_positional_argument():
    expected = {("train",): "feat", ("crossval",): "feat", ("distill", "rfad"): "feat", ("distill", "gan"): "feat",
                ("select",): "feat", ("compare",): "feat", ("evaluate",): "run", ("krr-score",): "coreset"}
    commands = dict(walk())
    for path, first in expected.items():
        arguments = [p.name for p in commands[path].params if p.param_type_name == "argument"]
        assert arguments[0] == first, (path, arguments)
    assert [p.name for p in commands[("evaluate",)].params if p.param_type_name == "argument"] == ["run", "feat"]


def test_library_never_imports_the_cli():
    offenders = []
    for folder in ("edgedistill", "export", "device"):
        for path in (ROOT / folder).rglob("*.py"):
            if "cli" in path.relative_to(ROOT).parts or path == ROOT / "edgedistill" / "__main__.py":
                continue  # __main__ is `python -m edgedistill`: the CLI's entry point, not library code
            if re.search(r"^\s*(from|import) edgedistill\.cli", path.read_text(), flags=re.M):
                offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []


def test_training_does_not_import_model_artifact():
    source = (ROOT / "edgedistill" / "training.py").read_text()
    assert "model_artifact" not in re.sub(r'""".*?"""', "", source, flags=re.S)


def _documented(cell: str) -> set[str]:
    """Command paths a README cell names: `device infer|bench` -> {"device infer", "device bench"}."""
    words = []
    for token in cell.replace("\\|", "|").split():
        if not re.fullmatch(r"[a-z][a-z0-9|-]*", token):
            break
        words.append(token)
    if len(words) == 1 and words[0] == "export":
        words = ["export", "run"]  # `export RUN ...` is the default sub-command
    if len(words) >= 2 and "|" in words[1]:
        return {f"{words[0]} {name}" for name in words[1].split("|")}
    return {" ".join(words[:2])} | {" ".join(words[:1])}


def test_readme_command_table_lists_the_registered_commands():
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## CLI", 1)[1].split("\n## ", 1)[0]
    documented = set()
    for line in section.splitlines():
        if not line.startswith("| `edgedistill "):
            continue
        first_cell = re.split(r"(?<!\\)\|", line)[1]
        parts = re.findall(r"`([^`]+)`", first_cell)
        group = parts[0].split()[1]
        for i, part in enumerate(parts):
            text = part.removeprefix("edgedistill ").strip()
            if i and group in ("data", "features", "device", "export") and not text.startswith(group):
                text = f"{group} {text}"
            documented |= _documented(text)
    registered = {" ".join(path) for path, _ in walk()}
    missing = sorted(registered - documented)
    assert missing == [], f"commands missing from the README's CLI table: {missing}"
    unknown = sorted(name for name in documented if name not in registered
                     and not any(r.startswith(name + " ") for r in registered))
    assert unknown == [], f"README lists commands that do not exist: {unknown}"


def test_progress_writes_plain_lines_when_stderr_is_a_file(tmp_path):
    code = ("import time\nfrom edgedistill.progress import progress\n"
            "with progress(5, 'rfad', every=0.0) as bar:\n"
            "    for step in range(1, 6):\n        bar.update(step, loss=1.0 / step)\n")
    with open(tmp_path / "log.txt", "w") as err:
        subprocess.run([sys.executable, "-c", code], stderr=err, check=True)
    lines = (tmp_path / "log.txt").read_text().splitlines()
    assert any(line.startswith("rfad  5/5  loss 0.2") for line in lines), lines
    assert all("\x1b[" not in line for line in lines)  # no terminal escapes in a log file
    assert any("eta" in line for line in lines)
