"""The scale benchmark: every listing page and the maintenance commands at demo size and at national size, in one run.

    .venv/bin/python bench/scale.py [--database-url URL] [--scale 1.0] [--requests 5] [--skip-maintenance]
    make bench-scale

A throw-away instance (SQLite in a temporary folder unless --database-url names a database, whose tables are
dropped and re-created) is filled with the demo panel (`flask demo`, through the areas' own services), then:

1. every page that lists or aggregates is requested as each role would see it (signed in through the real
   forms), from the portal under gunicorn (bench/wsgi.py, one worker, one thread): the worker's CPU ms per
   request read from /proc (which includes SQLite's work but not PostgreSQL's), SQL statements and HTML size,
   beside the bare Flask "hello" mounted on the same server and measured the same way in the same run;
2. the maintenance commands are timed (wall clock): keys rotate, keys verify, backup create, audit verify,
   retention purge --dry-run;
3. the instance grows to national size (2,000 people, 4,000 portfolios, 20,000 documents, 200,000 audit
   events, 500,000 read receipts, at --scale 1.0) through bulk inserts consistent with the models: every
   encrypted column is encrypted and bound to its row, every document version has a real (tiny) encrypted
   blob and a wrapped data key, every audit event is chained and HMACed;
4. steps 1 and 2 are repeated, and both sizes are printed side by side with their ratios.

The machine this runs on may be shared: CPU figures vary between runs by more than between neighbouring
rows, so compare ratios within one run rather than figures across runs.
"""

import argparse
import json
import os
import secrets
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

NATIONAL = {"people": 2000, "portfolios": 4000, "documents": 20000, "events": 200000, "receipts": 500000,
            "meetings": 100}
SAMPLE = 10  # portfolios in each added meeting's sample: an ordinary meeting at national size
LIMITS = {"vs_demo": 1.5, "vs_hello": 20, "html_kb": 200}
ACTIONS = ["document.viewed", "document.downloaded", "sign_in.succeeded", "sign_out", "document.uploaded",
           "portfolio.updated", "nqsw.updated", "meeting.member_added", "panel_view.saved", "minutes.edited"]


# The instance ----------------------------------------------------------------------------------------------------


def prepare(folder: Path, database_url: str | None) -> Any:
    """Keyring, environment and empty tables; return the app."""
    from portal.security.crypto import Keyring

    Keyring.generate().save(folder / "keyring.json")
    os.environ.update({
        "PORTAL_SECRET_KEY": "bench-" + secrets.token_hex(16),
        "PORTAL_DEVELOPMENT": "true",
        "PORTAL_SQLALCHEMY_DATABASE_URI": database_url or f"sqlite:///{folder / 'portal.sqlite3'}",
        "PORTAL_KEYRING_FILE": str(folder / "keyring.json"),
        "PORTAL_BLOB_DIR": str(folder / "blobs"),
        "PORTAL_OUTBOX_DIR": str(folder / "outbox"),
        "PORTAL_ARGON2_PARAMETERS": "[1, 8192, 1]",  # sign-in is not what this measures
    })
    from sqlalchemy import create_engine

    from portal import create_app
    from portal.models import Base

    engine = create_engine(os.environ["PORTAL_SQLALCHEMY_DATABASE_URI"])
    Base.metadata.drop_all(engine)
    Base.metadata.create_all(engine)
    engine.dispose()
    return create_app()


@dataclass
class Account:
    """Someone the benchmark signs in as."""

    role: str
    email: str
    secret: str


def build_demo(app: Any) -> list[Account]:
    """The demo panel, built through the services; return one account per role."""
    import logging

    from portal.ops import demo

    logging.getLogger("portal.audit").setLevel(logging.WARNING)
    with app.app_context(), app.test_request_context(base_url="http://127.0.0.1"):
        people, _ = demo.build("http://127.0.0.1")
        found: dict[str, Account] = {}
        for person in people:
            role = "chair" if "Chair" in person.what else person.user.role
            found.setdefault(role, Account(role, person.user.email, person.secret))
    return list(found.values())


# Growing to national size ------------------------------------------------------------------------------------


