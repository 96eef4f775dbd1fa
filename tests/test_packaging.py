"""pyproject lists every sub-package, and the namespace mapping keeps export/device under edgedistill."""

from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib")  # Python >= 3.11

ROOT = Path(__file__).resolve().parents[1]


def test_every_package_is_listed():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(config["packages"])
    mapping = config["package-dir"]
    found = set()
    for name, folder in mapping.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT / folder).parts
            found.add(".".join((name, *rel)))
    assert found <= listed, f"add to pyproject packages: {sorted(found - listed)}"


def test_namespace_mapping():
    import edgedistill.device
    import edgedistill.export

    assert Path(edgedistill.device.__file__).parent == ROOT / "device"
    assert Path(edgedistill.export.__file__).parent == ROOT / "export"


def test_run_time_c_sources_ship_as_package_data():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    shipped = config.get("package-data", {})
    for source in (ROOT / "edgedistill").rglob("*.c"):
        package = ".".join(("edgedistill", *source.parent.relative_to(ROOT / "edgedistill").parts))
        assert "*.c" in shipped.get(package, []), f"add {source.name} to [tool.setuptools.package-data] {package}"
