"""SECURITY.md stays true: its provider-fault table and the fault matrix describe the same cases, cell by
cell, and every test it names exists."""

from __future__ import annotations

import re
from pathlib import Path

from tests.reliability.test_fault_matrix import ROWS

ROOT = Path(__file__).parents[2]
TEXT = (ROOT / "SECURITY.md").read_text(encoding="utf-8")
COLUMNS = {"Ark": "ark", "OpenAI-compatible gateway": "gateway", "Volcengine Visual": "visual", "Chanjing": "chanjing"}


def markdown_table(text: str, first_header: str) -> list[dict[str, str]]:
    """The rows (header → cell) of the table whose first header cell is ``first_header``."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if cells(line)[:1] == [first_header])
    header = cells(lines[start])
    assert set(lines[start + 1]) <= set("|-: "), "a table's second line is its separator"
    rows = []
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        row = cells(line)
        assert len(row) == len(header), line
        rows.append(dict(zip(header, row, strict=True)))
    return rows


def cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")] if line.startswith("|") else []


FAULTS = {row["fault"]: row for row in markdown_table(TEXT, "fault")}


def documented_cell(fault: str, provider: str) -> str | None:
    """The cell that documents ``fault`` for ``provider``: the cell of the row named exactly ``fault``
    unless it is "n/a", else the cell of that provider's column that names ``fault`` in backticks (a variant,
    e.g. `500 while polling` in the 500 row)."""
    column = next(name for name, kind in COLUMNS.items() if kind == provider)
    own = FAULTS.get(fault, {}).get(column)
    if own is not None and not own.startswith("n/a"):
        return own
    return next((row[column] for row in FAULTS.values() if f"`{fault}`" in row[column]), None)


def test_the_fault_table_has_one_column_per_provider_and_one_row_per_fault():
    assert set(COLUMNS) < set(next(iter(FAULTS.values())))
    assert {row.fault for row in ROWS} >= set(FAULTS)  # every row of the table is a fault of the matrix
    assert len(FAULTS) == len(markdown_table(TEXT, "fault"))  # no fault twice


def test_every_fault_of_the_matrix_is_documented_in_its_providers_cell():
    missing = sorted(row.id for row in ROWS if documented_cell(row.fault, row.provider) is None)
    assert not missing


def test_every_documented_cell_of_the_fault_table_is_a_case_of_the_matrix():
    """A cell that is not "n/a" is tested: as its row's fault, or as a variant it names in backticks."""
    tested = {(row.fault, row.provider) for row in ROWS}
    untested = []
    for fault, row in FAULTS.items():
        for column, provider in COLUMNS.items():
            cases = {fault, *re.findall(r"`([^`]+)`", row[column])}
            if not row[column].startswith("n/a") and not {(case, provider) for case in cases} & tested:
                untested.append(f"{fault}: {provider}")
    assert not untested


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
