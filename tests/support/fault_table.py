"""The README's fault table from a FAULT_REPORT run: ``python -m tests.support.fault_table``."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

from tests.support import faults
from tests.support.faults import SCENARIOS

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
# The last report the README's table was written from (``make faults`` writes both).
REPORT = ROOT / "docs" / "fault-report.jsonl"
BEGIN = "<!-- fault-table: written by `python -m tests.support.fault_table`; do not edit -->"
END = "<!-- /fault-table -->"
HEADER = "| Scenario | Writes | Lost | Duplicated | Outcome |\n| --- | ---: | ---: | ---: | --- |"


def scenario_names() -> list[str]:
    """The constants in tests/support/faults.py that name a scenario of the table."""
    return [n for n in dir(faults) if n.isupper() and getattr(faults, n) in SCENARIOS]


def recorders() -> dict[str, list[Path]]:
    """For each scenario constant, the test files that record it."""
    found: dict[str, list[Path]] = {name: [] for name in scenario_names()}
    for path in sorted((ROOT / "tests").rglob("test_*.py")):
        source = path.read_text(encoding="utf-8")
        for name, files in found.items():
            # A test that records and names the scenario (directly or in a conditional).
            if "record(" in source and re.search(rf"\bfaults\.{name}\b", source):
                files.append(path)
    return found


def latest_rows(report: Path) -> dict[str, dict[str, object]]:
    """Each scenario's last row (a report appended to by several runs keeps the newest)."""
    rows: dict[str, dict[str, object]] = {}
    for line in report.read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            rows[str(row["scenario"])] = row
    return rows


def _cell(value: object) -> str:
    if value is None:
        return "\N{EN DASH}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value).replace("|", "\\|")


def render(rows: dict[str, dict[str, object]]) -> str:
    """The table, one line per scenario in the fault table's order."""
    lines = [HEADER]
    for scenario in SCENARIOS:
        row = rows[scenario]
        cells = [scenario, row["writes"], row["lost"], row["duplicated"], row["outcome"]]
        lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    return "\n".join(lines)


def readme_table(text: str) -> str:
    """The table as the README holds it now."""
    start = text.index(BEGIN) + len(BEGIN)
    return text[start : text.index(END)].strip()


def write_readme(report: Path) -> None:
    text = README.read_text(encoding="utf-8")
    start = text.index(BEGIN) + len(BEGIN)
    end = text.index(END)
    table = render(latest_rows(report))
    README.write_text(text[:start] + "\n" + table + "\n" + text[end:], encoding="utf-8")


def main(argv: list[str]) -> int:
    if argv == ["--tests"]:
        # The test files a FAULT_REPORT run needs (``make faults``).
        files = sorted({p for paths in recorders().values() for p in paths})
        print(" ".join(str(p.relative_to(ROOT)) for p in files))
        return 0
    report = Path(argv[0]) if argv else REPORT
    missing = [s for s in SCENARIOS if s not in latest_rows(report)]
    if missing:
        print(f"{report}: no row for {missing}", file=sys.stderr)
        return 1
    write_readme(report)
    print(f"README.md: fault table written from {report}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
