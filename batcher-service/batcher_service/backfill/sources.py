"""Named backfill sources: a job names one, the batcher worker alone knows its URL."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

from temporalio.exceptions import ApplicationError

from batcher_service import errors
from batcher_service.backfill.sql import redact_url
from write_batcher_kit.settings import SettingsError

ENV_PREFIX = "BACKFILL_SOURCE_"
DIR_ENV = "BACKFILL_SOURCES_DIR"
_NAME = re.compile(r"[a-z][a-z0-9_]{0,62}")
_URL_SCHEMES = ("postgresql://", "postgres://")
# Anything a connection string could carry: a scheme, user@host, key=value pairs.
_LOOKS_LIKE_CREDENTIALS = re.compile(r"://|@|=|\s")


def source_name_problem(name: str) -> ApplicationError | None:
    """Why ``name`` cannot name a source, or None; pure, so the workflow calls it too.

    A job may only name a source. Its input is written to workflow history, where anyone
    who can read the namespace reads it, so a URL (with or without a password: the host and
    user are an attack surface too) is refused before anything else runs.
    """
    if _LOOKS_LIKE_CREDENTIALS.search(name):
        return ApplicationError(
            "a backfill job names its source (e.g. 'crm'), it never carries a URL: the job "
            "is kept in workflow history, readable by anyone with access to the namespace. "
            f"Configure the URL on the batcher worker as {ENV_PREFIX}<NAME> or as a file in "
            f"{DIR_ENV}, then pass the name",
            type=errors.BACKFILL_SOURCE_REFUSED,
            non_retryable=True,
        )
    if not _NAME.fullmatch(name):
        return ApplicationError(
            f"source name {name!r} must match {_NAME.pattern}",
            type=errors.BACKFILL_INVALID_INPUT,
            non_retryable=True,
        )
    return None


def _check_url(url: str, where: str) -> str:
    url = url.strip()
    if not url.startswith(_URL_SCHEMES):
        raise SettingsError(f"{where} must hold a postgresql:// URL")
    return url


class BackfillSources:
    """Source URLs by name: ``BACKFILL_SOURCE_<NAME>`` variables, then files in a directory.

    The directory is read at every lookup, so a rotated Kubernetes Secret is picked up
    without a restart; a variable wins over a file of the same name.
    """

    def __init__(self, urls: Mapping[str, str] | None = None, directory: Path | None = None):
        self._urls = {name: _check_url(url, name) for name, url in (urls or {}).items()}
        self._directory = directory

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> BackfillSources:
        urls = {}
        for key, value in environ.items():
            if key.startswith(ENV_PREFIX):
                name = key[len(ENV_PREFIX) :].lower()
                if source_name_problem(name) is not None:
                    raise SettingsError(f"{key}: {name!r} is not a valid source name")
                urls[name] = _check_url(value, key)
        directory = environ.get(DIR_ENV) or None
        if directory is not None and not Path(directory).is_dir():
            raise SettingsError(f"{DIR_ENV}={directory} is not a directory")
        return cls(urls, Path(directory) if directory else None)

    def names(self) -> list[str]:
        found = set(self._urls)
        if self._directory is not None and self._directory.is_dir():
            # A mounted Secret also holds ..data and timestamped folders: not names.
            found.update(p.name for p in self._directory.iterdir() if _NAME.fullmatch(p.name))
        return sorted(found)

    def resolve(self, name: str) -> str:
        """The URL of ``name``; a typed, non-retryable error names what is configured."""
        problem = source_name_problem(name)
        if problem is not None:
            raise problem
        if name in self._urls:
            return self._urls[name]
        if self._directory is not None:
            path = self._directory / name
            if path.is_file():
                try:
                    return _check_url(path.read_text(), f"{DIR_ENV}/{name}")
                except SettingsError as err:
                    raise _unknown(str(err)) from None
        known = ", ".join(self.names()) or "none"
        raise _unknown(
            f"no backfill source named {name!r} on this worker (configured: {known}); set "
            f"{ENV_PREFIX}{name.upper()} or put the URL in the file {DIR_ENV}/{name}"
        )

    def __repr__(self) -> str:
        shown = {name: redact_url(url) for name, url in self._urls.items()}
        return f"BackfillSources({shown}, directory={self._directory})"


def _unknown(message: str) -> ApplicationError:
    return ApplicationError(message, type=errors.BACKFILL_SOURCE_UNKNOWN, non_retryable=True)
