"""Who may reach which URL: one row per URL name, enforced by one middleware.

A URL without a row is refused (fail closed), and a test enumerates the URLconf so that a
new endpoint without a rule fails. Ownership of objects (user A never sees user B's
nodes) is the views' job: they look nodes up with ``owner=request.user``.

The JSON API's rows (:attr:`Access.API`) also name, per HTTP method, the scope the
operation needs (:data:`API_SCOPES`): a caller with ``Authorization: Bearer hga_...`` is
that API token's owner with the token's scopes; a logged-in session has every scope its
user could grant. A method without a row is left to the view (405).
"""

from __future__ import annotations

from collections.abc import Callable
from enum import Enum
from typing import Any

from django.contrib.auth.middleware import AuthenticationMiddleware
from django.contrib.auth.views import redirect_to_login
from django.contrib.messages.middleware import MessageMiddleware
from django.contrib.sessions.middleware import SessionMiddleware
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import reverse

from haiku import apitokens
from haiku.core import scopes, tokens
from haiku.core.scopes import Scope


class Access(Enum):
    PUBLIC = "anyone"
    USER = "a logged-in user (their own objects only)"
    OPERATOR = "a logged-in operator"
    NODE_TOKEN = "a node with its bearer token"
    API = "a logged-in user, or an API token with the operation's scope"


RULES: dict[str, Access] = {
    "home": Access.PUBLIC,
    "healthz": Access.PUBLIC,
    "login": Access.PUBLIC,
    "logout": Access.PUBLIC,
    "register": Access.PUBLIC,
    "register-done": Access.PUBLIC,
    "confirm-email": Access.PUBLIC,
    "password_reset": Access.PUBLIC,
    "password_reset_done": Access.PUBLIC,
    "password_reset_confirm": Access.PUBLIC,
    "password_reset_complete": Access.PUBLIC,
    "openapi": Access.PUBLIC,
    "api-docs": Access.PUBLIC,
    "password_change": Access.USER,
    "password_change_done": Access.USER,
    "node-list": Access.USER,
    "node-create": Access.USER,
    "node-live": Access.USER,
    "live-js": Access.PUBLIC,
    "haiku-css": Access.PUBLIC,
    "node-detail": Access.USER,
    "node-delete": Access.USER,
    "node-enable": Access.USER,
    "node-disable": Access.USER,
    "node-token-rotate": Access.USER,
    "node-token-revoke": Access.USER,
    "node-certificate-revoke": Access.USER,
    "node-certificate-renew": Access.USER,
    "ca-crl": Access.PUBLIC,
    "ca-crl-pem": Access.PUBLIC,
    "ca-certificate": Access.PUBLIC,
    "operator-certificates": Access.OPERATOR,
    "operator-certificate-revoke": Access.OPERATOR,
    "api-nodes": Access.API,
    "api-node": Access.API,
    "api-node-config": Access.API,
    "api-node-iso": Access.API,
    "api-node-iso-checksum": Access.API,
    "api-node-token": Access.API,
    "api-quarantine": Access.API,
    "api-self-config": Access.NODE_TOKEN,
    "api-self-csr": Access.NODE_TOKEN,
    "operator-quarantine": Access.OPERATOR,
    "api-tokens": Access.USER,
    "api-token-revoke": Access.USER,
    "operator-users": Access.OPERATOR,
    "operator-user-approve": Access.OPERATOR,
    "operator-user-disable": Access.OPERATOR,
    "operator-user-enable": Access.OPERATOR,
    "operator-user-delete": Access.OPERATOR,
    "operator-message": Access.OPERATOR,
    "operator-stats": Access.OPERATOR,
    "operator-stats-svg": Access.OPERATOR,
    "operator-live": Access.OPERATOR,
}

API_SCOPES: dict[str, dict[str, Scope]] = {
    "api-nodes": {"GET": Scope.NODES_READ, "POST": Scope.NODES_WRITE},
    "api-node": {"GET": Scope.NODES_READ, "PATCH": Scope.NODES_WRITE,
                 "DELETE": Scope.NODES_WRITE},
    "api-node-config": {"GET": Scope.NODES_READ},
    "api-node-iso": {"GET": Scope.NODES_READ},
    "api-node-iso-checksum": {"GET": Scope.NODES_READ},
    "api-node-token": {"POST": Scope.TOKENS_ROTATE},
    "api-quarantine": {"GET": Scope.OPERATOR_NODES},
}


