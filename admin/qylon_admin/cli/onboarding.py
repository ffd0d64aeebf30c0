"""`qylon onboarding`: the group; its commands live in their own modules and add
themselves (``onboarding_risk.register``)."""

from __future__ import annotations

import typer

from . import onboarding_risk

app = typer.Typer(
    help="Onboarding on the team server: who is at risk, and the re-engagement rules.\n\n"
    "Example: qylon onboarding at-risk",
    no_args_is_help=True,
)
onboarding_risk.register(app)
