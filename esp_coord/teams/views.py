"""Views of the teams feature: my teams, team page (composition check), sites, members, professions."""

from __future__ import annotations

import sqlalchemy as sa
from flask import abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user

from esp_coord.auth.models import User
from esp_coord.core.db import parse_uuid
from esp_coord.core.extensions import db
from esp_coord.core.security import load_in_team, membership_for, team_access, team_read_access
from esp_coord.teams import bp
from esp_coord.teams import services as svc
from esp_coord.teams.forms import FlagsForm, ProfessionForm, RoleForm, SiteForm, TeamForm
from esp_coord.teams.models import Membership, Profession, Team, TeamSite


def _read_team(team_id):
    """(team, membership or None): members, the regional association viewer, platform admins."""
    if getattr(current_user, "is_platform_admin", False):
        membership = membership_for(team_id)
        tid = parse_uuid(team_id)
        team = db.session.get(Team, tid) if tid else None
        if team is None:
            abort(404)
        return team, membership
    return team_read_access(team_id)


@bp.get("/")
def index():
    teams = svc.visible_teams(current_user)
    my_roles = {m.team_id: m for m in current_user.memberships}
    compositions = {t.id: svc.composition(t) for t in teams}
    return render_template("teams/index.html", teams=teams, my_roles=my_roles, compositions=compositions,
                           can_create=not current_user.is_association)


@bp.route("/nouvelle", methods=["GET", "POST"])
def new():
    if current_user.is_association:
        abort(403)
    form = TeamForm()
    if form.validate_on_submit():
        team = svc.create_team(form.data_dict(), actor=current_user)
        db.session.commit()
        flash(_("Team created. You are its administrator."), "success")
        return redirect(url_for("teams.show", team_id=team.id))
    return render_template("teams/form.html", form=form, team=None), 400 if form.errors else 200


@bp.get("/<team_id>")
def show(team_id):
    team, membership = _read_team(team_id)
    members = svc.active_memberships(team.id)
    is_admin = membership is not None and membership.has_role("admin")
    return render_template(
        "teams/show.html", team=team, membership=membership, members=members,
        past=svc.past_memberships(team.id) if membership is not None else [],
        composition=svc.composition(team), is_admin=is_admin,
        is_coordinator=membership is not None and membership.has_role("coordinator"),
        role_forms={m.id: RoleForm(prefix=f"r{m.id.hex}", role=m.role) for m in members},
        flag_forms={m.id: FlagsForm(prefix=f"f{m.id.hex}", liberal=m.liberal, first_recourse=m.first_recourse)
                    for m in members},
    )


@bp.route("/<team_id>/modifier", methods=["GET", "POST"])
def edit(team_id):
    team, _m = team_access(team_id, "admin")
    form = TeamForm(obj=team)
    if form.validate_on_submit():
        svc.update_team(team, form.data_dict(), actor=current_user)
        db.session.commit()
        flash(_("Team updated."), "success")
        return redirect(url_for("teams.show", team_id=team.id))
    return render_template("teams/form.html", form=form, team=team), 400 if form.errors else 200


@bp.route("/<team_id>/sites/nouveau", methods=["GET", "POST"])
def site_new(team_id):
    team, _m = team_access(team_id, "admin")
    form = SiteForm()
    if form.validate_on_submit():
        svc.save_site(team, label=form.label.data.strip(), address=form.address.data.strip(), actor=current_user)
        db.session.commit()
        flash(_("Site added."), "success")
        return redirect(url_for("teams.show", team_id=team.id) + "#sites")
    return render_template("teams/site_form.html", form=form, team=team, site=None), 400 if form.errors else 200


@bp.route("/<team_id>/sites/<site_id>", methods=["GET", "POST"])
def site_edit(team_id, site_id):
    team, _m = team_access(team_id, "admin")
    site = load_in_team(TeamSite, site_id, team.id)
    form = SiteForm(obj=site)
    if form.validate_on_submit():
        svc.save_site(team, label=form.label.data.strip(), address=form.address.data.strip(), actor=current_user,
                      site=site)
        db.session.commit()
        flash(_("Site updated."), "success")
        return redirect(url_for("teams.show", team_id=team.id) + "#sites")
    return render_template("teams/site_form.html", form=form, team=team, site=site), 400 if form.errors else 200


