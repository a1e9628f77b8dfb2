"""Deny by default: every endpoint declares its audience, and the live gate enforces it for every role."""

from collections.abc import Callable

import pytest
from conftest import Person, csrf_from
from flask import Flask
from flask.testing import FlaskClient
from helpers_security import build_path, half_signed_in

from portal import access, create_app
from portal.auth import login
from portal.models import Role

ROLES = list(Role)


def undeclared_endpoints(app: Flask) -> list[str]:
    """Endpoints whose view function carries no access declaration."""
    missing = []
    for rule in app.url_map.iter_rules():
        view = app.view_functions.get(rule.endpoint)
        if view is None or access.declared_rule(view) is None:
            missing.append(rule.endpoint)
    return sorted(set(missing))


def test_every_endpoint_declares_who_may_use_it(app: Flask) -> None:
    assert len(list(app.url_map.iter_rules())) > 20  # the walk really sees the application's routes
    assert undeclared_endpoints(app) == []


def test_the_checker_and_the_gate_catch_an_undeclared_route(app_config: dict, app: Flask,
                                                            make_user: Callable[..., Person]) -> None:
    other = create_app(app_config)
    other.test_client_class = app.test_client_class  # sends a same-origin Referer, as browsers do over HTTPS

    @other.route("/throwaway-undeclared")
    def throwaway() -> str:
        return "secret page"

    assert undeclared_endpoints(other) == ["throwaway"]
    anonymous = other.test_client()
    response = anonymous.get("/throwaway-undeclared")
    assert response.status_code == 404
    assert "secret page" not in response.get_data(as_text=True)
    # Even a fully signed-in administrator is refused.
    from conftest import sign_in

    admin = make_user(Role.ADMIN)
    browser = other.test_client()
    sign_in(other, browser, admin)
    assert browser.get("/dashboard").status_code == 200
    assert browser.get("/throwaway-undeclared").status_code == 404


def _get_rules_without_arguments(app: Flask) -> list:
    return [r for r in app.url_map.iter_rules()
            if "GET" in r.methods and not r.arguments and r.endpoint != "static"]


def _is_gate_sign_in_redirect(response) -> bool:
    return response.status_code == 302 and response.headers["Location"].startswith("/sign-in?next=")


@pytest.fixture
def clients(app: Flask, make_user: Callable[..., Person],
            signed_in: Callable[..., tuple[FlaskClient, Person]]) -> dict[str, FlaskClient]:
    """One client per audience: anonymous, half-signed-in and each role."""
    result: dict[str, FlaskClient] = {"anonymous": app.test_client(),
                                      "half": half_signed_in(app, make_user(Role.MEMBER))}
    for role in ROLES:
        result[role.value] = signed_in(role)[0]
    return result


def test_every_get_endpoint_answers_each_audience_as_declared(app: Flask, clients: dict[str, FlaskClient]) -> None:
    rules = _get_rules_without_arguments(app)
    assert {"pages.dashboard", "admin.people", "admin.audit_trail"} <= {r.endpoint for r in rules}
    problems = []
    for rule in rules:
        declared = access.declared_rule(app.view_functions[rule.endpoint])
        for who, browser in clients.items():
            response = browser.get(rule.rule)
            status = response.status_code
            location = response.headers.get("Location", "")
            if status >= 500:
                problems.append((rule.rule, who, status, "server error"))
            elif declared in (access.PUBLIC, access.PENDING):
                if status == 404 or _is_gate_sign_in_redirect(response):
                    problems.append((rule.rule, who, status, location))
            elif who == "anonymous":
                if not _is_gate_sign_in_redirect(response):
                    problems.append((rule.rule, who, status, location))
            elif who == "half":
                if status != 302 or not location.startswith("/sign-in/code"):
                    problems.append((rule.rule, who, status, location))
            elif declared == access.SIGNED_IN or who in declared:
                if status != 200:
                    problems.append((rule.rule, who, status, location))
            elif status != 404:
                problems.append((rule.rule, who, status, location))
    assert problems == []


def _anonymous_request(app: Flask, rule, path: str):
    """GET if the rule allows it, else POST with a valid anonymous CSRF token (so only the gate can refuse)."""
    browser = app.test_client()
    if "GET" in rule.methods:
        return browser.get(path)
    token = csrf_from(browser.get("/sign-in").get_data(as_text=True))
    return browser.post(path, data={"csrf_token": token})


