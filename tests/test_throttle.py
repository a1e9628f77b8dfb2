"""Throttling: per account and per address, counted in the database, growing delays and a daily cap."""

from datetime import timedelta

from conftest import csrf_from, fresh_code
from helpers_auth import SIGN_IN_FAILED, WRONG_CODE, code_step, password_step, run_together, wrong_code
from sqlalchemy import func, select

from portal import clock
from portal.auth import throttle
from portal.extensions import db
from portal.models import SignInAttempt

TOO_MANY = "Too many attempts"
WRONG = "definitely the wrong password"


def _fail(client, email: str, times: int, gap: timedelta = timedelta(seconds=1)) -> None:
    for _ in range(times):
        response = password_step(client, email, WRONG)
        assert response.status_code == 400 and SIGN_IN_FAILED in response.get_data(as_text=True)
        clock.advance(gap)


def _refused(response) -> bool:
    """Refused by the throttle: at the password step in the same words as a wrong password, at the code step
    saying so (the password is proven by then)."""
    body = response.get_data(as_text=True)
    return response.status_code == 400 and (SIGN_IN_FAILED in body or TOO_MANY in body)


def _attempts(app, **where: str) -> int:
    with app.app_context():
        query = select(func.count()).select_from(SignInAttempt)
        for column, value in where.items():
            query = query.where(getattr(SignInAttempt, column) == value)
        return db.session.scalar(query)


def test_five_failures_lock_the_account_even_for_the_right_password(app, make_user, client):
    person = make_user()
    _fail(client, person.email, 5)
    response = password_step(client, person.email, person.password)
    assert _refused(response)
    assert client.get("/dashboard").status_code == 302
    clock.advance(timedelta(seconds=61))
    assert password_step(client, person.email, person.password).status_code == 302


def test_four_failures_do_not_lock(app, make_user, client):
    person = make_user()
    _fail(client, person.email, 4)
    assert password_step(client, person.email, person.password).status_code == 302


def test_the_delay_grows_with_each_burst(app, make_user, client):
    person = make_user()
    _fail(client, person.email, 5)
    clock.advance(timedelta(seconds=61))
    _fail(client, person.email, 5)
    assert _refused(password_step(client, person.email, person.password))
    clock.advance(timedelta(seconds=61))
    assert _refused(password_step(client, person.email, person.password))
    clock.advance(timedelta(minutes=10))
    assert _refused(password_step(client, person.email, person.password))
    clock.advance(timedelta(hours=1))
    assert password_step(client, person.email, person.password).status_code == 302


def test_at_most_one_hundred_failures_a_day(app, make_user, client):
    person = make_user()
    # Spaced so that no burst of five falls within a minute: only the daily cap can stop them.
    token = csrf_from(client.get("/sign-in").get_data(as_text=True))
    for _ in range(100):
        response = client.post("/sign-in", data={"email": person.email, "password": WRONG, "csrf_token": token})
        assert SIGN_IN_FAILED in response.get_data(as_text=True)
        clock.advance(timedelta(seconds=16))
    assert _attempts(app, account_key=throttle.account_key(person.email)) == 100
    assert _refused(password_step(client, person.email, person.password))
    clock.advance(timedelta(hours=12))
    assert _refused(password_step(client, person.email, person.password))
    clock.advance(timedelta(hours=12))
    assert password_step(client, person.email, person.password).status_code == 302


def test_a_locked_account_does_not_affect_another(app, make_user, client):
    victim, other = make_user(), make_user()
    _fail(client, victim.email, 5)
    assert _refused(password_step(client, victim.email, victim.password))
    assert password_step(client, other.email, other.password).status_code == 302


def test_unknown_emails_are_throttled_like_real_ones(app, client):
    _fail(client, "nobody@example.org", 5)
    assert _refused(password_step(client, "nobody@example.org", WRONG))


def test_per_address_limit(app_config, app, make_user):
    app.config["THROTTLE_ADDRESS_FAILURES"] = 3
    person = make_user()
    attacker = app.test_client()
    attacker.environ_base["REMOTE_ADDR"] = "203.0.113.9"
    for number in range(3):
        _fail(attacker, f"guess{number}@example.org", 1)
    assert _refused(password_step(attacker, person.email, person.password))
    elsewhere = app.test_client()
    elsewhere.environ_base["REMOTE_ADDR"] = "198.51.100.7"
    assert password_step(elsewhere, person.email, person.password).status_code == 302
    clock.advance(timedelta(seconds=61))
    assert password_step(attacker, person.email, person.password).status_code == 302


def test_parallel_failures_are_all_counted(app, make_user):
    app.config["THROTTLE_ACCOUNT_FAILURES"] = 20
    person = make_user()
    clients = [app.test_client() for _ in range(20)]
    tokens = [csrf_from(c.get("/sign-in").get_data(as_text=True)) for c in clients]
    tasks = [lambda c=c, t=t: c.post("/sign-in", data={"email": person.email, "password": WRONG, "csrf_token": t})
             for c, t in zip(clients, tokens, strict=True)]
    results = run_together(tasks)
    assert [getattr(r, "status_code", repr(r)) for r in results] == [400] * 20
    assert _attempts(app, account_key=throttle.account_key(person.email)) == 20
    assert _refused(password_step(app.test_client(), person.email, person.password))


def test_code_step_failures_count_too(app, make_user, client):
    person = make_user()
    assert password_step(client, person.email, person.password).status_code == 302
    for _ in range(5):
        response = code_step(client, wrong_code(person.secret))
        assert response.status_code == 400 and WRONG_CODE in response.get_data(as_text=True)
    refused = code_step(client, fresh_code(app, person))
    assert refused.status_code == 400 and TOO_MANY in refused.get_data(as_text=True)
    assert _refused(password_step(app.test_client(), person.email, person.password))


def test_failures_and_lockouts_are_audited(app, make_user, client):
    from portal.models import AuditEvent

    person = make_user()
    _fail(client, person.email, 5)
    password_step(client, person.email, person.password)
    with app.app_context():
        actions = list(db.session.scalars(select(AuditEvent.action).order_by(AuditEvent.seq)))
        details = " ".join(db.session.scalars(select(AuditEvent.details)))
    assert actions.count("sign_in.failed") == 5 and actions[-1] == "sign_in.throttled"
    assert person.password not in details and WRONG not in details
