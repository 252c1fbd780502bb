"""The ``validators`` group: validator factories, from the SPOC plugin docs.

Each entry is a factory; the app builds it once with its options
(``[spoc.config.validators.<name>]``) and looks validators up by short name, so
the URIs ``example_app.validators.email`` and ``...phone`` give ``email`` and ``phone``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection

Validator = Callable[[str], bool]

_EMAIL = re.compile(r"[a-zA-Z0-9._%+-]+@[a-zA-Z0-9.-]+\.[a-zA-Z]{2,}")


def create_email_validator(domain_whitelist: Collection[str] | None = None) -> Validator:
    """An email validator; with ``domain_whitelist``, only those domains pass."""
    allowed = {domain.lower() for domain in domain_whitelist or ()}

    def validate_email(email: str) -> bool:
        if not _EMAIL.fullmatch(email):
            return False
        return not allowed or email.rsplit("@", 1)[1].lower() in allowed

    return validate_email


def create_phone_validator(country_code: str = "+1", digits: int = 10) -> Validator:
    """A phone validator: ``country_code`` then ``digits`` digits, dashes and spaces allowed."""

    def validate_phone(phone: str) -> bool:
        if not phone.startswith(country_code):
            return False
        number = phone[len(country_code) :].replace("-", "").replace(" ", "")
        return number.isascii() and number.isdigit() and len(number) == digits

    return validate_phone


# The plugin URIs name the factories by what they validate.
email = create_email_validator
phone = create_phone_validator