@bp.post("/<team_id>/sites/<site_id>/supprimer")
def site_delete(team_id, site_id):
    team, _m = team_access(team_id, "admin")
    site = load_in_team(TeamSite, site_id, team.id)
    svc.remove_site(site, actor=current_user)
    db.session.commit()
    flash(_("Site removed."), "success")
    return redirect(url_for("teams.show", team_id=team.id) + "#sites")


def _membership(team, membership_id) -> Membership:
    return load_in_team(Membership, membership_id, team.id)


@bp.post("/<team_id>/membres/<membership_id>/role")
def member_role(team_id, membership_id):
    team, _m = team_access(team_id, "admin")
    target = _membership(team, membership_id)
    form = RoleForm(prefix=f"r{target.id.hex}")
    if not form.validate_on_submit():
        flash(_("Unknown role."), "error")
        return redirect(url_for("teams.show", team_id=team.id) + "#membres"), 303
    try:
        changed = svc.change_role(target, form.role.data, actor=current_user)
    except svc.TeamError as exc:
        db.session.rollback()
        flash(str(exc), "error")
        return redirect(url_for("teams.show", team_id=team.id) + "#membres"), 303
    db.session.commit()
    if changed:
        flash(_("Role of %(name)s changed.", name=target.user.full_name), "success")
    return redirect(url_for("teams.show", team_id=team.id) + "#membres"), 303


@bp.post("/<team_id>/membres/<membership_id>/options")
def member_flags(team_id, membership_id):
    team, _m = team_access(team_id, "admin")
    target = _membership(team, membership_id)
    form = FlagsForm(prefix=f"f{target.id.hex}")
    if form.validate_on_submit():
        svc.set_flags(target, liberal=form.liberal.data, first_recourse=form.first_recourse.data, actor=current_user)
        db.session.commit()
        flash(_("Membership of %(name)s updated.", name=target.user.full_name), "success")
    return redirect(url_for("teams.show", team_id=team.id) + "#membres"), 303


@bp.post("/<team_id>/membres/<membership_id>/fin")
def member_end(team_id, membership_id):
    team, _m = team_access(team_id, "admin")
    target = _membership(team, membership_id)
    try:
        svc.end_membership(target, actor=current_user)
    except svc.TeamError as exc:
        db.session.rollback()
        flash(str(exc), "error")
        return redirect(url_for("teams.show", team_id=team.id) + "#membres"), 303
    db.session.commit()
    flash(_("%(name)s has left the team; the history is kept.", name=target.user.full_name), "success")
    return redirect(url_for("teams.show", team_id=team.id) + "#membres"), 303


@bp.get("/profil")
def my_profile():
    return redirect(url_for("teams.profile", user_id=current_user.id))


@bp.get("/professionnels/<user_id>")
def profile(user_id):
    uid = parse_uuid(user_id)
    person = db.session.get(User, uid) if uid else None
    if person is None:
        abort(404)
    see_all = person.id == current_user.id or current_user.is_platform_admin or current_user.is_association
    mine = set(current_user.team_ids)
    memberships = db.session.execute(
        sa.select(Membership).where(Membership.user_id == person.id).order_by(Membership.ended_on.is_not(None))
    ).scalars().unique().all()
    shown = [m for m in memberships if see_all or (m.team_id in mine and m.ended_on is None)]
    if not see_all and not any(m.ended_on is None for m in shown):
        abort(404)
    return render_template("teams/profile.html", person=person, memberships=shown)


@bp.get("/professions")
def professions():
    if not current_user.is_platform_admin:
        abort(403)
    rows = db.session.execute(sa.select(Profession).order_by(Profession.sort, Profession.label)).scalars().all()
    return render_template("teams/professions.html", professions=rows)


@bp.route("/professions/<code>", methods=["GET", "POST"])
def profession_edit(code):
    if not current_user.is_platform_admin:
        abort(403)
    profession = db.session.get(Profession, code) or abort(404)
    form = ProfessionForm(obj=profession)
    if form.validate_on_submit():
        svc.update_profession(profession, label=form.label.data, eligible=form.eligible.data, actor=current_user)
        db.session.commit()
        flash(_("Profession updated."), "success")
        return redirect(url_for("teams.professions"))
    return render_template("teams/profession_form.html", form=form, profession=profession), \
        400 if form.errors else 200

