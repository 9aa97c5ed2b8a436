"""Dashboards and alert rules checked with promtool: PromQL parses, alert unit tests pass."""

from __future__ import annotations

import json
import re
from pathlib import Path

from tests.support.promql import (
    ALERTS,
    ALERTS_TEST,
    DASHBOARDS,
    alert_exprs,
    all_exprs,
    dashboard_targets,
    grafana_to_promql,
    promtool,
)


def test_alert_rules_are_valid() -> None:
    result = promtool("check", "rules", str(ALERTS))
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_has_a_runbook_line() -> None:
    blocks = re.split(r"\n\s*- alert: ", ALERTS.read_text())[1:]
    assert len(blocks) == len(alert_exprs()) >= 6
    for block in blocks:
        assert re.search(r"\n\s+runbook: \S", block), block.split("\n", 1)[0]


def test_every_dashboard_and_alert_expression_parses(tmp_path: Path) -> None:
    """Each expression as a recording rule: promtool parses it exactly as Prometheus would."""
    exprs = all_exprs()
    assert len(DASHBOARDS) == 2 and len(exprs) > 30
    lines = ["groups:", "  - name: parse-check", "    rules:"]
    for i, (_where, expr) in enumerate(exprs):
        escaped = expr.replace("\\", "\\\\").replace('"', '\\"')
        lines += [f"      - record: parse_check:expr_{i}", f'        expr: "{escaped}"']
    rules = tmp_path / "exprs.yml"
    rules.write_text("\n".join(lines) + "\n")
    result = promtool("check", "rules", str(rules))
    if result.returncode != 0:
        index = {f"expr_{i}": where for i, (where, _) in enumerate(exprs)}
        raise AssertionError(f"{result.stdout}{result.stderr}\nindex: {index}")


def test_dashboards_use_only_their_own_variables_and_the_checks_replace_them() -> None:
    """A variable the checks did not replace would hide its expression from them."""
    for path in DASHBOARDS:
        declared = {v["name"] for v in json.loads(path.read_text())["templating"]["list"]}
        for title, expr in dashboard_targets(path):
            used = set(re.findall(r"\$\{?(\w+)", expr)) - {"__rate_interval"}
            assert used <= declared, f"{path.name}: {title} uses {used - declared}"
            assert "$" not in grafana_to_promql(expr), f"{path.name}: {title}"


def test_alert_unit_tests_pass_and_cover_each_alert_firing_and_not() -> None:
    result = promtool("test", "rules", str(ALERTS_TEST))
    assert result.returncode == 0, result.stdout + result.stderr
    text = ALERTS_TEST.read_text()
    cases = re.findall(r"alertname: (\w+)\n\s*exp_alerts:(\s*\[\])?", text)
    firing = {name for name, empty in cases if not empty}
    quiet = {name for name, empty in cases if empty}
    assert firing == set(alert_exprs()), "every alert needs a firing case"
    assert quiet == set(alert_exprs()), "every alert needs a not-firing case"


def test_readme_troubleshooting_covers_every_alert() -> None:
    readme = (ALERTS.parent.parent.parent / "README.md").read_text()
    section = readme.split("### Troubleshooting", 1)[1].split("\n## ", 1)[0]
    documented = set(re.findall(r"^\| `(\w+)` \|", section, re.M))
    assert documented == set(alert_exprs())
