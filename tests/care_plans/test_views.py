import io
import re
from datetime import timedelta

import sqlalchemy as sa
from pypdf import PdfReader

from esp_coord.care_plans import services as svc
from esp_coord.care_plans.models import CarePlan, CarePlanAction, CarePlanProblem
from esp_coord.core.audit import AuditEvent
from esp_coord.core.extensions import db
from esp_coord.core.time import today_paris, utc_now
from esp_coord.patients.access import OPPOSITION_NOTICE
from tests.care_plans.conftest import build_plan


def _url(plan, suffix=""):
    return f"/pps/equipe/{plan.team_id}/plan/{plan.id}{suffix}"


def _pdf_text(data: bytes) -> tuple[int, str]:
    reader = PdfReader(io.BytesIO(data))
    return len(reader.pages), " ".join(" ".join(page.extract_text() for page in reader.pages).split())


def test_open_plan_through_the_browser(client, f, ctx):
    gp = ctx.users["admin"]
    f.login(client, gp)
    url = f"/pps/equipe/{ctx.team.id}/patient/{ctx.patient.id}"
    page = client.get(url)
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Ouvrir un PPS" in html and "LEMAIRE" not in html.split("<title>")[1].split("</title>")[0]
    resp = f.post_form(client, url, {"coordinator_id": str(gp.id), "participant_ids": [str(gp.id)],
                                     "opened_on": today_paris().isoformat(), "expectations": "Rester chez moi",
                                     "next_review_on": svc.add_months(today_paris(), 6).isoformat()})
    assert resp.status_code == 302
    plan = db.session.execute(sa.select(CarePlan)).unique().scalar_one()
    assert client.get(url).headers["Location"].endswith(_url(plan))
    show = client.get(_url(plan))
    text = show.get_data(as_text=True)
    assert show.status_code == 200 and "Rester chez moi" in text
    title = text.split("<title>")[1].split("</title>")[0]
    assert "LEMAIRE" not in title and "Odette" not in title
    # the read is audited
    assert db.session.execute(sa.select(AuditEvent).where(AuditEvent.action == "care_plan.read")).first()
    # add problem / objective / action with the small forms
    resp = f.post_form(client, _url(plan, "/probleme/nouveau"), {"category": "autonomy", "label": "Chutes",
                                                                  "patient_priority": "y"})
    assert resp.status_code == 302
    prob = db.session.execute(sa.select(CarePlanProblem)).scalar_one()
    resp = f.post_form(client, _url(plan, f"/probleme/{prob.id}/objectif/nouveau"), {"text": "Ne plus tomber"})
    assert resp.status_code == 302
    obj = prob.objectives[0]
    action_url = _url(plan, f"/objectif/{obj.id}/action/nouvelle")
    # an action without an owner is refused, nothing saved
    resp = f.post_form(client, action_url, {"what": "Kiné", "volet": "care"})
    assert resp.status_code == 400
    assert "Chaque action doit avoir un responsable" in resp.get_data(as_text=True)
    assert db.session.execute(sa.select(sa.func.count()).select_from(CarePlanAction)).scalar() == 0
    resp = f.post_form(client, action_url, {"what": "Kiné équilibre", "owner_kind": "profession",
                                            "owner_profession_code": "masseur_kinesitherapeute", "volet": "care",
                                            "when": "2 fois par semaine"})
    assert resp.status_code == 302
    # validate with a review date beyond 12 months: refused
    resp = f.post_form(client, _url(plan, "/valider"),
                       {"next_review_on": (svc.add_months(today_paris(), 12) + timedelta(days=1)).isoformat()},
                       form_url=_url(plan))
    assert resp.status_code == 400 and "12 mois" in resp.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(CarePlan, plan.id).status == "draft"
    resp = f.post_form(client, _url(plan, "/valider"), {"next_review_on": ""}, form_url=_url(plan))
    assert resp.status_code == 302
    db.session.expire_all()
    plan = db.session.get(CarePlan, plan.id)
    assert plan.status == "active" and plan.current_version == 1
    # editing the frozen version is refused with a French message
    resp = f.post_form(client, _url(plan, "/probleme/nouveau"), {"category": "social", "label": "Isolement"})
    assert resp.status_code == 400 and "figée" in resp.get_data(as_text=True)
    assert db.session.execute(sa.select(sa.func.count()).select_from(CarePlanProblem)).scalar() == 1
    # second plan for the same patient: refused
    resp = f.post_form(client, url, {"coordinator_id": str(gp.id)}, form_url=_url(plan))
    assert resp.status_code == 400 and "déjà un PPS" in resp.get_data(as_text=True)
    # review, new version, diff page in French
    resp = f.post_form(client, _url(plan, "/revision"), {}, form_url=_url(plan))
    assert resp.status_code == 302
    review_url = resp.headers["Location"]
    resp = f.post_form(client, _url(plan, f"/probleme/{prob.id}/objectif/{obj.id}"),
                       {"text": "Ne plus tomber", "result": "Aucune chute depuis 3 mois"})
    assert resp.status_code == 302
    resp = f.post_form(client, review_url, {"review_on": today_paris().isoformat(), "participant_ids": [str(gp.id)],
                                            "outcome": "Poursuite", "then": "validate",
                                            "next_review_on": svc.add_months(today_paris(), 14).isoformat()})
    assert resp.status_code == 400 and "12 mois" in resp.get_data(as_text=True)
    resp = f.post_form(client, review_url, {"review_on": today_paris().isoformat(), "participant_ids": [str(gp.id)],
                                            "outcome": "Poursuite", "then": "validate",
                                            "next_review_on": svc.add_months(today_paris(), 6).isoformat()})
    assert resp.status_code == 302
    diff = client.get(_url(plan, "/comparer?a=1&b=2"))
    text = diff.get_data(as_text=True)
    assert diff.status_code == 200 and "Aucune chute depuis 3 mois" in text and "résultat" in text
    v1 = client.get(_url(plan, "/version/1")).get_data(as_text=True)
    assert "Aucune chute" not in v1 and "Ne plus tomber" in v1
    assert client.get(_url(plan, "/version/9")).status_code == 404
    # consent, then close with a reason
    resp = f.post_form(client, _url(plan, "/consentement"), {"consent_on": today_paris().isoformat(),
                                                            "method": "oral", "scope": "care_and_help"})
    assert resp.status_code == 302
    resp = f.post_form(client, _url(plan, "/cloturer"), {"reason": ""})
    assert resp.status_code == 400
    resp = f.post_form(client, _url(plan, "/cloturer"), {"reason": "Entrée en EHPAD"})
    assert resp.status_code == 302
    assert "Entrée en EHPAD" in client.get(_url(plan)).get_data(as_text=True)