def test_endpoints_with_arguments_send_anonymous_people_to_sign_in(app: Flask) -> None:
    rules = [r for r in app.url_map.iter_rules() if r.arguments and r.endpoint != "static"]
    assert any(r.endpoint == "admin.person" for r in rules)
    problems = []
    for rule in rules:
        declared = access.declared_rule(app.view_functions[rule.endpoint])
        path = build_path(app, rule)
        response = _anonymous_request(app, rule, path)
        if declared in (access.PUBLIC, access.PENDING):
            if response.status_code >= 500 or _is_gate_sign_in_redirect(response):
                problems.append((path, response.status_code))
        elif not _is_gate_sign_in_redirect(response):
            problems.append((path, response.status_code))
    assert problems == []


def test_role_restricted_endpoints_with_arguments_are_404_for_other_roles(
        app: Flask, signed_in: Callable[..., tuple[FlaskClient, Person]]) -> None:
    browsers = {role: signed_in(role)[0] for role in ROLES if role != Role.ADMIN}
    target_id = 1  # the first person created above exists, so a 404 cannot come from a missing object
    problems = []
    checked = 0
    for rule in app.url_map.iter_rules():
        declared = access.declared_rule(app.view_functions[rule.endpoint])
        if not isinstance(declared, frozenset) or not rule.arguments:
            continue
        path = build_path(app, rule, {"user_id": target_id})
        for role, browser in browsers.items():
            if role in declared:
                continue
            checked += 1
            if "GET" in rule.methods:
                response = browser.get(path)
            else:
                token = csrf_from(browser.get("/account/password").get_data(as_text=True))
                response = browser.post(path, data={"csrf_token": token})
            if response.status_code != 404:
                problems.append((path, role.value, response.status_code))
    assert checked > 10
    assert problems == []


def test_a_person_page_is_404_for_a_member_and_for_a_missing_id(
        app: Flask, signed_in: Callable[..., tuple[FlaskClient, Person]], make_user: Callable[..., Person]) -> None:
    admin, _ = signed_in(Role.ADMIN)
    member, me = signed_in(Role.MEMBER)
    someone = make_user(Role.NQSW)
    assert admin.get(f"/admin/people/{someone.id}").status_code == 200
    for path in (f"/admin/people/{someone.id}", f"/admin/people/{me.id}", "/admin/people",
                 f"/admin/people/{someone.id}/deactivate"):
        response = member.get(path)
        assert response.status_code == 404, path
        assert someone.name not in response.get_data(as_text=True)
    for path in ("/admin/people/999999", "/admin/people/999999/deactivate", "/admin/people/999999/reset-2fa",
                 "/admin/people/999999/reactivate"):
        assert admin.get(path).status_code == 404, path
    token = csrf_from(admin.get("/admin/people").get_data(as_text=True))
    for path in ("/admin/people/999999/role", "/admin/invitations/999999/resend", "/admin/people/999999/deactivate"):
        assert admin.post(path, data={"csrf_token": token, "role": "member"}).status_code == 404, path


def test_a_half_signed_in_person_reaches_only_the_code_page(app: Flask, make_user: Callable[..., Person]) -> None:
    admin = make_user(Role.ADMIN)
    browser = half_signed_in(app, admin)
    assert browser.get("/sign-in/code").status_code == 200
    for path in ("/dashboard", "/admin/people", "/account", f"/admin/people/{admin.id}"):
        response = browser.get(path)
        assert response.status_code == 302 and response.headers["Location"].startswith("/sign-in/code"), path


@pytest.mark.parametrize("target", [
    "/%2Fevil.example", "//evil.example", "/\\evil.example", "https://evil.example", "javascript:alert(1)",
    "/%2F%2Fevil.example", "/%5Cevil.example", "http:/evil.example", " //evil.example", "/\tevil.example",
])
def test_local_redirect_target_refuses_other_sites(target: str) -> None:
    assert login.local_redirect_target(target) is None


@pytest.mark.parametrize("target", ["/account", "/admin/people?q=a%20b", "/dashboard#top"])
def test_local_redirect_target_keeps_local_paths(target: str) -> None:
    assert login.local_redirect_target(target) == target
