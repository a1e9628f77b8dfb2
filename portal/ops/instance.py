"""Create the instance folder on first run in development: a SECRET_KEY, the keyring (0600) and a migrated database.

Run as `python -m portal.ops.instance`; it is safe to run again and only adds what is missing.

Every host of a deployment must share one SECRET_KEY and one keyring (portal/ops/deployment.py checks it), so outside
development (PORTAL_DEVELOPMENT=1, which `make run` sets) nothing secret is ever made up here: the command
refuses, and says how to give them, until they are provided. `python -m portal.ops.instance --new-secrets` prints a
new SECRET_KEY and keyring, once, for the deployment's secret store; it writes nothing.
"""

import os
import secrets
import stat
import sys
from pathlib import Path

from sqlalchemy.engine import make_url

from portal import ROOT
from portal.security.crypto import Keyring

# SQLite writes these beside the database; it gives them the database file's own mode, and so does this module.
SQLITE_COMPANIONS = ("-wal", "-shm", "-journal")

HOW_TO_PROVIDE = """\
Every host of a deployment needs the deployment's own SECRET_KEY and keyring; this host never makes them up
outside development. Give them from the deployment's secret store, the same on every host:
  SECRET_KEY: PORTAL_SECRET_KEY, or PORTAL_SECRET_KEY_FILE naming a file that holds it (a mounted secret),
              or SECRET_KEY = '...' in instance/config.py
  keyring:    PORTAL_KEYRING_JSON, or PORTAL_KEYRING_FILE naming the keyring file (a mounted secret),
              or instance/keyring.json (mode 0600)

For a new deployment, `python -m portal.ops.instance --new-secrets` prints a new SECRET_KEY and keyring to store
there; it writes nothing. In development, set PORTAL_DEVELOPMENT=1 (as `make run` does) to have them created in
instance/."""


class InstanceError(Exception):
    """The instance cannot be set up as asked; the message says what to do."""


def development() -> bool:
    """True when PORTAL_DEVELOPMENT is set to 1, true or yes."""
    return os.environ.get("PORTAL_DEVELOPMENT", "").strip().lower() in {"1", "true", "yes"}


def _secret_key_given(instance: Path) -> bool:
    if os.environ.get("PORTAL_SECRET_KEY") or os.environ.get("PORTAL_SECRET_KEY_FILE"):
        return True
    config_file = instance / "config.py"
    return config_file.is_file() and "SECRET_KEY" in config_file.read_text("utf-8")


def _keyring_given(instance: Path) -> bool:
    if os.environ.get("PORTAL_KEYRING_JSON"):
        return True
    path = os.environ.get("PORTAL_KEYRING_FILE")
    return Path(path).is_file() if path else (instance / "keyring.json").is_file()


def create_instance(instance: Path, develop: bool) -> list[str]:
    """Create whatever the instance folder lacks; return what was created.

    Outside development, refuse (InstanceError) when the SECRET_KEY or the keyring is not given, instead of
    making one up that no other host of the deployment would share.
    """
    missing = [name for name, given in (("SECRET_KEY", _secret_key_given(instance)),
                                        ("keyring", _keyring_given(instance))) if not given]
    if missing and not develop:
        raise InstanceError(f"No {' and no '.join(missing)} given.\n\n{HOW_TO_PROVIDE}")
    created = []
    instance.mkdir(mode=0o700, parents=True, exist_ok=True)
    config_file = instance / "config.py"
    if "SECRET_KEY" in missing:
        fd = os.open(config_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        with os.fdopen(fd, "a", encoding="utf-8") as handle:
            handle.write(f"SECRET_KEY = {secrets.token_hex(32)!r}\n")
        created.append("config.py with a new SECRET_KEY (development only)")
    if "keyring" in missing:
        Keyring.generate().save(instance / "keyring.json")
        created.append("keyring.json (development only; without it nothing can be decrypted)")
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


def new_secrets() -> str:
    """A new SECRET_KEY and keyring, as text to copy into the deployment's secret store."""
    return (f"SECRET_KEY (PORTAL_SECRET_KEY):\n{secrets.token_hex(32)}\n\n"
            f"keyring (PORTAL_KEYRING_JSON, or the file PORTAL_KEYRING_FILE names):\n{Keyring.generate().to_json()}\n")


def main(argv: list[str]) -> int:
    """Create the instance (in development) and bring the database up to date."""
    if argv[1:] == ["--new-secrets"]:
        print(new_secrets(), end="")
        return 0
    if argv[1:]:
        print("usage: python -m portal.ops.instance [--new-secrets]", file=sys.stderr)
        return 2
    try:
        created = create_instance(ROOT / "instance", development())
    except InstanceError as exc:
        print(f"python -m portal.ops.instance: {exc}", file=sys.stderr)
        return 1
    for item in created:
        print(f"created instance/{item}")

    from flask_migrate import upgrade

    from portal import create_app
    from portal.ops import deployment

    with deployment.migrating():  # a new database is not yet migrated: no warning about what upgrade() does next
        app = create_app()
    with app.app_context():
        upgrade()
    print("database is up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
