"""Compiler-test fixtures: golden files and the IR verifier switched on.

Golden files (``tests/compiler/golden/*.txt``) are compared exactly; they are rewritten only
when pytest runs with ``--update-golden`` (or ``VDLA_UPDATE_GOLDEN=1``, for runs where this
conftest is not an initial conftest and so cannot add a command-line option, e.g.
``pytest tests`` from the repository root).
"""

import os
from pathlib import Path

import pytest

GOLDEN_DIR = Path(__file__).resolve().parent / "golden"


def pytest_addoption(parser):
    try:
        parser.addoption("--update-golden", action="store_true", default=False,
                         help="rewrite tests/compiler/golden/*.txt from the current output")
    except ValueError:  # already added by another conftest
        pass


@pytest.fixture(autouse=True)
def _verify_ir(monkeypatch):
    """Every lowering in the compiler tests runs the structural verifier between passes."""
    monkeypatch.setenv("VDLA_VERIFY_IR", "1")


@pytest.fixture
def golden(request):
    """``golden(name, text)``: compare ``text`` with ``golden/<name>.txt`` (or rewrite it)."""
    try:
        update = request.config.getoption("--update-golden")
    except ValueError:
        update = False
    update = update or os.environ.get("VDLA_UPDATE_GOLDEN", "") not in ("", "0")

    def check(name: str, text: str) -> None:
        path = GOLDEN_DIR / f"{name}.txt"
        if update:
            GOLDEN_DIR.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            return
        if not path.exists():
            pytest.fail(f"golden file {path} is missing; run pytest with --update-golden")
        expected = path.read_text()
        if text != expected:
            import difflib

            diff = "".join(difflib.unified_diff(
                expected.splitlines(True), text.splitlines(True), "golden", "actual"))
            pytest.fail(f"output differs from {path.name} (rerun with --update-golden if the "
                        f"change is intended):\n{diff}")

    return check
