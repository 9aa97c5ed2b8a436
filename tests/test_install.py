"""The caller library installs into a fresh virtual environment with its runtime deps only."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TABLES = ROOT / "main-service" / "main_service" / "tables.yaml"

# Run in the fresh environment: the public API imports and works without the services' deps.
PROBE = f"""
import importlib.util, sys
for absent in ("asyncpg", "opentelemetry", "prometheus_client", "pydantic_settings", "rich"):
    assert importlib.util.find_spec(absent) is None, absent + " is installed"
import write_batcher as shared
from write_batcher import WriteResult, write
from write_batcher import StrictInputsPlugin, WriteBatchingPlugin
from write_batcher import errors
from write_batcher import load_table_specs
from write_batcher import strict_data_converter
plugin = WriteBatchingPlugin({str(TABLES)!r}, batcher_shards=2)
assert sorted(plugin.tables), plugin.tables
assert shared.__file__.startswith(sys.prefix), shared.__file__
assert set(shared.__all__) >= {{"write", "WriteResult", "WriteBatchingPlugin", "errors"}}
print("ok", len(plugin.tables))
"""


def _install(venv: Path) -> Path:
    """A regular (non-editable) install from this checkout: uv (its cache) or venv + pip."""
    python = venv / "bin" / "python"
    uv = shutil.which("uv")
    if uv:
        subprocess.run([uv, "venv", "--quiet", "--python", sys.executable, str(venv)], check=True)
        install = [uv, "pip", "install", "--quiet", "--python", str(python), str(ROOT)]
    else:
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        install = [str(python), "-m", "pip", "install", "--quiet", str(ROOT)]
    subprocess.run(install, check=True, timeout=500)
    return python


@pytest.mark.timeout(600)
def test_caller_library_installs_without_the_services_dependencies(tmp_path: Path) -> None:
    python = _install(tmp_path / "venv")
    probe = subprocess.run(
        [str(python), "-c", PROBE],
        check=False,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert probe.returncode == 0, probe.stderr
    assert probe.stdout.startswith("ok "), probe.stdout
