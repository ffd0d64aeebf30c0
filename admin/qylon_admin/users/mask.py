"""Mask personal values (emails, phone numbers) before they appear in errors and logs."""

from __future__ import annotations


def mask_email(value: str) -> str:
    """``jose.nunez@example.com`` -> ``j***@example.com``; a value without ``@`` -> ``j***``."""
    value = value.strip()
    if not value:
        return value
    local, at, domain = value.rpartition("@")
    if not at:
        return value[0] + "***"
    if not local:
        return "***@" + domain
    return local[0] + "***@" + domain


def mask_phone(value: str) -> str:
    """Keep the leading + and the last two digits: ``+44 7700 900201`` -> ``+**********01``."""
    digits = [c for c in value if c.isdigit()]
    if len(digits) <= 2:
        return "*" * len(digits)
    prefix = "+" if value.strip().startswith("+") else ""
    return prefix + "*" * (len(digits) - 2) + "".join(digits[-2:])
