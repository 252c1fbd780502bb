"""What ``import spoc_asgi`` loads: nothing heavy until it is used (docs/performance.md)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

# Not needed to build or serve an app: entry-point machinery, the drivers, the CLI,
# the test helpers and their client library.
HEAVY = (
    "importlib.metadata",
    "email",
    "http.client",
    "sqlalchemy",
    "redis",
    "asyncpg",
    "aiosqlite",
    "httpx",
    "spoc_asgi.cli",
    "spoc_asgi.testing",
    "spoc_asgi.backends.sql",
    "spoc_asgi.backends.redis",
)
# Imported only by the apps that use them: process coordination (``@once``/``@leader``,
# ``[spoc.coordination]``), the health probes, the TOML parser (a project with a
# spoc.toml), the "did you mean" matcher (a name that is not found).
ON_USE = ("spoc_asgi.coordination", "spoc_asgi.health", "tomllib", "tomli", "difflib")


def loaded_after(code: str, baseline: str = "pass") -> list[str]:
    """The HEAVY modules ``code`` loads on top of ``baseline``, in a fresh interpreter."""
    script = (
        f"import sys\n{baseline}\nbefore = set(sys.modules)\n{code}\n"
        f"print(__import__('json').dumps([m for m in {HEAVY + ON_USE!r} "
        f"if m in sys.modules and m not in before]))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return list(json.loads(done.stdout))


def test_import_spoc_asgi_loads_nothing_heavy() -> None:
    assert loaded_after("import spoc_asgi") == []


def test_import_spoc_asgi_loads_only_itself() -> None:
    code = "import spoc_asgi; print(sorted(m for m in sys.modules if m.startswith('spoc_asgi')))"
    done = subprocess.run(
        [sys.executable, "-c", f"import sys; {code}"], capture_output=True, text=True
    )
    assert done.stdout.strip() == "['spoc_asgi']", done.stdout + done.stderr


def test_building_an_app_loads_nothing_heavy_beyond_starlette(tmp_path: Path) -> None:
    (tmp_path / "spoc.toml").write_text("[spoc.plugins]\nroutes = []\n", encoding="utf-8")
    code = f"from spoc_asgi import create_app; create_app({str(tmp_path)!r})"
    loaded = loaded_after(code, baseline="import starlette.applications")
    assert [m for m in loaded if m not in ("tomllib", "tomli")] == []


def test_importing_create_app_loads_nothing_heavy_nor_on_use_modules() -> None:
    assert loaded_after("from spoc_asgi import create_app", "import starlette.applications") == []


def test_an_app_without_coordination_or_probes_does_not_import_them(tmp_path: Path) -> None:
    (tmp_path / "settings.py").write_text("PLUGINS = {'routes': []}\n", encoding="utf-8")
    code = f"from spoc_asgi import create_app; create_app({str(tmp_path)!r})"
    assert loaded_after(code, baseline="import starlette.applications") == []


def test_the_on_use_modules_load_when_used(tmp_path: Path) -> None:
    (tmp_path / "spoc.toml").write_text(
        '[spoc.plugins]\nroutes = ["spoc_asgi.health:routes"]\n[spoc.coordination]\n'
        'backend = "file"\n',
        encoding="utf-8",
    )
    code = f"from spoc_asgi import create_app; create_app({str(tmp_path)!r})"
    loaded = loaded_after(code, baseline="import starlette.applications")
    assert {"spoc_asgi.coordination", "spoc_asgi.health"} <= set(loaded)


def test_entry_point_discovery_loads_importlib_metadata_when_asked(tmp_path: Path) -> None:
    (tmp_path / "spoc.toml").write_text("[spoc]\nentry_points = true\n", encoding="utf-8")
    code = f"from spoc_asgi import create_app; create_app({str(tmp_path)!r})"
    assert "importlib.metadata" in loaded_after(code, baseline="import starlette.applications")


def test_public_names_resolve_and_unknown_ones_raise() -> None:
    import spoc_asgi

    for name in spoc_asgi.__all__:
        assert getattr(spoc_asgi, name) is not None, name
    assert set(spoc_asgi.__all__) <= set(dir(spoc_asgi))
    try:
        spoc_asgi.nonexistent  # noqa: B018
    except AttributeError as exc:
        assert "has no attribute 'nonexistent'" in str(exc)
    else:  # pragma: no cover
        raise AssertionError("no AttributeError")
