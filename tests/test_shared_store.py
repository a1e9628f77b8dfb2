"""Every host must see the deployment's blob store: one that sees another folder, bucket or prefix, or cannot
reach its store, refuses to serve and /health/ready says why."""

from collections.abc import Callable, Iterator

import pytest
from conftest import Browser
from factories import owner_id
from factories import store_document as add_document
from flask import Flask
from helpers_blobs import is_s3, remove_raw
from helpers_keys import cli_runner

from portal import create_app
from portal.extensions import db
from portal.models import DocumentVersion

pytestmark = pytest.mark.both_blob_stores


@pytest.fixture
def hosts(app: Flask, app_config: dict, tmp_path) -> Iterator[Callable[..., Flask]]:
    """Start another host on the same database and keyring, with some settings changed."""
    started: list[Flask] = []

    def start(**changes: object) -> Flask:
        host = create_app({**app_config, **changes})
        host.test_client_class = Browser
        started.append(host)
        return host

    yield start
    for host in started:
        with host.app_context():
            db.session.remove()
            db.engine.dispose()


def _ready(host: Flask) -> tuple[int, str]:
    response = host.test_client().get("/health/ready")
    return response.status_code, response.get_data(as_text=True)


def test_a_host_with_another_blob_store_refuses_to_serve_and_says_why(app: Flask, make_user, hosts, tmp_path) -> None:
    make_user()
    for content in (b"first", b"second"):
        add_document(app, owner_id(app), [content])
    assert _ready(app)[0] == 200
    elsewhere = hosts(BLOB_DIR=str(tmp_path / "another-folder"), S3_PREFIX="another-prefix/")
    status, body = _ready(elsewhere)
    assert status == 503 and "holds none of the newest files the database names" in body
    assert elsewhere.test_client().get("/sign-in").status_code == 503  # and serves nothing meanwhile
    failed = cli_runner(elsewhere)("deployment", "check")
    assert failed.exit_code == 1 and "holds none of the newest files" in failed.output
    assert "sees the deployment's blob store" in cli_runner(app)("deployment", "check").output

    # One lost file is for `keys verify` to report: a host that sees the rest of the store still serves.
    with app.app_context():
        newest = db.session.scalars(db.select(DocumentVersion.blob_id).order_by(DocumentVersion.id.desc())).first()
    remove_raw(app, newest)
    assert _ready(app)[0] == 200


def test_a_fresh_deployment_needs_only_a_reachable_store(app: Flask, hosts, tmp_path) -> None:
    assert _ready(hosts(BLOB_DIR=str(tmp_path / "another-folder"), S3_PREFIX="another-prefix/"))[0] == 200
    if is_s3(app):
        status, body = _ready(hosts(S3_BUCKET="no-such-bucket-anywhere"))
        assert status == 503 and "the S3 bucket no-such-bucket-anywhere" in body
        status, body = _ready(hosts(S3_ENDPOINT_URL="http://127.0.0.1:9"))
        assert status == 503 and "cannot be reached" in body
