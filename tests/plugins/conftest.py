"""Every test that drives a vendor's fake fails when the fake received or answered
something the vendor's published description does not allow (vendor_spec.py)."""

from __future__ import annotations

import pytest

from .vendor_spec import live_checks


@pytest.fixture(autouse=True)
def fakes_keep_to_spec():
    """After each test, the fakes it used found nothing against their vendor's spec."""
    yield
    for check in live_checks():
        check.assert_clean()
