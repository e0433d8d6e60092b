"""Outgoing e-mail through SMTP (MAIL_BACKEND=smtp) or the local outbox (development/testing).

Never put patient data in an e-mail: meetings say "3 dossiers", tasks say "une tâche".
"""

from __future__ import annotations

import logging
import smtplib
import ssl
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import make_msgid

from flask import current_app

from esp_coord.core.time import utc_now

log = logging.getLogger("esp_coord.mail")


@dataclass
class Attachment:
    filename: str
    content: bytes
    maintype: str
    subtype: str
    params: dict = field(default_factory=dict)


def build_message(
    to: list[str] | str,
    subject: str,
    text: str,
    html: str | None = None,
    *,
    calendar: bytes | None = None,
    calendar_method: str | None = None,
    attachments: list[Attachment] | None = None,
) -> EmailMessage:
    recipients = [to] if isinstance(to, str) else list(to)
    msg = EmailMessage()
    msg["From"] = current_app.config["MAIL_SENDER"]
    msg["To"] = ", ".join(recipients)
    msg["Subject"] = subject
    msg["Message-ID"] = make_msgid(domain="esp-coord.local")
    msg.set_content(text)
    if html:
        msg.add_alternative(html, subtype="html")
    if calendar is not None:
        method = calendar_method or "PUBLISH"
        # iMIP (RFC 6047): inline text/calendar alternative with the method, plus an .ics attachment
        msg.add_alternative(calendar, maintype="text", subtype="calendar",
                            params={"method": method, "charset": "utf-8"})
        msg["Content-Class"] = "urn:content-classes:calendarmessage"
    mixed_needed = calendar is not None or attachments
    if mixed_needed:
        msg.make_mixed()
    if calendar is not None:
        msg.add_attachment(calendar, maintype="application", subtype="ics", filename="invitation.ics",
                           params={"method": calendar_method or "PUBLISH"})
    for att in attachments or []:
        msg.add_attachment(att.content, maintype=att.maintype, subtype=att.subtype, filename=att.filename,
                           params=att.params)
    return msg


def send(msg: EmailMessage) -> None:
    backend = current_app.config.get("MAIL_BACKEND", "smtp")
    recipients = [a.strip() for a in msg["To"].split(",") if a.strip()]
    if backend == "outbox":
        from esp_coord.auth.models import OutboxMessage
        from esp_coord.core.extensions import db

        db.session.add(OutboxMessage(created_at=utc_now(), recipients=", ".join(recipients),
                                     subject=str(msg["Subject"]), raw=bytes(msg)))
        log.info("mail stored in outbox (%d recipients)", len(recipients))
        return
    cfg = current_app.config
    with smtplib.SMTP(cfg["MAIL_SERVER"], int(cfg["MAIL_PORT"]), timeout=30) as smtp:
        if cfg.get("MAIL_USE_TLS"):
            smtp.starttls(context=ssl.create_default_context())
        if cfg.get("MAIL_USERNAME"):
            smtp.login(cfg["MAIL_USERNAME"], cfg["MAIL_PASSWORD"] or "")
        smtp.send_message(msg)
    log.info("mail sent via smtp (%d recipients)", len(recipients))


def send_email(to, subject: str, text: str, html: str | None = None, **kwargs) -> EmailMessage:
    msg = build_message(to, subject, text, html, **kwargs)
    send(msg)
    return msg
