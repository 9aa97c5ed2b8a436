"""Named sources: how the worker finds a URL by name, and that no URL leaks from a job."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from temporalio.exceptions import ApplicationError, ApplicationErrorCategory

from batcher_service import errors
from batcher_service.backfill.inspect import connect_source
from batcher_service.backfill.payloads import BackfillResult
from batcher_service.backfill.sources import BackfillSources, source_name_problem
from devstack.ports import free_port
from tests.support.backfill_helpers import Backfill
from write_batcher_kit.settings import SettingsError

CRM = "postgresql://reader:pw-crm@crm.internal:5432/crm"


def test_variables_and_files_name_sources(tmp_path: Path) -> None:
    (tmp_path / "billing").write_text("postgresql://reader:pw-b@billing/b\n")
    (tmp_path / "crm").write_text("postgresql://other@elsewhere/x")
    # What a mounted Kubernetes Secret holds besides its keys.
    (tmp_path / "..data").mkdir()
    sources = BackfillSources.from_env(
        {"BACKFILL_SOURCE_CRM": CRM, "BACKFILL_SOURCES_DIR": str(tmp_path), "PATH": "/bin"}
    )
    assert sources.resolve("crm") == CRM, "a variable wins over a file"
    assert sources.resolve("billing") == "postgresql://reader:pw-b@billing/b"
    assert sources.names() == ["billing", "crm"]
    # A rotated Secret is read at the next lookup, without a restart.
    (tmp_path / "billing").write_text("postgresql://reader:pw-new@billing/b")
    assert sources.resolve("billing").endswith(":pw-new@billing/b")
    assert "pw-crm" not in repr(sources) and "***" in repr(sources)


def test_an_unknown_name_says_what_is_configured(tmp_path: Path) -> None:
    sources = BackfillSources.from_env({"BACKFILL_SOURCE_CRM": CRM})
    with pytest.raises(ApplicationError) as unknown:
        sources.resolve("erp")
    assert unknown.value.type == errors.BACKFILL_SOURCE_UNKNOWN and unknown.value.non_retryable
    assert "configured: crm" in unknown.value.message
    assert "BACKFILL_SOURCE_ERP" in unknown.value.message and "pw-crm" not in unknown.value.message
    (tmp_path / "erp").write_text("mysql://nope")
    with pytest.raises(ApplicationError) as bad:
        BackfillSources(directory=tmp_path).resolve("erp")
    assert bad.value.type == errors.BACKFILL_SOURCE_UNKNOWN and "nope" not in bad.value.message


@pytest.mark.parametrize(
    "environ",
    [
        {"BACKFILL_SOURCE_CRM": "crm.internal:5432"},
        {"BACKFILL_SOURCE_CRM-EU": CRM},
        {"BACKFILL_SOURCES_DIR": "/nonexistent/backfill-sources"},
    ],
)
def test_a_bad_source_setting_stops_the_worker_at_startup(environ: dict[str, str]) -> None:
    with pytest.raises(SettingsError) as err:
        BackfillSources.from_env(environ)
    assert "crm.internal" not in str(err.value)


@pytest.mark.parametrize(
    "given",
    [
        CRM,
        "postgres://crm.internal/crm",
        "reader:pw@crm.internal",
        "host=crm.internal password=pw",
        "crm?password=pw",
    ],
)
def test_anything_like_a_connection_string_is_refused(given: str) -> None:
    problem = source_name_problem(given)
    assert problem is not None and problem.type == errors.BACKFILL_SOURCE_REFUSED
    assert problem.non_retryable and "pw" not in problem.message.replace("password", "")


def test_names_are_plain() -> None:
    assert source_name_problem("crm_eu2") is None
    for bad in ("", "CRM", "crm-eu", "2crm", "x" * 64):
        problem = source_name_problem(bad)
        assert problem is not None and problem.type == errors.BACKFILL_INVALID_INPUT, bad


async def test_logs_show_the_source_redacted(
    backfill: Backfill,
    caplog: pytest.LogCaptureFixture,
) -> None:
    await backfill.tables(500)
    caplog.set_level(logging.INFO, logger="batcher_service")
    async with backfill.worker() as queue:
        job = backfill.job(batch_size=100)
        result: BackfillResult = await (await backfill.start(queue, job)).result()
    assert result.rows_inserted == 500
    started = [r.getMessage() for r in caplog.records if "backfill partition" in r.getMessage()]
    assert started and all(":***@" in line and backfill.source.name in line for line in started)
    assert not any(backfill.source.password in r.getMessage() for r in caplog.records)


async def test_an_unreachable_source_is_typed_retried_quietly_and_names_no_password(
    caplog: pytest.LogCaptureFixture,
) -> None:
    url = f"postgresql://reader:pw-crm@127.0.0.1:{free_port()}/crm"
    caplog.set_level(logging.WARNING, logger="batcher_service")
    # During a copy: retried until the source is back, one log line per attempt (BENIGN keeps
    # the SDK from adding a traceback for each).
    with pytest.raises(ApplicationError) as later:
        await connect_source("crm", url, non_retryable=False)
    assert later.value.type == errors.BACKFILL_SOURCE_UNAVAILABLE
    assert not later.value.non_retryable
    assert later.value.category == ApplicationErrorCategory.BENIGN
    # At validation, before any row moves: the job fails at once.
    with pytest.raises(ApplicationError) as now:
        await connect_source("crm", url, non_retryable=True)
    assert now.value.type == errors.BACKFILL_SOURCE_UNREACHABLE and now.value.non_retryable
    for text in (later.value.message, now.value.message, caplog.text):
        assert "'crm'" in text and "pw-crm" not in text
