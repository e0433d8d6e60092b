"""Views of the auth feature: login (password + TOTP), enrolment, account, invitations, dev outbox."""

from __future__ import annotations

import base64
import io
import time
from email import message_from_bytes, policy

import segno
import sqlalchemy as sa
from flask import abort, current_app, flash, g, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_user, logout_user

from esp_coord.auth import bp, services, sessions
from esp_coord.auth import totp as totp_lib
from esp_coord.auth.forms import (
    ROLE_LABELS,
    ChangePasswordForm,
    EnrolForm,
    InvitationForm,
    LoginForm,
    ProfileForm,
    ReauthForm,
    SetPasswordForm,
    TotpForm,
    profession_choices,
    role_choices,
)
from esp_coord.auth.models import AuthSession, Invitation, OutboxMessage, User
from esp_coord.core import audit
from esp_coord.core.db import parse_uuid
from esp_coord.core.extensions import db, limiter
from esp_coord.core.security import load_in_team, public, safe_next, team_access
from esp_coord.core.templating import nav_url

PENDING_KEY = "auth_pending"
PENDING_TTL_SECONDS = 5 * 60
REAUTH_KEY = "reauth_at"
REAUTH_TTL_SECONDS = 5 * 60


def _clear_session() -> None:
    session.clear()
    g.pop("csrf_token", None)


def _login_limit() -> str:
    return current_app.config["RATELIMIT_LOGIN"]


def _failed(response) -> bool:
    """Only failed attempts count against the rate limit (a success redirects)."""
    return response.status_code != 302


def generic_login_error() -> str:
    return _("Incorrect e-mail address or password. After several failed attempts the account is locked "
             "for a few minutes.")


def home_url() -> str:
    return nav_url("dashboard.index") or url_for("auth.account")


# --- pending login (password checked, second factor not yet) -------------------------------------

def _set_pending(user: User, next_url: str | None, *, enrol: bool) -> None:
    _clear_session()  # nothing from before the login survives (the server session is created later)
    session[PENDING_KEY] = {"uid": str(user.id), "at": int(time.time()), "next": next_url, "enrol": enrol}


def _pending_user() -> tuple[User | None, dict]:
    data = session.get(PENDING_KEY)
    if not isinstance(data, dict) or "uid" not in data:
        return None, {}
    if time.time() - float(data.get("at", 0)) > PENDING_TTL_SECONDS:
        session.pop(PENDING_KEY, None)
        return None, {}
    user = db.session.get(User, parse_uuid(data["uid"])) if parse_uuid(data["uid"]) else None
    if user is None or not user.active:
        session.pop(PENDING_KEY, None)
        return None, {}
    return user, data


def _expired_pending():
    flash(_("Your login attempt has expired. Please log in again."), "warning")
    return redirect(url_for("auth.login"))


def _finish_login(user: User, method: str, next_url: str | None) -> None:
    services.complete_login(user, method)  # session.clear() + new id: fixation-proof
    g.pop("csrf_token", None)
    login_user(user, remember=False, fresh=True)
    db.session.commit()


@bp.route("/connexion", methods=["GET", "POST"])
@public
@limiter.limit(_login_limit, methods=["POST"], deduct_when=_failed)
def login():
    next_url = safe_next(request.args.get("next"))
    if current_user.is_authenticated:
        return redirect(next_url or home_url())
    form = LoginForm()
    error = None
    if request.method == "POST":
        if form.validate_on_submit():
            result = services.check_password(form.email.data, form.password.data)
            db.session.commit()
            if result.ok:
                user = result.user
                _set_pending(user, next_url, enrol=not user.has_totp)
                return redirect(url_for("auth.totp" if user.has_totp else "auth.enrol_totp"))
            error = generic_login_error()
        form.password.data = ""
        return render_template("auth/login.html", form=form, error=error, next_url=next_url), 400
    return render_template("auth/login.html", form=form, error=error, next_url=next_url)


@bp.route("/connexion/totp", methods=["GET", "POST"])
@public
@limiter.limit(_login_limit, methods=["POST"], deduct_when=_failed)
def totp():
    user, data = _pending_user()
    if user is None:
        return _expired_pending()
    if not user.has_totp:
        return redirect(url_for("auth.enrol_totp"))
    form = TotpForm()
    error = None
    if request.method == "POST":
        if form.validate_on_submit():
            ok, method = services.check_second_factor(user, form.code.data)
            if ok:
                next_url = safe_next(data.get("next"))
                _finish_login(user, method, next_url)
                if method == "recovery_code":
                    remaining = services.unused_recovery_codes(user)
                    flash(_("You used a recovery code; %(n)s remain. Generate new ones from your account page "
                            "if needed.", n=remaining), "warning")
                return redirect(next_url or home_url())
            db.session.commit()
            error = _("This code is not valid (or it was already used). Enter the current code from your app, "
                      "or one of your recovery codes.")
        form.code.data = ""
        return render_template("auth/totp.html", form=form, error=error), 400
    return render_template("auth/totp.html", form=form, error=error)


