"""The Helm chart lints, renders, validates against Kubernetes schemas; hooks and migrations."""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

import helm_python as helm
import kubernetes_validate
import pytest
import yaml

from tests.support.deploy_support import (
    CHART,
    TABLES_FILE,
    by_kind,
    containers,
    env_of,
    load_full_values,
    load_gitops_values,
    load_versioning_values,
    manifests,
    objects,
    render,
)

KUBE_VERSIONS = ("1.31.0", "1.37.0")
# Custom resources have no schema in kubernetes-validate: skipped explicitly, by kind.
CRD_KINDS = {
    ("monitoring.coreos.com/v1", "ServiceMonitor"),
    ("monitoring.coreos.com/v1", "PrometheusRule"),
    ("keda.sh/v1alpha1", "ScaledObject"),
}
HOOK = "helm.sh/hook"


# The ci/ values files, as chart-testing (`ct lint`) would use them, and the defaults.
CI_VALUES = {
    "default": lambda: None,
    "full": load_full_values,
    "gitops": load_gitops_values,
    "versioning": load_versioning_values,
}


@pytest.fixture(scope="module", params=list(CI_VALUES))
def rendered(request: pytest.FixtureRequest) -> dict[str, str]:
    return render(CI_VALUES[request.param]())


@pytest.mark.parametrize("values", list(CI_VALUES))
def test_chart_lints_strict(values: str) -> None:
    report = helm.lint(str(CHART), CI_VALUES[values](), strict=True)
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
    assert {"Deployment", "Service", "ConfigMap"} <= set(kinds)


def test_default_renderobjects() -> None:
    kinds = sorted(o["kind"] for o in objects())
    # Secret and ServiceAccount twice: the release's own and the migration hook's copy.
    pairs = ["Secret", "Secret", "ServiceAccount", "ServiceAccount"]
    assert kinds == sorted(
        ["Deployment", "Deployment", "Job", "Service", "Service", "ConfigMap", *pairs]
    )


def test_full_renderobjects() -> None:
    objs = objects(load_full_values())
    kinds = [o["kind"] for o in objs]
    assert kinds.count("ServiceMonitor") == 2 and kinds.count("PodDisruptionBudget") == 2
    assert kinds.count("PrometheusRule") == 1
    assert "Secret" not in kinds  # existingSecret: the chart creates none
    scaled = by_kind(objs, "ScaledObject")
    hpas = by_kind(objs, "HorizontalPodAutoscaler")
    assert set(scaled) == {"wb-write-batcher-main"} and set(hpas) == {"wb-write-batcher-batcher"}
    deployments = by_kind(objs, "Deployment")
    main, batcher = deployments["wb-write-batcher-main"], deployments["wb-write-batcher-batcher"]
    assert "replicas" not in main["spec"] and "replicas" not in batcher["spec"]  # KEDA, HPA
    env = env_of(containers(main)[0])
    assert env["TEMPORAL_TLS_CLIENT_CERT_PATH"]["value"] == "/etc/temporal-tls/tls.crt"
    assert env["TEMPORAL_API_KEY"]["valueFrom"]["secretKeyRef"]["name"] == "temporal-api-key"
    batcher_env = env_of(containers(batcher)[0])
    limits = batcher_env["MAX_ROW_BYTES"]["valueFrom"]["configMapKeyRef"]
    assert limits["name"] == "write-batcher-limits"
    job = next(o for o in objs if o["kind"] == "Job")
    db = env_of(containers(job)[0])["DATABASE_URL"]
    assert db["valueFrom"]["secretKeyRef"] == {"name": "write-batcher-db", "key": "url"}


