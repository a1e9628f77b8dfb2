"""Themes, actions and the list of minutes stay bounded at national size (issue 15 item 2): a page at a time, every
item on exactly one page, the totals shown, the owner filter kept from page to page, the same statements however
many there are, and the same people reading the same minutes as the rule in portal.visibility says."""

import html
import re
from datetime import date, timedelta

import pytest
from factories import make_employer, make_meeting
from flask import Flask
from flask.testing import FlaskClient
from helpers_auth import lead_of
from helpers_queries import count_queries
from sqlalchemy import select

from portal import clock, visibility
from portal.extensions import db
from portal.models import Action, ActionStatus, Meeting, MeetingTheme, PanelRole, Role, Theme, User
from portal.reports import minutes_data

START = date(2026, 1, 5)
NOTE = re.compile(r"note-(\d+)-(\d+)\b")  # "note-<theme>-<meeting>": one raising of a theme at a meeting
ACTION = re.compile(r"action-(\d+)\b")
MEETING = re.compile(r"Meeting (\d+),")


def _meetings(app: Flask, count: int, seats: dict[int, str] | None = None, published: bool = True,
              first: int = 0) -> list[int]:
    """Meetings numbered from `first`, a week apart (the later the number, the newer), with these seats."""
    ids = [make_meeting(app, START + timedelta(days=7 * (first + n)), seats, title=f"Meeting {first + n}")
           for n in range(count)]
    if published:
        with app.app_context():
            for meeting_id in ids:
                db.session.get(Meeting, meeting_id).minutes_published_at = clock.now()
            db.session.commit()
    return ids


def _raise(app: Flask, raisings: dict[str, list[int]], employer_id: int | None = None) -> None:
    """Each theme (by name) raised at these meetings, with a note naming the theme and meeting."""
    with app.app_context():
        for name, meeting_ids in raisings.items():
            theme = db.session.scalar(select(Theme).where(Theme.name == name)) or Theme(name=name,
                                                                                      created_at=clock.now())
            db.session.add(theme)
            db.session.flush()
            for meeting_id in meeting_ids:
                db.session.add(MeetingTheme(meeting_id=meeting_id, theme_id=theme.id, employer_id=employer_id,
                                            note=f"note-{theme.id}-{meeting_id}"))
        db.session.commit()


def _act(app: Flask, meeting_id: int, count: int, employer_id: int | None = None, first: int = 0) -> None:
    """`count` actions agreed at a meeting, numbered from `first`, every third one done, due on various days."""
    with app.app_context():
        for n in range(first, first + count):
            db.session.add(Action(meeting_id=meeting_id, description=f"action-{n}", owner="ASYE Lead",
                                  due_on=START + timedelta(days=(n * 37) % 90),
                                  status=ActionStatus.DONE.value if n % 3 == 0 else ActionStatus.OPEN.value,
                                  created_at=clock.now(), updated_at=clock.now(), employer_id=employer_id))
        db.session.commit()


def _next(page: str, label: str) -> str | None:
    """The address of the next page from the pagination landmark with this label, if there is one."""
    if f'aria-label="{label}"' not in page:
        return None
    nav = page.split(f'aria-label="{label}"')[1].split("</nav>")[0]
    found = re.search(r'<a [^>]*href="([^"]+)"[^>]*rel="next"', nav)
    return html.unescape(found.group(1)) if found else None


def _walk(client: FlaskClient, path: str, label: str) -> list[str]:
    """Every page of a list, following its "Next" links from the first."""
    pages: list[str] = []
    address: str | None = path
    while address is not None:
        response = client.get(address)
        assert response.status_code == 200, address
        assert len(response.get_data()) < 200_000, address
        pages.append(response.get_data(as_text=True))
        address = _next(pages[-1], label)
        assert len(pages) < 50
    return pages


def _themes_part(page: str) -> str:
    return page.split('id="themes"')[1].split('id="actions"')[0]


def _actions_part(page: str) -> str:
    return page.split('id="actions"')[1]


# The rule as a query condition -----------------------------------------------------------------------------


