"""The README's fault table is the last FAULT_REPORT run's, with a row for every scenario."""

from __future__ import annotations

from tests.support import faults
from tests.support.fault_table import README, REPORT, latest_rows, readme_table, recorders, render


def test_the_last_report_has_one_row_per_scenario_and_nothing_else() -> None:
    rows = latest_rows(REPORT)
    assert set(rows) == set(faults.SCENARIOS), set(rows) ^ set(faults.SCENARIOS)


def test_the_readme_table_is_the_one_the_last_report_writes() -> None:
    assert readme_table(README.read_text(encoding="utf-8")) == render(latest_rows(REPORT))


def test_every_scenario_is_recorded_by_a_test() -> None:
    found = recorders()
    assert len(found) == len(faults.SCENARIOS), found
    assert not [name for name, files in found.items() if not files]
