"""The JSON API (described in :mod:`haiku.openapi`, served at /api/openapi.json).

Who may call what is :mod:`haiku.access`'s (API tokens and their scopes); what a change
means is :mod:`haiku.nodes`' and its validation the web forms' (:mod:`haiku.forms`), so
the API and the pages cannot drift apart. Every error is JSON: ``{"error": ...}``, with
``fields`` (field name: what to fix) for a 400.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import wraps
from typing import Any

from django import forms
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET

from haiku import homeagent, openapi, selfconfig
from haiku import nodes as nodes_service
from haiku.core import tokens
from haiku.core.csr import CsrError, KeyOrigin
from haiku.core.render import Keying
from haiku.core.scopes import Scope
from haiku.forms import NodeForm, NodeIdentityForm
from haiku.models import Node, QuarantinedAddress
from haiku.nodes import node_by_token
from haiku.payload import node_config, node_summary
from haiku.views import base_url, download

View = Callable[..., HttpResponse]


class ApiError(Exception):
    def __init__(self, status: int, message: str,
                 fields: dict[str, list[str]] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.fields = status, message, fields


def _error(status: int, message: str, fields: dict[str, list[str]] | None = None
           ) -> JsonResponse:
    body: dict[str, Any] = {"error": message}
    if fields:
        body["fields"] = fields
    return JsonResponse(body, status=status)


def api_view(*methods: str) -> Callable[[View], View]:
    """Only these methods (405 otherwise, with Allow), and :class:`ApiError` as JSON."""
    def decorate(view: View) -> View:
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if request.method not in methods:
                response = _error(405, f"{request.method} is not allowed here; use "
                                  f"{' or '.join(methods)}")
                response["Allow"] = ", ".join(methods)
                return response
            try:
                return view(request, *args, **kwargs)
            except ApiError as exc:
                response = _error(exc.status, exc.message, exc.fields)
                if exc.status == 401:
                    response["WWW-Authenticate"] = 'Bearer realm="haiku"'
                return response
        return wrapped
    return decorate


@require_GET
def openapi_json(request: HttpRequest) -> HttpResponse:
    return JsonResponse(openapi.DOCUMENT)


@require_GET
def api_docs(request: HttpRequest) -> HttpResponse:
    return render(request, "haiku/api_docs.html", {"paths": openapi.summary()})


def _visible(request: HttpRequest) -> QuerySet[Node]:
    """The caller's nodes; every user's with ``operator:nodes``."""
    found = Node.objects.select_related("owner").prefetch_related("prefixes")
    if Scope.OPERATOR_NODES in getattr(request, "api_scopes", ()):
        return found
    return found.filter(owner=request.user)


def _node(request: HttpRequest, node_id: int) -> Node:
    node = _visible(request).filter(pk=node_id).first()
    if node is None:
        raise ApiError(404, f"you have no node {node_id}")
    return node


def _summary(node: Node) -> dict[str, Any]:
    return node_summary(node, [p.prefix for p in node.prefixes.all()])


def _json_object(request: HttpRequest) -> dict[str, Any]:
    try:
        body = json.loads(request.body or b"null")
    except (ValueError, UnicodeDecodeError):
        body = None
    if not isinstance(body, dict):
        raise ApiError(400, "the body must be a JSON object (Content-Type: "
                       "application/json)")
    return body


# What JSON type each kind of form field takes: the form converts strings, the API
# should not take a number for a name or a string for a number.
_JSON_TYPES: tuple[tuple[type[forms.Field], type, str], ...] = (
    (forms.BooleanField, bool, "true or false"),
    (forms.IntegerField, int, "an integer"),
    (forms.Field, str, "a string"),
)


def _valid_form(form_class: type[forms.Form], body: dict[str, Any],
                extra: tuple[str, ...] = ()) -> forms.Form:
    """The body checked by the web form: unknown fields, JSON types, then the form's own
    rules; a 400 naming each field and what to fix."""
    fields = form_class.base_fields
    problems: dict[str, list[str]] = {}
    for name, value in body.items():
        if name in extra:
            continue
        field = fields.get(name)
        if field is None:
            problems[name] = [f"unknown field; the fields are {', '.join([*fields, *extra])}"]
            continue
        for kind, json_type, words in _JSON_TYPES:
            if isinstance(field, kind):
                if type(value) is not json_type:
                    problems[name] = [f"expected {words}"]
                break
    if problems:
        raise ApiError(400, "the request has errors: see fields", problems)
    form = form_class({k: v for k, v in body.items() if k not in extra})
    if not form.is_valid():
        raise ApiError(400, "the request has errors: see fields",
                       {k: [str(m) for m in v] for k, v in form.errors.items()})
    return form


def _home_agent(result: homeagent.ReloadResult) -> dict[str, Any]:
    return {"ok": result.ok, "message": result.message}


@api_view("GET", "POST")
def nodes(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        return _create(request)
    return JsonResponse({"nodes": [_summary(n) for n in _visible(request)]})


def _create(request: HttpRequest) -> HttpResponse:
    # Fields left out take the form's initial values (prefix_count 0, interface eth0).
    initial = {k: f.initial for k, f in NodeForm.base_fields.items() if f.initial is not None}
    form = _valid_form(NodeForm, {**initial, **_json_object(request)})
    assert isinstance(form, NodeForm)
    try:
        created = nodes_service.create_enrolled_node(
            request.user, form.node_request(), base_url(request))  # type: ignore[arg-type]
    except nodes_service.NameTaken as exc:
        raise ApiError(409, f"{exc}; choose another name") from None
    except nodes_service.PoolExhausted as exc:
        raise ApiError(409, str(exc)) from None
    response = JsonResponse({"node": _summary(created.node), "token": created.token,
                             "home_agent": _home_agent(created.home_agent)}, status=201)
    response["Cache-Control"] = "no-store"
    return response


@api_view("GET", "PATCH", "DELETE")
def node(request: HttpRequest, node_id: int) -> HttpResponse:
    n = _node(request, node_id)
    if request.method == "DELETE":
        return JsonResponse({"deleted": n.pk,
                             "home_agent": _home_agent(nodes_service.delete_node(n))})
    if request.method == "PATCH":
        return _update(request, n)
    return JsonResponse(_summary(n))


def _key_origin(body: dict[str, Any], n: Node) -> KeyOrigin:
    value = body.get("key_origin", n.key_origin)
    if value not in [k.value for k in KeyOrigin] or type(value) is not str:
        raise ApiError(400, "the request has errors: see fields", {"key_origin": [
            f"expected one of {', '.join(k.value for k in KeyOrigin)}"]})
    if value != n.key_origin and n.keying != Keying.CERTIFICATE.value:
        raise ApiError(400, "the request has errors: see fields", {"key_origin": [
            f"this node uses {n.keying} keys; only a certificate-keyed node makes its own "
            "key"]})
    return KeyOrigin(value)


def _update(request: HttpRequest, n: Node) -> HttpResponse:
    body = _json_object(request)
    enabled = body.get("enabled", n.enabled)
    if type(enabled) is not bool:
        raise ApiError(400, "the request has errors: see fields",
                       {"enabled": ["expected true or false"]})
    key_origin = _key_origin(body, n)
    data = _valid_form(NodeIdentityForm, {"name": n.name, "interface": n.interface, **body},
                       extra=("enabled", "key_origin")).cleaned_data
    results = []
    if (data["name"], data["interface"]) != (n.name, n.interface):
        try:
            results.append(nodes_service.update_node(n, data["name"], data["interface"]))
        except nodes_service.NameTaken as exc:
            raise ApiError(409, f"{exc}; choose another name") from None
    if key_origin.value != n.key_origin:
        # The certificate changes; the home agent's configuration does not (it trusts
        # the CA and reads the CRL).
        nodes_service.set_key_origin(n, key_origin, base_url(request))
    if enabled != n.enabled:
        results.append(nodes_service.set_enabled(n, enabled))
    # The last reload is what the home agent has now.
    said = results[-1] if results else homeagent.ReloadResult(True, "nothing changed")
    return JsonResponse({"node": _summary(n), "home_agent": _home_agent(said)})


@api_view("POST")
def node_token(request: HttpRequest, node_id: int) -> HttpResponse:
    """A new enrollment token for the node; the old one stops working."""
    n = _node(request, node_id)
    response = JsonResponse({"node": n.pk, "token": nodes_service.rotate_token(n)})
    response["Cache-Control"] = "no-store"
    return response


@api_view("GET")
def quarantine(request: HttpRequest) -> HttpResponse:
    """Deleted nodes' addresses and prefixes not handed out yet (``operator:nodes``)."""
    held = QuarantinedAddress.objects.filter(until__gt=timezone.now())
    return JsonResponse({"quarantined": [
        {"pool": q.pool, "value": q.value, "former_node": q.former_node,
         "until": q.until.isoformat()} for q in held]})