def test_the_query_condition_is_the_minutes_rule(app: Flask, make_user) -> None:
    """visibility.minutes_readable answers as may_read_minutes_as for every role, seat and publication."""
    people = {role: make_user(role).id for role in (Role.ADMIN, Role.MEMBER, Role.OBSERVER, Role.LEAD)}
    at: dict[tuple[Role, str | None, bool], int] = {}
    for role, user_id in people.items():
        for seat in (None, PanelRole.CHAIR.value, PanelRole.MEMBER.value, PanelRole.OBSERVER.value):
            for published in (False, True):
                [at[role, seat, published]] = _meetings(app, 1, {user_id: seat} if seat else None, published)
    with app.app_context():
        everything = db.session.scalars(select(Meeting)).all()
        readable = {}
        for role, user_id in people.items():
            user = db.session.get(User, user_id)
            readable[role] = set(db.session.scalars(select(Meeting.id).where(visibility.minutes_readable(user))))
            seats = visibility.panel_roles_of(user)
            assert readable[role] == {m.id for m in everything if visibility.may_read_minutes_as(
                role, seats.get(m.id), m.minutes_published_at is not None)}, role
    # What the rule says, spelled out: the Lead reads everything, a Chair their drafts, a member seat published
    # minutes of that meeting only, a Steering Group observer every meeting's published minutes.
    assert readable[Role.ADMIN] == set(at.values())
    assert at[Role.MEMBER, PanelRole.CHAIR.value, False] in readable[Role.MEMBER]
    assert at[Role.MEMBER, PanelRole.MEMBER.value, True] in readable[Role.MEMBER]
    assert at[Role.MEMBER, PanelRole.MEMBER.value, False] not in readable[Role.MEMBER]
    assert at[Role.MEMBER, None, True] not in readable[Role.MEMBER]
    assert at[Role.ADMIN, None, True] in readable[Role.OBSERVER]  # published, without a seat
    assert at[Role.OBSERVER, PanelRole.OBSERVER.value, False] not in readable[Role.OBSERVER]
    assert at[Role.LEAD, PanelRole.OBSERVER.value, True] in readable[Role.LEAD]
    assert at[Role.LEAD, None, True] not in readable[Role.LEAD]


# Themes ---------------------------------------------------------------------------------------------------


def test_every_theme_appears_once_across_pages_most_raised_first(app: Flask, signed_in, monkeypatch) -> None:
    monkeypatch.setattr(minutes_data, "THEMES_A_PAGE", 4)
    meetings = _meetings(app, 8)
    # Theme k is raised at k % 8 + 1 meetings, the latest ones: some once, some at every meeting.
    raisings = {f"Theme {k:02d}": meetings[-(k % 8 + 1):] for k in range(11)}
    _raise(app, raisings)
    admin, _ = signed_in(Role.ADMIN)
    pages = _walk(admin, "/themes", "Pages of themes")
    assert len(pages) == 3  # 11 themes, 4 a page
    assert all("11 themes, showing" in page for page in pages)
    shown = [name for page in pages for name in re.findall(r"(Theme \d\d) \(raised at", _themes_part(page))]
    assert sorted(shown) == sorted(raisings)  # each exactly once
    times = {name: len(ids) for name, ids in raisings.items()}
    assert shown == sorted(raisings, key=lambda name: (-times[name], name))
    # A theme shows at most the latest five meetings, and how many there were.
    first = _themes_part(pages[0])
    assert "Theme 07 (raised at 8 meetings, the latest 5 shown)" in first
    block = first.split("Theme 07 (raised at")[1].split("</table>")[0]
    assert [int(n) for n in MEETING.findall(block)] == [7, 6, 5, 4, 3]
    with app.app_context():
        theme_id = db.session.scalar(select(Theme.id).where(Theme.name == "Theme 07"))
    assert f'href="/themes/{theme_id}"' in first


def test_a_themes_own_page_lists_every_meeting_once(app: Flask, signed_in, monkeypatch) -> None:
    monkeypatch.setattr(minutes_data, "MEETINGS_A_PAGE", 3)
    meetings = _meetings(app, 8)
    _raise(app, {"Supervision": meetings})
    admin, _ = signed_in(Role.ADMIN)
    with app.app_context():
        theme_id = db.session.scalar(select(Theme.id).where(Theme.name == "Supervision"))
    pages = _walk(admin, f"/themes/{theme_id}", "Pages of meetings")
    assert len(pages) == 3 and all("8 meetings, showing" in page for page in pages)
    seen = [int(meeting) for page in pages for _, meeting in NOTE.findall(page)]
    assert seen == sorted(meetings, reverse=True)  # newest first, each once
    assert admin.get("/themes/999999").status_code == 404


