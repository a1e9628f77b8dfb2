"""the partnership and its member employers: employer codes, the partnership's name, cohorts owned by an employer,
themes and actions owned by an employer, the ASYE Lead's own sections of the summary report

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-05 10:00:00.000000

The portal hosts one partnership of employers (a single council is a partnership of one). Every organisation of
kind "employer" is a member employer with a partnership code (E1, E2 ...), the only name the panel knows it by.

Upgrading moves the existing data into a first employer, named at upgrade:

    flask --app portal db upgrade -x first_employer="Northshire Council"

(or PORTAL_FIRST_EMPLOYER in the environment). An organisation of that name is reused (and made an employer);
otherwise one is created. Without a name, the employer organisation that employs the most NQSWs is the first
employer, and on a portal with data but no employer a new one is called "First employer". A new, empty portal
gets no first employer: its administrator adds the employers. The first employer gets code E1 and every other
existing employer E2, E3 ... in the order they were added. NQSWs and Assessors with no employer, and the administrators, Assessors and NQSWs with no
organisation, join the first employer, so existing administrators are its Leads as well as the partnership's
administrator. A cohort whose NQSWs all work for the first employer becomes its cohort; any other stays shared
by the partnership. The partnership is named PORTAL_PARTNERSHIP_NAME (or -x partnership="..."), else
"<first employer> moderation partnership" (or "Moderation partnership" on an empty portal).

Downgrading drops the codes, the partnership's name and the cohorts' employers; organisations and people keep
the employers they were given.
"""
import os

import sqlalchemy as sa
from alembic import context, op
from flask import current_app

# revision identifiers, used by Alembic.
revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None

DEFAULT_FIRST_EMPLOYER = "First employer"


def _setting(x_name: str, config_name: str) -> str:
    """A name given at upgrade: `-x name=...`, the portal's setting, or the environment."""
    given = context.get_x_argument(as_dictionary=True).get(x_name)
    if not given:
        try:
            given = current_app.config.get(config_name)
        except RuntimeError:  # no application (alembic run on its own)
            given = None
    given = given or os.environ.get(f"PORTAL_{config_name}")
    return (given or "").strip()[:200]


