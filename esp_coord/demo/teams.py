"""Demo additions for teams: membership details (the base demo creates teams, sites and members)."""

from __future__ import annotations

import sqlalchemy as sa

from esp_coord.core.extensions import db
from esp_coord.teams.models import Membership


def seed(ctx) -> None:
    # The dietitian of the CLAP team also practises in a hospital outpatient clinic part of the week.
    membership = db.session.execute(
        sa.select(Membership).where(Membership.team_id == ctx.teams["clap"].id,
                                    Membership.user_id == ctx.users["dietitian"].id)
    ).scalar_one_or_none()
    if membership is not None:
        membership.first_recourse = True
        membership.liberal = True
    db.session.flush()
