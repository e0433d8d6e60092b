"""Teams: composition rule, creation, edition, sites, roles (audited), memberships, professions."""

from __future__ import annotations

import sqlalchemy as sa

from esp_coord.core.audit import AuditEvent
from esp_coord.core.extensions import db
from esp_coord.teams import services as svc
from esp_coord.teams.models import Membership, Profession, Team, TeamSite


def _audits(action):
    return db.session.execute(sa.select(AuditEvent).where(AuditEvent.action == action)).scalars().all()


def _reload(team):
    db.session.expire_all()
    return db.session.get(Team, team.id)


# --- composition rule (domain.md §2.2) -------------------------------------------------------------

def test_composition_empty_team_misses_both(app, f):
    team = f.team()
    c = svc.composition(team)
    assert not c.ok
    assert len(c.missing) == 2


def test_composition_gp_only_misses_other_profession(app, f):
    team = f.team()
    f.member(team, f.user("medecin_generaliste"))
    f.member(team, f.user("medecin_generaliste"))
    c = svc.composition(_reload(team))
    assert not c.ok and c.gp_count == 2 and c.other_count == 0
    assert len(c.missing) == 1 and "autre" in c.missing[0].lower() or "other" in c.missing[0].lower()


def test_composition_without_gp(app, f):
    team = f.team()
    f.member(team, f.user("infirmier"))
    f.member(team, f.user("pharmacien"))
    c = svc.composition(_reload(team))
    assert not c.ok and c.gp_count == 0 and c.other_count == 2


def test_composition_gp_and_nurse_is_enough(app, f):
    team = f.team()
    f.member(team, f.user("medecin_generaliste"))
    f.member(team, f.user("infirmier"))
    assert svc.composition(_reload(team)).ok


def test_composition_ignores_ineligible_and_ended_members(app, f):
    team = f.team()
    f.member(team, f.user("medecin_generaliste"))
    f.member(team, f.user("coordinateur"))  # not eligible
    f.member(team, f.user(None))  # no profession
    nurse_m = f.member(team, f.user("infirmier"))
    svc.end_membership(db.session.get(Membership, nurse_m.id), actor=None)
    db.session.commit()
    c = svc.composition(_reload(team))
    assert not c.ok and c.other_count == 0 and len(c.ineligible) == 2


def test_composition_follows_profession_table(app, f):
    team = f.team()
    f.member(team, f.user("medecin_generaliste"))
    f.member(team, f.user("dieteticien"))
    assert svc.composition(_reload(team)).ok
    db.session.get(Profession, "dieteticien").eligible = False
    db.session.commit()
    assert not svc.composition(_reload(team)).ok


def test_team_page_shows_composition_warning_in_french(app, client, f):
    team, _other, users = f.team_with_roles()
    # admin GP + nurse + pharmacist: rule holds
    f.login(client, users["admin"])
    html = client.get(f"/equipes/{team.id}").get_data(as_text=True)
    assert "Règle de composition respectée" in html
    empty = f.team("Équipe en construction")
    f.member(empty, users["admin"], "admin")
    html = client.get(f"/equipes/{empty.id}").get_data(as_text=True)
    assert "Règle de composition pas encore respectée" in html
    assert "médecin généraliste" in html
    assert "pas un blocage" in html


# --- pages and creation --------------------------------------------------------------------------

def test_index_lists_my_teams_only(app, client, f):
    team, other, users = f.team_with_roles()
    f.login(client, users["member"])
    html = client.get("/equipes/").get_data(as_text=True)
    assert team.name in html and other.name not in html
    assert "Mes équipes" in html


def test_association_and_platform_admin_see_all_teams(app, client, f):
    team, other, users = f.team_with_roles()
    f.login(client, users["association"])
    html = client.get("/equipes/").get_data(as_text=True)
    assert team.name in html and other.name in html
    assert client.get(f"/equipes/{other.id}").status_code == 200
    assert client.get(f"/equipes/{other.id}/modifier").status_code == 404
    assert client.get("/equipes/nouvelle").status_code == 403
    admin = f.user(None, global_role="platform_admin")
    c2 = app.test_client()
    f.login(c2, admin)
    html = c2.get("/equipes/").get_data(as_text=True)
    assert team.name in html and other.name in html
    assert c2.get(f"/equipes/{team.id}").status_code == 200


