"""Server-rendered pages: registration, nodes, operator pages."""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from cryptography.hazmat.primitives import serialization
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.tokens import PasswordResetTokenGenerator
from django.core.exceptions import NON_FIELD_ERRORS
from django.core.mail import get_connection, send_mail
from django.core.mail.message import EmailMessage
from django.db import connection
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.encoding import force_bytes, force_str
from django.utils.http import urlsafe_base64_decode, urlsafe_base64_encode
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from haiku import apitokens, ca, homeagent, isoview, live, revocation, throttle
from haiku import nodes as nodes_service
from haiku.core import dashboard, web
from haiku.core.csr import KeyOrigin
from haiku.core.plot import svg_plot
from haiku.core.render import Keying
from haiku.core.scopes import ScopeError
from haiku.forms import ApiTokenForm, MessageForm, NodeForm, RegisterForm, registration_policy
from haiku.models import ApiToken, Node, QuarantinedAddress, RevokedCertificate, Sample, User

_log = logging.getLogger("haiku.views")


class EmailConfirmationTokens(PasswordResetTokenGenerator):
    key_salt = "haiku.views.EmailConfirmationTokens"

    def _make_hash_value(self, user: Any, timestamp: int) -> str:
        return f"{user.pk}{user.email}{user.email_confirmed}{timestamp}"


email_tokens = EmailConfirmationTokens()


def client_address(request: HttpRequest) -> str:
    """The client as the throttles count it (behind the TLS proxy, the address it saw)."""
    return web.client_address(request.META.get("REMOTE_ADDR", ""),
                              request.META.get("HTTP_X_FORWARDED_FOR", ""),
                              settings.HAIKU.tls_proxy)


def base_url(request: HttpRequest) -> str:
    return settings.HAIKU.base_url.rstrip("/") or request.build_absolute_uri("/").rstrip("/")


# -- confirmations --------------------------------------------------------------------------

@dataclass(frozen=True)
class Confirmation:
    """What a destructive action's confirmation page asks (``{name}``: what it acts on,
    ``{nodes}``: how many nodes it takes along) and its button."""

    question: str
    consequence: str
    button: str


CONFIRMATIONS: dict[str, Confirmation] = {
    "node-delete": Confirmation(
        "Delete node {name}?",
        "The home agent drops it at once, its certificate is revoked and its home address "
        "and prefixes go back to the pool. This cannot be undone.", "Delete node"),
    "node-disable": Confirmation(
        "Disable node {name}?",
        "The home agent stops accepting its registrations until you enable it again; its "
        "addresses, keys and token are kept.", "Disable node"),
    "node-token-rotate": Confirmation(
        "Issue a new token for {name}?",
        "The current token stops working at once: a node or an image that has it can no "
        "longer fetch its configuration.", "Issue a new token"),
    "node-token-revoke": Confirmation(
        "Revoke the token of {name}?",
        "The node can no longer fetch its configuration until you issue a new token.",
        "Revoke token"),
    "node-certificate-revoke": Confirmation(
        "Revoke the certificate of {name}?",
        "The home agent refuses the node's IKE authentication, so it can no longer "
        "register until you issue a new certificate.", "Revoke certificate"),
    "node-certificate-renew": Confirmation(
        "Issue a new certificate for {name}?",
        "The current certificate is revoked: the node cannot register until it fetches its "
        "configuration again with the new one.", "Issue a new certificate"),
    "operator-user-disable": Confirmation(
        "Disable user {name}?",
        "They can no longer log in, and the home agent stops accepting their {nodes} "
        "node(s) until you enable them again.", "Disable user"),
    "operator-user-delete": Confirmation(
        "Delete user {name} and their {nodes} node(s)?",
        "Their nodes leave the home agent, their certificates are revoked and their "
        "addresses go back to the pool. This cannot be undone.", "Delete user"),
    "operator-certificate-revoke": Confirmation(
        "Revoke the certificate of {name}?",
        "The home agent refuses the node's IKE authentication, so it can no longer "
        "register until its owner issues a new certificate.", "Revoke certificate"),
}


