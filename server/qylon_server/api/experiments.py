"""/v1/experiments: A/B tests on sequences and templates (docs/experiments.md).

Admins only (``experiments:read``, ``experiments:admin``): create, start, stop, read the
results; ``assignments`` and ``conversions`` record a person's exposure and conversion
(what the sequences do in-process through ``services/experiments.py``), for systems
outside the server.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from qylon_cli.schemas_onboarding import (
    ExperimentAssignment,
    ExperimentConversion,
    ExperimentCreate,
    ExperimentInfo,
    ExperimentPage,
    ExperimentPerson,
    ExperimentResults,
)

from ..deps import Allowed
from ..errors import ERROR_RESPONSES
from ..services import experiments
from .pages import Offset

router = APIRouter(tags=["experiments"], responses=ERROR_RESPONSES)

Limit = Annotated[int, Query(ge=1, le=1000, description="At most this many experiments.")]


def info(row) -> ExperimentInfo:
    return ExperimentInfo.model_validate(row, from_attributes=True)


@router.get("/v1/experiments", response_model=ExperimentPage)
def list_experiments(
    ctx: Allowed("experiments:read"), limit: Limit = 100, offset: Offset = 0
) -> ExperimentPage:
    """The organisation's experiments, by name."""
    rows, total = experiments.listing(ctx.session, limit=limit, offset=offset)
    return ExperimentPage(items=[info(r) for r in rows], total=total, limit=limit, offset=offset)


@router.post("/v1/experiments", status_code=201, response_model=ExperimentInfo)
def create_experiment(body: ExperimentCreate, ctx: Allowed("experiments:admin")) -> ExperimentInfo:
    """Create an experiment (a draft: nobody is exposed until it starts)."""
    row = experiments.create(
        ctx.session,
        ctx.principal,
        name=body.name,
        target_kind=body.target_kind,
        target=body.target,
        variants=[v.model_dump() for v in body.variants],
        min_sample=body.min_sample,
        goal=body.goal,
        goal_where=body.goal_where,
        templates=body.templates,
    )
    return info(row)


@router.get("/v1/experiments/{name}", response_model=ExperimentInfo)
def read_experiment(name: str, ctx: Allowed("experiments:read")) -> ExperimentInfo:
    """One experiment, by name or id."""
    return info(experiments.get(ctx.session, name))


@router.post("/v1/experiments/{name}/start", response_model=ExperimentInfo)
def start_experiment(name: str, ctx: Allowed("experiments:admin")) -> ExperimentInfo:
    """Start exposing people (again after a stop); a running one stays as it is."""
    row = experiments.get(ctx.session, name)
    return info(experiments.start(ctx.session, ctx.principal, row))


@router.post("/v1/experiments/{name}/stop", response_model=ExperimentInfo)
def stop_experiment(name: str, ctx: Allowed("experiments:admin")) -> ExperimentInfo:
    """Stop exposing new people (409 for a draft); conversions still count."""
    row = experiments.get(ctx.session, name)
    return info(experiments.stop(ctx.session, ctx.principal, row))


@router.post("/v1/experiments/{name}/assignments", response_model=ExperimentAssignment)
def assign(
    name: str, body: ExperimentPerson, ctx: Allowed("experiments:admin")
) -> ExperimentAssignment:
    """The person's variant, recording their exposure once while the experiment runs."""
    row = experiments.get(ctx.session, name)
    experiments.person(ctx.session, body.user_id)
    variant, exposed, new = experiments.assignment(
        ctx.session, ctx.principal.org_id, row.name, body.user_id, principal=ctx.principal
    )
    return ExperimentAssignment(
        experiment=row.name, user_id=body.user_id, variant=variant, exposed=exposed, new=new
    )


@router.post("/v1/experiments/{name}/conversions", response_model=ExperimentConversion)
def convert(
    name: str, body: ExperimentPerson, ctx: Allowed("experiments:admin")
) -> ExperimentConversion:
    """Record the person's conversion, once; someone never exposed is not counted."""
    row = experiments.get(ctx.session, name)
    experiments.person(ctx.session, body.user_id)
    variant, converted, new = experiments.convert(
        ctx.session, ctx.principal.org_id, row.name, body.user_id, principal=ctx.principal
    )
    return ExperimentConversion(
        experiment=row.name, user_id=body.user_id, variant=variant, converted=converted, new=new
    )


@router.get("/v1/experiments/{name}/results", response_model=ExperimentResults)
def results(name: str, ctx: Allowed("experiments:read")) -> ExperimentResults:
    """Exposures, conversions, rate, lift, p-value and confidence interval per variant."""
    row = experiments.get(ctx.session, name)
    return ExperimentResults(experiment=info(row), **experiments.results(ctx.session, row))