def test_a_member_sees_only_published_meetings_they_sat_at(app: Flask, signed_in, make_user, monkeypatch) -> None:
    monkeypatch.setattr(minutes_data, "MEETINGS_A_PAGE", 2)
    member, person = signed_in(Role.MEMBER)
    sat = _meetings(app, 3, {person.id: PanelRole.MEMBER.value})
    draft = _meetings(app, 1, {person.id: PanelRole.MEMBER.value}, published=False, first=3)
    elsewhere = _meetings(app, 2, first=4)
    _raise(app, {"Supervision": sat + draft + elsewhere})
    _act(app, draft[0], 1, first=0)
    _act(app, sat[0], 1, first=1)
    _act(app, elsewhere[0], 1, first=2)
    page = member.get("/themes").get_data(as_text=True)
    assert "Supervision (raised at 3 meetings)" in page
    assert {int(m) for _, m in NOTE.findall(page)} == set(sat)
    assert {int(n) for n in ACTION.findall(_actions_part(page))} == {1}
    with app.app_context():
        theme_id = db.session.scalar(select(Theme.id).where(Theme.name == "Supervision"))
    pages = _walk(member, f"/themes/{theme_id}", "Pages of meetings")
    assert sorted(int(m) for page in pages for _, m in NOTE.findall(page)) == sorted(sat)
    reports = _walk(member, "/reports", "Pages of meetings")
    assert sorted(int(n) for page in reports for n in MEETING.findall(page)) == [0, 1, 2]
    assert all("Not available" in page for page in reports)  # a member never reads the summary report
    # Someone who sat at none of them sees none, and no theme page.
    outsider, _ = signed_in(Role.MEMBER)
    assert "No themes have been recorded yet." in outsider.get("/themes").get_data(as_text=True)
    assert outsider.get(f"/themes/{theme_id}").status_code == 404


def test_an_employer_lead_sees_only_their_employers_items(app: Flask, signed_in, make_user) -> None:
    riverside, oakwood = make_employer(app, "Riverside Care"), make_employer(app, "Oakwood Family Trust")
    lead, _ = lead_of(app, make_user, riverside)
    published, draft = _meetings(app, 2), _meetings(app, 1, published=False, first=2)
    _raise(app, {"Protected time": published + draft}, employer_id=riverside)
    _raise(app, {"Caseloads": published}, employer_id=oakwood)
    _raise(app, {"Supervision": published})
    _act(app, published[0], 3, employer_id=riverside)
    _act(app, published[0], 2, employer_id=oakwood, first=3)
    _act(app, draft[0], 1, employer_id=riverside, first=5)
    page = lead.get("/themes").get_data(as_text=True)
    assert "Protected time (raised at 2 meetings)" in page
    assert "Caseloads" not in page and "Supervision" not in page
    assert sorted(int(n) for n in ACTION.findall(_actions_part(page))) == [0, 1, 2]
    with app.app_context():
        caseloads = db.session.scalar(select(Theme.id).where(Theme.name == "Caseloads"))
    assert lead.get(f"/themes/{caseloads}").status_code == 404


# Actions ---------------------------------------------------------------------------------------------------


