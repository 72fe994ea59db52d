"""Server-rendered pages: registration, nodes, operator pages."""

from __future__ import annotations

import json
import logging
import time
from datetime import timedelta
from typing import Any

from cryptography.hazmat.primitives import serialization
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.tokens import PasswordResetTokenGenerator
from django.core.mail import get_connection, send_mail
from django.core.mail.message import EmailMessage
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.encoding import force_bytes, force_str
from django.utils.http import urlsafe_base64_decode, urlsafe_base64_encode
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from haiku import apitokens, ca, control, homeagent, revocation
from haiku import nodes as nodes_service
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


def base_url(request: HttpRequest) -> str:
    return settings.HAIKU.base_url.rstrip("/") or request.build_absolute_uri("/").rstrip("/")


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
    form = RegisterForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = form.save(commit=False)
        user.email_confirmed = not policy["email_confirmation"]
        user.approved = not policy["operator_approval"]
        user.save()
        if policy["email_confirmation"]:
            link = base_url(request) + reverse("confirm-email", args=[
                urlsafe_base64_encode(force_bytes(user.pk)), email_tokens.make_token(user)])
            send_mail("Confirm your HAiku account",
                      f"Hello {user.username},\n\nconfirm your e-mail address by opening\n"
                      f"{link}\n", None, [user.email])
        return redirect("register-done")
    return render(request, "haiku/register.html", {"form": form, **policy})


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


@require_GET
def node_list(request: HttpRequest) -> HttpResponse:
    nodes = Node.objects.filter(owner=request.user).prefetch_related("prefixes")
    return render(request, "haiku/node_list.html", {"nodes": nodes})


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
        "certificate_revoked": revocation.is_revoked(node)})


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


@require_POST
def node_delete(request: HttpRequest, node_id: int) -> HttpResponse:
    node = _own_node(request, node_id)
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


@require_POST
def node_disable(request: HttpRequest, node_id: int) -> HttpResponse:
    node = _own_node(request, node_id)
    _home_agent_said(request, nodes_service.set_enabled(node, False),
                     f"Node {node.name} disabled", "the home agent no longer accepts it")
    return redirect("node-detail", node_id=node_id)


@require_POST
def node_token_rotate(request: HttpRequest, node_id: int) -> HttpResponse:
    node = _own_node(request, node_id)
    return _show_token(request, node, nodes_service.rotate_token(node))


@require_POST
def node_token_revoke(request: HttpRequest, node_id: int) -> HttpResponse:
    nodes_service.revoke_token(_own_node(request, node_id))
    messages.success(request, "Token revoked: the node can no longer fetch its configuration.")
    return redirect("node-detail", node_id=node_id)


@require_POST
def node_certificate_revoke(request: HttpRequest, node_id: int) -> HttpResponse:
    node = _own_node(request, node_id)
    if nodes_service.revoke_certificate(node):
        messages.success(request, "Certificate revoked: the home agent refuses the node's "
                         "IKE authentication, so it can no longer register. Issue a new "
                         "certificate to let it in again.")
    else:
        messages.error(request, "This node has no certificate to revoke, or it is "
                       "already revoked.")
    return redirect("node-detail", node_id=node_id)


@require_POST
def node_certificate_renew(request: HttpRequest, node_id: int) -> HttpResponse:
    node = _own_node(request, node_id)
    try:
        nodes_service.renew_certificate(node, base_url(request))
    except ValueError as exc:
        messages.error(request, f"{exc}.")
    else:
        messages.success(request, "New certificate issued; the old one is revoked. The node "
                         "gets it with its next configuration fetch.")
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


@require_POST
def operator_user_disable(request: HttpRequest, user_id: int) -> HttpResponse:
    user = _other_user(request, user_id)
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


@require_POST
def operator_user_delete(request: HttpRequest, user_id: int) -> HttpResponse:
    user = _other_user(request, user_id)
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


@require_POST
def operator_certificate_revoke(request: HttpRequest, node_id: int) -> HttpResponse:
    node = get_object_or_404(Node.objects.select_related("owner"), pk=node_id)
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


def _live(command: str) -> tuple[Any, str]:
    try:
        return control.request(settings.HAIKU.control_socket, command,
                               timeout=settings.HAIKU.control_timeout), ""
    except control.ControlError as exc:
        return None, str(exc)


@require_GET
def operator_stats(request: HttpRequest) -> HttpResponse:
    bindings, error = _live("bindings")
    counters, error2 = _live("counters")  # at once if mip6d just did not answer
    return render(request, "haiku/operator/stats.html", {
        "bindings": bindings or [], "counters": sorted((counters or {}).items()),
        "error": error or error2, "samples": Sample.objects.count(),
        "now": int(time.time())})


@require_GET
def operator_stats_svg(request: HttpRequest) -> HttpResponse:
    try:
        hours = min(max(int(request.GET.get("hours", "24")), 1), 24 * 31)
    except ValueError:
        hours = 24
    since = timezone.now() - timedelta(hours=hours)
    series: dict[str, list[tuple[float, float]]] = {"bindings": []}
    for sample in Sample.objects.filter(taken__gte=since, ok=True).order_by("taken"):
        t = sample.taken.timestamp()
        series["bindings"].append((t, float(sample.bindings)))
        for name, value in (sample.counters or {}).items():
            if isinstance(value, int | float) and (name in series or len(series) < 7):
                series.setdefault(name, []).append((t, float(value)))
    svg = svg_plot(series, title=f"home agent, last {hours} h")
    return HttpResponse(svg, content_type="image/svg+xml")


def download(data: Any, filename: str) -> HttpResponse:
    response = HttpResponse(json.dumps(data, indent=2, sort_keys=True),
                            content_type="application/json")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "no-store"
    return response
