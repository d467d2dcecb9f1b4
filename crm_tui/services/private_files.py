"""Files of personal data written whole or not at all, readable by their owner only.

Both exports (customer_export.py: a CSV of many customers; privacy_export.py: one
customer's zip) write the same way: the destination is checked first (a folder that
exists and is writable, no file in the way unless replacing was asked); the data goes
to a temporary file beside it, created 0600 with O_EXCL (mkstemp); every byte is on
disk (fsync) before the rename over the destination, and the rename itself is made
durable by syncing the folder. A crash leaves the old file or the whole new one, never
a torn one, and never a stray temporary file once the block ends.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from crm_tui.text import safe_text


class ExportError(Exception):
    """The export did not happen; nothing was written. The message says why."""


class ExportRefused(ExportError):
    """The file cannot be written there (no such folder, not writable, a folder...)."""


class TargetExists(ExportRefused):
    """The file exists and `replace` was not given."""


def destination(path: str | os.PathLike[str]) -> Path:
    return Path(path).expanduser().absolute()


def folder_problem(target: Path) -> str:
    """Why a file cannot be created at `target`; "" when it can."""
    folder = target.parent
    if target.name in {"", ".", ".."}:
        return "give a file name"
    if not folder.is_dir():
        return f"there is no folder {safe_text(folder)}"
    if not os.access(folder, os.W_OK | os.X_OK):
        return f"the folder {safe_text(folder)} is not writable"
    if target.is_dir():
        return "it is a folder, not a file"
    return ""


def refuse_destination(target: Path, replace: bool) -> None:
    """ExportRefused / TargetExists unless a file can be written (or replaced) there."""
    problem = folder_problem(target)
    if problem:
        raise ExportRefused(f"cannot write {safe_text(target)}: {problem}; nothing was written")
    if not replace and os.path.lexists(target):
        raise TargetExists(
            f"{safe_text(target)} exists: nothing was written (replace it, or choose another name)"
        )


@contextmanager
def temporary_file(target: Path, mode: str = "wb", **open_args: Any) -> Iterator[tuple[Any, Path]]:
    """A new file beside `target`, mode 0600 (mkstemp: O_CREAT|O_EXCL), opened with
    `mode` and `open_args`; removed unless it was moved into place when the block ends."""
    try:
        descriptor, name = tempfile.mkstemp(
            dir=target.parent, prefix=f".{target.name}.", suffix=".tmp"
        )
    except OSError as error:
        raise ExportError(os_reason(target, error)) from error
    temp_path = Path(name)
    try:
        with open(descriptor, mode, **open_args) as file:
            yield file, temp_path
    except OSError as error:
        raise ExportError(os_reason(target, error)) from error
    finally:
        # After a successful move the name is gone; otherwise nothing may be left behind.
        temp_path.unlink(missing_ok=True)


def sync_and_close(file: IO[Any]) -> None:
    """Every byte on disk before the rename: a crash then leaves the old file or the
    whole new one, never a torn one."""
    file.flush()
    os.fsync(file.fileno())
    file.close()


def move_into_place(temp_path: Path, target: Path) -> None:
    os.replace(temp_path, target)
    _sync_folder(target.parent)


def _sync_folder(folder: Path) -> None:
    """Make the rename itself durable (POSIX); a no-op where folders cannot be opened."""
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


def os_reason(target: Path, error: OSError) -> str:
    return f"cannot write {safe_text(target)}: {error.strerror or error}; nothing was written"