def test_other_team_member_gets_404(client, f, ctx):
    plan = build_plan(ctx, validate=True)
    f.login(client, ctx.users["outsider"])
    for suffix in ("", "/pdf/equipe", "/pdf/patient", "/version/1", "/comparer", "/modifier"):
        assert client.get(_url(plan, suffix)).status_code == 404
    assert client.get(f"/pps/equipe/{ctx.team.id}").status_code == 404
    assert client.get(f"/pps/equipe/{ctx.team.id}/patient/{ctx.patient.id}").status_code == 404
    # the outsider's own team URL with this plan id: 404 too
    assert client.get(f"/pps/equipe/{ctx.other.id}/plan/{plan.id}").status_code == 404


def test_opposition_hides_content_from_non_authors(client, f, ctx):
    plan = build_plan(ctx, validate=True)
    ctx.patient.opposed_at = utc_now()
    db.session.commit()
    f.login(client, ctx.users["member"])
    page = client.get(_url(plan))
    text = page.get_data(as_text=True)
    assert page.status_code == 200
    assert OPPOSITION_NOTICE.split(":")[0].replace("'", "&#39;") in text
    assert "domicile" not in text and "Chutes" not in text
    assert client.get(_url(plan, "/pdf/equipe")).status_code == 403
    assert client.get(_url(plan, "/version/1")).status_code == 403
    denied = db.session.execute(sa.select(AuditEvent).where(AuditEvent.outcome == "denied")).scalars().all()
    assert denied
    client2 = f.login(client.application.test_client(), ctx.users["admin"])  # the author still sees it
    assert "Chutes 1" in client2.get(_url(plan)).get_data(as_text=True)


def test_dashboard_and_index(client, f, ctx):
    plan = build_plan(ctx, validate=True)
    plan.next_review_on = today_paris() + timedelta(days=10)
    other_patient = f.patient(ctx.team, ctx.users["admin"], birth_name="Durand")
    ctx2 = type(ctx)(ctx.team, ctx.other, ctx.users, other_patient)
    late = build_plan(ctx2, validate=True)
    late.next_review_on = today_paris() - timedelta(days=3)
    db.session.commit()
    f.login(client, ctx.users["member"])
    page = client.get(f"/pps/equipe/{ctx.team.id}")
    text = page.get_data(as_text=True)
    assert page.status_code == 200
    due = text.split("Révisions prévues dans les 30 prochains jours")[1].split("</section>")[0]
    overdue = text.split("Révisions en retard")[1].split("</section>")[0]
    assert f"PPS n°{plan.number}" in due and f"PPS n°{late.number}" in overdue
    no_consent = text.split("PPS sans consentement du patient")[1].split("</section>")[0]
    assert "PPS n°1" in no_consent and "PPS n°2" in no_consent
    assert re.search(r'pps-count">2<', text)
    index = client.get("/pps/")
    assert index.status_code == 200 and "LEMAIRE" in index.get_data(as_text=True)