def _confirm(request: HttpRequest, back: str, name: str, nodes: int = 0) -> HttpResponse:
    """The confirmation page of the action at this URL (a GET; the button POSTs back to
    it, with JavaScript or without)."""
    assert request.resolver_match is not None
    asked = CONFIRMATIONS[request.resolver_match.url_name or ""]
    return render(request, "haiku/confirm.html", {
        "question": asked.question.format(name=name, nodes=nodes),
        "consequence": asked.consequence.format(name=name, nodes=nodes),
        "button": asked.button, "back": back})


# -- public ---------------------------------------------------------------------------------

@require_GET
def home(request: HttpRequest) -> HttpResponse:
    return render(request, "haiku/home.html", registration_policy())


@require_GET
def healthz(request: HttpRequest) -> HttpResponse:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"ok": True})


@require_http_methods(["GET", "POST"])
def register(request: HttpRequest) -> HttpResponse:
    policy = registration_policy()
    form = RegisterForm(request.POST or None, client=client_address(request))
    if request.method == "POST" and form.has_error(NON_FIELD_ERRORS, "throttled"):
        response = render(request, "haiku/register.html", {"form": form, **policy},
                          status=429)
        response["Retry-After"] = str(throttle.retry_after(form.throttled()))
        return response
    if request.method == "POST" and form.is_valid():
        user = form.save(commit=False)
        user.email_confirmed = not policy["email_confirmation"]
        user.approved = not policy["operator_approval"]
        user.save()
        if policy["email_confirmation"] and not _confirmation_sent(request, user):
            user.delete()  # so that the person can register again with the same name
            form.add_error(None, "We could not send the confirmation e-mail just now, so "
                           "no account was made. Try again in a few minutes; if this "
                           "lasts, tell the service's operator.")
            return render(request, "haiku/register.html", {"form": form, **policy},
                          status=503)
        return redirect("register-done")
    return render(request, "haiku/register.html", {"form": form, **policy})


def _confirmation_sent(request: HttpRequest, user: User) -> bool:
    link = base_url(request) + reverse("confirm-email", args=[
        urlsafe_base64_encode(force_bytes(user.pk)), email_tokens.make_token(user)])
    try:
        send_mail("Confirm your HAiku account",
                  f"Hello {user.username},\n\nconfirm your e-mail address by opening\n"
                  f"{link}\n", None, [user.email])
    except OSError as exc:  # smtplib's errors too: the mail server refused or is away
        _log.warning("registration of %r: the confirmation mail to %s was not sent: %s",
                     user.username, user.email, exc)
        return False
    return True


@require_GET
def register_done(request: HttpRequest) -> HttpResponse:
    return render(request, "haiku/register_done.html", registration_policy())


@require_GET
def confirm_email(request: HttpRequest, uidb64: str, token: str) -> HttpResponse:
    try:
        user = User.objects.get(pk=int(force_str(urlsafe_base64_decode(uidb64))))
    except (ValueError, TypeError, OverflowError, User.DoesNotExist):
        user = None
    if user is None or not email_tokens.check_token(user, token):
        return render(request, "haiku/message.html", {
            "title": "Link not valid",
            "text": "This confirmation link is not valid or was already used."}, status=400)
    user.email_confirmed = True
    user.save(update_fields=["email_confirmed"])
    text = "Your e-mail address is confirmed."
    if not user.approved:
        text += " An operator still has to approve your account."
    return render(request, "haiku/message.html", {"title": "Confirmed", "text": text})


# -- nodes ----------------------------------------------------------------------------------

def _own_node(request: HttpRequest, node_id: int) -> Node:
    return get_object_or_404(Node.objects.select_related("owner"), pk=node_id,
                             owner=request.user)


def _live_cells(nodes: list[Node]) -> dict[str, dashboard.Cell]:
    """One look at the home agent: the live cells of these nodes and the banner's."""
    ha, now = live.look(), time.time()
    bound = dashboard.by_home_address(ha.bindings or ())
    cells = {"home-agent": dashboard.home_agent_cell(ha)}
    for node in nodes:
        cells |= dashboard.node_cells(f"node-{node.pk}", node.active,
                                      bound.get(node.home_address), ha, now)
    return cells


def _live_context(nodes: list[Node]) -> dict[str, Any]:
    """The dashboard's cells: the banner's, and per node (key, label, cell) in
    :data:`haiku.core.dashboard.NODE_COLUMNS` order."""
    cells = _live_cells(nodes)
    rows = [(node, [(f"node-{node.pk}-{key}", label, cells[f"node-{node.pk}-{key}"])
                    for key, label in dashboard.NODE_COLUMNS]) for node in nodes]
    return {"home_agent": cells["home-agent"], "rows": rows, "live_url": reverse("node-live")}


