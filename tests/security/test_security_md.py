"""SECURITY.md stays true: every fault of the matrix is in its table, and every test it names exists."""

from __future__ import annotations

import re
from pathlib import Path

from tests.reliability.test_fault_matrix import ROWS

ROOT = Path(__file__).parents[2]
TEXT = (ROOT / "SECURITY.md").read_text(encoding="utf-8")


def test_every_fault_of_the_matrix_is_in_the_security_table():
    missing = sorted({row.fault for row in ROWS if row.fault not in TEXT})
    assert not missing


def test_every_test_named_in_security_md_exists():
    named = re.findall(r"(tests/[\w/]+\.py)::(test_\w+)", TEXT)
    assert len(named) > 20
    for path, name in named:
        source = (ROOT / path).read_text(encoding="utf-8")
        assert re.search(rf"def {name}\(", source), f"{path}::{name}"


def test_every_test_named_by_shorthand_exists_somewhere():
    sources = "\n".join(p.read_text(encoding="utf-8") for p in (ROOT / "tests").rglob("test_*.py"))
    for name in set(re.findall(r"::(test_\w+)", TEXT)):
        assert re.search(rf"def {name}\(", sources), name
