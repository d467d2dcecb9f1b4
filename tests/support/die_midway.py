"""A process that dies (SIGKILL) in the middle of a bulk tag, a merge or an import.

Run by tests/unit/test_killed_midway.py: `python die_midway.py ACTION DB_URL [ARGS]`.
The action runs through its service as the app runs it; at a point inside its
transaction — after part of the writes — the process sends itself SIGKILL: no
exception handler, no `finally`, no rollback, exactly `kill -9` from outside.
"""

from __future__ import annotations

import os
import signal
import sys
from typing import Any

from crm_tui.services import bulk_edit, customer_import, merge
from crm_tui.services.actor import Actor
from crm_tui.services.database import create_db_engine
from crm_tui.services.directory import DirectoryQuery, DirectoryService


def die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)
    raise AssertionError("unreachable")


def after(owner: Any, name: str) -> None:
    """Make `owner.name` do its work, then die."""
    original = getattr(owner, name)

    def then_die(*args: Any, **kwargs: Any) -> Any:
        original(*args, **kwargs)
        die()

    setattr(owner, name, then_die)


def main() -> None:
    action, db_url, *rest = sys.argv[1:]
    engine = create_db_engine(db_url)
    actor = Actor.system()
    if action == "tag":
        bulk_edit.CHUNK = 50  # several chunks: die after the second is written
        selection = DirectoryService(engine).marked_ids(DirectoryQuery(search=rest[0]), set())

        def progress(done: int, _total: int) -> None:
            if done >= 100:
                die()

        bulk_edit.BulkEditService(engine).add_tag(selection, rest[1], actor, progress=progress)
    elif action == "merge":
        keep, gone, *versions = (int(value) for value in rest)
        after(merge.MergeService, "_move_everything")
        merge.MergeService(engine).merge(
            keep, gone, "Duplicate sign-up", actor, {keep: versions[0], gone: versions[1]}
        )
    elif action == "import":
        after(customer_import, "_insert_addresses")
        customer_import.import_customers(engine, rest[0], actor)
    raise AssertionError(f"{action} finished: it was meant to die midway")


if __name__ == "__main__":
    main()