@require_GET
def node_list(request: HttpRequest) -> HttpResponse:
    nodes = list(Node.objects.filter(owner=request.user).select_related("owner")
                 .prefetch_related("prefixes"))
    return render(request, "haiku/node_list.html", _live_context(nodes))


@require_GET
def node_live(request: HttpRequest) -> HttpResponse:
    """The live cells of the user's nodes (the dashboard's script polls this)."""
    nodes = list(Node.objects.filter(owner=request.user).select_related("owner"))
    return _cells_json(_live_cells(nodes))


def _cells_json(cells: dict[str, dashboard.Cell]) -> HttpResponse:
    """``{"cells": {key: [text, tone]}}``, what live.js applies."""
    response = JsonResponse({"cells": {k: [c.text, str(c.tone)] for k, c in cells.items()}})
    response["Cache-Control"] = "no-store"
    return response


LIVE_REFRESH_SECONDS = 5


@require_GET
def live_js(request: HttpRequest) -> HttpResponse:
    """The few lines that refresh live cells (a file of its own: no inline script)."""
    response = render(request, "haiku/live.js", {"refresh_seconds": LIVE_REFRESH_SECONDS},
                      content_type="text/javascript")
    response["Cache-Control"] = "max-age=300"
    return response


@require_GET
def style_sheet(request: HttpRequest) -> HttpResponse:
    """The pages' styles (a file of their own: the Content-Security-Policy allows no
    inline style)."""
    response = render(request, "haiku/haiku.css", content_type="text/css")
    response["Cache-Control"] = "max-age=300"
    return response


@require_http_methods(["GET", "POST"])
def node_create(request: HttpRequest) -> HttpResponse:
    form = NodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            created = nodes_service.create_enrolled_node(
                request.user, form.node_request(), base_url(request))  # type: ignore[arg-type]
        except nodes_service.PoolExhausted as exc:
            form.add_error(None, str(exc))
        except nodes_service.NameTaken as exc:
            form.add_error("name", str(exc))
        else:
            _home_agent_said(request, created.home_agent, f"Node {created.node.name} saved")
            return _show_token(request, created.node, created.token, created=True)
    return render(request, "haiku/node_form.html", {"form": form})


def _show_token(request: HttpRequest, node: Node, token: str, created: bool = False
                ) -> HttpResponse:
    response = render(request, "haiku/node_token.html", {
        "node": node, "token": token, "created": created,
        "endpoint": base_url(request) + reverse("api-self-config")})
    response["Cache-Control"] = "no-store"
    return response


@require_GET
def node_detail(request: HttpRequest, node_id: int) -> HttpResponse:
    node = _own_node(request, node_id)
    _include, conf = homeagent.node_files(node)
    return render(request, "haiku/node_detail.html", {
        "node": node, "prefixes": node.prefixes.all(), "mip6d_conf": conf,
        "certificate_revoked": revocation.is_revoked(node),
        "iso_available": isoview.available(), **_live_context([node])})


def _home_agent_said(request: HttpRequest, result: homeagent.ReloadResult, done: str,
                     taken: str = "") -> None:
    """Tell the user whether the home agent took a change (``done``: what HAiku did)."""
    if result.ok:
        if taken:
            messages.success(request, f"{done}; {taken}.")
        return
    messages.warning(request, f"{done}, but the home agent has not taken it yet "
                     f"({result.message}). HAiku keeps the change, and mip6d applies it "
                     "when it next reloads or starts; if this lasts, tell your operator.")


def _node_back(node: Node) -> str:
    return reverse("node-detail", args=[node.pk])


@require_http_methods(["GET", "POST"])
def node_delete(request: HttpRequest, node_id: int) -> HttpResponse:
    node = _own_node(request, node_id)
    if request.method == "GET":
        return _confirm(request, _node_back(node), node.name)
    name = node.name
    _home_agent_said(request, nodes_service.delete_node(node), f"Node {name} deleted",
                     "the home agent no longer has it")
    return redirect("node-list")


