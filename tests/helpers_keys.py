"""Test helpers for keys, backups and retention: keyring files, the CLI runner, blob files (documents: factories.py)."""

from pathlib import Path

from flask import Flask
from sqlalchemy import text

from portal.extensions import db
from portal.security.crypto import Keyring


def file_keyring_config(app_config: dict, tmp_path: Path) -> dict:
    """The test configuration with the keyring in instance/keyring.json (as in production) instead of memory."""
    path = Path(app_config["INSTANCE_PATH"]) / "keyring.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    Keyring.generate().save(path)
    # No portal process runs beside these tests' commands, so they need not wait for hosts to follow a new key.
    return {**app_config, "KEYRING": None, "KEYRING_FILE": str(path), "DEPLOYMENT_CHECK_SECONDS": 0}


def blob_files(app: Flask) -> dict[str, tuple[int, bytes]]:
    """Every blob file's (mtime in ns, bytes) by name."""
    root = Path(app.config["BLOB_DIR"])
    return {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in root.iterdir() if p.is_file()}


def cli_runner(app: Flask):
    """A function that runs a `flask --app portal` command against the test app and returns the click result."""
    runner = app.test_cli_runner()

    def invoke(*args: str):
        return runner.invoke(args=list(args), catch_exceptions=False)

    return invoke


def swap(app: Flask, table: str, column: str, first: int, second: int) -> None:
    """Swap two rows' stored (encrypted) values of a column, as someone with write access to the database could."""
    with app.app_context():
        stored = dict(db.session.execute(text(f"SELECT id, {column} FROM {table} WHERE id IN (:a, :b)"),
                                         {"a": first, "b": second}).all())
        for target, source in ((first, second), (second, first)):
            db.session.execute(text(f"UPDATE {table} SET {column} = :value WHERE id = :id"),
                               {"value": stored[source], "id": target})
        db.session.commit()
