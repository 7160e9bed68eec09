"""Normalising the strong keys identity is resolved on: email addresses and phone numbers."""

from __future__ import annotations

import re
import unicodedata

_DIGITS = re.compile(r"\d")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def normalize_email(value: str | None) -> str | None:
    """Trimmed and lower-cased; None when it is not an email address."""
    if not value:
        return None
    email = value.strip().lower()
    return email if _EMAIL.match(email) else None


def normalize_phone(value: str | None, *, default_country: str = "81") -> str | None:
    """E.164 (``+819012345678``). National numbers (``090-1234-5678``) take the default
    country code (Japan) in place of their trunk ``0``; None when it cannot be a phone number.
    """
    if not value:
        return None
    # NFKC folds the full-width digits and plus sign Japanese forms often carry.
    text = unicodedata.normalize("NFKC", value).strip()
    digits = "".join(_DIGITS.findall(text))
    if text.startswith("+"):
        e164 = digits
    elif digits.startswith("00"):
        e164 = digits[2:]
    elif digits.startswith("0"):
        e164 = default_country + digits[1:]
    else:
        return None
    return f"+{e164}" if 8 <= len(e164) <= 15 else None