def _qr_data_uri(uri: str) -> str:
    """QR code as a standalone SVG in a data: URI (allowed by the CSP `img-src 'self' data:`)."""
    buf = io.BytesIO()
    segno.make(uri, error="m").save(buf, kind="svg", scale=5, border=2, dark="#1b1f24", light="#ffffff",
                                    xmldecl=False, title=None)
    return "data:image/svg+xml;base64," + base64.b64encode(buf.getvalue()).decode()


def _recent_reauth() -> bool:
    at = session.get(REAUTH_KEY)
    return isinstance(at, int | float) and time.time() - at <= REAUTH_TTL_SECONDS


@bp.route("/connexion/activation-totp", methods=["GET", "POST"])
@public
@limiter.limit(_login_limit, methods=["POST"], deduct_when=_failed)
def enrol_totp():
    """First enrolment during login (pending state), or replacement by a logged-in user after re-auth."""
    replacing = current_user.is_authenticated
    if replacing:
        user = current_user
        data = {}
        if not _recent_reauth():
            return redirect(url_for("auth.reauth", next=url_for("auth.enrol_totp")))
    else:
        user, data = _pending_user()
        if user is None:
            return _expired_pending()
        if user.has_totp:
            return redirect(url_for("auth.totp"))
    secret = totp_lib.pending_secret(user)
    db.session.commit()
    form = EnrolForm()
    status = 200
    if request.method == "POST":
        if form.validate_on_submit() and services.confirm_totp_enrolment(user, form.code.data, replacing=replacing):
            codes = services.regenerate_recovery_codes(user)
            if replacing:
                sessions.revoke_all(user.id, except_row=sessions.current_session_row())
                db.session.commit()
                flash(_("Your authentication app has been replaced. Your other sessions were ended."), "success")
                continue_url = url_for("auth.account")
            else:
                next_url = safe_next(data.get("next"))
                _finish_login(user, "totp_enrolment", next_url)
                continue_url = next_url or home_url()
            return render_template("auth/recovery_codes.html", codes=codes, continue_url=continue_url,
                                   first_time=True)
        db.session.commit()
        if not form.errors:
            form.code.errors = [_("This code is not valid. Check the time of your phone and enter the current "
                                  "code.")]
        form.code.data = ""
        status = 400
    uri = totp_lib.provisioning_uri(user, secret)
    grouped = " ".join(secret[i:i + 4] for i in range(0, len(secret), 4))
    return render_template("auth/enrol_totp.html", form=form, qr=_qr_data_uri(uri), secret=grouped,
                           replacing=replacing, user=user), status


@bp.route("/deconnexion", methods=["POST"])
def logout():
    user = current_user._get_current_object()
    row = sessions.current_session_row()
    audit.record("auth.logout", actor=user, object_type="session", object_id=row.id if row else None)
    sessions.end_session()
    logout_user()
    _clear_session()
    db.session.commit()
    flash(_("You are logged out."), "success")
    return redirect(url_for("auth.login"))


# --- account ----------------------------------------------------------------------------------------

@bp.route("/compte/confirmation", methods=["GET", "POST"])
@limiter.limit(_login_limit, methods=["POST"], deduct_when=_failed)
def reauth():
    next_url = safe_next(request.args.get("next")) or url_for("auth.account")
    form = ReauthForm()
    if request.method == "POST":
        if form.validate_on_submit():
            from esp_coord.auth.passwords import verify_password

            if verify_password(current_user.password_hash, form.password.data):
                session[REAUTH_KEY] = int(time.time())
                audit.record("auth.reauth", actor=current_user)
                db.session.commit()
                return redirect(next_url)
            services.register_failure(current_user, "reauth")
            audit.record("auth.reauth", actor=current_user, outcome="failure")
            db.session.commit()
            if services.is_locked(current_user):
                sessions.end_session()
                logout_user()
                db.session.commit()
                flash(generic_login_error(), "error")
                return redirect(url_for("auth.login"))
            form.password.errors = [_("Incorrect password.")]
        return render_template("auth/reauth.html", form=form, next_url=next_url), 400
    return render_template("auth/reauth.html", form=form, next_url=next_url)


def _profile_form(user: User, bound: bool = False) -> ProfileForm:
    data = {"first_name": user.first_name, "last_name": user.last_name, "profession": user.profession_code or "",
            "rpps": user.rpps or "", "phone": user.phone or "", "practice_addresses": user.practice_addresses or ""}
    form = ProfileForm() if bound else ProfileForm(formdata=None, data=data)
    form.profession.choices = profession_choices()
    return form


