"""The SCIM application: scim2-server's ASGI application, with each request served in a
worker thread, in one database transaction, as the user who owns the API key.

The key must have the ``scim`` scope (only admins and owners may hold it); its user's role
bounds what the identity provider may do, exactly as for a bulk import by that user.
``/ServiceProviderConfig`` answers without a key (RFC 7643 §5).
"""

from __future__ import annotations

import anyio
from scim2_models import (
    AuthenticationScheme,
    Bulk,
    ChangePassword,
    EnterpriseUser,
    ETag,
    External,
    Filter,
    ForbiddenException,
    Group,
    Pagination,
    Patch,
    Reference,
    ResourceType,
    SCIMException,
    ScimPolicy,
    ScimProvider,
    ServiceProviderConfig,
    Sort,
    UnauthorizedException,
    UniquenessException,
)
from scim2_server.applications.asgi import ASGIApplication
from scim2_server.applications.base import BaseApplication
from scim2_server.handler import ScimHandler
from scim2_server.requests import ScimRequest
from scim2_server.responses import ScimResponse
from scim2_server.routing import Operation
from sqlalchemy.exc import IntegrityError

from ..deps import authenticate, key_hash
from ..errors import ApiError
from ..permissions import rank
from ..services.provisioning import Provisioner
from . import quirks
from .mapping import QylonUser, UserResource
from .storage import SqlStorage

PAGE, MAX_PAGE = 100, 500
# what real identity providers send and RFC 7644 does not allow (see quirks.py for the rest)
POLICY = ScimPolicy(
    unknown=ScimPolicy.Unknown.ignore,
    remove_value_as_filter=ScimPolicy.RemoveValue.apply,
    unmatched_path_filter=ScimPolicy.UnmatchedPathFilter.create,
)


class TooManyRequests(SCIMException):
    status = 429
    scim_type = None
    _default_detail = "Too many requests."


def provider() -> ScimProvider:
    config = ServiceProviderConfig(
        documentation_uri=Reference[External](
            "https://github.com/qylon/qylon/blob/main/docs/users.md#scim"
        ),
        patch=Patch(supported=True),
        bulk=Bulk(supported=False, max_operations=0, max_payload_size=0),
        filter=Filter(supported=True, max_results=MAX_PAGE),
        change_password=ChangePassword(supported=False),
        sort=Sort(supported=False),
        etag=ETag(supported=True),
        pagination=Pagination(
            cursor=False,
            index=True,
            default_pagination_method="index",
            default_page_size=PAGE,
            max_page_size=MAX_PAGE,
        ),
        authentication_schemes=[
            AuthenticationScheme(
                type=AuthenticationScheme.Type.oauthbearertoken,
                name="Bearer token",
                description="A Qylon API key with the scim scope: qylon auth keys create --scope scim",
                spec_uri=Reference[External]("https://datatracker.ietf.org/doc/html/rfc6750"),
                primary=True,
            )
        ],
    )
    return ScimProvider(
        models=[QylonUser, EnterpriseUser, Group],
        resource_types=[
            ResourceType.from_resource(UserResource),
            ResourceType.from_resource(Group),
        ],
        config=config,
        policy=POLICY,
    )


class ScimApp(ASGIApplication):
    def __init__(self, state):
        BaseApplication.__init__(self, provider())  # no storage of its own: one per request
        self.state = state

    async def read_request(self, scope, receive) -> ScimRequest:
        request = await super().read_request(scope, receive)
        client = scope.get("client")
        request.subject = (
            client[0] if client else "unknown"
        )  # the caller's address, until authenticated
        return request

    async def dispatch_request(self, request: ScimRequest) -> ScimResponse:
        return await anyio.to_thread.run_sync(self._serve, request)

    def _serve(self, request: ScimRequest) -> ScimResponse:
        if "filter" in request.query:
            request.query = {**request.query, "filter": quirks.fix_filter(request.query["filter"])}
        request.body = quirks.fix_body(request.body, request.method.upper(), request.path)
        if not self.needs_auth(request):  # /ServiceProviderConfig needs no storage
            with self.service.provider:
                self.service.route(request, Operation.service_provider_config)
                return self.service.service_provider_config(request.url, request.query)
        try:
            return self._authenticated(request)
        except IntegrityError:  # two requests made the same user at once: the database kept one
            raise UniquenessException(
                detail="That value was taken by another request at the same time."
            ) from None
        except ApiError as exc:
            if exc.status == 429:
                raise TooManyRequests(detail=exc.message) from None
            raise UnauthorizedException(detail=exc.message) from None

    def _authenticated(self, request: ScimRequest) -> ScimResponse:
        scheme, _, token = (request.header("Authorization") or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            self.state.limiter.check_failure(request.subject)
            raise UnauthorizedException(
                detail="Send Authorization: Bearer <a Qylon API key with the scim scope>."
            )
        token = token.strip()
        with self.state.db.session(None, key_hash=key_hash(self.state, token)) as session:
            principal = authenticate(self.state, session, token, request.subject)
            if "scim" not in principal.key.scopes or rank(principal.user.role) < rank("admin"):
                raise ForbiddenException(
                    detail="This API key lacks the scim scope (an admin's key made with --scope scim)."
                )
            storage = SqlStorage(
                session,
                Provisioner(session, principal, via="scim"),
                phone_region=self.state.settings.phone_region,
                max_scan=self.state.settings.scim_filter_max_scan,
            )
            return ScimHandler(self.service, storage).handle(request)