@api_view("GET")
def node_config_download(request: HttpRequest, node_id: int) -> HttpResponse:
    n = _node(request, node_id)
    return download(node_config(n), f"haiku-node-{n.pk}.json")


def _etag_matches(header: str | None, etag: str) -> bool:
    """RFC 9110, 13.1.2: If-None-Match compares weakly; ``*`` matches any."""
    if not header:
        return False
    return any(t.strip().removeprefix("W/") in (etag, "*") for t in header.split(","))


NODE_TOKEN_NEEDED = ("a valid node token is needed (Authorization: Bearer <token>); it may "
                     "have been revoked, or the node or its owner disabled")


@csrf_exempt
@api_view("GET")
def self_config(request: HttpRequest) -> HttpResponse:
    """The node's own configuration, for ``Authorization: Bearer <token>``; with
    If-None-Match of the ETag it last got, 304 while it is unchanged. (One query, not the
    ORM's node: nodes poll it, see :mod:`haiku.selfconfig`.)"""
    token = tokens.bearer(request.META.get("HTTP_AUTHORIZATION"))
    found = selfconfig.answer(token) if token else None
    if found is None or not found.active:
        raise ApiError(401, NODE_TOKEN_NEEDED)
    if _etag_matches(request.META.get("HTTP_IF_NONE_MATCH"), found.etag):
        response = HttpResponse(status=304)
    else:
        response = HttpResponse(found.body, content_type="application/json")
    response["ETag"] = found.etag
    response["Cache-Control"] = "no-store"
    return response


