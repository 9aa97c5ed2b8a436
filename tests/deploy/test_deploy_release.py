"""Release basics: one version for the package, the images and the chart; LICENSE; CHANGELOG."""

from __future__ import annotations

import importlib.metadata
import re
import shutil
import subprocess
import tomllib

import yaml

from tests.support import deploy_support as ds


def package_version() -> str:
    with (ds.ROOT / "pyproject.toml").open("rb") as f:
        return str(tomllib.load(f)["project"]["version"])


def test_package_chart_and_images_share_one_version() -> None:
    version = package_version()
    assert re.fullmatch(r"\d+\.\d+\.\d+([-+.][0-9A-Za-z.]+)?", version), version
    chart = yaml.safe_load((ds.CHART / "Chart.yaml").read_text(encoding="utf-8"))
    assert chart["appVersion"] == version
    # The installed package (make venv re-syncs it when pyproject.toml changes).
    assert importlib.metadata.version("temporal-write-batcher") == version
    # The chart's default image tag is its appVersion, the tag `make images` builds.
    images = {
        c["image"]
        for o in ds.manifests(ds.render())
        if o["kind"] in {"Deployment", "Job"}
        for c in ds.containers(o)
    }
    assert {image.rsplit(":", 1)[1] for image in images} == {version}


def test_make_images_tags_the_version() -> None:
    make = shutil.which("make")
    assert make is not None
    version = package_version()
    printed = subprocess.run(
        [make, "-s", "version"], cwd=ds.ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()
    assert printed == version
    plan = subprocess.run(
        [make, "-n", "images"], cwd=ds.ROOT, capture_output=True, text=True, check=True
    ).stdout
    values = yaml.safe_load((ds.CHART / "values.yaml").read_text(encoding="utf-8"))
    for component in ("main", "batcher"):
        repository = values[component]["image"]["repository"]
        assert f"-t {repository}:{version}" in plan, plan  # what the chart pulls by default
    assert plan.count(f"--build-arg VERSION={version}") == 2
    text = ds.DOCKERFILE.read_text(encoding="utf-8")
    assert 'org.opencontainers.image.version="${VERSION}"' in text


def test_license_and_changelog() -> None:
    license_text = (ds.ROOT / "LICENSE").read_text(encoding="utf-8")
    assert "Apache License" in license_text and "Version 2.0" in license_text
    changelog = (ds.ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    headings = re.findall(r"^## \[([^\]]+)\]", changelog, re.M)
    assert headings[0] == "Unreleased" or headings[0] == package_version()
    assert package_version() in headings
