"""The chart's KEDA ScaledObjects: one per worker, on its task queue, connecting as it does."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tests.support.deploy_support import (
    TLS_SECRET,
    by_kind,
    containers,
    env_of,
    load_gitops_values,
    objects,
)


def test_keda_scales_each_worker_on_its_task_queue() -> None:
    from main_service.names import MAIN_TASK_QUEUE  # noqa: PLC0415
    from write_batcher.contract import BATCHER_TASK_QUEUE  # noqa: PLC0415

    values = {"main": {"keda": {"enabled": True}}, "batcher": {"keda": {"enabled": True}}}
    scaled = by_kind(objects(values), "ScaledObject")
    queues = {}
    for name, obj in scaled.items():
        (trigger,) = obj["spec"]["triggers"]
        assert trigger["type"] == "temporal"
        meta = trigger["metadata"]
        assert meta["endpoint"] == "temporal-frontend.temporal.svc.cluster.local:7233"
        assert all(isinstance(v, str) for v in meta.values())  # KEDA metadata is strings
        assert obj["spec"]["scaleTargetRef"]["name"] == name
        queues[name] = meta["taskQueue"]
    assert queues == {
        "wb-write-batcher-main": MAIN_TASK_QUEUE,
        "wb-write-batcher-batcher": BATCHER_TASK_QUEUE,
    }


# The temporal scaler's metadata (keda.sh/docs/2.21/scalers/temporal): a key outside it is a typo.
KEDA_TEMPORAL_METADATA = {
    "endpoint", "endpointFromEnv", "namespace", "activationTargetQueueSize", "targetQueueSize",
    "taskQueue", "queueTypes", "workerDeploymentName", "workerDeploymentBuildId",
    "includeRunningWorkflowCount", "workflowTaskQueueForCount", "apiKeyFromEnv",
    "minConnectTimeout", "unsafeSsl", "tlsServerName", "enableTLS",
}  # fmt: skip
API_KEY = {"existingSecret": "temporal-api-key"}


@pytest.mark.parametrize(
    ("temporal", "keda", "tls", "api_key"),
    [
        ({}, {}, False, False),
        ({"tls": {"enabled": True}}, {}, True, False),  # server TLS, no client credentials
        ({"apiKey": API_KEY}, {}, True, True),  # an API key implies TLS
        ({"tls": TLS_SECRET}, {"authenticationRef": "temporal-mtls"}, True, False),
        ({"tls": TLS_SECRET, "apiKey": API_KEY}, {}, True, True),
    ],
)
def test_keda_connects_as_the_workers_do(
    temporal: dict[str, Any], keda: dict[str, Any], tls: bool, api_key: bool
) -> None:
    values = {"temporal": temporal, "main": {"keda": {"enabled": True, **keda}}}
    objs = objects(copy.deepcopy(values))
    (scaled,) = by_kind(objs, "ScaledObject").values()
    (trigger,) = scaled["spec"]["triggers"]
    meta = trigger["metadata"]
    assert set(meta) <= KEDA_TEMPORAL_METADATA
    assert all(isinstance(v, str) for v in meta.values())  # KEDA metadata is strings
    assert ("enableTLS" in meta) is tls and meta.get("enableTLS", "true") == "true"
    env = env_of(containers(by_kind(objs, "Deployment")["wb-write-batcher-main"])[0])
    # The workers' own view: TEMPORAL_TLS, or an API key (the SDK turns TLS on for one).
    assert ("TEMPORAL_TLS" in env or "TEMPORAL_API_KEY" in env) is tls
    if api_key:
        # KEDA reads it from the scale target's container, where the Secret puts it.
        assert meta["apiKeyFromEnv"] in env
        assert "secretKeyRef" in env[meta["apiKeyFromEnv"]]["valueFrom"]
    else:
        assert "apiKeyFromEnv" not in meta
    assert trigger.get("authenticationRef", {}).get("name") == keda.get("authenticationRef")
    assert "workerDeploymentName" not in meta and "workerDeploymentBuildId" not in meta


def test_keda_scales_one_worker_deployment_version_when_given() -> None:
    scaled = by_kind(objects(load_gitops_values()), "ScaledObject")
    main = scaled["wb-write-batcher-main"]["spec"]["triggers"][0]["metadata"]
    assert (main["workerDeploymentName"], main["workerDeploymentBuildId"]) == (
        "write-batcher-main",
        "1.2.3",
    )
    assert main["tlsServerName"] == "temporal.example.com" and main["enableTLS"] == "true"
    assert main["apiKeyFromEnv"] == "TEMPORAL_API_KEY"
    batcher = scaled["wb-write-batcher-batcher"]["spec"]["triggers"][0]["metadata"]
    assert "workerDeploymentName" not in batcher and "workerDeploymentBuildId" not in batcher