def upgrade():
    with op.batch_alter_table('organisations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('code', sa.String(length=10), nullable=True))
        batch_op.create_unique_constraint(batch_op.f('uq_organisations_code'), ['code'])
    op.create_table('partnership',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_partnership'))
    )
    with op.batch_alter_table('cohorts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('employer_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_cohorts_employer_id'), ['employer_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_cohorts_employer_id_organisations'), 'organisations',
                                    ['employer_id'], ['id'])
    for table_name in ('meeting_themes', 'actions'):
        with op.batch_alter_table(table_name, schema=None) as batch_op:
            batch_op.add_column(sa.Column('employer_id', sa.Integer(), nullable=True))
            batch_op.create_index(batch_op.f(f'ix_{table_name}_employer_id'), ['employer_id'], unique=False)
            batch_op.create_foreign_key(batch_op.f(f'fk_{table_name}_employer_id_organisations'), 'organisations',
                                        ['employer_id'], ['id'])
    op.create_table('report_sections',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('meeting_id', sa.Integer(), nullable=False),
    sa.Column('withdrawals', sa.Text(), nullable=False),
    sa.Column('national_feedback', sa.Text(), nullable=False),
    sa.Column('organisational_issues', sa.Text(), nullable=False),
    sa.Column('employment_issues', sa.Text(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_by_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['meeting_id'], ['meetings.id'], name=op.f('fk_report_sections_meeting_id_meetings'),
                            ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['updated_by_id'], ['users.id'], name=op.f('fk_report_sections_updated_by_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_report_sections')),
    sa.UniqueConstraint('meeting_id', name=op.f('uq_report_sections_meeting_id'))
    )
    _move_into_first_employer(op.get_bind())


def _move_into_first_employer(connection) -> None:
    organisations = sa.table("organisations", sa.column("id"), sa.column("name"), sa.column("kind"),
                             sa.column("code"))
    nqsws = sa.table("nqsws", sa.column("id"), sa.column("employer_id"), sa.column("cohort_id"))
    assessors = sa.table("assessors", sa.column("organisation_id"))
    users = sa.table("users", sa.column("organisation_id"), sa.column("role"))
    cohorts = sa.table("cohorts", sa.column("id"), sa.column("employer_id"))
    partnership = sa.table("partnership", sa.column("id"), sa.column("name"))

    name = _setting("first_employer", "FIRST_EMPLOYER")
    name_given = bool(name)
    first = None
    if name:
        first = connection.execute(sa.select(organisations.c.id)
                                   .where(sa.func.lower(organisations.c.name) == name.lower())).scalar()
    else:
        # The employer that employs the most NQSWs (the earliest added, on a tie).
        first = connection.execute(
            sa.select(organisations.c.id).where(organisations.c.kind == "employer")
            .outerjoin(nqsws, nqsws.c.employer_id == organisations.c.id).group_by(organisations.c.id)
            .order_by(sa.func.count(nqsws.c.id).desc(), organisations.c.id).limit(1)).scalar()
        name = DEFAULT_FIRST_EMPLOYER
    if first is None and not name_given and not any(
            connection.execute(sa.select(sa.func.count()).select_from(t)).scalar() for t in (nqsws, assessors, users)):
        # A new, empty portal: there is nothing to move, so the administrator adds the first employer.
        connection.execute(sa.insert(partnership).values(id=1, name=_setting("partnership", "PARTNERSHIP_NAME")
                                                         or "Moderation partnership"))
        return
    if first is None:
        first = connection.execute(sa.insert(organisations).values(name=name, kind="employer")
                                   .returning(organisations.c.id)).scalar_one()
    connection.execute(sa.update(organisations).where(organisations.c.id == first).values(kind="employer",
                                                                                          code="E1"))
    others = connection.execute(sa.select(organisations.c.id).where(organisations.c.kind == "employer",
                                                                    organisations.c.id != first)
                                .order_by(organisations.c.id)).scalars().all()
    for number, organisation_id in enumerate(others, start=2):
        connection.execute(sa.update(organisations).where(organisations.c.id == organisation_id)
                           .values(code=f"E{number}"))

    connection.execute(sa.update(nqsws).where(nqsws.c.employer_id.is_(None)).values(employer_id=first))
    connection.execute(sa.update(assessors).where(assessors.c.organisation_id.is_(None))
                       .values(organisation_id=first))
    connection.execute(sa.update(users).where(users.c.organisation_id.is_(None),
                                              users.c.role.in_(("admin", "assessor", "nqsw")))
                       .values(organisation_id=first))
    # A cohort whose NQSWs all work for the first employer is its own; one shared with others stays the
    # partnership's (employer_id NULL), as does an empty one.
    elsewhere = sa.select(nqsws.c.cohort_id).where(nqsws.c.cohort_id.is_not(None), nqsws.c.employer_id != first)
    used = sa.select(nqsws.c.cohort_id).where(nqsws.c.cohort_id.is_not(None))
    connection.execute(sa.update(cohorts).where(cohorts.c.id.in_(used), cohorts.c.id.not_in(elsewhere))
                       .values(employer_id=first))

    first_name = connection.execute(sa.select(organisations.c.name).where(organisations.c.id == first)).scalar_one()
    partnership_name = _setting("partnership", "PARTNERSHIP_NAME") or f"{first_name} moderation partnership"
    connection.execute(sa.insert(partnership).values(id=1, name=partnership_name[:200]))


def downgrade():
    op.drop_table('report_sections')
    for table_name in ('actions', 'meeting_themes'):
        with op.batch_alter_table(table_name, schema=None) as batch_op:
            batch_op.drop_constraint(batch_op.f(f'fk_{table_name}_employer_id_organisations'), type_='foreignkey')
            batch_op.drop_index(batch_op.f(f'ix_{table_name}_employer_id'))
            batch_op.drop_column('employer_id')
    with op.batch_alter_table('cohorts', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_cohorts_employer_id_organisations'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_cohorts_employer_id'))
        batch_op.drop_column('employer_id')
    op.drop_table('partnership')
    with op.batch_alter_table('organisations', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_organisations_code'), type_='unique')
        batch_op.drop_column('code')
