"""Files and folders only their owner can read: traces hold prompts, outputs and user ids.

Modes are set with ``chmod`` after creation, so they hold whatever the process umask is.
Existing folders are left as they are (``.staso`` may sit in a shared project directory;
``/tmp`` must never be narrowed).
"""

from __future__ import annotations

import os

DIR_MODE = 0o700
FILE_MODE = 0o600


def make_private_dirs(directory: str) -> None:
    """Create ``directory`` and any missing parents, each owner-only."""
    missing = []
    path = os.path.abspath(directory)
    while not os.path.isdir(path):
        missing.append(path)
        path = os.path.dirname(path)
    for folder in reversed(missing):
        try:
            os.mkdir(folder, DIR_MODE)
        except FileExistsError:  # another process made it first: theirs to set
            continue
        os.chmod(folder, DIR_MODE)


def open_private(path: str, flags: int) -> int:
    """``os.open(path, flags)``, creating the file owner-only if it does not exist yet."""
    fd = _create(path, flags)
    return fd if fd is not None else os.open(path, flags)


def create_private(path: str) -> None:
    """Create ``path`` empty and owner-only unless it exists (then it is not even opened:
    closing any descriptor of a SQLite file drops the locks this process holds on it).
    """
    fd = _create(path, os.O_WRONLY)
    if fd is not None:
        os.close(fd)


def _create(path: str, flags: int) -> int | None:
    try:
        fd = os.open(path, flags | os.O_CREAT | os.O_EXCL, FILE_MODE)
    except FileExistsError:
        return None
    os.fchmod(fd, FILE_MODE)
    return fd
