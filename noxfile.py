"""The supported range, one session per pinned set (see docs/index.md, "Supported versions").

    nox -l                      # list the sessions
    nox -s "matrix-3.11(starlette-0.40)"
    nox -t matrix               # every pinned set (what CI runs)
    nox -s wheel                # the suite against the built wheel, in a fresh venv

Each matrix session installs the project with its test dependencies, then pins
Starlette and FastAPI with pip constraints so that nothing else can move them.
Interpreters that are not on ``PATH`` are skipped (``nox --error-on-missing-interpreters``
turns that into a failure, which CI uses).
"""

from __future__ import annotations

import glob
import os
import shutil
import tempfile
from pathlib import Path

import nox

nox.options.default_venv_backend = "venv"
nox.options.reuse_existing_virtualenvs = True
nox.options.sessions = ["matrix"]

ROOT = Path(__file__).parent

# Interpreters installed with pyenv are found without activating them.
_PYENV = sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.*/bin")))
if _PYENV:
    os.environ["PATH"] = os.pathsep.join([os.environ.get("PATH", ""), *_PYENV])

TEST_DEPS = ("pytest>=8", "pytest-asyncio>=0.24", "hypothesis>=6.100", "pyyaml>=6")
DOCS_DEPS = ("mkdocs-material>=9.5",)

# (name, python, starlette spec, fastapi spec). The first two are the oldest FastAPI
# 0.115 line (Starlette 0.40) and its last release; "0.x" is the newest pre-1.0 pair.
PINNED_SETS = [
    ("starlette-0.40", "3.10", "starlette==0.40.0", "fastapi==0.115.2"),
    ("starlette-0.46", "3.11", "starlette==0.46.2", "fastapi==0.115.14"),
    ("starlette-0.x", "3.12", "starlette<1", "fastapi<0.133"),
    ("starlette-1.x", "3.13", "starlette>=1,<2", "fastapi"),
]


@nox.session(tags=["matrix"])
@nox.parametrize(
    ("python", "starlette", "fastapi"),
    [nox.param(py, st, fa, id=name) for name, py, st, fa in PINNED_SETS],
)
def matrix(session: nox.Session, starlette: str, fastapi: str) -> None:
    """The whole suite against one pinned Starlette/FastAPI pair."""
    constraints = Path(session.create_tmp()) / "constraints.txt"
    constraints.write_text(f"{starlette}\n{fastapi}\n")
    session.install("-c", str(constraints), "-e", ".[all]", fastapi, *TEST_DEPS, *DOCS_DEPS)
    session.run("python", "-m", "pip", "check")
    session.run(
        "python",
        "-c",
        "import sys, starlette, fastapi; "
        "print(f'python {sys.version.split()[0]} starlette {starlette.__version__} "
        "fastapi {fastapi.__version__}')",
    )
    session.run("pytest", "-q", "-p", "no:cacheprovider", *session.posargs)


@nox.session(python=False)
def wheel(session: nox.Session) -> None:
    """Build sdist + wheel, `twine check` them, run the suite against the installed wheel.

    The tests are copied out of the source tree and run from there, so the package
    under test is the one pip installed into a fresh venv (the first test checks it).
    """
    dist = ROOT / "dist"
    shutil.rmtree(dist, ignore_errors=True)
    session.run("python", "-m", "build", "--outdir", str(dist), str(ROOT))
    session.run("python", "-m", "twine", "check", "--strict", *glob.glob(str(dist / "*")))
    (wheel_file,) = glob.glob(str(dist / "*.whl"))
    with tempfile.TemporaryDirectory(prefix="spoc-wheel-") as tmp:
        venv = Path(tmp) / "venv"
        session.run("python", "-m", "venv", str(venv))
        py = str(venv / "bin" / "python")
        session.run(py, "-m", "pip", "install", "--quiet", f"{wheel_file}[all]", "fastapi")
        session.run(py, "-m", "pip", "install", "--quiet", *TEST_DEPS)
        work = Path(tmp) / "work"
        work.mkdir()
        # What the suite reads besides the package: its tests, the example app, the
        # docs it runs, the benchmark package and the project metadata.
        for name in ("tests", "example_app", "docs", "bench"):
            shutil.copytree(ROOT / name, work / name)
        for name in ("pyproject.toml", "mkdocs.yml", "README.md"):
            shutil.copy(ROOT / name, work / name)
        path = f"{venv / 'bin'}{os.pathsep}{os.environ['PATH']}"
        env = {"SPOC_EXPECT_INSTALLED": "1", "PATH": path}
        with session.chdir(work):
            session.run(
                py, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                "tests/test_installed.py", "tests/test_smoke.py", "tests/test_app.py",
                "tests/test_testing_helpers.py", "tests/test_pytest_plugin.py",
                *session.posargs, env=env,
            )  # fmt: skip