def test_create_team_makes_creator_admin(app, client, f):
    user = f.user("infirmier")
    f.login(client, user)
    resp = f.post_form(client, "/equipes/nouvelle", {
        "name": "ESP du Marais", "kind": "esp", "legal_form": "association_1901",
        "communes": "Challans\n\nSallertaine ", "formed_on": "2025-02-01"})
    assert resp.status_code == 302
    team = db.session.execute(sa.select(Team).where(Team.name == "ESP du Marais")).scalar_one()
    assert team.commune_list == ["Challans", "Sallertaine"]
    m = db.session.execute(sa.select(Membership).where(Membership.team_id == team.id)).scalar_one()
    assert m.user_id == user.id and m.role == "admin"
    assert len(_audits("team.create")) == 1
    html = client.get(resp.headers["Location"]).get_data(as_text=True)
    assert "ESP du Marais" in html and "samedi 1er février 2025" in html


def test_create_team_invalid_redisplays_with_400(app, client, f):
    f.login(client, f.user("infirmier"))
    resp = f.post_form(client, "/equipes/nouvelle", {"name": "", "kind": "esp", "legal_form": "none",
                                                     "communes": "Vertou", "formed_on": "2999-01-01"})
    assert resp.status_code == 400
    html = resp.get_data(as_text=True)
    assert "Vertou" in html and "futur" in html
    assert db.session.execute(sa.select(sa.func.count()).select_from(Team)).scalar() == 0


def test_edit_team_admin_only(app, client, f):
    team, _other, users = f.team_with_roles()
    f.login(client, users["coordinator"])
    assert client.get(f"/equipes/{team.id}/modifier").status_code == 403
    f.login(client, users["admin"])
    resp = f.post_form(client, f"/equipes/{team.id}/modifier", {
        "name": "Nouveau nom", "kind": "esp_clap", "legal_form": "sisa", "ars_recognised_on": "2026-01-05"})
    assert resp.status_code == 302
    team = _reload(team)
    assert team.name == "Nouveau nom" and team.legal_form == "sisa"
    assert len(_audits("team.update")) == 1


def test_sites_add_edit_remove(app, client, f):
    team, _other, users = f.team_with_roles()
    f.login(client, users["admin"])
    resp = f.post_form(client, f"/equipes/{team.id}/sites/nouveau",
                       {"label": "Cabinet de Vertou", "address": "1 rue de Nantes, 44120 Vertou"})
    assert resp.status_code == 302
    site = db.session.execute(sa.select(TeamSite)).scalar_one()
    resp = f.post_form(client, f"/equipes/{team.id}/sites/{site.id}",
                       {"label": "Cabinet médical de Vertou", "address": "2 rue de Nantes"})
    assert resp.status_code == 302
    db.session.expire_all()
    assert db.session.get(TeamSite, site.id).label == "Cabinet médical de Vertou"
    html = client.get(f"/equipes/{team.id}").get_data(as_text=True)
    assert "Cabinet médical de Vertou" in html
    token = f.csrf(client, f"/equipes/{team.id}")
    resp = client.post(f"/equipes/{team.id}/sites/{site.id}/supprimer", data={"csrf_token": token})
    assert resp.status_code == 302
    assert db.session.execute(sa.select(sa.func.count()).select_from(TeamSite)).scalar() == 0
    # invalid site form
    resp = f.post_form(client, f"/equipes/{team.id}/sites/nouveau", {"label": "Sans adresse", "address": ""})
    assert resp.status_code == 400 and "Sans adresse" in resp.get_data(as_text=True)


# --- members -------------------------------------------------------------------------------------

def test_role_change_is_audited(app, client, f):
    team, _other, users = f.team_with_roles()
    member = db.session.execute(sa.select(Membership).where(Membership.user_id == users["member"].id)).scalar_one()
    f.login(client, users["admin"])
    resp = f.post_form(client, f"/equipes/{team.id}/membres/{member.id}/role",
                       {f"r{member.id.hex}-role": "coordinator"}, form_url=f"/equipes/{team.id}")
    assert resp.status_code == 303
    db.session.expire_all()
    assert db.session.get(Membership, member.id).role == "coordinator"
    events = _audits("team.role_change")
    assert len(events) == 1
    assert events[0].actor_id == users["admin"].id and events[0].team_id == team.id
    assert '"to":"coordinator"' in events[0].details.replace(" ", "")


