"""Create the instance folder on first run: a SECRET_KEY, the keyring (mode 0600) and a migrated database.

Run as `python -m portal.instance`; it is safe to run again and only adds what is missing.
"""

import os
import secrets
import stat
import sys
from pathlib import Path

from sqlalchemy.engine import make_url

from portal.security.crypto import Keyring

# SQLite writes these beside the database; it gives them the database file's own mode, and so does this module.
SQLITE_COMPANIONS = ("-wal", "-shm", "-journal")


def create_instance(instance: Path) -> list[str]:
    """Create whatever the instance folder lacks; return what was created."""
    created = []
    instance.mkdir(mode=0o700, parents=True, exist_ok=True)
    config_file = instance / "config.py"
    if not config_file.exists():
        fd = os.open(config_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(f"SECRET_KEY = {secrets.token_hex(32)!r}\n")
        created.append("config.py with a new SECRET_KEY")
    keyring_file = instance / "keyring.json"
    if not keyring_file.exists() and not os.environ.get("PORTAL_KEYRING_JSON"):
        Keyring.generate().save(keyring_file)
        created.append("keyring.json (keep a copy somewhere safe: without it nothing can be decrypted)")
    return created


def secure_sqlite_file(database_uri: str) -> None:
    """Create a SQLite database file readable only by its owner (0600) before SQLite opens it.

    SQLite itself creates the file with the process umask (usually 0644: readable by every local user). An
    existing file, or its write-ahead log, that others may read is narrowed to 0600. Other databases, in-memory
    SQLite and a missing folder (SQLite reports that itself) are left alone.
    """
    url = make_url(database_uri)
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:" or (
            url.database.startswith("file:")):
        return
    path = Path(url.database)
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        pass
    except FileNotFoundError:
        return
    for candidate in (path, *(path.with_name(path.name + suffix) for suffix in SQLITE_COMPANIONS)):
        try:
            if stat.S_IMODE(candidate.stat().st_mode) & 0o077:
                os.chmod(candidate, 0o600)
        except FileNotFoundError:
            continue


def main() -> int:
    """Create the instance and bring the database up to date."""
    from flask_migrate import upgrade

    from portal import ROOT, create_app

    for item in create_instance(ROOT / "instance"):
        print(f"created instance/{item}")
    app = create_app()
    with app.app_context():
        upgrade()
    print("database is up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
