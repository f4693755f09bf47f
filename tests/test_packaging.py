"""The distribution's metadata as setuptools reads it: no deprecation warning at
install (a license table instead of an SPDX string warned at every `pip install`),
and no test dependency that nothing uses."""

from __future__ import annotations

import re
import tomllib
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_setuptools_reads_the_metadata_without_a_warning(monkeypatch):
    from setuptools.config.pyprojecttoml import apply_configuration
    from setuptools.dist import Distribution

    monkeypatch.chdir(ROOT)  # readme and package dirs are relative to the project
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        # pygal (imported by an earlier test in the same process) leaves a meta path
        # finder without find_spec behind: its ImportWarning is not about our metadata
        warnings.simplefilter("ignore", ImportWarning)
        dist = apply_configuration(Distribution(), "pyproject.toml")
    assert dist.metadata.license_expression == "MIT"


def test_every_test_extra_is_imported_somewhere():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    names = [re.split(r"[<>=!~;\[ ]", spec, maxsplit=1)[0] for spec in project["optional-dependencies"]["test"]]
    # the import name of each; the tools run as commands, not imports
    modules = {
        "hdrhistogram": "hdrh",
        "pytest-timeout": None,
        "pytest-xdist": None,  # a plugin, used through addopts (-n 2)
        "pytest-textual-snapshot": None,
        "ruff": None,
        "mypy": None,
    }
    sources = "\n".join(
        path.read_text(encoding="utf-8")
        for folder in ("tests", "wsgicompare", "backends", "loader", "tui", "benchmarks", "screenshots")
        for path in (ROOT / folder).rglob("*.py")
    )
    for name in names:
        module = modules.get(name, name.replace("-", "_"))
        if module is None:
            continue
        assert re.search(rf"^\s*(import|from) {module}\b", sources, re.M), f"{name}: in the test extra, never imported"


def test_every_package_of_the_product_is_listed():
    """A folder with an ``__init__.py`` left out of ``packages`` works in the editable
    install and is missing from a wheel (backends/catalog/ is a package since its split)."""
    tool = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(tool["packages"])
    found = set()
    for name, folder in tool["package-dir"].items():
        for init in (ROOT / folder).rglob("__init__.py"):
            found.add(".".join([name, *init.parent.relative_to(ROOT / folder).parts]))
    assert "wsgicompare.backends.catalog" in found
    assert found - listed == set()
