"""Files that hold residents' words and ids are readable by their owner only (0600), whatever the
umask: the SQLite file is made 0600 before SQLite opens it, so its -wal and -shm files (which SQLite
creates with the database file's mode) are too; files made earlier are tightened."""

from __future__ import annotations

import os
from pathlib import Path

PRIVATE = 0o600


def private_database(path: Path | str) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE))
    except FileExistsError:
        pass
    for name in (path, Path(f"{path}-wal"), Path(f"{path}-shm"), Path(f"{path}-journal")):
        try:
            if name.stat().st_mode & 0o777 != PRIVATE:
                os.chmod(name, PRIVATE)
        except FileNotFoundError:
            pass
