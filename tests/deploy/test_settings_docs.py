"""README, compose and the chart agree with what each service reads."""

from __future__ import annotations

from batcher_service.settings import batcher_variable_names
from main_service.settings import main_variable_names
from tests.support.settings_support import INTAKE, REMOVED, ROOT
from write_batcher import WriteSettings


def _readme_table(header: str) -> dict[str, list[str]]:
    """One of the README's configuration tables: first cell -> the other cells."""
    text = (ROOT / "README.md").read_text()
    table = text[text.index(header) :].split("\n\n", 1)[0]
    rows = {}
    for line in table.splitlines()[2:]:
        cells = [c.strip().strip("`") for c in line.strip("|").split("|")]
        rows[cells[0]] = cells[1:]
    return rows


def test_the_readme_lists_every_plugin_knob_with_its_default_and_variable() -> None:
    from dataclasses import fields  # noqa: PLC0415

    defaults = WriteSettings()
    rows = _readme_table("| Plugin argument |")
    assert list(rows) == [f.name for f in fields(WriteSettings)]
    for name, (variable, default, *_) in rows.items():
        value = getattr(defaults, name)
        assert default == (str(value) if isinstance(value, str) else f"{value:g}"), name
        if isinstance(value, int | float):
            # Our main-service reads every numeric knob from its upper-case variable.
            assert variable == name.upper() and variable in main_variable_names(), name
        else:
            assert variable == "—", name


def _readers(name: str) -> set[str]:
    return {
        service
        for service, names in (
            ("main", main_variable_names()),
            ("batcher", batcher_variable_names()),
        )
        if name in names
    }


def test_the_readme_says_which_service_reads_each_variable() -> None:
    """The variables table: every variable a service reads, and the right services."""
    read_by_table = {name: cells[1] for name, cells in _readme_table("| Variable |").items()}
    # The plugin's knobs are main-service's variables, in the plugin table.
    plugin = {cells[0]: "main" for cells in _readme_table("| Plugin argument |").values()}
    assert not set(read_by_table) & set(plugin)
    rows = {**read_by_table, **plugin}
    for name in main_variable_names() | batcher_variable_names():
        assert name in rows, f"README's configuration tables do not list {name}"
        read_by = {s.strip() for s in rows[name].split(",")}
        if "all" in read_by:
            read_by = {"main", "batcher"}
        assert read_by & {"main", "batcher"} == _readers(name), (name, rows[name])
    for name in (*INTAKE, "WRITE_TABLES_FILE"):
        assert _readers(name) == {"batcher"}, name
    assert _readers("ACK_TIMEOUT_SECONDS") == {"main"}


def test_compose_and_the_chart_set_each_variable_on_the_service_that_reads_it() -> None:
    """No knob set where it does nothing (an intake setting on the caller, say)."""
    from tests.support import deploy_support as ds  # noqa: PLC0415

    # The batcher also reads a few names outside its settings models (BACKFILL_SOURCES_DIR).
    scanned = {
        name
        for path in (ROOT / "batcher-service").rglob("*.py")
        for pattern in (ds._GETTER, ds._CONSTANT)
        for name in pattern.findall(path.read_text())
    }
    reads = {"main": main_variable_names(), "batcher": batcher_variable_names() | scanned}
    services = ds.compose_services()
    for component, names in reads.items():
        env = set(services[component].get("environment", {}))
        stray = sorted(n for n in env if not ds.SDK_ENV.match(n) and n not in names)
        assert stray == [], f"compose's {component} sets {stray}, which it does not read"
    values = ds.load_full_values()
    for component, names in reads.items():
        stray = sorted(n for n in values[component]["env"] if n not in names)
        assert stray == [], f"the chart's ci values give {component} {stray}"
    for values_file in (None, values, ds.load_gitops_values()):
        for obj in ds.manifests(ds.render(values_file)):
            if obj["kind"] != "Deployment":
                continue
            component = obj["metadata"]["labels"]["app.kubernetes.io/component"]
            env = {e["name"] for c in ds.containers(obj) for e in c.get("env", [])}
            stray = sorted(n for n in env if not ds.SDK_ENV.match(n) and n not in reads[component])
            assert stray == [], f"the chart's {component} Deployment sets {stray}"


def _readme_section(heading: str) -> str:
    text = (ROOT / "README.md").read_text()
    start = text.index(f"\n{heading}\n")
    return text[start : text.index("\n## ", start + 1)]


def test_removed_settings_are_read_and_set_nowhere() -> None:
    from tests.support import deploy_support as ds  # noqa: PLC0415

    texts = {
        "README's Configuration": _readme_section("## Configuration"),
        "docker-compose.yml": ds.COMPOSE.read_text(),
        "chart README": (ds.CHART / "README.md").read_text(),
        "chart values": (ds.CHART / "values.yaml").read_text(),
        "chart ci values": ds.FULL_VALUES.read_text() + ds.GITOPS_VALUES.read_text(),
    }
    for name in REMOVED:
        assert not _readers(name), name
        for where, text in texts.items():
            assert name not in text, f"{where} still mentions {name}"
    for name in INTAKE:
        assert name not in main_variable_names(), name
