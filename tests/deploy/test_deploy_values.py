"""Chart values: each extension value has its effect in the manifests, bad values are refused."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import helm_python as helm
import pytest

from tests.support.deploy_support import (
    TLS_SECRET,
    by_kind,
    env_of,
    objects,
    render,
)


def _pod(objs: list[dict[str, Any]], component: str) -> dict[str, Any]:
    template: dict[str, Any] = by_kind(objs, "Deployment")[f"wb-write-batcher-{component}"]
    return dict(template["spec"]["template"])


def _container(objs: list[dict[str, Any]], component: str) -> dict[str, Any]:
    [container] = [c for c in _pod(objs, component)["spec"]["containers"] if c["name"] == component]
    return dict(container)


def _labelled(objs: list[dict[str, Any]], kind: str, key: str, value: str) -> bool:
    found = [o for o in objs if o["kind"] == kind]
    return bool(found) and all(o["metadata"].get("labels", {}).get(key) == value for o in found)


def _everywhere(objs: list[dict[str, Any]]) -> bool:
    """The additional label on every object and pod, the annotation on every object (README)."""
    metas = [o["metadata"] for o in objs]
    pods = [o["spec"]["template"]["metadata"] for o in objs if o["kind"] in ("Deployment", "Job")]
    return all(m.get("annotations", {}).get("note") == "b" for m in metas) and all(
        m.get("labels", {}).get("team") == "a" for m in metas + pods
    )


def _keda_main(objs: list[dict[str, Any]]) -> bool:
    scaled = by_kind(objs, "ScaledObject").get("wb-write-batcher-main")
    return scaled is not None and [
        t["metadata"]["queueTypes"] for t in scaled["spec"]["triggers"]
    ] == ["workflow"]


def _backfill_sources(objs: list[dict[str, Any]]) -> bool:
    volumes = _pod(objs, "batcher")["spec"]["volumes"]
    mounted = {m["name"] for m in _container(objs, "batcher")["volumeMounts"]}
    return any(
        v.get("secret", {}).get("secretName") == "sources" and v["name"] in mounted for v in volumes
    )


# Each extension value, and what it must change in the rendered manifests (absent by default).
EXTENSIONS: list[tuple[dict[str, Any], Callable[[list[dict[str, Any]]], bool]]] = [
    ({"main": {"podLabels": {"app.example.com/tier": "backend"}}},
     lambda o: _pod(o, "main")["metadata"]["labels"].get("app.example.com/tier") == "backend"),
    ({"batcher": {"podAnnotations": {"prometheus.io/scrape": "false"}}},
     lambda o: _pod(o, "batcher")["metadata"].get("annotations", {}).get("prometheus.io/scrape")
     == "false"),
    ({"main": {"topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "zone",
                                             "whenUnsatisfiable": "DoNotSchedule"}]}},
     lambda o: [(c["maxSkew"], c["topologyKey"], c["whenUnsatisfiable"]) for c in
                _pod(o, "main")["spec"].get("topologySpreadConstraints", [])]
     == [(1, "zone", "DoNotSchedule")]),
    ({"batcher": {"priorityClassName": "high"}},
     lambda o: _pod(o, "batcher")["spec"].get("priorityClassName") == "high"),
    ({"main": {"startupProbe": {"enabled": False}}},
     lambda o: "startupProbe" not in _container(o, "main")),
    ({"batcher": {"readinessProbe": {"initialDelaySeconds": 5}}},
     lambda o: _container(o, "batcher")["readinessProbe"].get("initialDelaySeconds") == 5),
    ({"main": {"image": {"digest": "sha256:" + "a" * 64}}},
     lambda o: _container(o, "main")["image"].endswith("@sha256:" + "a" * 64)),
    ({"batcher": {"additionalEnv": [{"name": "X", "value": "1"},
                                    {"name": "Y", "valueFrom": {"secretKeyRef":
                                                                {"name": "s", "key": "k"}}}]}},
     lambda o: env_of(_container(o, "batcher")).get("X") == {"name": "X", "value": "1"}
     and env_of(_container(o, "batcher")).get("Y", {}).get("valueFrom")
     == {"secretKeyRef": {"name": "s", "key": "k"}}),
    ({"batcher": {"autoscaling": {"enabled": True}, "podDisruptionBudget": {"enabled": True}}},
     lambda o: "wb-write-batcher-batcher" in by_kind(o, "HorizontalPodAutoscaler")
     and "wb-write-batcher-batcher" in by_kind(o, "PodDisruptionBudget")),
    ({"main": {"keda": {"enabled": True, "queueTypes": "workflow"}}}, _keda_main),
    ({"additionalLabels": {"team": "a"}, "additionalAnnotations": {"note": "b"}}, _everywhere),
    ({"metrics": {"serviceMonitor": {"enabled": True, "additionalLabels": {"release": "kps"}},
                  "prometheusRule": {"enabled": True, "additionalLabels": {"release": "kps"}}}},
     lambda o: _labelled(o, "ServiceMonitor", "release", "kps")
     and _labelled(o, "PrometheusRule", "release", "kps")),
    ({"backfill": {"sourcesSecret": "sources"}}, _backfill_sources),
]  # fmt: skip


@pytest.fixture(scope="module")
def default_objects() -> list[dict[str, Any]]:
    return objects()


@pytest.mark.parametrize(("override", "effect"), EXTENSIONS)
def test_schema_accepts_the_extension_values(
    override: dict[str, Any],
    effect: Callable[[list[dict[str, Any]]], bool],
    default_objects: list[dict[str, Any]],
) -> None:
    """Accepted, and the value does what it says in the manifests (which lack it by default)."""
    assert effect(objects(copy.deepcopy(override))), override
    assert not effect(default_objects), override


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"main": {"replicaCount": -1}}, "at '/main/replicaCount': minimum: got -1, want 0"),
        ({"batcher": {"replicaCount": -3}}, "at '/batcher/replicaCount': minimum"),
        ({"temporal": {"address": None}}, "at '/temporal': missing property 'address'"),
        ({"temporal": {"address": ""}}, "at '/temporal/address': minLength"),
        ({"temporal": {"address": "no-port"}}, "at '/temporal/address'"),
        ({"logLevel": "LOUD"}, "at '/logLevel'"),
        ({"main": {"env": {"lower-case": "x"}}}, "invalid propertyName 'lower-case'"),
        ({"database": {"url": "mysql://x"}}, "at '/database/url'"),
        ({"database": {"url": ""}}, "set database.url or database.existingSecret"),
        ({"main": {"image": {"digest": "latest"}}}, "at '/main/image/digest'"),
        ({"batcher": {"additionalEnv": [{"value": "1"}]}}, "missing property 'name'"),
        ({"batcher": {"additionalEnv": [{"name": "X", "value": "1",
                                         "valueFrom": {"fieldRef": {"fieldPath": "x"}}}]}},
         "at '/batcher/additionalEnv/0'"),
        ({"main": {"podLabels": {"tier": 3}}}, "at '/main/podLabels/tier'"),
        ({"main": {"startupProbe": {"periodSeconds": 0}}}, "at '/main/startupProbe/periodSeconds'"),
        ({"main": {"keda": {"queueTypes": "nexus"}}}, "at '/main/keda/queueTypes'"),
        ({"batcher": {"keda": {"enabled": True}, "autoscaling": {"enabled": True}}},
         "enable batcher.autoscaling or batcher.keda, not both"),
        ({"batcher": {"autoscaling": {"enabled": True, "minReplicas": 9}}},
         "batcher.autoscaling.minReplicas must not exceed"),
        ({"metrics": {"serviceMonitor": {"labels": {"a": "b"}}}}, "additional properties 'labels'"),
        ({"migration": {"useHelmHooks": "no"}}, "at '/migration/useHelmHooks'"),
        ({"main": {"keda": {"enabled": True, "workerDeploymentName": "wb"}}},
         "set main.keda.workerDeploymentName and main.keda.workerDeploymentBuildId together"),
        ({"batcher": {"keda": {"enabled": True, "workerDeploymentBuildId": "1"}}},
         "set batcher.keda.workerDeploymentName and"),
        ({"temporal": {"tls": TLS_SECRET}, "main": {"keda": {"enabled": True}}},
         "give main.keda.authenticationRef a TriggerAuthentication with cert, key"),
    ],
)  # fmt: skip
def test_bad_values_are_rejected(override: dict[str, Any], message: str) -> None:
    with pytest.raises(helm.HelmError) as err:
        render(copy.deepcopy(override))
    assert message in str(err.value)
