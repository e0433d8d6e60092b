"""Auth services: password check with throttling and lockout, TOTP, recovery codes, invitations.

Every security-relevant write is audited here; views commit once.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

import sqlalchemy as sa
from flask import current_app, has_request_context, render_template, url_for
from flask_babel import gettext as _

from esp_coord.auth import passwords, sessions, totp
from esp_coord.auth.models import AuthSession, Invitation, RecoveryCode, User
from esp_coord.core import audit
from esp_coord.core.extensions import db
from esp_coord.core.keys import token_hash
from esp_coord.core.mail import send_email
from esp_coord.core.time import format_date, utc_now

INVITABLE_ROLES = ("member", "coordinator", "admin")


class InvitationError(ValueError):
    """A French/English message explaining why an invitation cannot be created."""


def normalise_email(email: str) -> str:
    return (email or "").strip().lower()


def user_by_email(email: str) -> User | None:
    email = normalise_email(email)
    if not email:
        return None
    return db.session.execute(sa.select(User).where(sa.func.lower(User.email) == email)).scalar_one_or_none()


# --- password step -----------------------------------------------------------------------------

@dataclass
class LoginResult:
    user: User | None
    ok: bool
    reason: str


def is_locked(user: User) -> bool:
    return user.locked_until is not None and user.locked_until > utc_now()


def register_failure(user: User, step: str) -> None:
    """Count a failed password/TOTP attempt; lock the account temporarily after LOGIN_MAX_FAILURES."""
    cfg = current_app.config
    if user.locked_until is not None and user.locked_until <= utc_now():
        user.locked_until = None
        user.failed_logins = 0
    user.failed_logins = (user.failed_logins or 0) + 1
    if user.failed_logins >= cfg["LOGIN_MAX_FAILURES"] and not is_locked(user):
        user.locked_until = utc_now() + cfg["LOGIN_LOCKOUT"]
        audit.record("auth.lockout", actor_id=user.id, object_type="user", object_id=user.id, outcome="failure",
                     details={"failures": user.failed_logins, "step": step,
                              "minutes": int(cfg["LOGIN_LOCKOUT"].total_seconds() // 60)})


def check_password(email: str, password: str) -> LoginResult:
    """First login step. The caller shows one generic message whatever the reason."""
    user = user_by_email(email)
    if user is None:
        passwords.verify_password(None, password)  # same cost as a real check
        audit.record("auth.login", object_type="user", outcome="failure", details={"reason": "unknown_account"})
        return LoginResult(None, False, "unknown_account")
    if is_locked(user):
        passwords.verify_password(None, password)
        audit.record("auth.login", actor_id=user.id, object_type="user", object_id=user.id, outcome="failure",
                     details={"reason": "locked"})
        return LoginResult(user, False, "locked")
    if not passwords.verify_password(user.password_hash, password):
        register_failure(user, "password")
        audit.record("auth.login", actor_id=user.id, object_type="user", object_id=user.id, outcome="failure",
                     details={"reason": "bad_password"})
        return LoginResult(user, False, "bad_password")
    if not user.active:
        audit.record("auth.login", actor_id=user.id, object_type="user", object_id=user.id, outcome="failure",
                     details={"reason": "disabled"})
        return LoginResult(user, False, "disabled")
    if passwords.needs_rehash(user.password_hash):
        user.password_hash = passwords.hash_password(password)
    audit.record("auth.password_ok", actor_id=user.id, object_type="user", object_id=user.id,
                 details={"totp_enrolled": user.has_totp})
    return LoginResult(user, True, "ok")


# --- second factor -----------------------------------------------------------------------------

def use_recovery_code(user: User, code: str) -> bool:
    rows = db.session.execute(
        sa.select(RecoveryCode).where(RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None))
    ).scalars().all()
    for row in rows:
        if totp.check_recovery_code(row.code_hash, code):
            row.used_at = utc_now()
            return True
    return False


def check_second_factor(user: User, code: str) -> tuple[bool, str]:
    """TOTP code (replay refused) or a one-time recovery code. Returns (ok, method)."""
    if is_locked(user) or not user.active:
        audit.record("auth.totp", actor_id=user.id, object_type="user", object_id=user.id, outcome="failure",
                     details={"reason": "locked" if user.active else "disabled"})
        return False, "locked"
    if totp.looks_like_recovery_code(code):
        if use_recovery_code(user, code):
            remaining = unused_recovery_codes(user)
            audit.record("auth.recovery_code_used", actor_id=user.id, object_type="user", object_id=user.id,
                         details={"remaining": remaining})
            return True, "recovery_code"
        method = "recovery_code"
    else:
        if totp.verify_code(user, code):
            return True, "totp"
        method = "totp"
    register_failure(user, method)
    audit.record("auth.totp", actor_id=user.id, object_type="user", object_id=user.id, outcome="failure",
                 details={"method": method})
    return False, method


def complete_login(user: User, method: str) -> AuthSession:
    """Both factors passed: open a fresh server session (new id) and reset the failure counter."""
    row = sessions.start_session(user)
    user.failed_logins = 0
    user.locked_until = None
    user.last_login_at = utc_now()
    db.session.flush()
    audit.record("auth.login", actor=user, object_type="session", object_id=row.id, details={"method": method})
    return row


def unused_recovery_codes(user: User) -> int:
    return db.session.execute(
        sa.select(sa.func.count()).select_from(RecoveryCode).where(
            RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None))
    ).scalar_one()


def regenerate_recovery_codes(user: User) -> list[str]:
    """Replace every recovery code; the plain codes are returned once, only hashes are stored."""
    db.session.execute(sa.delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    codes = totp.new_recovery_codes()
    db.session.add_all([RecoveryCode(user_id=user.id, code_hash=totp.hash_recovery_code(c)) for c in codes])
    audit.record("auth.recovery_codes_generated", actor=user, object_type="user", object_id=user.id,
                 details={"count": len(codes)})
    return codes


def confirm_totp_enrolment(user: User, code: str, *, replacing: bool) -> bool:
    if not totp.confirm_pending(user, code):
        audit.record("auth.totp_enrolment", actor_id=user.id, object_type="user", object_id=user.id,
                     outcome="failure")
        return False
    audit.record("auth.totp_enrolment", actor_id=user.id, object_type="user", object_id=user.id,
                 details={"replacement": replacing})
    return True


# --- account -----------------------------------------------------------------------------------

def change_password(user: User, new_password: str, keep: AuthSession | None) -> int:
    user.password_hash = passwords.hash_password(new_password)
    ended = sessions.revoke_all(user.id, except_row=keep)
    audit.record("auth.password_changed", actor=user, object_type="user", object_id=user.id,
                 details={"other_sessions_ended": ended})
    return ended


def open_sessions(user: User) -> list[AuthSession]:
    now = utc_now()
    idle_limit = now - current_app.config["SESSION_IDLE_TIMEOUT"]
    return list(db.session.execute(
        sa.select(AuthSession).where(
            AuthSession.user_id == user.id, AuthSession.revoked_at.is_(None), AuthSession.mfa_done.is_(True),
            AuthSession.expires_at > now, AuthSession.last_seen_at > idle_limit,
        ).order_by(AuthSession.last_seen_at.desc())
    ).scalars())


def end_session_row(user: User, row: AuthSession, actor: User | None = None) -> None:
    row.revoked_at = utc_now()
    audit.record("auth.session_ended", actor=actor or user, object_type="session", object_id=row.id)


def disable_user(user: User, actor: User | None = None) -> int:
    """Disable an account: it can no longer log in and every open session ends now."""
    user.active = False
    ended = sessions.revoke_all(user.id)
    audit.record("auth.user_disabled", actor=actor, object_type="user", object_id=user.id,
                 details={"sessions_ended": ended})
    return ended


# --- invitations ---------------------------------------------------------------------------------

def invitation_url(token: str) -> str:
    base = current_app.config.get("BASE_URL", "").rstrip("/")
    if not has_request_context():
        with current_app.test_request_context():
            return base + url_for("auth.accept_invitation", token=token)
    return base + url_for("auth.accept_invitation", token=token)


def _actor_rank(team, actor) -> int:
    from esp_coord.teams.models import ROLE_RANK, Membership

    if actor is None or getattr(actor, "is_platform_admin", False):
        return ROLE_RANK["admin"]
    membership = db.session.execute(
        sa.select(Membership).where(Membership.team_id == team.id, Membership.user_id == actor.id,
                                    Membership.ended_on.is_(None))
    ).scalar_one_or_none()
    return ROLE_RANK.get(membership.role, 0) if membership else 0


def create_invitation(team, email: str, role: str, first_name: str, last_name: str,
                      profession_code: str | None, actor) -> Invitation:
    """Invite someone to `team` with `role`; sends the e-mail. The plain token is on `.plain_token` (not stored).

    Raises InvitationError (French message) when the address already belongs to an active member, the
    role is unknown, or the actor's own role is lower than the one offered. The caller commits.
    """
    from esp_coord.teams.models import ROLE_RANK, Membership

    email = normalise_email(email)
    if role not in INVITABLE_ROLES:
        raise InvitationError(_("Unknown role."))
    if ROLE_RANK[role] > _actor_rank(team, actor):
        raise InvitationError(_("You cannot invite someone with a role higher than yours."))
    existing = user_by_email(email)
    if existing is not None:
        member = db.session.execute(
            sa.select(Membership).where(Membership.team_id == team.id, Membership.user_id == existing.id,
                                        Membership.ended_on.is_(None))
        ).scalar_one_or_none()
        if member is not None:
            raise InvitationError(_("This person is already a member of the team."))
    now = utc_now()
    for old in db.session.execute(
        sa.select(Invitation).where(Invitation.team_id == team.id, sa.func.lower(Invitation.email) == email,
                                    Invitation.accepted_at.is_(None), Invitation.revoked_at.is_(None))
    ).scalars():
        old.revoked_at = now
        audit.record("auth.invitation_revoked", actor=actor, team_id=team.id, object_type="invitation",
                     object_id=old.id, details={"reason": "replaced"})
    token = secrets.token_urlsafe(32)
    invitation = Invitation(team_id=team.id, email=email, first_name=(first_name or "").strip(),
                            last_name=(last_name or "").strip(), profession_code=profession_code or None, role=role,
                            token_hash=token_hash(token), invited_by_id=actor.id if actor else None,
                            expires_at=now + current_app.config["INVITATION_TTL"])
    db.session.add(invitation)
    db.session.flush()
    invitation.plain_token = token
    audit.record("auth.invitation_created", actor=actor, team_id=team.id, object_type="invitation",
                 object_id=invitation.id, details={"role": role})
    send_invitation_email(invitation, token, team=team, actor=actor)
    return invitation


def send_invitation_email(invitation: Invitation, token: str, *, team=None, actor=None) -> None:
    url = invitation_url(token)
    expires = format_date(invitation.expires_at)
    if team is not None:
        inviter = actor.full_name if actor is not None else _("The coordinator")
        subject = _("Invitation to join %(team)s on esp_coord", team=team.name)
        intro = _("%(inviter)s invites you to join the primary-care team %(team)s on esp_coord, the team's "
                  "coordination tool.", inviter=inviter, team=team.name)
    else:
        subject = _("Set up your esp_coord account")
        intro = _("An esp_coord account has been created for you.")
    greeting = (_("Hello %(name)s,", name=f"{invitation.first_name} {invitation.last_name}".strip())
                if invitation.first_name or invitation.last_name else _("Hello,"))
    parts = {
        "greeting": greeting,
        "intro": intro,
        "action": _("To accept, open the link below, choose a password, then set up the authentication app "
                    "(a six-digit code on your phone, required for every account):"),
        "button": _("Accept the invitation"),
        "expiry": _("This link can be used only once and expires on %(date)s.", date=expires),
        "ignore": _("If you were not expecting this message, ignore it: no account will be created."),
        "signature": _("esp_coord — this message was sent automatically, please do not reply."),
    }
    text = render_template("emails/auth/invitation.txt", url=url, **parts)
    html = render_template("emails/auth/invitation.html", url=url, subject=subject, **parts)
    send_email(invitation.email, subject, text, html)


def invitation_for_token(token: str) -> Invitation | None:
    if not token or len(token) > 200:
        return None
    return db.session.execute(
        sa.select(Invitation).where(Invitation.token_hash == token_hash(token))
    ).scalar_one_or_none()


def revoke_invitation(invitation: Invitation, actor) -> None:
    invitation.revoked_at = utc_now()
    audit.record("auth.invitation_revoked", actor=actor, team_id=invitation.team_id, object_type="invitation",
                 object_id=invitation.id)


def _attach_membership(invitation: Invitation, user: User) -> None:
    from esp_coord.teams.models import Membership

    if invitation.team_id is None:
        return
    membership = db.session.execute(
        sa.select(Membership).where(Membership.team_id == invitation.team_id, Membership.user_id == user.id)
    ).scalar_one_or_none()
    today = utc_now().date()
    if membership is None:
        db.session.add(Membership(team_id=invitation.team_id, user_id=user.id, role=invitation.role,
                                  started_on=today))
    elif membership.ended_on is not None:
        membership.ended_on = None
        membership.role = invitation.role
        membership.started_on = today
    db.session.flush()


def accept_invitation_new_account(invitation: Invitation, password: str, first_name: str, last_name: str,
                                  profession_code: str | None) -> User:
    """Create the account (or give a CLI-created account its password) and the membership."""
    user = db.session.get(User, invitation.user_id) if invitation.user_id else None
    user = user or user_by_email(invitation.email)
    if user is not None and user.password_hash:
        raise InvitationError("account already set up: log in to accept")
    if user is None:
        user = User(email=invitation.email, first_name=first_name.strip(), last_name=last_name.strip(),
                    profession_code=profession_code or None)
        db.session.add(user)
        db.session.flush()
    else:
        user.first_name = first_name.strip() or user.first_name
        user.last_name = last_name.strip() or user.last_name
        user.profession_code = profession_code or user.profession_code
    user.password_hash = passwords.hash_password(password)
    _finish_acceptance(invitation, user)
    return user


def accept_invitation_existing(invitation: Invitation, user: User) -> None:
    _finish_acceptance(invitation, user)


def _finish_acceptance(invitation: Invitation, user: User) -> None:
    _attach_membership(invitation, user)
    invitation.accepted_at = utc_now()
    invitation.user_id = user.id
    audit.record("auth.invitation_accepted", actor=user, team_id=invitation.team_id, object_type="invitation",
                 object_id=invitation.id, details={"role": invitation.role if invitation.team_id else None})


def create_platform_admin(email: str, first_name: str, last_name: str) -> tuple[User, str | None]:
    """CLI: a platform administrator account and a set-up link (none if the account already has a password)."""
    email = normalise_email(email)
    user = user_by_email(email)
    if user is None:
        user = User(email=email, first_name=first_name, last_name=last_name, global_role="platform_admin")
        db.session.add(user)
        db.session.flush()
    else:
        user.global_role = "platform_admin"
    audit.record("auth.platform_admin_created", object_type="user", object_id=user.id)
    if user.password_hash:
        return user, None
    token = secrets.token_urlsafe(32)
    invitation = Invitation(team_id=None, email=email, first_name=user.first_name, last_name=user.last_name,
                            role="member", token_hash=token_hash(token), user_id=user.id,
                            expires_at=utc_now() + current_app.config["INVITATION_TTL"])
    db.session.add(invitation)
    db.session.flush()
    return user, token