def _password_form(bound: bool = False) -> ChangePasswordForm:
    form = ChangePasswordForm() if bound else ChangePasswordForm(formdata=None)
    form.password_context = {"email": current_user.email, "names": (current_user.first_name,
                                                                     current_user.last_name)}
    return form


def _render_account(profile=None, password=None, status=200):
    user = current_user
    current_row = sessions.current_session_row()
    return render_template(
        "auth/account.html", user=user, profile=profile or _profile_form(user), password=password or _password_form(),
        open_sessions=services.open_sessions(user), current_row=current_row,
        recovery_left=services.unused_recovery_codes(user),
    ), status


@bp.route("/compte", methods=["GET", "POST"])
def account():
    if request.method == "POST":
        form = _profile_form(current_user, bound=True)
        if form.validate_on_submit():
            user = current_user
            user.first_name = form.first_name.data.strip()
            user.last_name = form.last_name.data.strip()
            user.profession_code = form.profession.data or None
            user.rpps = form.rpps.data or None
            user.phone = (form.phone.data or "").strip() or None
            user.practice_addresses = (form.practice_addresses.data or "").strip() or None
            audit.record("auth.profile_updated", actor=user, object_type="user", object_id=user.id)
            db.session.commit()
            flash(_("Your details have been saved."), "success")
            return redirect(url_for("auth.account"))
        return _render_account(profile=form, status=400)
    return _render_account()


@bp.route("/compte/mot-de-passe", methods=["POST"])
@limiter.limit(_login_limit, deduct_when=_failed)
def change_password():
    from esp_coord.auth.passwords import verify_password

    form = _password_form(bound=True)
    if form.validate_on_submit():
        if verify_password(current_user.password_hash, form.current_password.data):
            ended = services.change_password(current_user, form.new_password.data, sessions.current_session_row())
            db.session.commit()
            flash(_("Your password has been changed. %(n)s other session(s) ended.", n=ended), "success")
            return redirect(url_for("auth.account"))
        services.register_failure(current_user, "reauth")
        audit.record("auth.reauth", actor=current_user, outcome="failure", details={"for": "password_change"})
        db.session.commit()
        form.current_password.errors = [_("Incorrect password.")]
    return _render_account(password=form, status=400)


@bp.route("/compte/codes-de-secours", methods=["GET", "POST"])
def recovery_codes():
    if not _recent_reauth():
        return redirect(url_for("auth.reauth", next=url_for("auth.recovery_codes")))
    if request.method == "POST":
        from flask_wtf import FlaskForm

        if not FlaskForm().validate_on_submit():
            abort(400)
        codes = services.regenerate_recovery_codes(current_user)
        db.session.commit()
        return render_template("auth/recovery_codes.html", codes=codes, continue_url=url_for("auth.account"),
                               first_time=False)
    return render_template("auth/recovery_confirm.html", left=services.unused_recovery_codes(current_user))


@bp.route("/compte/sessions/<session_id>/fin", methods=["POST"])
def end_other_session(session_id):
    sid = parse_uuid(session_id)
    row = db.session.get(AuthSession, sid) if sid else None
    if row is None or row.user_id != current_user.id:
        abort(404)
    current_row = sessions.current_session_row()
    if current_row is not None and row.id == current_row.id:
        abort(400)
    if row.revoked_at is None:
        services.end_session_row(current_user, row)
        db.session.commit()
    flash(_("The session has been ended."), "success")
    return redirect(url_for("auth.account") + "#sessions")


@bp.route("/compte/sessions/fin-autres", methods=["POST"])
def end_other_sessions():
    ended = sessions.revoke_all(current_user.id, except_row=sessions.current_session_row())
    audit.record("auth.sessions_ended", actor=current_user, object_type="user", object_id=current_user.id,
                 details={"count": ended})
    db.session.commit()
    flash(_("%(n)s other session(s) ended.", n=ended), "success")
    return redirect(url_for("auth.account") + "#sessions")


# --- invitations ----------------------------------------------------------------------------------

def _invitation_form(membership) -> InvitationForm:
    from esp_coord.teams.models import ROLE_RANK

    form = InvitationForm()
    form.profession.choices = profession_choices()
    rank = 3 if getattr(current_user, "is_platform_admin", False) else ROLE_RANK.get(membership.role, 0)
    form.role.choices = role_choices(rank)
    return form


def _render_invitations(team, membership, form, status=200):
    invitations = db.session.execute(
        sa.select(Invitation).where(Invitation.team_id == team.id).order_by(Invitation.created_at.desc())
        .options(sa.orm.selectinload(Invitation.invited_by))
    ).scalars().all()
    return render_template("auth/invitations.html", team=team, membership=membership, form=form,
                           invitations=invitations, role_labels=ROLE_LABELS), status


