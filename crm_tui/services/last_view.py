"""The directory the agent left: search, filters, sort and queue, back on the next start.

One small JSON file in the data folder (mode 0600: a search can name a customer),
one entry per database, keyed by a digest of its URL (never the URL itself: it may
hold a password). Written whole (temporary file, rename); a file that cannot be
read is ignored — this is a convenience, never a reason not to start.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from crm_tui.config import data_dir
from crm_tui.services.directory import DirectoryQuery, Sort
from crm_tui.services.queues import filters_from_json, filters_to_json

FILE_NAME = "last-view.json"
SEARCH_MAX = 200  # what the search box accepts


@dataclass(frozen=True)
class LastView:
    query: DirectoryQuery
    queue_name: str = ""


def _path() -> Path:
    return data_dir() / FILE_NAME


def _key(database_url: str) -> str:
    return hashlib.sha256(database_url.encode("utf-8")).hexdigest()[:24]


def load(database_url: str) -> LastView | None:
    try:
        entry = json.loads(_path().read_text(encoding="utf-8")).get(_key(database_url))
        if not isinstance(entry, dict):
            return None
        sort = Sort(str(entry.get("sort", "name")), bool(entry.get("descending", False)))
        query = DirectoryQuery(
            str(entry.get("search", ""))[:SEARCH_MAX],
            filters_from_json(entry.get("filters") or {}),
            sort,
        )
        return LastView(query, str(entry.get("queue", ""))[:SEARCH_MAX])
    except (OSError, ValueError, TypeError, AttributeError):
        return None  # no file yet, or one we cannot use


def save(database_url: str, view: LastView) -> None:
    path = _path()
    try:
        existing = json.loads(path.read_text(encoding="utf-8"))
        entries: dict[str, Any] = existing if isinstance(existing, dict) else {}
    except (OSError, ValueError):
        entries = {}
    entries[_key(database_url)] = {
        "search": view.query.search,
        "filters": filters_to_json(view.query.filters),
        "sort": view.query.sort.column,
        "descending": view.query.sort.descending,
        "queue": view.queue_name,
    }
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".last-view-")  # 0600
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            json.dump(entries, file)
        os.replace(temporary, path)
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
