"""axe-core on the pages added lately: the NQSW removal confirmation (removable, refused, and the 409 after a
refused confirmation), the audit trail's Details column with a row that does not decrypt, and the 409 a panel
member gets when the portfolio left the sample before their first save.

Already covered elsewhere, so not repeated here: the document delete confirmation and its error state
(test_documents_pages.py) and the 404 page, signed out and signed in (test_accessibility_public.py,
test_cycle_journey.py).
"""

from collections.abc import Callable
from typing import Any

import pytest
from conftest import Person
from factories import add_document_row, make_panel, make_registered_portfolio
from flask import Flask
from helpers_reviews import answers_for, base
from playwright.sync_api import Page
from sqlalchemy import delete, select, text

from browser.steps import assert_accessible, press, tab_to
from portal import audit
from portal.extensions import db
from portal.models import Assessment, Nqsw, Portfolio, Role, SampledPortfolio
from portal.models.audit import UNREADABLE_DETAILS
from portal.reviews import services as reviews

SignedInPage = Callable[..., tuple[Page, Person]]


def _nqsw_of(app: Flask, portfolio_id: int) -> int:
    with app.app_context():
        return db.session.get_one(Portfolio, portfolio_id).nqsw_id


def test_nqsw_removal_confirmation_removable_refused_and_refused_after_confirming(
        app: Flask, live_url: str, signed_in_page: SignedInPage) -> None:
    page, admin = signed_in_page(Role.ADMIN)
    empty, full, changing = (make_registered_portfolio(app, n) for n in (1, 2, 3))
    add_document_row(app, full, admin.id, "pdp")

    # Removable: reached from the list, it says the empty portfolio goes too; Tab to the button, Enter removes.
    page.goto(live_url + "/cohort/nqsws")
    with page.expect_navigation():
        page.get_by_role("link", name="Remove Nqsw Person 1", exact=True).click()
    assert page.url.endswith(f"/cohort/nqsws/{_nqsw_of(app, empty)}/remove")
    assert page.get_by_role("heading", level=1).inner_text() == "Remove Nqsw Person 1 from the registry?"
    assert page.get_by_role("heading", name="Their portfolio is removed too").is_visible()
    assert_accessible(page)
    remove = page.get_by_role("button", name="Remove", exact=True)
    tab_to(page, remove)
    with page.expect_navigation() as navigation:
        page.keyboard.press("Enter")
    assert navigation.value is not None and navigation.value.status == 200
    assert page.url == f"{live_url}/cohort/nqsws"
    removed = "Nqsw Person 1 has been removed from the registry, with their empty portfolio."
    assert page.get_by_text(removed).is_visible()
    with app.app_context():
        assert db.session.get(Portfolio, empty) is None

    # Refused: a portfolio with a document (or one that was sampled) keeps its NQSW; the page gives the reason
    # and offers no button.
    page.goto(f"{live_url}/cohort/nqsws/{_nqsw_of(app, full)}/remove")
    assert page.get_by_role("heading", level=1).inner_text() == "Nqsw Person 2 cannot be removed"
    assert page.get_by_text("Nqsw Person 2 has a portfolio that is not empty: it has 1 document.").is_visible()
    assert page.get_by_role("button", name="Remove", exact=True).count() == 0
    assert_accessible(page)
    sampled = make_panel(app, [(admin.id, "chair")], portfolios=1).portfolio_ids[0]  # no documents, but sampled
    page.goto(f"{live_url}/cohort/nqsws/{_nqsw_of(app, sampled)}/remove")
    assert page.get_by_role("heading", level=1).inner_text().endswith(" cannot be removed")
    assert page.get_by_text("it was sampled for the meeting on 10 December 2026.").is_visible()
    assert_accessible(page)

    # Refused after confirming: a document arrives while the page is open, so the POST answers 409 with the reason.
    nqsw_id = _nqsw_of(app, changing)
    page.goto(f"{live_url}/cohort/nqsws/{nqsw_id}/remove")
    add_document_row(app, changing, admin.id, "pdp")
    assert press(page, "Remove").status == 409
    assert page.get_by_role("heading", level=1).inner_text() == "Nqsw Person 3 cannot be removed"
    assert page.get_by_text("Nqsw Person 3 has a portfolio that is not empty: it has 1 document.").is_visible()
    assert_accessible(page)
    with app.app_context():
        assert db.session.get(Nqsw, nqsw_id) is not None


def test_audit_trail_details_column_with_a_row_that_does_not_decrypt(
        app: Flask, live_url: str, signed_in_page: SignedInPage) -> None:
    page, _ = signed_in_page(Role.ADMIN)
    with app.app_context():
        for number in (1, 2):
            audit.record(None, "test.details", f"thing:{number}", note=f"event {number}")
        db.session.commit()
        seq, stored = db.session.execute(text("SELECT seq, details FROM audit_events WHERE target = 'thing:2'")).one()
        # One character of the ciphertext changed: authenticated decryption fails, as for a tampered row.
        altered = stored[:-5] + ("A" if stored[-5] != "A" else "B") + stored[-4:]
        db.session.execute(text("UPDATE audit_events SET details = :altered WHERE seq = :seq"),
                           {"altered": altered, "seq": seq})
        db.session.commit()

    assert page.goto(live_url + "/admin/audit?action=test.details").status == 200
    assert page.get_by_role("heading", level=1).inner_text() == "Audit trail"
    assert page.get_by_role("columnheader", name="Details").is_visible()
    assert page.get_by_role("cell", name=UNREADABLE_DETAILS, exact=True).is_visible()
    assert page.get_by_role("cell", name="note: event 1", exact=True).is_visible()
    assert_accessible(page)


def test_a_first_save_after_the_portfolio_left_the_sample_is_a_409_page(
        app: Flask, live_url: str, signed_in_page: SignedInPage, monkeypatch: pytest.MonkeyPatch) -> None:
    page, member = signed_in_page(Role.MEMBER, name="Member One")
    panel = make_panel(app, [(member.id, "member")])
    pid = panel.portfolio_ids[0]
    page.goto(f"{live_url}{base(panel, pid)}/sections/part1")  # the page's checks pass: the portfolio is sampled
    for name, value in answers_for("part1").items():
        field = page.locator(f"[name='{name}']")
        if field.first.get_attribute("type") == "radio":
            page.locator(f"[name='{name}'][value='{value}']").check()
        else:
            field.fill(value)
    real = reviews.save_section

    def leave_sample_then_save(*args: Any, **kwargs: Any) -> Any:
        # A redraw's effect on this portfolio, landing after the page's checks and before the save's own.
        with app.app_context():
            db.session.execute(delete(SampledPortfolio).where(SampledPortfolio.meeting_id == panel.meeting_id,
                                                              SampledPortfolio.portfolio_id == pid))
            db.session.commit()
        return real(*args, **kwargs)

    monkeypatch.setattr(reviews, "save_section", leave_sample_then_save)
    assert press(page, "Save and return to the task list").status == 409
    assert page.get_by_role("heading", level=1).inner_text() == "Your answers have not been saved"
    assert page.get_by_text("This portfolio is no longer in the meeting's sample").is_visible()
    assert_accessible(page)
    with app.app_context():
        assert db.session.scalar(select(Assessment.id)) is None
