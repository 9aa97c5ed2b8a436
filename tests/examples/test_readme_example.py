"""The README's "Use it in your own app" code is, byte for byte, the example the e2e test runs."""

from __future__ import annotations

import re

from tests.examples.test_orders_app import (
    EXAMPLE_DIR,
    EXAMPLE_FILES,
    REPO,
    SCHEMA,
    TABLES_FILE,
    WORKER_MODULE,
)

README = REPO / "README.md"
# Each block is introduced by the file it shows: <!-- example: examples/orders/... -->
BLOCK = re.compile(
    r"^<!-- example: (?P<path>\S+) -->\n```[a-z]*\n(?P<code>.*?)^```$", re.MULTILINE | re.DOTALL
)


def readme_blocks() -> dict[str, str]:
    blocks: dict[str, str] = {}
    for match in BLOCK.finditer(README.read_text()):
        assert match["path"] not in blocks, f"{match['path']} shown twice"
        blocks[match["path"]] = match["code"]
    return blocks


def test_readme_shows_every_file_of_the_example_exactly() -> None:
    blocks = readme_blocks()
    expected = {str(path.relative_to(REPO)) for path in EXAMPLE_FILES}
    assert set(blocks) == expected
    for name, code in blocks.items():
        assert code == (REPO / name).read_text(), f"README's {name} differs from the file"


def test_the_section_starts_with_the_install_command() -> None:
    """Install first: the library from a clone (it is not on PyPI), then the code."""
    section = README.read_text().split("## Use it in your own app\n", 1)[1]
    first = section.lstrip("\n").splitlines()[:2]
    assert first[0] == "```sh" and first[1].startswith("pip install ./shared "), first
    assert (REPO / "shared" / "pyproject.toml").is_file()


def test_the_files_shown_are_the_ones_the_end_to_end_test_runs() -> None:
    worker = EXAMPLE_DIR / (WORKER_MODULE.replace(".", "/") + ".py")
    assert worker in EXAMPLE_FILES
    # Every file a user of the example writes is shown (package markers and caches aside).
    on_disk = {
        path
        for path in EXAMPLE_DIR.rglob("*")
        if path.is_file()
        and path.name != "__init__.py"
        and "__pycache__" not in path.parts
        and not any(part.startswith(".") for part in path.relative_to(EXAMPLE_DIR).parts)
    }
    assert on_disk == set(EXAMPLE_FILES), on_disk ^ set(EXAMPLE_FILES)
    assert {TABLES_FILE, SCHEMA} <= on_disk
    # The worker registers the workflow module shown beside it.
    assert "from .workflows import OrderWorkflow" in worker.read_text()
