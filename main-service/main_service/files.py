"""The payment demo's table spec and DDL, shipped in the package (found by import, not by path)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

# Installed packages are directories on disk, so the resource is a plain file.
TABLES_FILE = Path(str(resources.files(__package__) / "tables.yaml"))
SCHEMA_FILE = Path(str(resources.files(__package__) / "schema.sql"))
