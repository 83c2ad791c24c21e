"""Email address syntax, accepting intranet domains that self-hosted teams use.

email-validator refuses special-use names such as `.local` and `.test` outright (even
with deliverability checks off). Only the syntax is checked here, so an address on one of
INTRANET_SUFFIXES is checked as if its last label were an ordinary one.
"""

from __future__ import annotations

from email_validator import EmailNotValidError, validate_email
from wtforms import ValidationError

INTRANET_SUFFIXES = ("local", "internal", "test", "lan", "corp", "home")
STAND_IN_LABEL = "example"  # a label email-validator treats as ordinary


class InvalidAddress(ValueError):
    """An address whose syntax is wrong, with the reason."""


def check_address(email: str) -> None:
    """Raise InvalidAddress unless the address's syntax is valid (no DNS lookup)."""
    local, at, domain = email.strip().rpartition("@")
    labels = domain.lower().split(".")
    if at and len(labels) > 1 and labels[-1] in INTRANET_SUFFIXES:
        email = f"{local}@{'.'.join([*labels[:-1], STAND_IN_LABEL])}"
    try:
        validate_email(email, check_deliverability=False)
    except EmailNotValidError as exc:
        raise InvalidAddress(str(exc)) from None


class Address:
    """WTForms validator: a syntactically valid address, intranet domains included."""

    def __init__(self, message: str = "Enter a valid email address.") -> None:
        self.message = message

    def __call__(self, _form, field) -> None:
        try:
            check_address(field.data or "")
        except InvalidAddress:
            raise ValidationError(self.message) from None