class Bulk:
    """Bulk inserts through the tables as stored (backup.stored_tables), with ids chosen here."""

    def __init__(self, connection: Any) -> None:
        from portal.ops.backup import stored_tables

        self.connection = connection
        self.tables = {t.name: t for t in stored_tables()}
        self.postgres = connection.dialect.name == "postgresql"

    def next_id(self, name: str) -> int:
        from sqlalchemy import func, select

        table = self.tables[name]
        return (self.connection.execute(select(func.max(table.c.id))).scalar() or 0) + 1

    def insert(self, name: str, rows: Sequence[dict]) -> None:
        """COPY on PostgreSQL, executemany elsewhere."""
        if not rows:
            return
        table = self.tables[name]
        columns = list(rows[0])
        if self.postgres:
            cursor = self.connection.connection.driver_connection.cursor()
            with cursor.copy(f"COPY {name} ({', '.join(columns)}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row([row[c] for c in columns])
            cursor.close()
        else:
            for start in range(0, len(rows), 5000):
                self.connection.execute(table.insert(), list(rows[start:start + 5000]))


def grow(app: Any, scale: float, say: Callable[[str], None]) -> dict[str, int]:
    """Add people, portfolios, documents (with blobs), read receipts and chained audit events; return the totals."""
    from sqlalchemy import func, select, text

    from portal import audit, clock
    from portal.documents.storage import current_store
    from portal.extensions import db
    from portal.ops.backup import _reset_sequences
    from portal.security import crypto, streams

    target = {name: max(1, int(n * scale)) for name, n in NATIONAL.items()}
    with app.app_context():
        keyring = crypto.installed()
        store = current_store()
        connection = db.engine.connect()
        transaction = connection.begin()
        bulk = Bulk(connection)
        t = bulk.tables
        now = clock.now()
        lead_id, password_hash = connection.execute(
            select(t["users"].c.id, t["users"].c.password_hash).where(t["users"].c.role == "admin")
            .order_by(t["users"].c.id).limit(1)).one()

        def count(name: str) -> int:
            return connection.execute(select(func.count()).select_from(t[name])).scalar_one()

        def enc(column: str, row: object, value: str) -> str:
            return keyring.encrypt_row_field(column, row, value)

        started = time.perf_counter()
        org0 = bulk.next_id("organisations")
        bulk.insert("organisations", [{"id": org0 + i, "name": f"Bench employer {i} (fictional)", "kind": "employer"}
                                      for i in range(max(3, target["portfolios"] // 40))])
        organisations = list(range(org0, org0 + max(3, target["portfolios"] // 40)))
        cohort0 = bulk.next_id("cohorts")
        cohorts = [cohort0 + i for i in range(max(2, target["portfolios"] // 100))]
        bulk.insert("cohorts", [{"id": c, "name": f"Bench cohort {c}"} for c in cohorts])

        # People: a tenth panel members and observers, a third Assessors, the rest NQSWs.
        user0 = bulk.next_id("users")
        extra_people = max(0, target["people"] - count("users"))
        users = []
        for i in range(extra_people):
            uid = user0 + i
            role = "member" if i % 10 == 0 else "observer" if i % 10 == 1 else "assessor" if i % 3 == 0 else "nqsw"
            users.append({"id": uid, "email": f"bench.person{uid}@example.org", "name": f"Bench Person-{uid:05d}",
                          "role": role, "organisation_id": organisations[i % len(organisations)],
                          "password_hash": password_hash,
                          "totp_secret": enc("users.totp_secret", uid, "JBSWY3DPEHPK3PXP"),
                          "totp_last_step": None, "enrolled_at": now, "active": True, "created_at": now,
                          "password_changed_at": now})
        bulk.insert("users", users)
        assessor_users = [u["id"] for u in users if u["role"] == "assessor"]
        nqsw_users = [u["id"] for u in users if u["role"] == "nqsw"]
        readers = list(connection.execute(select(t["users"].c.id).where(
            t["users"].c.role.in_(("admin", "member", "assessor"))).order_by(t["users"].c.id)).scalars())

        extra_portfolios = max(0, target["portfolios"] - count("portfolios"))
        assessor0 = bulk.next_id("assessors")
        assessors = [assessor0 + i for i in range(max(1, extra_portfolios // 4))]
        bulk.insert("assessors", [{"id": a, "name": f"Bench Assessor-{a:05d}",
                                   "email": f"bench.assessor{a}@example.org",
                                   "organisation_id": organisations[i % len(organisations)],
                                   "user_id": assessor_users[i] if i < len(assessor_users) else None}
                                  for i, a in enumerate(assessors)])
        nqsw0, portfolio0 = bulk.next_id("nqsws"), bulk.next_id("portfolios")
        bulk.insert("nqsws", [{"id": nqsw0 + i, "name": f"Bench Nqsw-{nqsw0 + i:05d}",
                               "email": f"bench.nqsw{nqsw0 + i}@example.org",
                               "employer_id": organisations[i % len(organisations)],
                               "cohort_id": cohorts[i % len(cohorts)],
                               "service": "adults" if i % 5 == 4 else "children",
                               "user_id": nqsw_users[i] if i < len(nqsw_users) else None}
                              for i in range(extra_portfolios)])
        today = now.date()
        portfolios = [portfolio0 + i for i in range(extra_portfolios)]
        bulk.insert("portfolios", [{"id": p, "nqsw_id": nqsw0 + i, "assessor_id": assessors[i % len(assessors)],
                                    "outcome": "fail" if i % 13 == 7 else "pass",
                                    "outcome_date": today - timedelta(days=30 + i % 700), "pseudonym": None,
                                    "exemplar_consent": i % 4 == 0, "created_at": now, "purged_at": None}
                                   for i, p in enumerate(portfolios)])
        say(f"  people and portfolios: {time.perf_counter() - started:.1f} s")

        # Documents, each with one version, a tiny encrypted blob and a data key wrapped under the active KEK.
        started = time.perf_counter()
        extra_documents = max(0, target["documents"] - count("documents"))
        document0, version0 = bulk.next_id("documents"), bulk.next_id("document_versions")
        evidence = ["agreement", "pdp", "review_3_month", "review_6_month", "final_report", "critical_reflection",
                    "direct_observation", "supervision", "protected_time", "people_feedback"]
        documents, versions = [], []
        for i in range(extra_documents if portfolios else 0):
            document_id, version_id, blob_id = document0 + i, version0 + i, store.new_blob_id()
            plaintext = f"bench document {document_id}\n".encode()
            data_key = streams.new_data_key()
            encryptor = streams.BlobEncryptor(data_key, streams.blob_context(document_id, version_id, blob_id))
            blob = encryptor.update(plaintext) + encryptor.finalize()
            with store.write(blob_id) as handle:
                handle.write(blob)
            digest = streams.content_digest()
            digest.update(plaintext)
            kek_id, wrapped = keyring.wrap(data_key)
            documents.append({"id": document_id, "portfolio_id": portfolios[i % len(portfolios)], "meeting_id": None,
                              "evidence_type": evidence[i % len(evidence)],
                              "title": enc("documents.title", document_id, f"Evidence {i % 5 + 1}"),
                              "created_by_id": lead_id, "created_at": now, "current_version_id": None,
                              "deleted_at": None})
            versions.append({"id": version_id, "document_id": document_id, "number": 1, "blob_id": blob_id,
                             "filename": enc("document_versions.filename", version_id, f"evidence-{i % 5 + 1}.txt"),
                             "content_type": "text/plain", "size": len(plaintext),
                             "digest": enc("document_versions.digest", version_id, digest.hexdigest()),
                             "kek_id": kek_id, "wrapped_key": wrapped, "uploaded_by_id": lead_id,
                             "uploaded_at": now, "shredded_at": None, "cleaning": "nothing_hidden"})
        bulk.insert("documents", documents)
        bulk.insert("document_versions", versions)
        if documents:
            connection.execute(text("UPDATE documents SET current_version_id = (SELECT v.id FROM document_versions v "
                                    "WHERE v.document_id = documents.id) WHERE id >= :first"), {"first": document0})
        say(f"  documents and blobs: {time.perf_counter() - started:.1f} s")

        # Read receipts: each version read by up to receipts/versions different readers.
        started = time.perf_counter()
        version_ids = [v["id"] for v in versions]
        extra_receipts = min(max(0, target["receipts"] - count("read_receipts")), len(version_ids) * len(readers))
        receipt0 = bulk.next_id("read_receipts")
        per_version = -(-extra_receipts // max(1, len(version_ids)))
        stride = max(1, len(readers) // max(1, per_version))
        receipts = []
        for i in range(extra_receipts):
            k, v = divmod(i, len(version_ids))
            receipts.append({"id": receipt0 + i, "user_id": readers[(k * stride + v) % len(readers)],
                             "document_id": version_ids[v] - version0 + document0, "version_id": version_ids[v],
                             "first_at": now, "last_at": now, "views": 1, "downloads": k % 2})
        bulk.insert("read_receipts", receipts)
        say(f"  read receipts: {time.perf_counter() - started:.1f} s")

        # Past meetings, each a copy of the demo's past meeting (its panel, minutes, themes, actions, key messages,
        # assessments and panel views) with a sample of SAMPLE of the added portfolios, drawn as draw_sample does.
        started = time.perf_counter()
        if portfolios:
            add_meetings(bulk, keyring, target["meetings"] - count("meetings"), portfolios, now)
        say(f"  meetings: {time.perf_counter() - started:.1f} s")

        # Audit events, chained from the current head and HMACed as portal.audit.record does.
        started = time.perf_counter()
        head = t["audit_head"]
        seq, prev = connection.execute(select(head.c.seq, head.c.hash).where(head.c.id == 1)).one()
        extra_events = max(0, target["events"] - count("audit_events"))
        event0 = bulk.next_id("audit_events")
        kid, key = keyring.derive(audit._PURPOSE)
        actors = [lead_id, *readers]
        events = []
        first_at = now - timedelta(days=365)
        for i in range(extra_events):
            seq += 1
            details = json.dumps({"version": i % 997, "number": 1}, sort_keys=True, separators=(",", ":"))
            row = {"id": event0 + i, "seq": seq, "at": first_at + timedelta(seconds=i * 150),
                   "actor_id": actors[i % len(actors)], "action": ACTIONS[i % len(ACTIONS)],
                   "target": f"document:{document0 + i % max(1, extra_documents)}", "details": details,
                   "ip": "127.0.0.1", "key_id": kid, "prev_hash": prev, "ref": secrets.token_hex(16)}
            row["hash"] = prev = audit._digest(key, row)
            row["details"] = enc("audit_events.details", row["ref"], details)
            events.append(row)
        bulk.insert("audit_events", events)
        if events:
            connection.execute(head.update().where(head.c.id == 1).values(seq=seq, hash=prev))
        say(f"  audit events: {time.perf_counter() - started:.1f} s")
        if bulk.postgres:
            _reset_sequences(connection)
        transaction.commit()
        if bulk.postgres:  # statistics for the planner, as autovacuum would gather them (committed: ANALYZE in a
            connection.execute(text("ANALYZE"))  # transaction rolled back leaves the planner guessing)
            connection.commit()
        connection.close()
        db.session.remove()
        with db.engine.connect() as connection:
            return {name: connection.execute(select(func.count()).select_from(t[name])).scalar_one()
                    for name in ("users", "portfolios", "documents", "read_receipts", "audit_events")}


def add_meetings(bulk: Bulk, keyring: Any, number: int, portfolios: list[int], now: Any) -> None:
    """Copy the demo's past meeting `number` times, each with its own sample of the given portfolios."""
    import secrets as random_source

    from sqlalchemy import select

    from portal.meetings import sampling
    from portal.models import Base
    from portal.models.base import EncryptedText

    t, connection = bulk.tables, bulk.connection
    meetings = t["meetings"]
    source = connection.execute(select(meetings).where(meetings.c.minutes_published_at.is_not(None))
                                .order_by(meetings.c.id).limit(1)).mappings().first()
    if source is None or number <= 0:
        return

    def rows_of(name: str, column: str, value: object) -> list[dict]:
        return [dict(r) for r in connection.execute(select(t[name]).where(t[name].c[column] == value)
                                                    .order_by(t[name].c.id)).mappings()]

    def copied(name: str, row: dict, new_id: int, **changes: object) -> dict:
        """The row with a new id and changes, its encrypted values re-encrypted for the new row."""
        fresh = {**row, **changes, "id": new_id}
        for column in Base.metadata.tables[name].columns:
            if isinstance(column.type, EncryptedText) and row[column.name] is not None:
                plaintext = keyring.decrypt_row_field(column.type.column, row["id"], row[column.name])
                fresh[column.name] = keyring.encrypt_row_field(column.type.column, new_id, plaintext)
        return fresh

    members = rows_of("meeting_members", "meeting_id", source["id"])
    draw = rows_of("sample_draws", "meeting_id", source["id"])[-1]
    assessment = rows_of("assessments", "meeting_id", source["id"])[0]
    view = rows_of("panel_views", "meeting_id", source["id"])[0]
    minutes = rows_of("minutes", "meeting_id", source["id"])
    children = {name: rows_of(name, "meeting_id", source["id"])
                for name in ("meeting_themes", "actions", "key_messages")}
    ids = {name: bulk.next_id(name) for name in ("meetings", "meeting_members", "sample_draws", "sampled_portfolios",
                                                  "assessments", "panel_views", "minutes", *children)}
    out: dict[str, list[dict]] = {name: [] for name in ids}

    def take(name: str) -> int:
        ids[name] += 1
        return ids[name] - 1

    population = portfolios[: max(SAMPLE, min(len(portfolios), 400))]
    for k in range(number):
        meeting_id = take("meetings")
        held_on = source["held_on"] + timedelta(days=1 + k % 90)  # after the demo's, still past
        out["meetings"].append(copied("meetings", source, meeting_id, held_on=held_on,
                                      reading_deadline=held_on - timedelta(days=7)))
        for member in members:
            out["meeting_members"].append(copied("meeting_members", member, take("meeting_members"),
                                                 meeting_id=meeting_id))
        seed = random_source.token_hex(16)
        pool = population[k % len(population):] + population[:k % len(population)]
        picks = sampling.draw(seed, [sampling.Unit(p, "") for p in pool], min(SAMPLE, len(pool)))
        draw_id = take("sample_draws")
        parameters = {**json.loads(draw["parameters"]), "number": len(picks), "size": len(picks)}
        out["sample_draws"].append(copied("sample_draws", draw, draw_id, meeting_id=meeting_id, seed=seed,
                                          population=json.dumps(sorted(pool)), picks=json.dumps(picks),
                                          parameters=json.dumps(parameters, sort_keys=True)))
        for position, portfolio in enumerate(picks):
            out["sampled_portfolios"].append({"id": take("sampled_portfolios"), "meeting_id": meeting_id,
                                              "portfolio_id": portfolio, "draw_id": draw_id, "position": position})
            out["panel_views"].append(copied("panel_views", view, take("panel_views"), meeting_id=meeting_id,
                                             portfolio_id=portfolio))
            for member in members:
                out["assessments"].append(copied("assessments", assessment, take("assessments"),
                                                 meeting_id=meeting_id, portfolio_id=portfolio,
                                                 user_id=member["user_id"]))
        for row in minutes:
            out["minutes"].append(copied("minutes", row, take("minutes"), meeting_id=meeting_id))
        for name, rows in children.items():
            for row in rows:
                out[name].append(copied(name, row, take(name), meeting_id=meeting_id))
    for name in ("meetings", "meeting_members", "sample_draws", "sampled_portfolios", "assessments", "panel_views",
                 "minutes", *children):
        bulk.insert(name, out[name])


# Pages -------------------------------------------------------------------------------------------------------------


@dataclass
class PageFigures:
    """One page at one size."""

    cpu_ms: float
    statements: int
    html_kb: float
    status: int


def worker_cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process, in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure_page(browser: Any, worker: int, path: str, requests: int, min_cpu: float = 0.3) -> PageFigures:
    """Server CPU ms per request (at least `requests` requests, more until `min_cpu` seconds of CPU have been spent,
    as /proc counts in ticks), statements and HTML size of one GET, after a warm-up request."""
    browser.request("GET", path)
    before, count = worker_cpu_seconds(worker), 0
    while count < requests or (worker_cpu_seconds(worker) - before < min_cpu and count < 50 * requests):
        response, body = browser.request("GET", path)
        count += 1
    cpu = (worker_cpu_seconds(worker) - before) / count
    return PageFigures(cpu * 1000, int(response.headers.get("X-Bench-Statements", 0)), len(body) / 1024,
                       response.status)


def sign_in(port: int, account: Account) -> Any:
    """A browser (keep-alive connection and cookies) signed in through the real forms."""
    import run as harness

    from portal import clock
    from portal.ops.demo import DEMO_PASSWORD
    from portal.security import totp

    browser = harness.Browser(port)
    assert browser.submit("/sign-in", {"email": account.email, "password": DEMO_PASSWORD}).status == 302
    response = browser.submit("/sign-in/code", {"code": totp.code_at(account.secret, clock.now())})
    assert response.status == 302, f"{account.email}: security code refused"
    return browser


@contextmanager
def server(folder: Path) -> Iterator[tuple[int, int]]:
    """The portal under gunicorn (bench/wsgi.py), one worker and one thread; yield (port, worker pid)."""
    import signal

    import run as harness

    port = harness.free_port()
    process = harness.start_server({"PORTAL_BENCH": "1", "BENCH_PLAIN_DIR": str(folder / "plain")}, port, 1, 1,
                                   "gthread")
    try:
        yield port, harness.worker_pids(process.pid)[0]
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=60)


def page_list(app: Any) -> list[tuple[str, str, str]]:
    """(role, label, path) of every page that lists or aggregates, with the demo's own ids."""
    from sqlalchemy import select

    from portal.extensions import db
    from portal.models import Meeting, Portfolio, SampledPortfolio, User

    with app.app_context():
        meetings = list(db.session.scalars(select(Meeting).order_by(Meeting.held_on)))
        upcoming = meetings[-1].id
        # An ordinary past meeting: the most recent one with published minutes (at national size, one of SAMPLE).
        past = db.session.scalar(select(Meeting.id).where(Meeting.minutes_published_at.is_not(None))
                                 .order_by(Meeting.held_on.desc(), Meeting.id.desc()).limit(1))
        sampled = db.session.scalar(select(SampledPortfolio.portfolio_id).where(SampledPortfolio.meeting_id == past)
                                    .order_by(SampledPortfolio.position).limit(1))
        upcoming_sample = list(db.session.scalars(select(SampledPortfolio.portfolio_id).where(
            SampledPortfolio.meeting_id == upcoming).order_by(SampledPortfolio.position)))
        portfolio = db.session.scalar(select(Portfolio.id).order_by(Portfolio.id).limit(1))
        person = db.session.scalar(select(User.id).where(User.role == "member").order_by(User.id).limit(1))
    readiness = "/documents/readiness?" + "&".join(f"portfolio={p}" for p in upcoming_sample)
    pages = [
        ("admin", "Lead: dashboard", "/dashboard"),
        ("admin", "Lead: portfolios", "/portfolios"),
        ("admin", "Lead: a portfolio", f"/portfolios/{portfolio}"),
        ("admin", "Lead: a portfolio's documents", f"/portfolios/{portfolio}/documents"),
        ("admin", "Lead: cohort NQSWs", "/cohort/nqsws"),
        ("admin", "Lead: cohort Assessors", "/cohort/assessors"),
        ("admin", "Lead: meetings", "/meetings"),
        ("admin", "Lead: a past meeting", f"/meetings/{past}"),
        ("admin", "Lead: readiness, choosing", "/documents/readiness"),
        ("admin", "Lead: readiness (upcoming sample)", readiness),
        ("admin", "Lead: meeting record (past)", f"/reviews/meetings/{past}/record"),
        ("admin", "Lead: minutes (past)", f"/meetings/{past}/minutes"),
        ("admin", "Lead: report (past)", f"/meetings/{past}/report"),
        ("admin", "Lead: reports", "/reports"),
        ("admin", "Lead: themes", "/themes"),
        ("admin", "Lead: audit trail", "/admin/audit"),
        ("admin", "Lead: audit, one action", "/admin/audit?action=document.uploaded"),
        ("admin", "Lead: audit, one person", f"/admin/audit?actor={person}"),
        ("admin", "Lead: people", "/admin/people"),
        ("chair", "Chair: dashboard", "/dashboard"),
        ("chair", "Chair: meetings", "/meetings"),
        ("chair", "Chair: meeting overview (past)", f"/reviews/meetings/{past}"),
        ("chair", "Chair: meeting record (past)", f"/reviews/meetings/{past}/record"),
        ("chair", "Chair: upcoming meeting", f"/meetings/{upcoming}"),
        ("chair", "Chair: a sampled portfolio", f"/portfolios/{sampled}"),
        ("member", "Member: dashboard", "/dashboard"),
        ("member", "Member: meetings", "/meetings"),
        ("observer", "Observer: dashboard", "/dashboard"),
        ("observer", "Observer: reports", "/reports"),
        ("nqsw", "NQSW: dashboard", "/dashboard"),
        ("nqsw", "NQSW: feedback", "/feedback"),
        ("assessor", "Assessor: dashboard", "/dashboard"),
    ]
    return pages


def measure_pages(folder: Path, accounts: list[Account], cookies: dict[str, dict],
                  pages: list[tuple[str, str, str]], requests: int) -> tuple[PageFigures, dict[str, PageFigures]]:
    """Hello and every page, each role's cookies reused (a TOTP code is accepted once)."""
    import run as harness

    with server(folder) as (port, worker):
        browsers = {}
        for account in accounts:
            if account.role not in cookies:
                cookies[account.role] = sign_in(port, account).cookies
            browsers[account.role] = harness.Browser(port)
            browsers[account.role].cookies = dict(cookies[account.role])
        hello = measure_page(harness.Browser(port), worker, "/bench-hello/", max(requests, 200))
        return hello, {label: measure_page(browsers[role], worker, path, requests)
                       for role, label, path in pages if role in browsers}


# Maintenance -------------------------------------------------------------------------------------------------------


def time_maintenance(app: Any, folder: Path, tag: str) -> dict[str, float]:
    """Wall-clock seconds of each maintenance command, run through the Flask CLI in this process."""
    runner = app.test_cli_runner()
    commands = [("keys rotate", ["keys", "rotate", "--no-wait"]),
                ("keys verify", ["keys", "verify"]),
                ("backup create", ["backup", "create", str(folder / f"backup-{tag}")]),
                ("audit verify", ["audit", "verify"]),
                ("retention purge --dry-run", ["retention", "purge", "--dry-run"])]
    found = {}
    for name, arguments in commands:
        started = time.perf_counter()
        result = runner.invoke(args=arguments)
        found[name] = time.perf_counter() - started
        if result.exit_code != 0:
            raise SystemExit(f"{name} failed: {result.output}\n{result.exception!r}")
    shutil.rmtree(folder / f"backup-{tag}", ignore_errors=True)
    return found


# Report --------------------------------------------------------------------------------------------------------------


@dataclass
class Run:
    sizes: dict[str, dict[str, int]] = field(default_factory=dict)
    pages: dict[str, dict[str, PageFigures]] = field(default_factory=dict)
    hello: dict[str, PageFigures] = field(default_factory=dict)
    maintenance: dict[str, dict[str, float]] = field(default_factory=dict)


def sizes_of(app: Any) -> dict[str, int]:
    from sqlalchemy import func, select

    from portal.extensions import db
    from portal.models import AuditEvent, Document, Portfolio, ReadReceipt, User

    with app.app_context():
        return {name: db.session.scalar(select(func.count()).select_from(model)) or 0
                for name, model in (("users", User), ("portfolios", Portfolio), ("documents", Document),
                                    ("read_receipts", ReadReceipt), ("audit_events", AuditEvent))}


def report(run: Run, database: str) -> str:
    small, large = "demo", "national"
    lines = [f"# Scale benchmark: {database}, {os.cpu_count()} CPUs, Python {sys.version.split()[0]}, "
             f"load average {os.getloadavg()[0]:.1f}", ""]
    lines += ["| rows | " + " | ".join(run.sizes[small]) + " |", "|---|" + "---|" * len(run.sizes[small])]
    for size in (small, large):
        lines.append(f"| {size} | " + " | ".join(f"{n:,}" for n in run.sizes[size].values()) + " |")
    hello = {s: run.hello[s].cpu_ms for s in (small, large)}
    lines += ["", f"bare Flask hello: {hello[small]:.3f} ms CPU per request at demo size, {hello[large]:.3f} ms at "
                  "national size (the same gunicorn worker)", "",
              f"bounded: at national size at most {LIMITS['vs_demo']}x the page's demo CPU, "
              f"{LIMITS['vs_hello']}x hello's and {LIMITS['html_kb']} KB of HTML (issue 15 item 2)", "",
              "| page | CPU ms demo | CPU ms national | national / demo | national / hello | statements demo "
              "| statements national | HTML KB demo | HTML KB national | bounded |",
              "|---|---|---|---|---|---|---|---|---|---|"]
    unbounded = 0
    for label, at_demo in run.pages[small].items():
        at_large = run.pages[large][label]
        status = "" if at_demo.status == at_large.status == 200 else f" (HTTP {at_demo.status}/{at_large.status})"
        misses = [f"{what} {value:.1f}x" for what, value, limit in (
            ("demo", at_large.cpu_ms / at_demo.cpu_ms, LIMITS["vs_demo"]),
            ("hello", at_large.cpu_ms / hello[large], LIMITS["vs_hello"])) if value > limit]
        if at_large.html_kb > LIMITS["html_kb"]:
            misses.append(f"{at_large.html_kb:.0f} KB")
        unbounded += bool(misses)
        lines.append(f"| {label}{status} | {at_demo.cpu_ms:.1f} | {at_large.cpu_ms:.1f} "
                     f"| {at_large.cpu_ms / at_demo.cpu_ms:.1f}x | {at_large.cpu_ms / hello[large]:.0f}x "
                     f"| {at_demo.statements} | {at_large.statements} | {at_demo.html_kb:.0f} "
                     f"| {at_large.html_kb:.0f} | {'NO: ' + ', '.join(misses) if misses else 'yes'} |")
    lines += ["", f"{unbounded} of {len(run.pages[small])} pages are not bounded"]
    if run.maintenance:
        lines += ["", "| command | seconds demo | seconds national | national / demo |", "|---|---|---|---|"]
        for name, seconds in run.maintenance[small].items():
            later = run.maintenance[large][name]
            lines.append(f"| {name} | {seconds:.2f} | {later:.2f} | {later / max(seconds, 1e-3):.0f}x |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=None,
                        help="A database whose tables this run drops and re-creates, instead of SQLite.")
    parser.add_argument("--scale", type=float, default=1.0, help="Fraction of national size (1.0: 4,000 portfolios).")
    parser.add_argument("--requests", type=int, default=5, help="Requests per page and size (the median is kept).")
    parser.add_argument("--skip-maintenance", action="store_true")
    parser.add_argument("--keep", type=Path, default=None, metavar="FOLDER",
                        help="Build the instance in this new folder and keep it (for bench/profile_page.py).")
    args = parser.parse_args()
    folder = args.keep or Path(tempfile.mkdtemp(prefix="portal-scale-"))
    folder.mkdir(parents=True, exist_ok=True)
    run = Run()

    def say(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    try:
        app = prepare(folder, args.database_url)
        started = time.perf_counter()
        accounts = build_demo(app)
        say(f"demo built in {time.perf_counter() - started:.1f} s")
        if args.keep:
            (folder / "bench.json").write_text(json.dumps({
                "environment": {k: v for k, v in os.environ.items() if k.startswith("PORTAL_")},
                "accounts": [vars(a) for a in accounts]}))
        cookies: dict[str, dict] = {}
        for size in ("demo", "national"):
            if size == "national":
                started = time.perf_counter()
                grow(app, args.scale, say)
                say(f"grown to national size in {time.perf_counter() - started:.1f} s")
            run.sizes[size] = sizes_of(app)
            run.hello[size], run.pages[size] = measure_pages(folder, accounts, cookies, page_list(app), args.requests)
            say(f"pages measured at {size} size")
            if not args.skip_maintenance:
                run.maintenance[size] = time_maintenance(app, folder, size)
                say(f"maintenance timed at {size} size: " + ", ".join(
                    f"{k} {v:.1f} s" for k, v in run.maintenance[size].items()))
        print(report(run, "PostgreSQL" if args.database_url else "SQLite"), flush=True)
        return 0
    finally:
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
