"""Who may reach which URL: one row per URL name, enforced by one middleware.

A URL without a row is refused (fail closed), and a test enumerates the URLconf so that a
new endpoint without a rule fails. Ownership of objects (user A never sees user B's
nodes) is the views' job: they look nodes up with ``owner=request.user``.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import Enum
from typing import Any

from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse, JsonResponse


class Access(Enum):
    PUBLIC = "anyone"
    USER = "a logged-in user (their own objects only)"
    OPERATOR = "a logged-in operator"
    NODE_TOKEN = "a node with its bearer token"


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
    "api-nodes": Access.USER,
    "api-node": Access.USER,
    "api-node-config": Access.USER,
    "api-node-iso": Access.USER,
    "api-node-iso-checksum": Access.USER,
    "api-self-config": Access.NODE_TOKEN,
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
        user = request.user
        if not user.is_authenticated:
            return _refuse(request, 401, "log in first")
        if rule is Access.OPERATOR and not getattr(user, "is_operator", False):
            return _refuse(request, 403, "operators only")
        return None