@bp.route("/equipes/<team_id>/invitations", methods=["GET", "POST"])
def invitations(team_id):
    team, membership = team_access(team_id, "coordinator")
    form = _invitation_form(membership)
    if request.method == "POST":
        if form.validate_on_submit():
            try:
                services.create_invitation(team, form.email.data, form.role.data, form.first_name.data,
                                           form.last_name.data, form.profession.data or None, current_user)
            except services.InvitationError as exc:
                db.session.rollback()
                form.email.errors = [str(exc)]
                return _render_invitations(team, membership, form, 400)
            db.session.commit()
            flash(_("Invitation sent to %(email)s.", email=form.email.data.strip().lower()), "success")
            return redirect(url_for("auth.invitations", team_id=team.id))
        return _render_invitations(team, membership, form, 400)
    return _render_invitations(team, membership, form)


@bp.route("/equipes/<team_id>/invitations/<invitation_id>/revoquer", methods=["POST"])
def revoke_invitation(team_id, invitation_id):
    team, _membership = team_access(team_id, "coordinator")
    invitation = load_in_team(Invitation, invitation_id, team.id)
    if invitation.status == "pending":
        services.revoke_invitation(invitation, current_user)
        db.session.commit()
        flash(_("The invitation has been revoked."), "success")
    return redirect(url_for("auth.invitations", team_id=team.id))


@bp.route("/invitation/<token>", methods=["GET", "POST"])
@public
@limiter.limit(_login_limit, methods=["POST"], deduct_when=_failed)
def accept_invitation(token):
    invitation = services.invitation_for_token(token)
    if invitation is None or invitation.status != "pending":
        status = invitation.status if invitation is not None else "unknown"
        return render_template("auth/invitation_invalid.html", status=status), 404 if status == "unknown" else 410
    existing = services.user_by_email(invitation.email)
    if existing is not None and existing.password_hash:
        # an account exists: its owner logs in, then accepts
        if not current_user.is_authenticated:
            return render_template("auth/invitation_login.html", invitation=invitation,
                                   login_url=url_for("auth.login", next=url_for("auth.accept_invitation",
                                                                                token=token)))
        if current_user.id != existing.id:
            return render_template("auth/invitation_invalid.html", status="other_account"), 403
        from flask_wtf import FlaskForm

        form = FlaskForm()
        if request.method == "POST" and form.validate_on_submit():
            services.accept_invitation_existing(invitation, current_user)
            db.session.commit()
            flash(_("You have joined the team %(team)s.", team=invitation.team.name) if invitation.team
                  else _("Invitation accepted."), "success")
            return redirect(home_url())
        return render_template("auth/invitation_join.html", invitation=invitation, form=form)
    if current_user.is_authenticated:
        return render_template("auth/invitation_invalid.html", status="other_account"), 403
    form = SetPasswordForm()
    form.profession.choices = profession_choices()
    form.password_context = {"email": invitation.email}
    if request.method == "GET":
        form.first_name.data = invitation.first_name or (existing.first_name if existing else "")
        form.last_name.data = invitation.last_name or (existing.last_name if existing else "")
        form.profession.data = invitation.profession_code or (existing.profession_code if existing else "") or ""
    elif form.validate_on_submit():
        user = services.accept_invitation_new_account(invitation, form.new_password.data, form.first_name.data,
                                                      form.last_name.data, form.profession.data or None)
        db.session.commit()
        _set_pending(user, None, enrol=True)
        flash(_("Your password is set. Last step: set up your authentication app."), "success")
        return redirect(url_for("auth.enrol_totp"))
    status = 400 if request.method == "POST" else 200
    return render_template("auth/accept_invitation.html", invitation=invitation, form=form), status


# --- development outbox -----------------------------------------------------------------------------

def _outbox_allowed() -> None:
    if current_app.config.get("MAIL_BACKEND") != "outbox":
        abort(404)
    if not (current_user.is_platform_admin or current_app.config.get("ENV") in ("development", "testing")):
        abort(403)


@bp.route("/dev/outbox")
def outbox():
    _outbox_allowed()
    messages = db.session.execute(
        sa.select(OutboxMessage).order_by(OutboxMessage.created_at.desc()).limit(200)
    ).scalars().all()
    return render_template("auth/outbox.html", messages=messages)


@bp.route("/dev/outbox/<message_id>")
def outbox_message(message_id):
    _outbox_allowed()
    mid = parse_uuid(message_id)
    row = db.session.get(OutboxMessage, mid) if mid else None
    if row is None:
        abort(404)
    msg = message_from_bytes(row.raw, policy=policy.default)
    part = msg.get_body(preferencelist=("plain",))
    text = part.get_content() if part is not None else ""
    return render_template("auth/outbox_message.html", row=row, msg=msg, text=text)