def test_full_values_reach_the_pods() -> None:
    objs = objects(load_full_values())
    deployments = by_kind(objs, "Deployment")
    main, batcher = deployments["wb-write-batcher-main"], deployments["wb-write-batcher-batcher"]
    pod = main["spec"]["template"]
    labels = pod["metadata"]["labels"]
    assert labels["sidecar.istio.io/inject"] == "false" and labels["team"] == "payments"
    assert main["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert pod["metadata"]["annotations"]["cluster-autoscaler.kubernetes.io/safe-to-evict"]
    assert pod["spec"]["priorityClassName"] == "temporal-workers"
    spread = pod["spec"]["topologySpreadConstraints"][0]
    # A constraint without labelSelector spreads this component's pods.
    assert spread["labelSelector"]["matchLabels"] == main["spec"]["selector"]["matchLabels"]
    container = containers(main)[0]
    assert container["image"].endswith("main-service@sha256:" + "0123456789abcdef" * 4)
    # An override changes one field of a probe and keeps the rest.
    assert container["startupProbe"]["failureThreshold"] == 60
    assert container["startupProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}
    assert "enabled" not in container["startupProbe"]
    assert container["readinessProbe"]["periodSeconds"] == 10
    bcontainer = containers(batcher)[0]
    assert "livenessProbe" not in bcontainer  # enabled: false
    assert bcontainer["image"].endswith("batcher-service:1.2.3")
    benv = env_of(bcontainer)
    assert benv["BACKFILL_SOURCE_CRM"]["valueFrom"]["secretKeyRef"]["name"] == "crm-readonly"
    assert benv["BACKFILL_SOURCES_DIR"]["value"] == "/etc/write-batcher/backfill-sources"
    volumes = {v["name"]: v for v in batcher["spec"]["template"]["spec"]["volumes"]}
    assert volumes["backfill-sources"]["secret"]["secretName"] == "write-batcher-backfill-sources"
    for obj in objs:
        assert obj["metadata"]["labels"]["team"] == "payments", obj["metadata"]["name"]
        assert obj["metadata"]["annotations"]["owner"] == "payments-oncall"


def _tables_of(objs: list[dict[str, Any]]) -> dict[str, Any]:
    (config_map,) = (o for o in objs if o["metadata"]["name"].endswith("-tables"))
    tables: dict[str, Any] = yaml.safe_load(config_map["data"]["tables.yaml"])
    return tables


def test_default_table_spec_is_the_demos_and_every_worker_reads_it() -> None:
    from write_batcher import load_table_specs, table_specs_from_dict  # noqa: PLC0415

    def by_column_name(specs: dict[str, Any]) -> dict[str, Any]:
        # Helm values are Go maps: keys come out sorted, so column order is not kept.
        return {
            name: replace(spec, columns=tuple(sorted(spec.columns, key=lambda c: c.name)))
            for name, spec in specs.items()
        }

    objs = objects()
    (config_map,) = (o for o in objs if o["metadata"]["name"].endswith("-tables"))
    assert config_map["data"]["tables.yaml"] == TABLES_FILE.read_text(encoding="utf-8")
    rendered = table_specs_from_dict(_tables_of(objs))
    assert by_column_name(rendered) == by_column_name(load_table_specs(TABLES_FILE))
    deployments = by_kind(objs, "Deployment")
    batcher = deployments["wb-write-batcher-batcher"]
    container = containers(batcher)[0]
    path = env_of(container)["WRITE_TABLES_FILE"]["value"]
    mount = next(m for m in container["volumeMounts"] if m["name"] == "tables")
    assert path == f"{mount['mountPath']}/tables.yaml"
    volumes = {v["name"]: v for v in batcher["spec"]["template"]["spec"]["volumes"]}
    assert volumes["tables"]["configMap"]["name"] == "wb-write-batcher-tables"
    assert "checksum/tables" in batcher["spec"]["template"]["metadata"]["annotations"]
    # Callers' workers read no table spec: the batcher validates every write.
    main = deployments["wb-write-batcher-main"]
    assert "WRITE_TABLES_FILE" not in env_of(containers(main)[0])
    assert "tables" not in {v["name"] for v in main["spec"]["template"]["spec"]["volumes"]}
    assert "checksum/tables" not in main["spec"]["template"]["metadata"]["annotations"]


def test_table_spec_from_values_or_an_existing_config_map() -> None:
    from write_batcher import table_specs_from_dict  # noqa: PLC0415

    full = objects(load_full_values())
    assert set(table_specs_from_dict(_tables_of(full))) == {"orders"}
    objs = objects({"tablesConfigMap": "my-tables"})
    assert not [o for o in objs if o["metadata"]["name"].endswith("-tables")]
    batcher = by_kind(objs, "Deployment")["wb-write-batcher-batcher"]
    volumes = {v["name"]: v for v in batcher["spec"]["template"]["spec"]["volumes"]}
    assert volumes["tables"]["configMap"]["name"] == "my-tables"


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
                assert c["readinessProbe"]["httpGet"]["path"] == "/readyz"
                assert c["startupProbe"]["httpGet"]["path"] == "/healthz"
                if "livenessProbe" in c:
                    assert c["livenessProbe"]["httpGet"]["path"] == "/healthz"


@pytest.mark.parametrize("values", [None, "full"])
def test_hooks_do_not_outlive_uninstall_nor_block_upgrades(values: str | None) -> None:
    """Hooks are deleted after their phase and before the next; workers use release objects."""
    objs = objects(load_full_values() if values else None)
    hooks = {
        (o["kind"], o["metadata"]["name"]): o
        for o in objs
        if HOOK in o["metadata"].get("annotations", {})
    }
    assert ("Job", "wb-write-batcher-migrate") in hooks
    for (kind, name), obj in hooks.items():
        policy = obj["metadata"]["annotations"]["helm.sh/hook-delete-policy"].split(",")
        assert {"before-hook-creation", "hook-succeeded"} <= set(policy), (kind, name)
    job = hooks["Job", "wb-write-batcher-migrate"]["spec"]["template"]["spec"]
    used_by_job = {("ServiceAccount", job["serviceAccountName"])}
    secret = env_of(job["containers"][0])["DATABASE_URL"]["valueFrom"]["secretKeyRef"]["name"]
    used_by_job.add(("Secret", secret))
    made = {(o["kind"], o["metadata"]["name"]) for o in objs}
    # What the Job needs and the chart makes is a hook too (it runs before release objects).
    assert {ref for ref in used_by_job if ref in made} <= set(hooks)
    for deployment in by_kind(objs, "Deployment").values():
        pod = deployment["spec"]["template"]["spec"]
        refs = {("ServiceAccount", pod["serviceAccountName"])}
        refs |= {
            ("Secret", e["valueFrom"]["secretKeyRef"]["name"])
            for e in pod["containers"][0]["env"]
            if "secretKeyRef" in e.get("valueFrom", {})
        }
        assert not refs & set(hooks), f"{deployment['metadata']['name']} uses a hook object"


def _jobs(objs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return by_kind(objs, "Job")


@pytest.mark.parametrize("values", [None, "full"])
def test_migration_without_hooks_is_a_plain_job_on_the_releaseobjects(
    values: str | None,
) -> None:
    """For tools that skip Helm hooks: no hook at all, and the Job uses what the workers use."""
    base = load_full_values() if values else {}
    objs = objects({**base, "migration": {"useHelmHooks": False}})
    assert [
        o["metadata"]["name"] for o in objs if HOOK in o["metadata"].get("annotations", {})
    ] == []
    (job,) = _jobs(objs).values()
    assert re.fullmatch(r"wb-write-batcher-migrate-[0-9a-f]{10}", job["metadata"]["name"])
    # A GitOps tool would re-create a Job the TTL controller deleted.
    assert "ttlSecondsAfterFinished" not in job["spec"]
    pod = job["spec"]["template"]["spec"]
    secret = env_of(pod["containers"][0])["DATABASE_URL"]["valueFrom"]["secretKeyRef"]
    for deployment in by_kind(objs, "Deployment").values():
        worker = deployment["spec"]["template"]["spec"]
        assert pod["serviceAccountName"] == worker["serviceAccountName"]
    batcher = by_kind(objs, "Deployment")["wb-write-batcher-batcher"]["spec"]["template"]["spec"]
    assert secret == env_of(batcher["containers"][0])["DATABASE_URL"]["valueFrom"]["secretKeyRef"]
    made = {(o["kind"], o["metadata"]["name"]) for o in objs}
    assert not {n for k, n in made if k in {"Secret", "ServiceAccount"} and "migrate" in n}


def test_migration_job_without_hooks_is_new_per_revision_and_spec() -> None:
    """Jobs are immutable: an upgrade or a new image is a new Job (so it runs again)."""
    values: dict[str, Any] = {"migration": {"useHelmHooks": False}}

    def name(revision: int = 1, **extra: Any) -> str:
        (job_name,) = _jobs(list(manifests(render({**values, **extra}, revision=revision))))
        return job_name

    first = name()
    assert name() == first  # the same release renders the same Job: nothing to re-apply
    assert name(revision=2) != first
    assert name(image={"tag": "9.9.9"}) != first
    assert name(migration={"useHelmHooks": False, "backoffLimit": 5}) != first
    assert len(name(fullnameOverride="x" * 63)) == 63  # a Job name is a label value too


def test_migration_disabled_renders_no_job_nor_hook_copies() -> None:
    objs = objects({"migration": {"enabled": False}})
    assert not _jobs(objs)
    assert not [o for o in objs if HOOK in o["metadata"].get("annotations", {})]