def _calling_node(request: HttpRequest) -> Node:
    token = tokens.bearer(request.META.get("HTTP_AUTHORIZATION"))
    found = node_by_token(token) if token else None
    if found is None:
        raise ApiError(401, NODE_TOKEN_NEEDED)
    return found


def _own_config(node: Node) -> HttpResponse:
    response = JsonResponse(node_config(node))
    response["Cache-Control"] = "no-store"
    return response


@csrf_exempt
@api_view("POST")
def self_csr(request: HttpRequest) -> HttpResponse:
    """A node that makes its own key sends its certificate request (``{"csr": PEM}``)
    with its token; the answer is its configuration with the new certificate."""
    node = _calling_node(request)
    body = _json_object(request)
    unknown = sorted(set(body) - {"csr"})
    if unknown or type(body.get("csr")) is not str:
        raise ApiError(400, "the request has errors: see fields", {
            **{name: ["unknown field; the one field is csr"] for name in unknown},
            **({} if type(body.get("csr")) is str else {
                "csr": ["expected the certificate request in PEM, a string "
                        "(pki --req --outform pem)"]})})
    try:
        nodes_service.sign_request(node, body["csr"], base_url(request))
    except CsrError as exc:
        raise ApiError(400, "the certificate request is refused: see fields",
                       {"csr": [str(exc)]}) from None
    except nodes_service.RequestRefused as exc:
        raise ApiError(exc.status, str(exc)) from None
    return _own_config(node)
