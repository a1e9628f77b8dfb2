"""axe-core and 320 px on the administrator's long lists: People a page at a time, and the audit trail searched
by a typed name and paged by keyset."""

from collections.abc import Callable

from conftest import Person
from flask import Flask
from playwright.sync_api import Page

from browser.steps import assert_accessible
from portal import audit, clock
from portal.extensions import db
from portal.models import Role, User

SignedInPage = Callable[..., tuple[Page, Person]]


def test_people_pages_and_the_audit_trails_person_search(app: Flask, live_url: str,
                                                        signed_in_page: SignedInPage) -> None:
    page, _ = signed_in_page(Role.ADMIN)
    with app.app_context():
        people = [User(name=f"Listed Person {n:03d}", email=f"listed{n:03d}@example.org", role=Role.MEMBER.value,
                       active=True, created_at=clock.now()) for n in range(70)]
        db.session.add_all(people)
        db.session.flush()
        for n in range(60):
            audit.record(people[0], "test.listed", f"item:{n}")
        db.session.commit()
    page.goto(live_url + "/admin/people?q=listed")
    assert "70 people, showing 1 to 50" in page.locator("main").inner_text()
    navigation = page.get_by_role("navigation", name="Pages of people")
    assert navigation.is_visible()
    assert_accessible(page)
    navigation.get_by_role("link", name="Next").click()
    page.wait_for_url("**page=2**")
    assert "70 people, showing 51 to 70" in page.locator("main").inner_text()
    assert_accessible(page)

    page.goto(live_url + "/admin/audit")
    page.get_by_label("Person").fill("Listed Person 000")
    page.get_by_role("button", name="Search").click()
    page.wait_for_url("**person=Listed**")
    assert page.get_by_role("cell", name="test.listed").count() == 50
    assert_accessible(page)
    page.get_by_role("link", name="Older events").click()
    page.wait_for_url("**before=**")
    assert page.get_by_role("cell", name="test.listed").count() == 10
    page.set_viewport_size({"width": 320, "height": 640})
    assert_accessible(page)
