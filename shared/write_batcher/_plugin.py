"""One object wires a caller worker: ``Worker(..., plugins=[WriteBatchingPlugin()])``."""

from __future__ import annotations

import dataclasses

import temporalio.client
from temporalio.plugin import SimplePlugin
from temporalio.worker import ReplayerConfig, WorkerConfig, WorkflowRunner
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

from write_batcher._converter import is_strict, strict_data_converter
from write_batcher._settings import WriteSettings, register

_DEFAULTS = WriteSettings()
# The library is deterministic at import and keeps no state a workflow could see: the sandbox
# takes it from the worker's own import instead of re-importing it for every workflow run.
PASSTHROUGH_MODULE = "write_batcher"


def with_passthrough(runner: WorkflowRunner | None) -> WorkflowRunner:
    """The worker's workflow runner; a sandboxed one passes ``write_batcher`` through.

    So a workflow module imports the library at top level, without
    ``workflow.unsafe.imports_passed_through()``. Any other runner is left as it is.
    """
    if runner is None:
        runner = SandboxedWorkflowRunner()
    if isinstance(runner, SandboxedWorkflowRunner):
        return dataclasses.replace(
            runner, restrictions=runner.restrictions.with_passthrough_modules(PASSTHROUGH_MODULE)
        )
    return runner


def _with_strict_client(config: WorkerConfig) -> WorkerConfig:
    """The worker decodes with its client's converter: give it the same connection, strict."""
    client = config["client"]
    active = client.config(active_config=True)
    if not is_strict(active["data_converter"]):
        # plugins=[]: the client's plugins already shaped ``active``; they must not run twice.
        # Their interceptors stay (OpenTelemetryPlugin's among them): the worker takes them
        # from this client, once, and the plugin, already run on the worker, adds no copy.
        config["client"] = temporalio.client.Client(
            active["service_client"],
            namespace=active["namespace"],
            data_converter=strict_data_converter(active["data_converter"]),
            interceptors=active["interceptors"],
            default_workflow_query_reject_condition=active[
                "default_workflow_query_reject_condition"
            ],
            header_codec_behavior=active["header_codec_behavior"],
        )
    return config


class StrictInputsPlugin(SimplePlugin):
    """No silent coercion, and undecodable input fails its workflow at once (INVALID_INPUT).

    On a client (``Client.connect(..., plugins=[...])``) it sets the strict data converter;
    on a worker it gives the worker a client on the same connection with that converter.
    The batcher worker uses this one; caller workers get it inside WriteBatchingPlugin.
    """

    def __init__(self, name: str = "write-batching.strict-inputs") -> None:
        super().__init__(name, data_converter=strict_data_converter)

    def configure_worker(self, config: WorkerConfig) -> WorkerConfig:
        return _with_strict_client(super().configure_worker(config))


class WriteBatchingPlugin(StrictInputsPlugin):
    """Wires a caller worker: strict inputs, ``write_batcher`` through the sandbox, settings.

    It registers no activity: a write is an activity on the batcher's task queue, run and
    completed by the batcher service. The keyword arguments are ``WriteSettings``' fields,
    with its defaults and ranges; ``write()`` in a workflow on this worker's task queue uses
    them.
    """

    def __init__(
        self,
        *,
        ack_timeout_seconds: float = _DEFAULTS.ack_timeout_seconds,
        batcher_task_queue: str = _DEFAULTS.batcher_task_queue,
    ) -> None:
        super().__init__("write-batching")
        self.settings = WriteSettings(
            ack_timeout_seconds=ack_timeout_seconds, batcher_task_queue=batcher_task_queue
        )

    def configure_worker(self, config: WorkerConfig) -> WorkerConfig:
        config = super().configure_worker(config)
        config["workflow_runner"] = with_passthrough(config.get("workflow_runner"))
        register(config["task_queue"], self.settings)
        return config

    def configure_replayer(self, config: ReplayerConfig) -> ReplayerConfig:
        config = super().configure_replayer(config)
        config["workflow_runner"] = with_passthrough(config.get("workflow_runner"))
        return config
