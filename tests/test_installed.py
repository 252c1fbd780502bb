"""When the suite runs against the built wheel (``nox -s wheel``), it tests that wheel."""

from __future__ import annotations

import os
from importlib import metadata
from pathlib import Path

import pytest

import spoc_asgi


@pytest.mark.skipif(
    not os.environ.get("SPOC_EXPECT_INSTALLED"), reason="the suite runs on the source tree"
)
def test_the_package_under_test_is_the_installed_wheel() -> None:
    assert "site-packages" in Path(spoc_asgi.__file__).parts, spoc_asgi.__file__
    files = metadata.files("spoc_asgi") or []
    assert any(str(f).endswith("py.typed") for f in files)


def test_the_version_is_single_sourced() -> None:
    assert metadata.version("spoc_asgi") == spoc_asgi.__version__


def test_the_plugin_and_cli_are_registered() -> None:
    entry_points = metadata.entry_points()
    plugins = {ep.name: ep.value for ep in entry_points.select(group="pytest11")}
    assert plugins.get("spoc_asgi") == "spoc_asgi.pytest_plugin"
    scripts = {ep.name: ep.value for ep in entry_points.select(group="console_scripts")}
    assert scripts.get("spoc-asgi") == "spoc_asgi.cli:main"
