"""Sampling across a partnership's employers: a minimum from each employer, the guidance's preset, a re-runnable
record carried by the minutes, and employers shown to the panel only by their partnership codes."""

import json
from datetime import date

from conftest import outbox, submit
from factories import make_meeting, make_registered_portfolio
from helpers_auth import lead_of
from sqlalchemy import select

from portal.admin import partnership
from portal.extensions import db
from portal.meetings import sampling
from portal.meetings import services as meeting_services
from portal.models import Organisation, Portfolio, Role, SampleDraw

EMPLOYERS = ("Northshire Council", "Riverside Care", "Oakwood Family Trust")


def test_a_minimum_from_each_employer_is_drawn_first_and_the_draw_reruns() -> None:
    units = ([sampling.Unit(n, "", "E1") for n in range(1, 21)] + [sampling.Unit(n, "", "E2") for n in range(21, 24)]
             + [sampling.Unit(24, "", "E3")])
    for seed in ("00" * 16, "ab" * 16, "5f" * 16):
        picks = sampling.draw(seed, units, 4, employer_minimum=1)
        employers = {unit.employer for unit in units if unit.id in picks}
        assert len(picks) == 4 and employers == {"E1", "E2", "E3"}
        assert sampling.draw(seed, units, 4, employer_minimum=1) == picks  # the same seed, the same picks
        # Without a minimum, a small employer is often missed: the minimum is what brings E3 in.
        assert 24 in picks
    # Three employers, a minimum of one each and a size of two: the sample grows to three.
    assert len(sampling.draw("00" * 16, units, 2, employer_minimum=1)) == 3
    # An employer with fewer portfolios than the minimum gives all it has.
    picks = sampling.draw("00" * 16, units, 2, employer_minimum=2)
    assert 24 in picks and len(picks) == 5  # two from E1, two from E2, the one E3 has


def _partnership(app) -> dict[str, int]:
    """Three employers (codes E1, E2, E3), each with passed portfolios and one failed one."""
    with app.app_context():
        for name in EMPLOYERS:
            partnership.new_employer(name)
        db.session.commit()
    n = 0
    for employer, count in zip(EMPLOYERS, (12, 3, 2), strict=True):
        for index in range(count + 1):
            n += 1
            make_registered_portfolio(app, n, employer=employer, outcome="fail" if index == count else "pass",
                           outcome_date=date(2026, 6, 1))
    with app.app_context():
        return {o.name: o.id for o in db.session.scalars(select(Organisation))}


def test_the_chair_draws_across_employers_with_the_guidance_preset(app, signed_in) -> None:
    _partnership(app)
    chair, person = signed_in(Role.MEMBER, name="Chidi Chair")
    member, member_person = signed_in(Role.MEMBER, name="Mina Member")
    mid = make_meeting(app, seats={person.id: "chair", member_person.id: "member"})
    page = chair.get(f"/meetings/{mid}/sample?preset=guidance").get_data(as_text=True)
    assert 'value="10"' in page and 'name="passed_only"' in page and "checked" in page
    response = submit(chair, f"/meetings/{mid}/sample", {
        "size_kind": "percentage", "percentage": "10", "strata": ["employer", "service"], "employer_minimum": "1",
        "passed_only": "y"}, page=f"/meetings/{mid}/sample?preset=guidance")
    assert response.status_code == 302, response.get_data(as_text=True)
    with app.app_context():
        record = db.session.scalar(select(SampleDraw).where(SampleDraw.meeting_id == mid))
        parameters = json.loads(record.parameters)
        picks = json.loads(record.picks)
        outcomes = {db.session.get(Portfolio, pid).outcome for pid in picks}
        eligible = json.loads(record.population)
    assert outcomes == {"pass"} and len(eligible) == 17  # the three failed portfolios are not in the population
    assert {parameters["employer_of"][str(pid)] for pid in picks} == {"E1", "E2", "E3"}
    assert parameters["employer_minimum"] == 1 and parameters["outcomes"] == ["pass"]
    assert len(picks) == 3  # 10% of 17 is 2, and one from each of three employers makes 3
    with app.app_context():
        assert meeting_services.verify(record).matches

    verified = chair.get(response.headers["Location"]).get_data(as_text=True)
    assert "Re-running the draw gives the same portfolios" in verified
    assert "Employer E2" in verified and "Employer E3" in verified
    # The panel sees employers only by their codes: the portfolio page, the draw and the draft minutes.
    pages = [verified, chair.get(f"/meetings/{mid}").get_data(as_text=True)]
    for pid in picks:
        shown = member.get(f"/portfolios/{pid}")
        assert shown.status_code == 200
        pages.append(shown.get_data(as_text=True))
    minutes = chair.get(f"/meetings/{mid}/minutes").get_data(as_text=True)
    pages.append(minutes)
    assert any("Employer E1" in text for text in pages[2:-1])
    for text in pages:
        for name in EMPLOYERS:
            assert name not in text
    # The minutes carry the draw so the Steering Group can re-run it.
    assert record.seed in minutes and "The sample and how to re-run it" in minutes
    from portal.reports.content import population_digest
    assert population_digest(record.population) in minutes
    assert all(f"Employer {code}" in minutes for code in ("E1", "E2", "E3"))
    # The summary report breaks the sample down by employer, by code.
    admin, _ = signed_in(Role.ADMIN)
    report = admin.get(f"/meetings/{mid}/report").get_data(as_text=True)
    assert "Portfolios moderated and confirmed, by employer" in report
    assert all(f"Employer {code}" in report for code in ("E1", "E2", "E3"))
    assert not any(name in report for name in EMPLOYERS)
    # Emails to the sampled people name no employer.
    for message in outbox(app):
        assert not any(name in message.body for name in EMPLOYERS)


def test_a_lead_sees_their_own_employer_by_name_with_its_code(app, make_user) -> None:
    ids = _partnership(app)
    lead, _ = lead_of(app, make_user, ids["Riverside Care"])
    with app.app_context():
        own = db.session.scalar(select(Portfolio.id).join(Portfolio.nqsw).where(
            Portfolio.nqsw.property.mapper.class_.employer_id == ids["Riverside Care"]).limit(1))
    page = lead.get(f"/portfolios/{own}").get_data(as_text=True)
    assert "Riverside Care (Employer E2)" in page
