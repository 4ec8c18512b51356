"""Writing a page to a file: whole or not at all."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


class PageWriteError(OSError):
    """A page could not be written; str(error) is one line that says where and why."""


def write_page(path: str | os.PathLike[str], document: str) -> Path:
    """Write `document` (UTF-8) to `path` through a temporary file in the same folder, renamed over
    `path` only once it is complete: a reader never sees half a page, and a failure (a folder that
    does not exist or is read-only, a full disk) leaves `path` as it was and no temporary file behind.
    Returns the path written; raises PageWriteError with a one-line message."""
    target = Path(path)
    if target.is_dir():
        raise PageWriteError(f"cannot write the page to {target}: it is a folder; give a file name such as {target / 'page.html'}")
    folder = target.parent
    data = document.encode("utf-8", "replace")
    try:
        handle, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=folder)
    except OSError as e:
        raise PageWriteError(f"cannot write the page to {target}: {reason(e)} (in the folder {folder}); "
                             "choose a folder you can write to") from None
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.chmod(temporary, 0o644)  # (mkstemp makes it private; a page is for reading)
        os.replace(temporary, target)
    except BaseException as e:
        try:
            os.unlink(temporary)
        except OSError:
            pass
        if isinstance(e, OSError):
            raise PageWriteError(f"cannot write the page to {target}: {reason(e)}") from None
        raise
    return target


def reason(error: OSError) -> str:
    """'Permission denied', 'No such file or directory', ...: the error without its file names."""
    return error.strerror or str(error).splitlines()[0]