@require_POST
def node_enable(request: HttpRequest, node_id: int) -> HttpResponse:
    node = _own_node(request, node_id)
    _home_agent_said(request, nodes_service.set_enabled(node, True),
                     f"Node {node.name} enabled", "the home agent accepts it again")
    return redirect("node-detail", node_id=node_id)


@require_http_methods(["GET", "POST"])
def node_disable(request: HttpRequest, node_id: int) -> HttpResponse:
    node = _own_node(request, node_id)
    if request.method == "GET":
        return _confirm(request, _node_back(node), node.name)
    _home_agent_said(request, nodes_service.set_enabled(node, False),
                     f"Node {node.name} disabled", "the home agent no longer accepts it")
    return redirect("node-detail", node_id=node_id)


@require_http_methods(["GET", "POST"])
def node_token_rotate(request: HttpRequest, node_id: int) -> HttpResponse:
    node = _own_node(request, node_id)
    if request.method == "GET":
        return _confirm(request, _node_back(node), node.name)
    return _show_token(request, node, nodes_service.rotate_token(node))


@require_http_methods(["GET", "POST"])
def node_token_revoke(request: HttpRequest, node_id: int) -> HttpResponse:
    node = _own_node(request, node_id)
    if request.method == "GET":
        return _confirm(request, _node_back(node), node.name)
    nodes_service.revoke_token(node)
    messages.success(request, "Token revoked: the node can no longer fetch its configuration.")
    return redirect("node-detail", node_id=node_id)


@require_http_methods(["GET", "POST"])
def node_certificate_revoke(request: HttpRequest, node_id: int) -> HttpResponse:
    node = _own_node(request, node_id)
    if request.method == "GET":
        return _confirm(request, _node_back(node), node.name)
    if nodes_service.revoke_certificate(node):
        messages.success(request, "Certificate revoked: the home agent refuses the node's "
                         "IKE authentication, so it can no longer register. Issue a new "
                         "certificate to let it in again.")
    else:
        messages.error(request, "This node has no certificate to revoke, or it is "
                       "already revoked.")
    return redirect("node-detail", node_id=node_id)


RENEWED = {
    KeyOrigin.SERVICE: "New certificate issued; the old one is revoked. The node gets it "
                       "with its next configuration fetch.",
    KeyOrigin.NODE: "The old certificate is revoked. The node makes a new key and sends "
                    "its certificate request when it next enrolls.",
}


@require_http_methods(["GET", "POST"])
def node_certificate_renew(request: HttpRequest, node_id: int) -> HttpResponse:
    node = _own_node(request, node_id)
    if request.method == "GET":
        return _confirm(request, _node_back(node), node.name)
    try:
        nodes_service.renew_certificate(node, base_url(request))
    except ValueError as exc:
        messages.error(request, f"{exc}.")
    else:
        messages.success(request, RENEWED[KeyOrigin(node.key_origin)])
    return redirect("node-detail", node_id=node_id)


# -- API tokens -----------------------------------------------------------------------------

@require_http_methods(["GET", "POST"])
def api_tokens(request: HttpRequest) -> HttpResponse:
    """The user's API tokens; a new one's secret is shown once, on the answer to its POST."""
    form = ApiTokenForm(request.POST or None, user=request.user)
    secret = ""
    if request.method == "POST" and form.is_valid():
        try:
            made, secret = apitokens.create(request.user,  # type: ignore[arg-type]
                                            form.cleaned_data["name"],
                                            form.cleaned_data["scopes"])
        except ScopeError as exc:
            form.add_error("scopes", str(exc))
        else:
            messages.success(request, f"API token {made.name} made. Copy it now: it is "
                             "not shown again.")
            form = ApiTokenForm(user=request.user)
    response = render(request, "haiku/api_tokens.html", {
        "form": form, "secret": secret,
        "tokens": ApiToken.objects.filter(owner=request.user),
        "api_base": base_url(request) + "/api/v1"})
    response["Cache-Control"] = "no-store"
    return response


@require_POST
def api_token_revoke(request: HttpRequest, token_id: int) -> HttpResponse:
    if apitokens.revoke(request.user, token_id):  # type: ignore[arg-type]
        messages.success(request, "API token revoked: it no longer works.")
    else:
        messages.error(request, "No such API token of yours (already revoked?).")
    return redirect("api-tokens")


