"""Text shown as written: every page of the journey, as every kind of person sees it, has no markup escaped twice.

A fragment of HTML joined to text that Jinja has already escaped (`"<code>" ~ (seed | e)`, or a macro's output
joined to a string) is escaped a second time, and the reader sees `<code>` or `<a class="govuk-link" ...>`
as text. This walks the portal's URL map with the ids of helpers_pages.build_journey, as each person, and fails
on any escaped tag in an HTML page. It also fails if a page of the moderation cycle was not shown to anyone,
so a new page is checked as soon as it exists.
"""

from collections.abc import Iterator

from conftest import sign_in
from flask import Flask, url_for
from helpers_pages import ESCAPED_TAG, Journey, build_journey

# The pages of the cycle (DESIGN capabilities 4 to 10): each must be shown, as a page or a download, to someone.
CYCLE_AREAS = ("pages.", "portfolios.", "meetings.", "reviews.", "reports.")
NOT_PAGES = {"pages.index"}  # a redirect to the dashboard (the health checks, JSON, are not in a cycle area)


def _arguments(names: frozenset[str], journey: Journey) -> Iterator[dict]:
    """Values for a rule's arguments that lead to something; none for arguments this walk does not know."""
    meetings = (journey.earlier_id, journey.meeting_id, journey.upcoming_id)
    assessed = ((journey.meeting_id, journey.portfolio_ids[0]),
                (journey.upcoming_id, journey.upcoming_portfolio_ids[0]))
    if not names:
        yield {}
    elif names == {"meeting_id"}:
        yield from ({"meeting_id": m} for m in meetings)
    elif names == {"meeting_id", "kind"}:
        yield from ({"meeting_id": m, "kind": kind} for m in meetings for kind in ("pdf", "docx"))
    elif names == {"meeting_id", "draw_id"}:
        yield from ({"meeting_id": journey.meeting_id, "draw_id": draw} for draw in journey.draw_ids)
    elif names == {"meeting_id", "portfolio_id"}:
        yield from ({"meeting_id": m, "portfolio_id": p} for m, p in assessed)
    elif names == {"meeting_id", "portfolio_id", "section_key"}:
        yield from ({"meeting_id": m, "portfolio_id": p, "section_key": key}
                    for m, p in assessed for key in ("part1", "part3"))
    elif names == {"portfolio_id"}:
        yield from ({"portfolio_id": p} for p in (journey.portfolio_ids[0], journey.upcoming_portfolio_ids[0]))
    elif names <= {"portfolio_id", "document_id", "version_id"}:
        values = {"portfolio_id": journey.portfolio_ids[0], "document_id": journey.document_ids[0],
                  "version_id": journey.version_ids[0]}
        yield {name: values[name] for name in names}
    else:
        known = {"user_id": journey.member.id, "nqsw_id": journey.nqsw_record_id,
                 "assessor_id": journey.assessor_record_id, "theme_id": journey.theme_id, "section_key": "part1",
                 "name": "evidence_comment", "token": "not-a-link-the-portal-made"}
        if names <= set(known):
            yield {name: known[name] for name in names}


def test_no_page_shows_escaped_markup(app: Flask, make_user) -> None:
    journey = build_journey(app, make_user)
    rules = [rule for rule in app.url_map.iter_rules() if "GET" in (rule.methods or ()) and rule.endpoint != "static"]
    shown: set[str] = set()
    problems: list[str] = []
    visited = 0
    for person in journey.everyone:
        client = app.test_client()
        sign_in(app, client, person)
        for rule in rules:
            for values in _arguments(frozenset(rule.arguments), journey):
                path = _path(app, rule.endpoint, values)
                response = client.get(path)
                visited += 1
                body = response.get_data()  # read to the end, so a streamed download finishes and closes
                response.close()
                if response.status_code == 200:
                    shown.add(rule.endpoint)
                if response.mimetype != "text/html":
                    continue
                text = body.decode()
                for found in ESCAPED_TAG.finditer(text):
                    problems.append(f"{person.role} {path} ({response.status_code}): "
                                    f"{text[max(0, found.start() - 60):found.end() + 60]!r}")
    assert not problems, "markup shown as text:\n" + "\n".join(problems)
    cycle = {rule.endpoint for rule in rules if rule.endpoint.startswith(CYCLE_AREAS)} - NOT_PAGES
    assert cycle - shown == set(), f"pages of the cycle no one was shown (of {visited} requests)"


def _path(app: Flask, endpoint: str, values: dict) -> str:
    with app.test_request_context():
        return url_for(endpoint, **values)
