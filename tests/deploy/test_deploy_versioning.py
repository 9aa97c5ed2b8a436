"""The chart's Worker Versioning: off, today's Deployments; on, one kept Deployment per build id."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tests.support.deploy_support import (
    CHART,
    by_kind,
    containers,
    env_of,
    load_versioning_values,
    objects,
    render,
)
from write_batcher_kit.versioning import WorkerVersioning

VERSIONING_ENV = {"TEMPORAL_DEPLOYMENT_NAME", "TEMPORAL_WORKER_BUILD_ID"}
KEEP = "helm.sh/resource-policy"


def _version_of(deployment: dict[str, Any], service: str) -> WorkerVersioning:
    """What the service would read from the Deployment's environment."""
    env = {k: v["value"] for k, v in env_of(containers(deployment)[0]).items() if "value" in v}
    return WorkerVersioning.from_env(env, default_deployment_name=service)


def test_versioning_off_renders_unversioned_deployments_as_before() -> None:
    values = {"main": {"keda": {"enabled": True}}, "batcher": {"autoscaling": {"enabled": True}}}
    objs = objects(values)
    deployments = by_kind(objs, "Deployment")
    assert set(deployments) == {"wb-write-batcher-main", "wb-write-batcher-batcher"}
    for deployment in deployments.values():
        assert not VERSIONING_ENV & set(env_of(containers(deployment)[0]))
        assert KEEP not in deployment["metadata"].get("annotations", {})
        assert "temporal.io/build-id" not in deployment["spec"]["selector"]["matchLabels"]
        assert _version_of(deployment, "x") == WorkerVersioning()
    trigger = by_kind(objs, "ScaledObject")["wb-write-batcher-main"]["spec"]["triggers"][0]
    assert "workerDeploymentName" not in trigger["metadata"]


def test_versioning_on_gives_each_build_id_a_kept_deployment_running_as_that_version() -> None:
    objs = objects(load_versioning_values())
    deployments = by_kind(objs, "Deployment")
    assert set(deployments) == {"wb-write-batcher-main-1-3-0", "wb-write-batcher-batcher-1-3-0"}
    main, batcher = deployments.values()
    versions = {
        "main": _version_of(deployments["wb-write-batcher-main-1-3-0"], "main-service"),
        "batcher": _version_of(deployments["wb-write-batcher-batcher-1-3-0"], "batcher-service"),
    }
    # The build id is the image tag; the name the release's, or the one given.
    assert versions["main"].version is not None and versions["batcher"].version is not None
    assert versions["main"].version.to_canonical_string() == "wb-write-batcher-main.1.3.0"
    assert versions["batcher"].version.to_canonical_string() == "payments-batcher.1.3.0"
    for deployment in (main, batcher):
        assert deployment["metadata"]["annotations"][KEEP] == "keep"
        selector = deployment["spec"]["selector"]["matchLabels"]
        assert selector["temporal.io/build-id"] == "1.3.0"
        assert selector.items() <= deployment["spec"]["template"]["metadata"]["labels"].items()
    # The HPA and KEDA scale the version's Deployment; KEDA on that version's backlog.
    hpa = by_kind(objs, "HorizontalPodAutoscaler")["wb-write-batcher-main"]
    assert hpa["spec"]["scaleTargetRef"]["name"] == "wb-write-batcher-main-1-3-0"
    scaled = by_kind(objs, "ScaledObject")["wb-write-batcher-batcher"]
    assert scaled["spec"]["scaleTargetRef"]["name"] == "wb-write-batcher-batcher-1-3-0"
    meta = scaled["spec"]["triggers"][0]["metadata"]
    assert (meta["workerDeploymentName"], meta["workerDeploymentBuildId"]) == (
        "payments-batcher",
        "1.3.0",
    )


def test_an_upgrade_to_a_new_tag_adds_a_deployment_and_keeps_the_scalers_names() -> None:
    values = load_versioning_values()
    before = objects(values)
    newer = copy.deepcopy(values)
    newer["image"]["tag"] = "1.4.0"
    newer["main"]["versioning"]["buildId"] = "2026.12.04+f00d"
    after = objects(newer)
    assert set(by_kind(before, "Deployment")).isdisjoint(by_kind(after, "Deployment"))
    assert set(by_kind(after, "Deployment")) == {
        "wb-write-batcher-main-2026-12-04-f00d",
        "wb-write-batcher-batcher-1-4-0",
    }
    main = by_kind(after, "Deployment")["wb-write-batcher-main-2026-12-04-f00d"]
    version = _version_of(main, "main-service").version
    assert version is not None and version.build_id == "2026.12.04+f00d"  # given, not the tag
    assert main["spec"]["selector"]["matchLabels"]["temporal.io/build-id"] == "2026.12.04-f00d"
    for kind in ("HorizontalPodAutoscaler", "ScaledObject"):
        assert set(by_kind(before, kind)) == set(by_kind(after, kind))


def test_explicit_keda_versioning_fields_win_over_the_workers_version() -> None:
    values = load_versioning_values()
    values["batcher"]["keda"].update(workerDeploymentName="other", workerDeploymentBuildId="7")
    scaled = by_kind(objects(values), "ScaledObject")["wb-write-batcher-batcher"]
    meta = scaled["spec"]["triggers"][0]["metadata"]
    assert (meta["workerDeploymentName"], meta["workerDeploymentBuildId"]) == ("other", "7")


@pytest.mark.parametrize(
    ("override", "name", "message"),
    [
        ({"main": {"versioning": {"enabled": True, "deploymentName": "a.b"}}}, "wb",
         "at '/main/versioning/deploymentName'"),
        ({"batcher": {"versioning": {"enabled": True}}}, "wb.prod",
         "batcher.versioning.deploymentName \"wb.prod-write-batcher-batcher\" must not"),
        ({"main": {"versioning": {"enabled": True, "buildId": "v 1"}}}, "wb",
         "at '/main/versioning/buildId'"),
        ({"batcher": {"versioning": {"enabled": "yes"}}}, "wb",
         "at '/batcher/versioning/enabled'"),
    ],
)  # fmt: skip
def test_bad_versioning_values_are_rejected(
    override: dict[str, Any], name: str, message: str
) -> None:
    import helm_python as helm  # noqa: PLC0415

    if name == "wb":
        with pytest.raises(helm.HelmError) as err:
            render(copy.deepcopy(override))
    else:
        with pytest.raises(helm.HelmError) as err, helm.Chart.load(str(CHART)) as chart:
            chart.render(override, name=name, namespace="n", revision=1, is_install=True)
    assert message in str(err.value)