# -- the CA (public: relying parties fetch these) ---------------------------------------------

# The CRL's encodings: a CRL distribution point's HTTP URI serves DER, application/pkix-crl
# (RFC 5280 4.2.1.13, RFC 2585 4.2); PEM for people and swanctl's x509crl directory.
CRL_ENCODINGS = {
    "der": (serialization.Encoding.DER, "application/pkix-crl"),
    "pem": (serialization.Encoding.PEM, "application/x-pem-file"),
}


@require_GET
def ca_crl(request: HttpRequest, encoding: str = "der") -> HttpResponse:
    """The CA's current CRL, signed on each request (charon fetches it once per lifetime)."""
    serialized, content_type = CRL_ENCODINGS[encoding]
    response = HttpResponse(revocation.current_crl().public_bytes(serialized),
                            content_type=content_type)
    response["Cache-Control"] = "no-cache"
    return response


@require_GET
def ca_certificate(request: HttpRequest) -> HttpResponse:
    return HttpResponse(ca.load_or_create(settings.HAIKU.secrets_dir).certificate_pem,
                        content_type="application/x-pem-file")


# -- operator -------------------------------------------------------------------------------

@require_GET
def operator_users(request: HttpRequest) -> HttpResponse:
    users = User.objects.order_by("username").prefetch_related("nodes")
    return render(request, "haiku/operator/users.html", {"users": users})


def _other_user(request: HttpRequest, user_id: int) -> User:
    user = get_object_or_404(User, pk=user_id)
    return user


def _after_change(request: HttpRequest, user: User, what: str) -> HttpResponse:
    result = homeagent.sync_user(user.pk)
    (messages.success if result.ok else messages.warning)(
        request, f"{user.username}: {what}. Home agent: {result.message}.")
    return redirect("operator-users")


@require_POST
def operator_user_approve(request: HttpRequest, user_id: int) -> HttpResponse:
    user = _other_user(request, user_id)
    user.approved = True
    user.save(update_fields=["approved"])
    return _after_change(request, user, "approved")


@require_http_methods(["GET", "POST"])
def operator_user_disable(request: HttpRequest, user_id: int) -> HttpResponse:
    user = _other_user(request, user_id)
    if request.method == "GET":
        return _confirm(request, reverse("operator-users"), user.username,
                        user.nodes.count())
    if user.pk == request.user.pk:
        messages.error(request, "You cannot disable yourself.")
        return redirect("operator-users")
    user.is_active = False
    user.save(update_fields=["is_active"])
    return _after_change(request, user, "disabled")


@require_POST
def operator_user_enable(request: HttpRequest, user_id: int) -> HttpResponse:
    user = _other_user(request, user_id)
    user.is_active = True
    user.save(update_fields=["is_active"])
    return _after_change(request, user, "enabled")


@require_http_methods(["GET", "POST"])
def operator_user_delete(request: HttpRequest, user_id: int) -> HttpResponse:
    user = _other_user(request, user_id)
    if request.method == "GET":
        return _confirm(request, reverse("operator-users"), user.username,
                        user.nodes.count())
    if user.pk == request.user.pk:
        messages.error(request, "You cannot delete yourself.")
        return redirect("operator-users")
    name = user.username
    result = nodes_service.delete_user(user)
    (messages.success if result.ok else messages.warning)(
        request, f"{name}: deleted. Home agent: {result.message}.")
    return redirect("operator-users")


@require_GET
def operator_certificates(request: HttpRequest) -> HttpResponse:
    nodes = Node.objects.filter(keying=Keying.CERTIFICATE.value).select_related("owner")
    revoked = set(RevokedCertificate.objects.values_list("serial", flat=True))
    rows = [(n, f"{ca.serial_of(n.certificate_pem):x}" in revoked) for n in nodes
            if n.certificate_pem]
    return render(request, "haiku/operator/certificates.html", {
        "rows": rows, "revoked": RevokedCertificate.objects.select_related("node")})