def test_pdfs_team_and_patient_copies(client, f, ctx):
    long_text = "Attente longue du patient. " * 120
    plan = build_plan(ctx, problems=14, text=long_text, validate=True)
    f.login(client, ctx.users["member"])
    resp = client.get(_url(plan, "/pdf/equipe"))
    assert resp.status_code == 200 and resp.mimetype == "application/pdf"
    assert "no-store" in resp.headers["Cache-Control"]
    pages, text = _pdf_text(resp.data)
    assert pages >= 3
    assert f"Page 1 / {pages}" in text and f"Page {pages} / {pages}" in text
    assert "Version 1" in text and "Imprimé le" in text
    assert "NOTE INTERNE" in text and "Chutes 14" in text and "Kinésithérapie équilibre 14" in text
    assert "LEMAIRE Odette" in text
    resp = client.get(_url(plan, "/pdf/patient"))
    assert resp.status_code == 200
    pages_p, text_p = _pdf_text(resp.data)
    assert "Mon plan personnalisé de santé" in text_p and f"Page 1 / {pages_p}" in text_p
    assert "Chutes 14" in text_p and "Marcher sans chute 1" in text_p
    assert "NOTE INTERNE" not in text_p and "Nombre de chutes" not in text_p and "Chutes répétées" not in text_p
    # a frozen version can be printed after the plan changed
    svc.start_review(plan, actor=ctx.users["admin"])
    svc.save_problem(plan, category="social", label="Isolement nouveau", patient_priority=False,
                     actor=ctx.users["admin"])
    db.session.commit()
    _pages, text_v1 = _pdf_text(client.get(_url(plan, "/pdf/equipe?version=1")).data)
    assert "Isolement nouveau" not in text_v1
    _pages, text_live = _pdf_text(client.get(_url(plan, "/pdf/equipe")).data)
    assert "Isolement nouveau" in text_live and "révision" in text_live
    assert db.session.execute(sa.select(sa.func.count()).select_from(AuditEvent)
                              .where(AuditEvent.action == "care_plan.print")).scalar() == 4


def test_pdf_long_table_repeats_its_header(client, f, ctx):
    plan = build_plan(ctx, problems=1)
    obj = plan.problems[0].objectives[0]
    for i in range(45):
        svc.save_action(plan, obj, svc.ActionData(what=f"Action numéro {i} " + "détail " * 40, owner_kind="outside",
                                                  owner_outside="Aide à domicile", when="Chaque semaine"),
                        actor=ctx.users["admin"])
    svc.validate_plan(plan, actor=ctx.users["admin"])
    db.session.commit()
    f.login(client, ctx.users["admin"])
    reader = PdfReader(io.BytesIO(client.get(_url(plan, "/pdf/equipe")).data))
    assert len(reader.pages) >= 4
    texts = [" ".join(p.extract_text().split()) for p in reader.pages]
    pages_with_actions = [t for t in texts if "Action numéro" in t]
    assert len(pages_with_actions) >= 3
    assert all("Obj. Action Qui Quand" in t for t in pages_with_actions)
    assert "Action numéro 44" in " ".join(texts)


def test_action_owner_inferred_when_one_who_field_is_filled(client, f, ctx):
    plan = build_plan(ctx)
    obj = plan.problems[0].objectives[0]
    f.login(client, ctx.users["admin"])
    url = _url(plan, f"/objectif/{obj.id}/action/nouvelle")
    resp = f.post_form(client, url, {"what": "Portage des repas", "owner_outside": "Mairie", "volet": "help"})
    assert resp.status_code == 302
    # two different owners without choosing: refused, nothing saved
    before = db.session.execute(sa.select(sa.func.count()).select_from(CarePlanAction)).scalar()
    resp = f.post_form(client, url, {"what": "Aide", "owner_outside": "Voisin", "volet": "help",
                                     "owner_profession_code": "infirmier"})
    assert resp.status_code == 400
    assert db.session.execute(sa.select(sa.func.count()).select_from(CarePlanAction)).scalar() == before


def test_plan_opened_from_an_rcp_decision_keeps_the_link(client, f, ctx):
    import uuid

    gp = ctx.users["admin"]
    f.login(client, gp)
    case_id = uuid.uuid4()
    url = f"/pps/equipe/{ctx.team.id}/patient/{ctx.patient.id}"
    page = client.get(f"{url}?case={case_id}").get_data(as_text=True)
    assert str(case_id) in page
    resp = f.post_form(client, url, {"coordinator_id": str(gp.id), "source_meeting_case_id": str(case_id),
                                     "trigger": "Décision de la RCP"}, form_url=f"{url}?case={case_id}")
    assert resp.status_code == 302
    plan = db.session.execute(sa.select(CarePlan)).unique().scalar_one()
    assert plan.source_meeting_case_id == case_id
    # an unknown case gives no link but the origin stays visible
    assert "une décision de RCP" in client.get(_url(plan)).get_data(as_text=True)
