"""The portal as gunicorn serves it, except that an upload stops just before its one short transaction commits:
every blob is complete in the store and the rows are flushed inside the open transaction. The upload then writes
the file named by PAUSED_UPLOAD_SIGNAL and waits there until the process is killed. Used by
tests/test_upload_transactions.py to SIGKILL a server at that moment; never part of the product."""

import os
import threading
from pathlib import Path
from typing import Any

from portal import audit, create_app
from portal.extensions import db

_record = audit.record


def _paused(actor: Any, action: str, target: str = "", **details: Any) -> None:
    _record(actor, action, target, **details)
    if action == "document.uploaded":
        db.session.flush()  # the rows are in the open transaction, as at the start of its commit
        Path(os.environ["PAUSED_UPLOAD_SIGNAL"]).write_text(target)
        threading.Event().wait(600)  # until the test kills the process


audit.record = _paused  # type: ignore[assignment]
app = create_app()
