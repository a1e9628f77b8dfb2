"""`flask --app portal demo`: a clearly fictional panel for trying the portal locally.

It builds a partnership, through the areas' own services (so everything is encrypted and audited as in real
use): a council with children's and adults' services (its ASYE Lead is the partnership administrator), two small
providers (one private, one voluntary) with three NQSWs each and their own employer Leads, a university and a
community group; 40 NQSWs in five cohorts (10 in "Academy 2026", 4 "Grow your own 2026", each provider's own),
10 Assessors, 40 portfolios with small generated PDFs, a panel of six drawn from every member organisation (a
university academic as Chair, 2 people with lived experience, the council's Principal Social Worker and a
practitioner from each provider), a Steering Group observer, one past meeting with published minutes and released
feedback, and one upcoming meeting whose sample, drawn with at least one portfolio from each employer, spans
the council and the providers. Every demo person gets the same known password and a printed TOTP secret:
the demo is for local trials only and refuses to run on a database that already holds portfolios.
"""

import logging
from dataclasses import dataclass
from datetime import date, timedelta

import click
from flask import current_app
from flask.cli import with_appcontext
from fpdf import FPDF
from sqlalchemy import func, select

from portal import clock
from portal.admin import partnership
from portal.admin import services as admin_services
from portal.documents import services as documents
from portal.extensions import db
from portal.meetings import services as meetings
from portal.models import (
    Assessment,
    AssessmentStatus,
    Attendance,
    Cohort,
    EvidenceType,
    Meeting,
    Nqsw,
    OrganisationKind,
    PanelRole,
    Portfolio,
    Role,
    Service,
    TemplateKind,
    User,
)
from portal.portfolios import services as portfolios
from portal.reports import release
from portal.reports import services as minutes
from portal.reviews import services as reviews
from portal.security import passwords, totp

DEMO_PASSWORD = "fictional demo panel 2026"
FIRST = ["Alex", "Bailey", "Casey", "Devon", "Ellis", "Frankie", "Gray", "Harper", "Indigo", "Jules"]
LAST = ["Example", "Sample", "Madeup", "Placeholder"]
COUNCIL = "Northshire County Council (fictional)"
PRIVATE = "Brightwater Care Ltd (fictional)"  # a small private provider
VOLUNTARY = "Hillside Family Support (fictional)"  # a small voluntary provider
EMPLOYERS = [COUNCIL, PRIVATE, VOLUNTARY]
UNIVERSITIES = ["University of Northshire (fictional)"]
PROVIDER_NQSWS = 3  # each provider's NQSWs (the rest of the 40 work for the council)
COMMUNITY = "Voices Together Community Group (fictional)"
DOCUMENTS = [(EvidenceType.FINAL_REPORT, "Final assessment report"),
             (EvidenceType.CRITICAL_REFLECTION, "Critical reflection"),
             (EvidenceType.DIRECT_OBSERVATION, "Direct observation")]


@dataclass
class DemoPerson:
    """Someone a tester can sign in as."""

    user: User
    secret: str
    what: str


def _person(name: str, email: str, role: Role, organisation_id: int | None, what: str) -> DemoPerson:
    """An enrolled account with the known password (the demo skips the emailed invitation on purpose)."""
    secret = totp.new_secret()
    now = clock.now()
    user = User(email=email, name=name, role=role.value, organisation_id=organisation_id,
                password_hash=passwords.hash_password(DEMO_PASSWORD), totp_secret=secret, enrolled_at=now,
                active=True, created_at=now, password_changed_at=now)
    db.session.add(user)
    db.session.commit()
    return DemoPerson(user, secret, what)


