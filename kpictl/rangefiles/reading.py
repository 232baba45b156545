"""Reading a range file's bytes: capped at MAX_BYTES, plain files only."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from kpictl.rangefiles.yamlstrict import MAX_BYTES


class NotRegularFile(OSError):
    """A range file's path names a FIFO, a device or a socket."""


def read_bytes(path: Path) -> bytes:
    """A range file's bytes: at most MAX_BYTES + 1 of them (more: it is too large).

    Raises OSError, and NotRegularFile for what is neither a file nor a directory (a
    FIFO or device would block or never end: range files are plain files; it is not
    opened). Plain system calls: a seed of 10,000 unchanged files reads them all.
    """
    mode = os.stat(path).st_mode
    if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
        raise NotRegularFile(f"{path}: not a regular file")
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # a FIFO since the stat: must not block
    try:
        data = os.read(fd, MAX_BYTES + 1)
        while data and len(data) <= MAX_BYTES and (more := os.read(fd, MAX_BYTES + 1 - len(data))):
            data += more
    finally:
        os.close(fd)
    return data