def test_actions_page_on_their_own_keeping_the_owner_filter(app: Flask, signed_in, monkeypatch) -> None:
    monkeypatch.setattr(minutes_data, "ACTIONS_A_PAGE", 4)
    monkeypatch.setattr(minutes_data, "THEMES_A_PAGE", 2)
    riverside = make_employer(app, "Riverside Care")
    meetings = _meetings(app, 2)
    _act(app, meetings[0], 10, employer_id=riverside)
    _act(app, meetings[1], 5, first=10)  # the whole partnership's
    _raise(app, {f"Theme {k}": meetings for k in range(3)}, employer_id=riverside)
    _raise(app, {"Partnership theme": meetings})
    admin, _ = signed_in(Role.ADMIN)
    pages = _walk(admin, f"/themes?owner={riverside}", "Pages of actions")
    assert len(pages) == 3 and all("10 actions, showing" in page for page in pages)
    for page in pages[:-1]:
        assert f"owner={riverside}" in _next(page, "Pages of actions")
        assert f"owner={riverside}" in _next(page, "Pages of themes")
    seen = [int(n) for page in pages for n in ACTION.findall(_actions_part(page))]
    assert sorted(seen) == list(range(10))
    with app.app_context():
        due = {a.description: (a.status == ActionStatus.DONE.value, a.due_on, a.id)
               for a in db.session.scalars(select(Action))}
    assert seen == sorted(seen, key=lambda n: due[f"action-{n}"])  # open ones first, by due date
    # The themes stay on their own page while the actions move on, and the other way about.
    assert all("Theme 0 (raised at" in _themes_part(page) for page in pages)
    second_themes = admin.get(f"/themes?owner={riverside}&page=2&actions_page=2").get_data(as_text=True)
    assert "Theme 2 (raised at" in _themes_part(second_themes) and "Partnership theme" not in second_themes
    following = _next(second_themes, "Pages of actions") or ""
    assert "actions_page=3" in following and "page=2" in following.replace("actions_page", "")
    previous = second_themes.split('aria-label="Pages of themes"')[1].split("</nav>")[0]
    assert "actions_page=2" in html.unescape(previous)
    assert {int(n) for n in ACTION.findall(_actions_part(second_themes))} == set(seen[4:8])


# The list of minutes -------------------------------------------------------------------------------------------


def test_the_list_of_minutes_is_paged_newest_first_with_the_report_where_readable(app: Flask, signed_in) -> None:
    _meetings(app, 53)
    _meetings(app, 2, published=False, first=53)  # drafts: not for the Steering Group
    observer, _ = signed_in(Role.OBSERVER)
    pages = _walk(observer, "/reports", "Pages of meetings")
    assert len(pages) == 2 and all("53 meetings, showing" in page for page in pages)
    seen = [int(n) for page in pages for n in MEETING.findall(page)]
    assert seen == list(range(52, -1, -1))
    assert len(MEETING.findall(pages[0])) == 50
    assert pages[0].count(">Report<span") == 50  # observers read the report of published minutes
    admin, _ = signed_in(Role.ADMIN)
    assert "55 meetings, showing 1 to 50" in admin.get("/reports").get_data(as_text=True)


# Bounded: the same statements and a small page however much there is ---------------------------------------


@pytest.mark.parametrize("role", [Role.ADMIN, Role.MEMBER, Role.LEAD])
def test_the_pages_run_the_same_statements_at_two_sizes(app: Flask, signed_in, make_user, role: Role) -> None:
    riverside = make_employer(app, "Riverside Care")
    if role == Role.LEAD:
        client, person = lead_of(app, make_user, riverside)
    else:
        client, person = signed_in(role)
    seats = {person.id: PanelRole.MEMBER.value} if role == Role.MEMBER else None
    made = {"meetings": 0, "themes": 0, "actions": 0}

    def grow(meetings: int, themes: int, actions: int) -> int:
        ids = _meetings(app, meetings, seats, first=made["meetings"])
        _raise(app, {f"Theme {made['themes'] + k:03d}": ids[k % len(ids):] for k in range(themes)},
               employer_id=riverside)
        for n, meeting_id in enumerate(ids):
            _act(app, meeting_id, actions // len(ids), employer_id=riverside if n % 2 else None,
                 first=made["actions"] + n * (actions // len(ids)))
        made.update(meetings=made["meetings"] + meetings, themes=made["themes"] + themes,
                    actions=made["actions"] + actions)
        with app.app_context():
            return db.session.scalar(select(Theme.id).where(Theme.name == "Theme 000"))

    theme_id = grow(2, 2, 4)
    paths = ["/themes", f"/themes/{theme_id}", f"/themes?owner={riverside}&page=2&actions_page=2"]
    if role != Role.LEAD:
        paths.append("/reports")
    before = {path: count_queries(app, client, path) for path in paths}
    grow(60, 45, 120)  # more than a page of everything
    after = {path: count_queries(app, client, path) for path in paths}
    assert after == before
    for path in paths:
        assert len(client.get(path).get_data()) < 200_000, path
    page = client.get("/themes").get_data(as_text=True)
    assert len(re.findall(r"\(raised at", page)) == minutes_data.THEMES_A_PAGE
    assert len(ACTION.findall(_actions_part(page))) == minutes_data.ACTIONS_A_PAGE
