"""The Helm chart lints, renders, validates against Kubernetes schemas and rejects bad values."""

from __future__ import annotations

import copy

import helm_python as helm
import kubernetes_validate
import pytest

try:
    from tests.deploy_support import CHART, containers, load_full_values, manifests, render
except ImportError:  # tests/ on sys.path instead of the repository root
    from deploy_support import CHART, containers, load_full_values, manifests, render

KUBE_VERSIONS = ("1.31.0", "1.37.0")
# Custom resources have no schema in kubernetes-validate: skipped explicitly, by kind.
CRD_KINDS = {("monitoring.coreos.com/v1", "ServiceMonitor")}


@pytest.fixture(scope="module", params=["default", "full"])
def rendered(request: pytest.FixtureRequest) -> dict[str, str]:
    return render(None if request.param == "default" else load_full_values())


@pytest.mark.parametrize("values", [None, "full"])
def test_chart_lints_strict(values: str | None) -> None:
    report = helm.lint(str(CHART), load_full_values() if values else None, strict=True)
    errors = [m for m in report["messages"] if m["severity"] >= 2] + report["errors"]
    assert errors == [], errors


def test_every_manifest_validates(rendered: dict[str, str]) -> None:
    kinds = []
    for obj in manifests(rendered):
        kinds.append(obj["kind"])
        if (obj["apiVersion"], obj["kind"]) in CRD_KINDS:
            continue
        for version in KUBE_VERSIONS:
            kubernetes_validate.validate(obj, version, strict=True)
    assert {"Deployment", "Service"} <= set(kinds)


def test_default_render_objects() -> None:
    kinds = sorted(o["kind"] for o in manifests(render()))
    assert kinds == sorted(
        ["Deployment", "Deployment", "Job", "Secret", "Service", "Service", "ServiceAccount"]
    )


def test_full_render_objects() -> None:
    objs = list(manifests(render(load_full_values())))
    kinds = [o["kind"] for o in objs]
    assert kinds.count("ServiceMonitor") == 2
    assert "HorizontalPodAutoscaler" in kinds and "PodDisruptionBudget" in kinds
    assert "Secret" not in kinds  # existingSecret: the chart creates none
    deployments = {o["metadata"]["name"]: o for o in objs if o["kind"] == "Deployment"}
    main = deployments["wb-write-batcher-main"]
    assert "replicas" not in main["spec"]  # the HPA owns it
    env = {e["name"]: e for e in containers(main)[0]["env"]}
    assert env["TEMPORAL_TLS_CLIENT_CERT_PATH"]["value"] == "/etc/temporal-tls/tls.crt"
    assert env["TEMPORAL_API_KEY"]["valueFrom"]["secretKeyRef"]["name"] == "temporal-api-key"
    job = next(o for o in objs if o["kind"] == "Job")
    db = {e["name"]: e for e in containers(job)[0]["env"]}["DATABASE_URL"]
    assert db["valueFrom"]["secretKeyRef"] == {"name": "write-batcher-db", "key": "url"}


def test_workload_security_and_probes(rendered: dict[str, str]) -> None:
    for obj in manifests(rendered):
        if obj["kind"] not in {"Deployment", "Job"}:
            continue
        pod = obj["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        tmp = next(v for v in pod["volumes"] if v["name"] == "tmp")
        assert "emptyDir" in tmp
        for c in containers(obj):
            sc = c["securityContext"]
            assert sc["readOnlyRootFilesystem"] and not sc["allowPrivilegeEscalation"]
            assert sc["capabilities"]["drop"] == ["ALL"]
            assert sc["seccompProfile"]["type"] == "RuntimeDefault"
            if obj["kind"] == "Deployment":
                assert c["livenessProbe"]["httpGet"]["path"] == "/healthz"
                assert c["readinessProbe"]["httpGet"]["path"] == "/readyz"
        if obj["kind"] == "Job":
            assert "pre-install" in obj["metadata"]["annotations"]["helm.sh/hook"]


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
    ],
)
def test_bad_values_are_rejected(override: dict, message: str) -> None:
    with pytest.raises(helm.HelmError) as err:
        render(copy.deepcopy(override))
    assert message in str(err.value)
