"""The supported range, one session per pinned set (see docs/index.md, "Supported versions").

    nox -l                      # list the sessions
    nox -s "matrix-3.11(starlette-0.40)"
    nox -t matrix               # every pinned set (what CI runs)
    nox -s wheel                # the suite against the built wheel, in a fresh venv
    nox -s fastapi_0115         # pip install <wheel> "fastapi<0.116" serves a request

Each matrix session installs the project with its test dependencies, then pins
Starlette and FastAPI with pip constraints so that nothing else can move them.
Interpreters that are not on ``PATH`` are skipped (``nox --error-on-missing-interpreters``
turns that into a failure, which CI uses).
"""

from __future__ import annotations

import glob
import os
import shutil
import sys
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

# What the suite needs beyond the package's extras (litestar: bench's peers, smoke-tested;
# gunicorn and uvicorn-worker: the multi-process deployment tests).
TEST_DEPS = (
    "pytest>=8",
    "pytest-asyncio>=0.24",
    "hypothesis>=6.100",
    "pyyaml>=6",
    "litestar>=2.12",
    "gunicorn>=22",
    "uvicorn-worker>=0.2",
)
DOCS_DEPS = ("mkdocs-material>=9.5",)

# (name, python, starlette spec, fastapi spec). The first two are the oldest FastAPI
# 0.115 line (Starlette 0.40) and its last release; "0.x" is the newest pre-1.0 pair.
PINNED_SETS = [
    ("starlette-0.40", "3.10", "starlette==0.40.0", "fastapi==0.115.2"),
    ("starlette-0.46", "3.11", "starlette==0.46.2", "fastapi==0.115.14"),
    ("starlette-0.x", "3.12", "starlette<1", "fastapi<0.133"),
    ("starlette-1.x", "3.13", "starlette>=1,<2", "fastapi"),
    ("starlette-1.x-py3.10", "3.10", "starlette>=1,<2", "fastapi"),
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


def _build(session: nox.Session) -> Path:
    """Build the sdist and wheel into dist/ (once per nox run), `twine check` them.

    With the interpreter nox runs on: the project's dev venv has build and twine.
    """
    dist = ROOT / "dist"
    wheels = glob.glob(str(dist / "*.whl"))
    if not getattr(_build, "done", False) or not wheels:
        shutil.rmtree(dist, ignore_errors=True)
        session.run(sys.executable, "-m", "build", "--outdir", str(dist), str(ROOT))
        session.run(sys.executable, "-m", "twine", "check", "--strict", *glob.glob(str(dist / "*")))
        _build.done = True  # type: ignore[attr-defined]
        wheels = glob.glob(str(dist / "*.whl"))
    (wheel_file,) = wheels
    return Path(wheel_file)


def _fresh_venv(session: nox.Session, where: Path) -> str:
    session.run(sys.executable, "-m", "venv", str(where))
    return str(where / "bin" / "python")


@nox.session(python=False)
def wheel(session: nox.Session) -> None:
    """The whole suite against the built wheel, installed in a fresh venv.

    The repository without the package is copied elsewhere and the tests run there,
    so ``spoc_asgi`` is the installed one (tests/test_installed.py checks it).
    """
    wheel_file = _build(session)
    with tempfile.TemporaryDirectory(prefix="spoc-wheel-") as tmp:
        py = _fresh_venv(session, Path(tmp) / "venv")
        session.run(py, "-m", "pip", "install", "--quiet", f"{wheel_file}[all]", "fastapi")
        session.run(py, "-m", "pip", "install", "--quiet", *TEST_DEPS, *DOCS_DEPS)
        work = Path(tmp) / "work"
        tracked = session.run("git", "-C", str(ROOT), "ls-files", silent=True, external=True)
        for name in str(tracked).splitlines():
            if name.startswith("spoc_asgi/") or not (ROOT / name).is_file():
                continue
            (work / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, work / name)
        path = f"{Path(py).parent}{os.pathsep}{os.environ['PATH']}"
        with session.chdir(work):
            session.run(
                py, "-m", "pytest", "-q", "-p", "no:cacheprovider", *session.posargs,
                env={"SPOC_EXPECT_INSTALLED": "1", "PATH": path},
            )  # fmt: skip


@nox.session(python=False)
def fastapi_0115(session: nox.Session) -> None:
    """`pip install <wheel> "fastapi<0.116"` resolves to FastAPI 0.115 and serves a request."""
    wheel_file = _build(session)
    with tempfile.TemporaryDirectory(prefix="spoc-fastapi-") as tmp:
        py = _fresh_venv(session, Path(tmp) / "venv")
        session.run(py, "-m", "pip", "install", "--quiet", f"{wheel_file}[server]", "fastapi<0.116")
        session.run(py, "-m", "pip", "check")
        session.run(py, str(ROOT / ".ci" / "serve_check.py"), env={"PYTHONSAFEPATH": "1"})
