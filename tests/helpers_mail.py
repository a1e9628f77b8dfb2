"""Helpers for the mail and worker tests: a collecting SMTP handler, a free port, queueing, one delivery pass."""

import email
import socket
import threading
import time
from collections.abc import Callable
from email.message import Message

from flask import Flask

from portal.extensions import db
from portal.ops.worker import Worker


class Collector:
    """An aiosmtpd handler that keeps every message it receives."""

    def __init__(self) -> None:
        self.messages: list[Message] = []

    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
        self.messages.append(email.message_from_bytes(envelope.content))  # type: ignore[attr-defined]
        return "250 Message accepted for delivery"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def deliver(app: Flask) -> tuple[int, int]:
    """One pass of the worker's mail delivery, as `flask --app portal worker` runs every few seconds."""
    return Worker(app).deliver_mail()


def body_of(message: Message) -> str:
    part = message.get_payload(decode=True) if not message.is_multipart() else message.get_payload(0).get_payload(
        decode=True)
    return part.decode("utf-8")


def queue_mail(app: Flask, count: int) -> None:
    from portal import mail

    with app.app_context():
        for number in range(count):
            mail.queue(f"person{number}@example.org", "Subject", "invitation",
                       link_url=f"https://portal.test/invite/{number}", hours=72)
        db.session.commit()


def wait_until(condition: Callable[[], object], seconds: float, what: str) -> None:
    """Poll until condition() is true, or fail naming what did not happen.

    Waits with Event.wait rather than time.sleep, which fails (EINVAL) under faketime in the date-shifted leg.
    """
    pause = threading.Event()
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        pause.wait(0.02)
