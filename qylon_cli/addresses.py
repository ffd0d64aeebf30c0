"""Email addresses and phone numbers: one validation for the CLI, the server and SCIM.

Emails go through email-validator (no DNS), which refuses invisible and bidi characters;
full-width and other compatibility look-alikes (``ｏｐｓ@…``) are refused too. Phones are
stored in E.164 (``+`` country code digits), checked with phonenumbers.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache


class Bad(ValueError):
    """A value a field refuses: ``code`` (snake_case, such as ``phone_invalid``) and a plain
    ``message``. Callers turn it into theirs: a row error (users import), a SCIM error,
    ``InvalidInput``."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


def email(value: str, *, what: str = "email") -> str:
    """Validate with email-validator (no DNS) and normalise to lower case.

    Speed: email-validator spends most of its time on the domain. Each distinct domain is
    checked by it once (cached); an address whose part before the @ is a plain ASCII
    dot-atom (letters, digits, ``!#$%&'*+/=?^_`{|}~-`` and single inner dots, at most 64
    characters) on a domain already accepted is then valid by the same rules. Anything
    else goes through email-validator whole.
    """
    local, at, domain = value.rpartition("@")
    if (
        at
        and value.isascii()
        and len(local) <= 64
        and len(value) <= 254
        and _PLAIN_LOCAL.match(local)
    ):
        checked = _domain(domain)
        if checked is not None:
            return (local + "@" + checked).lower()
    return _full_email(value, what)


_PLAIN_LOCAL = re.compile(
    r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*$"
)


@lru_cache(maxsize=4096)
def _domain(domain: str) -> str | None:
    """The normalised domain if email-validator accepts it (tried with a plain local part)."""
    from email_validator import EmailNotValidError, validate_email

    try:
        return validate_email("postmaster@" + domain, check_deliverability=False).domain
    except EmailNotValidError:
        return None


def _full_email(value: str, what: str) -> str:
    from email_validator import EmailNotValidError, validate_email

    if unicodedata.normalize("NFKC", value) != value:
        raise Bad(
            f"{what}_invalid",
            "not a valid email address: it has look-alike characters (full-width or "
            f"compatibility forms); write it as {unicodedata.normalize('NFKC', value)}",
        )
    try:
        result = validate_email(value, check_deliverability=False)
    except EmailNotValidError as exc:
        raise Bad(f"{what}_invalid", f"not a valid email address: {exc}") from None
    return result.normalized.lower()


_E164 = re.compile(r"^\+[1-9]\d{6,14}$")
_POSSIBLE: dict[tuple[str, int], bool] = {}


def phone(value: str, *, region: str | None) -> str:
    """Parse with phonenumbers, check the number is possible, return it in E.164.

    Speed: whether a number is possible depends on its country code and length only.
    Once a number written as ``+`` and digits came back from phonenumbers unchanged, other
    numbers with the same first six digits and length are taken without parsing again.
    """
    compact = value.replace(" ", "").replace("-", "")
    key = (compact[:7], len(compact))
    if key in _POSSIBLE and _E164.match(compact):
        return compact
    result = _parse_phone(value, region)
    if result == compact and _E164.match(compact) and len(_POSSIBLE) < 100_000:
        _POSSIBLE[key] = True
    return result


def _parse_phone(value: str, region: str | None) -> str:
    import phonenumbers

    try:
        number = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException as exc:
        if exc.error_type == phonenumbers.NumberParseException.INVALID_COUNTRY_CODE:
            raise Bad(
                "phone_no_country",
                "phone number has no country code: write it as +<country code>..., or give a default region (--region GB)",
            ) from None
        raise Bad("phone_invalid", "not a phone number") from None
    if not phonenumbers.is_possible_number(number):
        raise Bad(
            "phone_invalid", "not a possible phone number for its country (wrong number of digits)"
        )
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def e164(value: str) -> str:
    """A phone number already in E.164 form (what the server stores), else ``Bad``."""
    if not _E164.match(value) or phone(value, region=None) != value:
        raise Bad(
            "phone_invalid",
            f"{value!r} is not a phone number in E.164 form (+, country code, digits: "
            "+442071838750)",
        )
    return value


# Letters of other scripts drawn like Latin ones (beyond those whose Unicode name says so).
_LOOKS_LATIN = str.maketrans("рсухѕіјӏԁԛԝοαρτκνυιєѵ", "pcyxsijldqwoaptkvuiev")


def skeleton(email: str) -> str:
    """What an address looks like: compatibility forms folded, accents dropped and
    Cyrillic or Greek letters drawn like Latin ones replaced (``оps@а.example`` -> ``ops@a.example``).
    Two different addresses with the same skeleton are look-alikes."""
    folded = unicodedata.normalize("NFKD", email.casefold()).translate(_LOOKS_LATIN)
    out = []
    for char in folded:
        if unicodedata.combining(char):
            continue
        if not char.isascii():
            parts = unicodedata.name(char, "").split()
            if (
                len(parts) == 4
                and parts[0] in ("CYRILLIC", "GREEK")
                and parts[2] == "LETTER"
                and len(parts[3]) == 1
            ):
                char = parts[3].lower()
        out.append(char)
    return "".join(out)