def _not_for_node_tokens(middleware: type[Any]) -> type[Any]:
    """``middleware``, skipped for the URLs of :attr:`Access.NODE_TOKEN`: a node with its
    token has no session, no user, no messages (and no CSRF cookie to check: those views
    are exempt). Nodes ask at every boot; these cost a tenth of such a request."""
    class Skipping(middleware):  # type: ignore[misc,valid-type]
        def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
            super().__init__(get_response)
            self.skipped = frozenset(reverse(name) for name, rule in RULES.items()
                                     if rule is Access.NODE_TOKEN)

        def __call__(self, request: HttpRequest) -> HttpResponse:
            if request.path_info in self.skipped:
                return self.get_response(request)  # type: ignore[no-any-return]
            return super().__call__(request)  # type: ignore[no-any-return]

    Skipping.__name__ = Skipping.__qualname__ = middleware.__name__
    Skipping.__doc__ = f"Django's {middleware.__name__}, but not for node tokens' URLs."
    return Skipping


# In settings.MIDDLEWARE instead of Django's own.
SessionsButNotForNodes = _not_for_node_tokens(SessionMiddleware)
AuthenticationButNotForNodes = _not_for_node_tokens(AuthenticationMiddleware)
MessagesButNotForNodes = _not_for_node_tokens(MessageMiddleware)


def _is_api(request: HttpRequest) -> bool:
    return request.path.startswith("/api/")


def _refuse(request: HttpRequest, status: int, message: str) -> HttpResponse:
    if _is_api(request) or status != 401:
        if _is_api(request):
            return JsonResponse({"error": message}, status=status)
        return HttpResponse(message, status=status, content_type="text/plain")
    return redirect_to_login(request.get_full_path())


class AccessMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_view(self, request: HttpRequest, view: Any, args: Any,
                     kwargs: Any) -> HttpResponse | None:
        match = request.resolver_match
        rule = RULES.get(match.view_name) if match else None
        if rule is None:
            return _refuse(request, 403, "no access rule for this URL")
        if rule in (Access.PUBLIC, Access.NODE_TOKEN):
            return None  # the token view checks the token itself
        if rule is Access.API:
            return _check_api(request, API_SCOPES[match.view_name].get(request.method or ""))
        user = request.user
        if not user.is_authenticated:
            return _refuse(request, 401, "log in first")
        if rule is Access.OPERATOR and not getattr(user, "is_operator", False):
            return _refuse(request, 403, "operators only")
        return None


def _unauthorized(message: str) -> HttpResponse:
    response = JsonResponse({"error": message}, status=401)
    response["WWW-Authenticate"] = 'Bearer realm="haiku"'
    return response


def _check_api(request: HttpRequest, needed: Scope | None) -> HttpResponse | None:
    """Who calls (an API token's owner, or the session's user) and whether they may."""
    header = request.META.get("HTTP_AUTHORIZATION")
    if header is not None:
        secret = tokens.bearer(header)
        caller = apitokens.authenticate(secret) if secret else None
        if caller is None:
            return _unauthorized(
                f"a valid API token is needed (Authorization: Bearer {tokens.API_PREFIX}...,"
                " made on the API tokens page); it may have been revoked, or its owner "
                "disabled")
        request.user = caller.user
        granted = caller.scopes
        # A bearer token is not sent by browsers on their own, so no cross-site request
        # can carry it: CSRF protection is for the session cookie.
        request._dont_enforce_csrf_checks = True  # type: ignore[attr-defined]
    elif request.user.is_authenticated:
        granted = frozenset(scopes.grantable(getattr(request.user, "is_operator", False)))
    else:
        return _unauthorized("log in first, or send an API token (Authorization: Bearer "
                             f"{tokens.API_PREFIX}...)")
    request.api_scopes = granted  # type: ignore[attr-defined]
    if needed is not None and needed not in granted:
        return JsonResponse({"error": f"this operation needs the scope {needed.value!r}, "
                             "which your API token (or, logged in, your role) lacks",
                             "missing_scope": needed.value}, status=403)
    return None
