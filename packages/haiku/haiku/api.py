"""The JSON API (described in :mod:`haiku.openapi`, served at /api/openapi.json)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET

from haiku import openapi
from haiku.core import tokens
from haiku.models import Node
from haiku.nodes import node_by_token
from haiku.payload import node_config, node_summary
from haiku.views import download


@require_GET
def openapi_json(request: HttpRequest) -> HttpResponse:
    return JsonResponse(openapi.DOCUMENT)


@require_GET
def api_docs(request: HttpRequest) -> HttpResponse:
    return render(request, "haiku/api_docs.html", {"paths": openapi.summary()})


def _own(request: HttpRequest, node_id: int) -> Node:
    return get_object_or_404(Node.objects.select_related("owner"), pk=node_id,
                             owner=request.user)


@require_GET
def nodes(request: HttpRequest) -> HttpResponse:
    items = [node_summary(n, [p.prefix for p in n.prefixes.all()])
             for n in Node.objects.filter(owner=request.user).prefetch_related("prefixes")]
    return JsonResponse({"nodes": items})


@require_GET
def node(request: HttpRequest, node_id: int) -> HttpResponse:
    n = _own(request, node_id)
    return JsonResponse(node_summary(n, [p.prefix for p in n.prefixes.all()]))


@require_GET
def node_config_download(request: HttpRequest, node_id: int) -> HttpResponse:
    n = _own(request, node_id)
    return download(node_config(n), f"haiku-node-{n.pk}.json")


@csrf_exempt
@require_GET
def self_config(request: HttpRequest) -> HttpResponse:
    """The node's own configuration, for ``Authorization: Bearer <token>``."""
    token = tokens.bearer(request.META.get("HTTP_AUTHORIZATION"))
    found = node_by_token(token) if token else None
    if found is None:
        response = JsonResponse({"error": "a valid node token is needed (Authorization: "
                                 "Bearer <token>); it may have been revoked, or the node "
                                 "or its owner disabled"}, status=401)
        response["WWW-Authenticate"] = 'Bearer realm="haiku"'
        return response
    response = JsonResponse(node_config(found))
    response["Cache-Control"] = "no-store"
    return response