@require_http_methods(["GET", "POST"])
def operator_certificate_revoke(request: HttpRequest, node_id: int) -> HttpResponse:
    node = get_object_or_404(Node.objects.select_related("owner"), pk=node_id)
    if request.method == "GET":
        return _confirm(request, reverse("operator-certificates"),
                        f"{node.owner.username}/{node.name}")
    if nodes_service.revoke_certificate(node):
        messages.success(request, f"{node.owner.username}/{node.name}: certificate revoked.")
    else:
        messages.error(request, f"{node.owner.username}/{node.name}: no certificate to "
                       "revoke, or it already is.")
    return redirect("operator-certificates")


@require_GET
def operator_quarantine(request: HttpRequest) -> HttpResponse:
    held = QuarantinedAddress.objects.filter(until__gt=timezone.now())
    return render(request, "haiku/operator/quarantine.html", {
        "held": held, "lifetime": settings.HAIKU.crl_lifetime})


@require_http_methods(["GET", "POST"])
def operator_message(request: HttpRequest) -> HttpResponse:
    form = MessageForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        chosen = list(form.cleaned_data["recipients"]) or list(
            User.objects.filter(is_active=True).exclude(email=""))
        with get_connection() as conn:
            sent = conn.send_messages([
                EmailMessage(form.cleaned_data["subject"], form.cleaned_data["body"],
                             None, [u.email]) for u in chosen])
        messages.success(request, f"Message sent to {sent} user(s).")
        return redirect("operator-message")
    return render(request, "haiku/operator/message.html", {"form": form})


PLOT_HOURS = 24


def _plot_hours(request: HttpRequest) -> int:
    try:
        return min(max(int(request.GET.get("hours", PLOT_HOURS)), 1), 24 * 31)
    except ValueError:
        return PLOT_HOURS


def _plot(name: str, points: list[dashboard.Point], hours: int) -> str:
    title, values = dashboard.series(name, points)
    return svg_plot({name: values}, title=f"{title}, last {hours} h")


def _operator_cells() -> tuple[dashboard.Reading, Any, dict[str, dashboard.Cell]]:
    """One look at the home agent for the operator: bindings, counters, the live cells."""
    ha = live.look()
    counters, _error = live.ask("counters") if ha.ok else (None, ha.error)
    return ha, counters, dashboard.summary_cells(ha, counters)


@require_GET
def operator_stats(request: HttpRequest) -> HttpResponse:
    """The operator's view of the home agent: now (bindings, whose they are, counters;
    the summary refreshed by live.js) and over time (plots of the collector's samples)."""
    ha, counters, cells = _operator_cells()
    owners = {n.home_address: n for n in Node.objects.select_related("owner")}
    now = time.time()
    bindings = [(b, owners.get(str(b.get("home_address"))),
                 [(c.label, c.cell(b, now)) for c in dashboard.LIVE_COLUMNS])
                for b in ha.bindings or ()]
    hours = _plot_hours(request)
    points = live.points(timezone.now() - timedelta(hours=hours))
    return render(request, "haiku/operator/stats.html", {
        "home_agent": cells["home-agent"],
        "summary": [(key, label, cells[key]) for key, label in dashboard.SUMMARY],
        "bindings": bindings, "live_url": reverse("operator-live"),
        "counters": sorted(counters.items()) if isinstance(counters, dict) else [],
        "plots": [(name, mark_safe(_plot(name, points, hours)))  # svg_plot escapes
                  for name in dashboard.SERIES],
        "hours": hours, "samples": Sample.objects.count(),
        "columns": dashboard.LIVE_COLUMNS})


@require_GET
def operator_live(request: HttpRequest) -> HttpResponse:
    """The operator's live cells (the home agent page's script polls this)."""
    return _cells_json(_operator_cells()[2])


@require_GET
def operator_stats_svg(request: HttpRequest) -> HttpResponse:
    """One plot of :data:`haiku.core.dashboard.SERIES` (``?series=NAME&hours=H``)."""
    name = request.GET.get("series", "bindings")
    if name not in dashboard.SERIES:
        return HttpResponseBadRequest(
            f"unknown series {name[:40]!r}; one of: {', '.join(dashboard.SERIES)}",
            content_type="text/plain")
    hours = _plot_hours(request)
    points = live.points(timezone.now() - timedelta(hours=hours))
    return HttpResponse(_plot(name, points, hours), content_type="image/svg+xml")


def download(data: Any, filename: str) -> HttpResponse:
    response = HttpResponse(json.dumps(data, indent=2, sort_keys=True),
                            content_type="application/json")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "no-store"
    return response
