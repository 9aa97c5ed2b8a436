"""Worker Versioning: which Worker Deployment Version a worker polls as, from the environment.

The variable names are those the Temporal Worker Controller sets on the pods it runs
(``TEMPORAL_DEPLOYMENT_NAME``, ``TEMPORAL_WORKER_BUILD_ID``), so one image runs under the
controller, under the chart and under compose alike.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import Field
from temporalio.common import VersioningBehavior, WorkerDeploymentVersion
from temporalio.worker import WorkerDeploymentConfig

from write_batcher_kit.settings import Env, SettingsError, load_env, var

DEPLOYMENT_NAME_VARIABLE = "TEMPORAL_DEPLOYMENT_NAME"
BUILD_ID_VARIABLE = "TEMPORAL_WORKER_BUILD_ID"

# Printable ASCII without spaces (they end up in labels, metrics and the CLI). The server's
# canonical version string is "<deployment name>.<build id>": no dot in the name.
_DeploymentName = Annotated[str, Field(min_length=1, max_length=255, pattern=r"^[!-\-/-~]+$")]
_BuildId = Annotated[str, Field(min_length=1, max_length=255, pattern=r"^[!-~]+$")]


class WorkerVersioningEnv(Env):
    """The same two variables in both services; each service names its own deployment."""

    deployment_name: _DeploymentName | None = var(DEPLOYMENT_NAME_VARIABLE, None)
    build_id: _BuildId | None = var(BUILD_ID_VARIABLE, None)


@dataclass(frozen=True)
class WorkerVersioning:
    """The version a worker polls as; ``None``, today's unversioned worker."""

    version: WorkerDeploymentVersion | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str], *, default_deployment_name: str) -> WorkerVersioning:
        """Versioned when ``TEMPORAL_WORKER_BUILD_ID`` is set; the deployment name defaults to
        the service's own (each service is one Worker Deployment)."""
        parsed = load_env(WorkerVersioningEnv, env)
        if parsed.build_id is None:
            if parsed.deployment_name is not None:
                raise SettingsError(
                    f"{DEPLOYMENT_NAME_VARIABLE}: read only with {BUILD_ID_VARIABLE} "
                    "(set both to run as a versioned Worker Deployment, or neither)"
                )
            return cls()
        name = parsed.deployment_name or default_deployment_name
        return cls(WorkerDeploymentVersion(name, parsed.build_id))

    def worker_options(self, behavior: VersioningBehavior) -> dict[str, Any]:
        """``Worker`` keyword arguments: none when unversioned.

        ``behavior``: how the worker's workflow types move to a new current version, set as the
        worker's default. Not on ``@workflow.defn``: the SDK sends a type's own behaviour from an
        unversioned worker too, and the server refuses every task of it ("versioning behavior
        cannot be specified without deployment options being set with versioned mode").
        """
        if self.version is None:
            return {}
        return {
            "deployment_config": WorkerDeploymentConfig(
                version=self.version,
                use_worker_versioning=True,
                default_versioning_behavior=behavior,
            )
        }
