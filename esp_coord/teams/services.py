"""Teams: creation, edition, sites, memberships (roles audited), composition rule, professions table."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import sqlalchemy as sa
from flask_babel import gettext as _

from esp_coord.core import audit
from esp_coord.core.extensions import db
from esp_coord.core.time import today_paris

if TYPE_CHECKING:
    from esp_coord.auth.models import User

from esp_coord.teams.models import ROLES, Membership, Profession, Team, TeamSite


class TeamError(ValueError):
    """A French message explaining why the change is refused."""


@dataclass
class Composition:
    """Composition rule of domain.md §2.2: ≥ 1 médecin généraliste + ≥ 1 other eligible profession."""

    gp_count: int = 0
    other_count: int = 0
    ineligible: list = field(default_factory=list)  # members whose profession is not eligible (names only)

    @property
    def ok(self) -> bool:
        return self.gp_count >= 1 and self.other_count >= 1

    @property
    def missing(self) -> list[str]:
        out = []
        if self.gp_count < 1:
            out.append(_("at least one general practitioner (médecin généraliste)"))
        if self.other_count < 1:
            out.append(_("at least one other eligible profession (nurse, pharmacist, physiotherapist…)"))
        return out


def composition(team: Team) -> Composition:
    """Uses the active memberships (already loaded with users and professions)."""
    result = Composition()
    for m in team.memberships:
        prof = m.user.profession if m.user else None
        if prof is None or not prof.eligible:
            result.ineligible.append(m.user.full_name if m.user else "?")
            continue
        if prof.is_gp:
            result.gp_count += 1
        else:
            result.other_count += 1
    return result


def active_members(team_id: uuid.UUID) -> list[User]:
    """The one query for a team's current members: users with a current membership and an active account,
    sorted by name (pickers, invitations, attendance, distribution lists)."""
    from esp_coord.auth.models import User

    return list(db.session.execute(
        sa.select(User).join(Membership, Membership.user_id == User.id)
        .where(Membership.team_id == team_id, Membership.is_current, User.active.is_(True))
        .order_by(User.last_name, User.first_name)
    ).unique().scalars())


def active_memberships(team_id) -> list[Membership]:
    from esp_coord.auth.models import User

    return list(db.session.execute(
        sa.select(Membership).join(User, User.id == Membership.user_id)
        .where(Membership.team_id == team_id, Membership.ended_on.is_(None))
        .order_by(User.last_name, User.first_name)
    ).scalars().unique())


def past_memberships(team_id) -> list[Membership]:
    return list(db.session.execute(
        sa.select(Membership).where(Membership.team_id == team_id, Membership.ended_on.is_not(None))
        .order_by(Membership.ended_on.desc())
    ).scalars().unique())


TEAM_FIELDS = ("name", "kind", "legal_form", "communes", "formed_on", "ars_recognised_on", "convention_signed_on")


def create_team(data: dict, *, actor) -> Team:
    team = Team(id=uuid.uuid4(), **{k: data.get(k) for k in TEAM_FIELDS})
    team.name = (team.name or "").strip()
    if not team.name:
        raise TeamError(_("The team name is required."))
    db.session.add(team)
    db.session.flush()
    existing = db.session.execute(
        sa.select(Membership).where(Membership.team_id == team.id, Membership.user_id == actor.id)
    ).scalar_one_or_none()
    if existing is None:
        db.session.add(Membership(team_id=team.id, user_id=actor.id, role="admin", started_on=today_paris()))
    db.session.flush()
    audit.record("team.create", actor=actor, team_id=team.id, object_type="team", object_id=team.id)
    return team


def update_team(team: Team, data: dict, *, actor) -> None:
    changed = []
    for key in TEAM_FIELDS:
        if key in data and getattr(team, key) != data[key]:
            setattr(team, key, data[key])
            changed.append(key)
    if changed:
        audit.record("team.update", actor=actor, team_id=team.id, object_type="team", object_id=team.id,
                     details={"fields": changed})


def save_site(team: Team, *, label: str, address: str, actor, site: TeamSite | None = None) -> TeamSite:
    created = site is None
    if site is None:
        site = TeamSite(id=uuid.uuid4(), team_id=team.id, label=label, address=address)
        db.session.add(site)
    else:
        site.label, site.address = label, address
    db.session.flush()
    audit.record("team.site_add" if created else "team.site_update", actor=actor, team_id=team.id,
                 object_type="team_site", object_id=site.id)
    return site


def remove_site(site: TeamSite, *, actor) -> None:
    audit.record("team.site_remove", actor=actor, team_id=site.team_id, object_type="team_site", object_id=site.id)
    db.session.delete(site)
    db.session.flush()


def _admin_count(team_id, excluding: uuid.UUID | None = None) -> int:
    stmt = sa.select(sa.func.count()).select_from(Membership).where(
        Membership.team_id == team_id, Membership.role == "admin", Membership.ended_on.is_(None))
    if excluding is not None:
        stmt = stmt.where(Membership.id != excluding)
    return db.session.execute(stmt).scalar_one()


def change_role(membership: Membership, role: str, *, actor) -> bool:
    """Returns True when the role changed. The last admin of a team cannot lose that role."""
    if role not in ROLES:
        raise TeamError(_("Unknown role."))
    if membership.ended_on is not None:
        raise TeamError(_("This membership has ended."))
    old = membership.role
    if old == role:
        return False
    if old == "admin" and _admin_count(membership.team_id, excluding=membership.id) == 0:
        raise TeamError(_("The team must keep at least one administrator."))
    membership.role = role
    db.session.flush()
    audit.record("team.role_change", actor=actor, team_id=membership.team_id, object_type="membership",
                 object_id=membership.id, details={"user": str(membership.user_id), "from": old, "to": role})
    return True


def end_membership(membership: Membership, *, actor, on=None) -> None:
    """The row is kept (history, ledger); the professional simply leaves the team."""
    if membership.ended_on is not None:
        raise TeamError(_("This membership has already ended."))
    if membership.role == "admin" and _admin_count(membership.team_id, excluding=membership.id) == 0:
        raise TeamError(_("The team must keep at least one administrator."))
    membership.ended_on = on or today_paris()
    db.session.flush()
    audit.record("team.membership_end", actor=actor, team_id=membership.team_id, object_type="membership",
                 object_id=membership.id, details={"user": str(membership.user_id)})


def set_flags(membership: Membership, *, liberal: bool, first_recourse: bool, actor) -> None:
    membership.liberal = bool(liberal)
    membership.first_recourse = bool(first_recourse)
    db.session.flush()
    audit.record("team.membership_flags", actor=actor, team_id=membership.team_id, object_type="membership",
                 object_id=membership.id, details={"liberal": membership.liberal,
                                                   "first_recourse": membership.first_recourse})


def update_profession(profession: Profession, *, label: str, eligible: bool, actor) -> None:
    profession.label = label.strip()
    profession.eligible = bool(eligible)
    db.session.flush()
    audit.record("profession.update", actor=actor, object_type="profession", object_id=profession.code,
                 details={"eligible": profession.eligible})


def visible_teams(user) -> list[Team]:
    """Platform admins and the regional association see every team; others their own."""
    stmt = sa.select(Team).order_by(Team.name)
    if not (user.is_platform_admin or user.is_association):
        stmt = stmt.join(Membership, Membership.team_id == Team.id).where(
            Membership.user_id == user.id, Membership.ended_on.is_(None))
    return list(db.session.execute(stmt).scalars().unique())
