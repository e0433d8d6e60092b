"""The one error type services raise when a request is refused by a business rule.

Every feature's error class derives from `DomainError`; views never catch anything else for a refusal.
The message is French (already translated, shown to the user as is); `field` names the form field it
concerns (the lifecycle helper puts the message under that field and shows the form again), or None for
a message about the whole form/page.
"""

from __future__ import annotations


class DomainError(Exception):
    """A refusal by a business rule: French message for the user, optional form field it concerns."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    def __str__(self) -> str:
        return self.message
