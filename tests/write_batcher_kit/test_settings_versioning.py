"""Worker Versioning settings: off unless a build id is given, the same names in both services."""

from __future__ import annotations

import asyncio
import os
import signal
import sys

import asyncpg
import pytest
from hypothesis import given
from hypothesis import strategies as st
from temporalio.api.workflowservice.v1 import DescribeWorkerDeploymentRequest
from temporalio.common import VersioningBehavior, WorkerDeploymentVersion
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from batcher_service.settings import BatcherSettings
from devstack.schema import MAIN_SCHEMA
from main_service.settings import MainSettings
from tests.support.harness import eventually
from tests.support.settings_support import DB, MAIN, ROOT, TABLES
from write_batcher_kit.settings import SettingsError
from write_batcher_kit.versioning import WorkerVersioning

SERVICES = [
    (MainSettings.from_env, MAIN, "main-service"),
    (BatcherSettings.from_env, DB, "batcher-service"),
]


def test_versioning_is_off_unless_a_build_id_is_given() -> None:
    for load, base, _ in SERVICES:
        for env in (
            base,
            {**base, "TEMPORAL_WORKER_BUILD_ID": "", "TEMPORAL_DEPLOYMENT_NAME": " "},
        ):
            versioning = load(env).versioning
            assert versioning == WorkerVersioning()
            # An unversioned worker, as before: no behaviour sent either.
            assert versioning.worker_options(VersioningBehavior.PINNED) == {}


def test_a_build_id_makes_each_service_its_own_worker_deployment() -> None:
    for load, base, service in SERVICES:
        settings = load({**base, "TEMPORAL_WORKER_BUILD_ID": "1.4.0"})
        assert settings.versioning.version == WorkerDeploymentVersion(service, "1.4.0")
        named = {"TEMPORAL_WORKER_BUILD_ID": "abc123", "TEMPORAL_DEPLOYMENT_NAME": "prod/batcher"}
        options = load({**base, **named}).versioning.worker_options(VersioningBehavior.PINNED)
        config = options["deployment_config"]
        assert config.version == WorkerDeploymentVersion("prod/batcher", "abc123")
        assert config.use_worker_versioning
        assert config.default_versioning_behavior == VersioningBehavior.PINNED


@pytest.mark.parametrize(
    ("env", "names"),
    [
        ({"TEMPORAL_DEPLOYMENT_NAME": "batcher"},
         ["TEMPORAL_DEPLOYMENT_NAME", "TEMPORAL_WORKER_BUILD_ID"]),
        ({"TEMPORAL_DEPLOYMENT_NAME": "write.batcher", "TEMPORAL_WORKER_BUILD_ID": "v1"},
         ["TEMPORAL_DEPLOYMENT_NAME"]),
        ({"TEMPORAL_WORKER_BUILD_ID": "v 1"}, ["TEMPORAL_WORKER_BUILD_ID"]),
        ({"TEMPORAL_WORKER_BUILD_ID": "v\u00e9"}, ["TEMPORAL_WORKER_BUILD_ID"]),
        ({"TEMPORAL_WORKER_BUILD_ID": "x" * 256}, ["TEMPORAL_WORKER_BUILD_ID"]),
    ],
)  # fmt: skip
def test_bad_versioning_settings_are_refused_in_both_services(
    env: dict[str, str], names: list[str]
) -> None:
    for load, base, _ in SERVICES:
        with pytest.raises(SettingsError) as caught:
            load({**base, **env})
        message = str(caught.value)
        assert all(name in message for name in names), message


@given(
    name=st.text(
        st.characters(min_codepoint=33, max_codepoint=126, exclude_characters="."), min_size=1
    ),
    build=st.text(st.characters(min_codepoint=33, max_codepoint=126), min_size=1),
)
def test_any_dotless_name_and_build_id_round_trip_as_the_servers_version_string(
    name: str, build: str
) -> None:
    env = {"TEMPORAL_DEPLOYMENT_NAME": name, "TEMPORAL_WORKER_BUILD_ID": build}
    version = WorkerVersioning.from_env(env, default_deployment_name="x").version
    assert version is not None
    canonical = version.to_canonical_string()
    assert WorkerDeploymentVersion.from_canonical_string(canonical) == version


@pytest.mark.parametrize("module", ["main_service", "batcher_service"])
async def test_a_worker_process_polls_as_the_version_its_environment_names(
    module: str, temporal_env: WorkflowEnvironment, database_url: str, db_pool: asyncpg.Pool
) -> None:
    await db_pool.execute(MAIN_SCHEMA.read_text())  # the table the batcher's spec names
    client = temporal_env.client
    deployment = f"{module.replace('_', '-')}-{os.getpid()}"
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("TEMPORAL_", "DATABASE_"))}
    env = {
        **clean,
        **TABLES,
        "DATABASE_URL": database_url,
        "METRICS_PORT": "0",
        "TEMPORAL_ADDRESS": client.service_client.config.target_host,
        "TEMPORAL_DEPLOYMENT_NAME": deployment,
        "TEMPORAL_WORKER_BUILD_ID": "build-7",
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", module, env=env, cwd=ROOT, stderr=asyncio.subprocess.PIPE
    )

    async def registered() -> list[str]:
        try:
            described = await client.workflow_service.describe_worker_deployment(
                DescribeWorkerDeploymentRequest(
                    namespace=client.namespace, deployment_name=deployment
                )
            )
        except RPCError:
            return []
        summaries = described.worker_deployment_info.version_summaries
        return [s.deployment_version.build_id for s in summaries]

    try:
        found = await eventually(registered, within=60)
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.wait_for(process.communicate(), timeout=60)
    assert found == ["build-7"]
    assert process.returncode == 0, stderr.decode()