def _pdf(title: str, nqsw: str) -> bytes:
    """A small sample document; the built-in font is enough for the demo's plain ASCII names, and avoids
    loading and subsetting the reports' embedded font for each of the 120 files."""
    pdf = FPDF()
    pdf.set_title(f"{title}: {nqsw}")
    pdf.set_lang("en-GB")
    pdf.add_page()
    pdf.set_font("helvetica", style="B", size=16)
    pdf.multi_cell(0, 10, f"{title}: {nqsw}", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("helvetica", size=11)
    for text in ("This is a generated document for the demonstration of the moderation portal. The person, "
                 "the employer and every detail in it are fictional.",
                 "Evidence against the Knowledge and Skills Statement and the Professional Capabilities "
                 "Framework would appear here."):
        pdf.multi_cell(0, 6, text, new_x="LMARGIN", new_y="NEXT")
        pdf.ln(3)
    return bytes(pdf.output())


def _register(lead: User, provider_leads: dict[str, User], organisations: dict[str, int],
              outcome_dates: list[date]) -> list[Portfolio]:
    """Cohorts, 10 Assessors, 40 NQSWs and their portfolios with generated PDFs.

    The council's are registered by the partnership administrator; each provider's by its own Lead, whose
    employer the services take from the Lead's account."""
    cohorts = {name: portfolios.add_cohort(lead, name).id
               for name in ("Academy 2026", "Grow your own 2026", "ASYE 2026")}
    for employer_name, provider in provider_leads.items():
        cohorts[employer_name] = portfolios.add_cohort(provider, f"{employer_name.split(' (')[0]} 2026").id
    council = organisations[COUNCIL]
    assessors = [portfolios.save_assessor(lead, None, f"{FIRST[i]} Assessor-{LAST[i % 4]}",
                                          f"demo.assessor{i + 1}@example.org", council) for i in range(8)]
    provider_assessor = {employer: portfolios.save_assessor(provider, None, f"{FIRST[8 + n]} Assessor-{LAST[n]}",
                                                            f"demo.assessor{9 + n}@example.org", None)
                         for n, (employer, provider) in enumerate(provider_leads.items())}
    made = []
    council_count = 40 - PROVIDER_NQSWS * len(provider_leads)
    for i in range(40):
        if i < council_count:
            actor, employer = lead, council
            cohort = "Academy 2026" if i < 10 else ("Grow your own 2026" if i < 14 else "ASYE 2026")
            cohort_id, assessor = cohorts[cohort], assessors[i % 8]
        else:
            name = EMPLOYERS[1 + (i - council_count) // PROVIDER_NQSWS]
            actor, employer = provider_leads[name], organisations[name]
            cohort_id, assessor = cohorts[name], provider_assessor[name]
        nqsw = portfolios.save_nqsw(actor, None, portfolios.NqswDetails(
            name=f"{FIRST[i % 10]} Nqsw-{LAST[i // 10]}", email=f"demo.nqsw{i + 1}@example.org",
            employer_id=employer, cohort_id=cohort_id,
            service=Service.ADULTS.value if i % 5 == 4 else Service.CHILDREN.value))
        outcome = "fail" if i % 13 == 7 else "pass"
        portfolio = portfolios.save_portfolio(actor, None, portfolios.PortfolioDetails(
            nqsw_id=nqsw.id, assessor_id=assessor.id, outcome=outcome,
            outcome_date=outcome_dates[i % len(outcome_dates)], exemplar_consent=i % 4 == 0))
        for evidence, title in DOCUMENTS:
            documents.upload(actor, portfolio, evidence.value, title, f"{title.lower().replace(' ', '-')}.pdf",
                             [_pdf(title, nqsw.name)], "application/pdf")
        made.append(portfolio)
    return made


def _meeting(lead: User, title: str, held_on: date, panel: list[tuple[DemoPerson, PanelRole]]) -> Meeting:
    meeting = meetings.save_meeting(lead, None, meetings.MeetingDetails(
        title=title, held_on=held_on, reading_deadline=held_on - timedelta(days=7), access_window_days=30,
        agenda=meetings.template_text(TemplateKind.AGENDA),
        terms_of_reference=meetings.template_text(TemplateKind.TERMS_OF_REFERENCE)))
    for person, role in panel:
        meetings.set_member(lead, meeting, person.user, role)
    return meeting


ANSWERS = ('{"accurate": "yes", "valid": "yes", "robust": "%s", "sufficient": "yes", "agreement": "%s", '
           '"supervision_frequency": "yes", "protected_time": "%s", "reduced_workload": "yes", '
           '"reviews_3_and_6_months": "yes", "evidence": {"agreement": "yes", "pdp": "yes", "final_report": "yes", '
           '"direct_observation": "yes", "critical_reflection": "yes", "supervision": "%s"}, '
           '"feedback_assessor": "Clear, well-evidenced recommendation.", '
           '"feedback_nqsw": "Reflections show growing confidence.", "exemplars": "", "themes": ""}')


def _past_meeting(lead: User, panel: list[tuple[DemoPerson, PanelRole]], held_on: date) -> Meeting:
    """A past meeting: sample, submitted assessments, panel views, minutes published, feedback released."""
    meeting = _meeting(lead, "Spring panel (demo)", held_on, panel)
    meetings.draw_sample(lead, meeting, meetings.DrawRequest(number=2))
    template = reviews.current_template()
    if template.id is None:  # the built-in default is saved when first used
        db.session.add(template)
        db.session.flush()
    sampled = [s.portfolio for s in meeting.sampled]
    now = clock.now()
    for index, (person, _) in enumerate(panel):
        for portfolio in sampled:
            answers = ANSWERS % ("no" if index == 1 else "yes", "agree_with_reservations" if index == 2 else "agree",
                                 "no" if index % 2 else "yes", "no" if index == 3 else "yes")
            db.session.add(Assessment(meeting_id=meeting.id, portfolio_id=portfolio.id, user_id=person.user.id,
                                      template_id=template.id, answers=answers,
                                      status=AssessmentStatus.SUBMITTED.value, written=index == 3,
                                      created_at=now, updated_at=now, submitted_at=now))
    db.session.commit()
    seats = {m.user_id: m.id for m in meeting.members}
    reviews.record_attendance(lead, meeting, {seats[p.user.id]: Attendance.APOLOGIES.value if i == 3
                                              else Attendance.ATTENDED.value for i, (p, _) in enumerate(panel)})
    for number, portfolio in enumerate(sampled):
        reviews.save_panel_view(lead, meeting, portfolio, {
            "decision_view": "The panel agreed the decision was accurate, valid, robust and sufficient.",
            "support_view": "Supervision was regular; protected time was not always recorded.",
            "agreement": "agree" if number == 0 else "agree_with_reservations",
            "exemplars_confirmed": "Critical reflection on a child protection visit" if number == 0 else "",
            "feedback_assessor": "Your final report links evidence to the PCF clearly. Date each observation.",
            "feedback_nqsw": "Your reflections show growing confidence. Say more about the voice of the child.",
        })
    minutes.save_notes(lead, meeting, "The panel scrutinised two portfolios, starting with the key documents. "
                                      "Members who sent apologies submitted written assessments.")
    minutes.add_theme(lead, meeting, "Recording protected time", "Not consistently recorded across employers.")
    minutes.add_theme(lead, meeting, "Voice of people who use services", "Feedback from people is thin.")
    minutes.add_action(lead, meeting, "Add a protected-time log to the portfolio template", "ASYE Lead",
                       held_on + timedelta(days=60))
    minutes.add_action(lead, meeting, "Offer Assessor refresher training on direct observations",
                       "Principal Social Worker", held_on + timedelta(days=90))
    minutes.add_key_message(lead, meeting, "Date and sign every direct observation and supervision record.")
    minutes.add_key_message(lead, meeting, "Show how feedback from people who use services shaped your practice.")
    minutes.approve(lead, meeting)
    minutes.publish(lead, meeting)
    return meeting


def _accounts_for(sampled: Portfolio) -> list[DemoPerson]:
    """Accounts with the demo password for one sampled NQSW and their Assessor, so feedback can be tried."""
    people = []
    for entry, role in ((sampled.nqsw, Role.NQSW), (sampled.assessor, Role.ASSESSOR)):
        if entry is None:
            continue
        employer = entry.employer_id if isinstance(entry, Nqsw) else entry.organisation_id
        person = _person(entry.name, entry.email, role, employer, f"{role.label} with released feedback")
        entry.user_id = person.user.id
        people.append(person)
    db.session.commit()
    return people


def build(base_url: str) -> tuple[list[DemoPerson], dict[str, int]]:
    """Fill the database with the demo panel; returns who can sign in and what was made."""
    current_app.config["BASE_URL"] = base_url
    today = clock.now().date()
    lead = _person("Robin Lead-Example (ASYE Lead)", "demo.lead@example.org", Role.ADMIN, None,
                   "Partnership administrator, the council's ASYE Lead")
    partnership.rename(lead.user, "Northshire ASYE Moderation Partnership (fictional)")
    organisations = {name: admin_services.add_organisation(lead.user, name, kind.value).id for name, kind in
                     [*((n, OrganisationKind.EMPLOYER) for n in EMPLOYERS),
                      *((n, OrganisationKind.UNIVERSITY) for n in UNIVERSITIES),
                      (COMMUNITY, OrganisationKind.COMMUNITY)]}
    lead.user.organisation_id = organisations[COUNCIL]
    providers = [
        _person("Morgan Lead-Brightwater", "demo.lead.private@example.org", Role.LEAD, organisations[PRIVATE],
                "Employer Lead, the private provider"),
        _person("Kit Lead-Hillside", "demo.lead.voluntary@example.org", Role.LEAD, organisations[VOLUNTARY],
                "Employer Lead, the voluntary provider"),
    ]
    panel = [
        (_person("Dr Uma Sample-Academic", "demo.academic1@example.org", Role.MEMBER,
                 organisations[UNIVERSITIES[0]], "University member, Chair"), PanelRole.CHAIR),
        (_person("Lee Fictional-Voice", "demo.voice1@example.org", Role.MEMBER, organisations[COMMUNITY],
                 "Member with lived experience"), PanelRole.MEMBER),
        (_person("Sam Placeholder-Voice", "demo.voice2@example.org", Role.MEMBER, organisations[COMMUNITY],
                 "Member with lived experience (sends apologies)"), PanelRole.MEMBER),
        (_person("Pat Example-PSW", "demo.psw@example.org", Role.MEMBER, organisations[COUNCIL],
                 "Principal Social Worker, the council"), PanelRole.MEMBER),
        (_person("Ari Practice-Brightwater", "demo.member.private@example.org", Role.MEMBER,
                 organisations[PRIVATE], "Practice educator, the private provider"), PanelRole.MEMBER),
        (_person("Noor Practice-Hillside", "demo.member.voluntary@example.org", Role.MEMBER,
                 organisations[VOLUNTARY], "Senior practitioner, the voluntary provider"), PanelRole.MEMBER),
    ]
    observer = _person("Jo Steering-Example", "demo.observer@example.org", Role.OBSERVER, organisations[COUNCIL],
                       "Steering Group observer")
    past_date = today - timedelta(days=120)
    made = _register(lead.user, {PRIVATE: providers[0].user, VOLUNTARY: providers[1].user}, organisations,
                     [past_date - timedelta(days=d) for d in (10, 20, 30, 40)])
    past = _past_meeting(lead.user, panel, past_date)
    # Half the council's portfolios, and every provider's, reached the Internal Panel after the past meeting:
    # they make the next sample.
    sampled_ids = {s.portfolio_id for s in past.sampled}
    for number, portfolio in enumerate(p for p in made if p.id not in sampled_ids):
        if number % 2 or portfolio.nqsw.employer_id != organisations[COUNCIL]:
            portfolio.outcome_date = past_date + timedelta(days=10 + number)
    db.session.commit()
    sampled_people = _accounts_for(past.sampled[0].portfolio)
    release.release(lead.user, past)
    upcoming = _meeting(lead.user, "Autumn panel (demo)", today + timedelta(days=21), panel)
    meetings.draw_sample(panel[0][0].user, upcoming, meetings.DrawRequest(number=3, strata=["employer"],
                                                                          employer_minimum=1))
    counts = {
        "organisations": len(organisations),
        "cohorts": db.session.scalar(select(func.count()).select_from(Cohort)) or 0,
        "nqsws": db.session.scalar(select(func.count()).select_from(Nqsw)) or 0,
        "portfolios": len(made),
        "documents": len(made) * len(DOCUMENTS),
        "panel": len(panel),
        "meetings": 2,
    }
    return [lead, *providers] + [p for p, _ in panel] + [observer, *sampled_people], counts


@click.command("demo")
@click.option("--force", is_flag=True, help="Run even though the database already holds portfolios.")
@with_appcontext
def demo_command(force: bool) -> None:
    """Fill an empty database with a clearly fictional panel for local trials (never on a live portal)."""
    if not force and db.session.scalar(select(func.count()).select_from(Portfolio)):
        raise click.ClickException("The database already holds portfolios: the demo runs only on an empty "
                                   "portal (or with --force on a trial copy).")
    if db.session.scalar(select(User.id).where(User.email == "demo.lead@example.org")) is not None:
        raise click.ClickException("The demo panel is already loaded.")
    base_url = current_app.config["BASE_URL"]
    # Hundreds of audit events are written (and kept); echoing each one would bury the sign-in details.
    audit_log = logging.getLogger("portal.audit")
    level = audit_log.level
    audit_log.setLevel(logging.WARNING)
    try:
        with current_app.test_request_context(base_url=base_url):
            people, counts = build(base_url)
    finally:
        audit_log.setLevel(level)
    click.echo("Demo panel created (every name, organisation and document is fictional): "
               + ", ".join(f"{n} {what}" for what, n in counts.items()))
    click.echo(f"\nEvery demo person's password: {DEMO_PASSWORD}")
    click.echo("Add a person's key to an authenticator app (or run: python -c \"import pyotp; "
               "print(pyotp.TOTP('KEY').now())\") to get their security code.\n")
    for person in people:
        click.echo(f"  {person.what:<54} {person.user.email:<30} key {person.secret}")
    click.echo(f"\nSign in at {base_url.rstrip('/')}/sign-in")