def test_role_change_forbidden_to_coordinator(app, client, f):
    team, _other, users = f.team_with_roles()
    member = db.session.execute(sa.select(Membership).where(Membership.user_id == users["member"].id)).scalar_one()
    f.login(client, users["coordinator"])
    token = f.csrf(client, f"/equipes/{team.id}")
    resp = client.post(f"/equipes/{team.id}/membres/{member.id}/role",
                       data={"csrf_token": token, f"r{member.id.hex}-role": "admin"})
    assert resp.status_code == 403
    assert not _audits("team.role_change")


def test_last_admin_keeps_role(app, f):
    team, _other, users = f.team_with_roles()
    admin_m = db.session.execute(sa.select(Membership).where(Membership.user_id == users["admin"].id)).scalar_one()
    try:
        svc.change_role(admin_m, "member", actor=users["admin"])
    except svc.TeamError as exc:
        assert "administrateur" in str(exc)
    else:
        raise AssertionError("last admin demoted")


def test_end_membership_keeps_history(app, client, f):
    team, _other, users = f.team_with_roles()
    member = db.session.execute(sa.select(Membership).where(Membership.user_id == users["member"].id)).scalar_one()
    f.login(client, users["admin"])
    token = f.csrf(client, f"/equipes/{team.id}")
    resp = client.post(f"/equipes/{team.id}/membres/{member.id}/fin", data={"csrf_token": token})
    assert resp.status_code == 303
    db.session.expire_all()
    row = db.session.get(Membership, member.id)
    assert row is not None and row.ended_on is not None
    assert len(_audits("team.membership_end")) == 1
    html = client.get(f"/equipes/{team.id}").get_data(as_text=True)
    assert "Anciens membres" in html
    # the former member lost access
    c2 = app.test_client()
    f.login(c2, users["member"])
    assert c2.get(f"/equipes/{team.id}").status_code == 404


def test_membership_flags(app, client, f):
    team, _other, users = f.team_with_roles()
    member = db.session.execute(sa.select(Membership).where(Membership.user_id == users["member"].id)).scalar_one()
    f.login(client, users["admin"])
    resp = f.post_form(client, f"/equipes/{team.id}/membres/{member.id}/options",
                       {f"f{member.id.hex}-first_recourse": "y"}, form_url=f"/equipes/{team.id}")
    assert resp.status_code == 303
    db.session.expire_all()
    row = db.session.get(Membership, member.id)
    assert row.liberal is False and row.first_recourse is True


def test_invitation_link_when_available(app, client, f):
    team, _other, users = f.team_with_roles()
    f.login(client, users["coordinator"])
    resp = client.get(f"/equipes/{team.id}")
    assert resp.status_code == 200
    if "auth.invitations" in app.view_functions:
        assert "Inviter des membres" in resp.get_data(as_text=True)


# --- profile and professions ---------------------------------------------------------------------

def test_profile_shows_teams_of_a_colleague_only(app, client, f):
    team, other, users = f.team_with_roles()
    f.member(other, users["member"], "member")
    f.login(client, users["coordinator"])
    html = client.get(f"/equipes/professionnels/{users['member'].id}").get_data(as_text=True)
    assert team.name in html and other.name not in html
    assert client.get(f"/equipes/professionnels/{users['outsider'].id}").status_code == 404
    assert client.get("/equipes/professionnels/pas-un-uuid").status_code == 404
    resp = client.get("/equipes/profil")
    assert resp.status_code == 302
    assert team.name in client.get(resp.headers["Location"]).get_data(as_text=True)


def test_professions_admin(app, client, f):
    user = f.user("infirmier")
    f.login(client, user)
    assert client.get("/equipes/professions").status_code == 403
    admin = f.user(None, global_role="platform_admin")
    f.login(client, admin)
    assert "Orthophoniste" in client.get("/equipes/professions").get_data(as_text=True)
    resp = f.post_form(client, "/equipes/professions/orthophoniste", {"label": "Orthophoniste libéral·e"})
    assert resp.status_code == 302
    db.session.expire_all()
    prof = db.session.get(Profession, "orthophoniste")
    assert prof.label == "Orthophoniste libéral·e" and prof.eligible is False
    assert len(_audits("profession.update")) == 1
    resp = f.post_form(client, "/equipes/professions/orthophoniste", {"label": ""})
    assert resp.status_code == 400
    assert client.get("/equipes/professions/inconnue").status_code == 404
