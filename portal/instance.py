"""Create the instance folder on first run: a SECRET_KEY, the keyring (mode 0600) and a migrated database.

Run as `python -m portal.instance`; it is safe to run again and only adds what is missing.
"""

import os
import secrets
import sys
from pathlib import Path

from portal import ROOT
from portal.security.crypto import Keyring


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


def main() -> int:
    """Create the instance and bring the database up to date."""
    from flask_migrate import upgrade

    from portal import create_app

    for item in create_instance(ROOT / "instance"):
        print(f"created instance/{item}")
    app = create_app()
    with app.app_context():
        upgrade()
    print("database is up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
