"""Creating, changing and deleting nodes: allocation from the pools (one at a time, and
the database's unique constraints decide any race left; a lost race retries), keying,
tokens, and the quarantine of a deleted node's addresses. The web pages and the JSON API
both call these, so each rule lives here once."""

from __future__ import annotations

import ipaddress
import logging
from dataclasses import dataclass
from datetime import timedelta

from cryptography import x509
from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from haiku import ca, files, homeagent, revocation
from haiku.core import csr, tokens
from haiku.core import keys as corekeys
from haiku.core.allocation import Pool, PoolExhausted, first_free
from haiku.core.csr import KeyOrigin
from haiku.core.render import Keying, NodeKind
from haiku.models import MobileNetworkPrefix, Node, QuarantinedAddress, User

__all__ = [
    "Created",
    "NameTaken",
    "NodeRequest",
    "PoolExhausted",
    "RequestRefused",
    "create_enrolled_node",
    "create_node",
    "delete_node",
    "delete_user",
    "home_pool",
    "mnp_pool",
    "node_by_token",
    "renew_certificate",
    "revoke_certificate",
    "revoke_token",
    "rotate_token",
    "set_enabled",
    "set_key_origin",
    "sign_request",
    "update_node",
]

_log = logging.getLogger("haiku.nodes")
ATTEMPTS = 50
MAX_PREFIXES = 16
ALLOCATION_LOCK = 0x4841494B  # "HAIK": the PostgreSQL advisory lock of the pools


class NameTaken(ValueError):
    pass


def home_pool() -> Pool:
    h = settings.HAIKU
    return Pool("home address pool", h.home_prefix, 128, h.home_first, h.home_pool_size)


def mnp_pool() -> Pool:
    h = settings.HAIKU
    return Pool("mobile network prefix pool", h.mnp_pool, h.mnp_length, 0, h.mnp_pool_size)


@dataclass(frozen=True)
class NodeRequest:
    name: str
    kind: NodeKind
    prefix_count: int
    keying: Keying
    protect_all_traffic: bool = False
    interface: str = "eth0"
    key_origin: KeyOrigin = KeyOrigin.SERVICE

    def __post_init__(self) -> None:
        if self.key_origin is KeyOrigin.NODE and self.keying is not Keying.CERTIFICATE:
            raise ValueError("a key made on the node needs certificate keying")
        if self.kind is NodeKind.HOST and self.prefix_count:
            raise ValueError("a mobile host has no mobile network prefixes")
        if self.kind is NodeKind.ROUTER and not 1 <= self.prefix_count <= MAX_PREFIXES:
            raise ValueError(f"a mobile router needs 1 to {MAX_PREFIXES} prefixes")


def _lock_pools() -> None:
    """Allocations one at a time, to the end of the transaction, so that each sees the
    ones before it: on PostgreSQL an advisory lock (without it, concurrent creations pick
    the same free slot, all but one fail on the unique constraint and pick again, until
    some give up); SQLite's transactions take the database's write lock at their start
    already (haiku/sqlite3/)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [ALLOCATION_LOCK])


def _quarantined(pool: str) -> list[int]:
    return list(QuarantinedAddress.objects.filter(pool=pool, until__gt=timezone.now())
                .values_list("index", flat=True))


def _quarantine(node: Node) -> None:
    """Hold the node's home address and prefixes back for the CRL lifetime: until then a
    home agent may still trust the node's certificate (its last CRL does not list it
    yet), or a node may still use the address with its old keys."""
    now = timezone.now()
    until = now + timedelta(seconds=settings.HAIKU.crl_lifetime)
    former = f"{node.owner.username}/{node.name}"
    QuarantinedAddress.objects.filter(until__lte=now).delete()
    pieces = [(QuarantinedAddress.Pool.HOME, node.slot, node.home_address)] + [
        (QuarantinedAddress.Pool.MNP, p.index, p.prefix) for p in node.prefixes.all()]
    for pool, index, value in pieces:
        QuarantinedAddress.objects.update_or_create(
            pool=pool, index=index,
            defaults={"value": value, "former_node": former[:200], "until": until})


def _allocate(owner: User, req: NodeRequest) -> Node:
    _lock_pools()
    hp, mp = home_pool(), mnp_pool()
    slot = first_free(hp, Node.objects.values_list("slot", flat=True),
                      _quarantined(QuarantinedAddress.Pool.HOME))
    node = Node(owner=owner, name=req.name, kind=req.kind.value, slot=slot,
                home_address=str(hp.address_at(slot)), keying=req.keying.value,
                protect_all_traffic=req.protect_all_traffic, interface=req.interface,
                key_origin=req.key_origin.value)
    if req.keying is Keying.STATIC:
        node.static_keys = [
            {"direction": k.direction.value, "spi": k.spi, "reqid": k.reqid,
             "encryption": k.encryption, "key": k.key}
            for k in corekeys.static_keys(slot, req.protect_all_traffic)]
    node.save()
    if req.prefix_count:
        used = set(MobileNetworkPrefix.objects.values_list("index", flat=True))
        held = _quarantined(QuarantinedAddress.Pool.MNP)
        for _ in range(req.prefix_count):
            index = first_free(mp, used, held)
            used.add(index)
            MobileNetworkPrefix.objects.create(node=node, index=index,
                                               prefix=str(mp.network_at(index)))
    return node


def crl_url(base_url: str = "") -> str | None:
    """Where the CRL is published (the certificates' CRL distribution point):
    HAIKU_BASE_URL, or else ``base_url`` (the request's), plus /ca/crl."""
    base = (settings.HAIKU.base_url or base_url).rstrip("/")
    return f"{base}/ca/crl" if base else None


def _issue(node: Node, base_url: str) -> None:
    """A key and certificate made here (the service keeps the key), or nothing yet for a
    node that makes its own key: it sends a request (:func:`sign_request`)."""
    if node.key_origin == KeyOrigin.NODE.value:
        node.private_key_pem = node.certificate_pem = node.key_fingerprint = ""
    else:
        issued = ca.load_or_create(settings.HAIKU.secrets_dir).issue(
            ca.common_name(node.name, node.home_address), node.home_address,
            crl_url(base_url))
        node.private_key_pem, node.certificate_pem = issued.private_key_pem, \
            issued.certificate_pem
        node.key_fingerprint = csr.key_fingerprint(
            x509.load_pem_x509_certificate(issued.certificate_pem.encode()).public_key())
    node.save(update_fields=["private_key_pem", "certificate_pem", "key_fingerprint"])


def create_node(owner: User, req: NodeRequest, base_url: str = "", sync: bool = True
                ) -> Node:
    """A new node with its home address, prefixes and keys. Raises :class:`PoolExhausted`
    (with a message for the user) or :class:`NameTaken`. ``base_url`` is the service's
    URL as the request saw it, for the CRL distribution point when HAIKU_BASE_URL is
    not set. The home agent gets the node once the transaction commits; with ``sync``
    false the caller tells it (:func:`homeagent.sync_node`) and gets the outcome."""
    if Node.objects.filter(owner=owner, name=req.name).exists():
        raise NameTaken(f"you already have a node called {req.name!r}")
    for _attempt in range(ATTEMPTS):
        try:
            with transaction.atomic():
                node = _allocate(owner, req)
        except IntegrityError:
            if Node.objects.filter(owner=owner, name=req.name).exists():
                raise NameTaken(f"you already have a node called {req.name!r}") from None
            continue  # another creation took the same slot or prefix: pick again
        break
    else:
        raise PoolExhausted("the pools are too busy right now; try again")
    if req.keying is Keying.CERTIFICATE:
        _issue(node, base_url)
    _log.info("node %s created for user %s: %s", node.pk, owner.pk, node.home_address)
    if sync:
        transaction.on_commit(lambda: homeagent.sync_node(node))
    return node


@dataclass(frozen=True)
class Created:
    node: Node
    token: str  # the node's first enrollment token, shown once
    home_agent: homeagent.ReloadResult


def create_enrolled_node(owner: User, req: NodeRequest, base_url: str = "") -> Created:
    """A node with its first enrollment token, committed, then the home agent told (the
    outcome): what the web form and the API create. Raises like :func:`create_node`."""
    with transaction.atomic():
        node = create_node(owner, req, base_url, sync=False)
        token = rotate_token(node)
    return Created(node, token, homeagent.sync_node(node))


def _retire(node: Node) -> None:
    """What a node's deletion takes with it: its certificate is revoked (its key may
    still be out there) and its addresses are quarantined."""
    revocation.revoke(node, revocation.Reason.CESSATION_OF_OPERATION)
    _quarantine(node)


def delete_node(node: Node) -> homeagent.ReloadResult:
    """Delete the node (:func:`_retire`). Call it outside a transaction: the deletion is
    committed, then the home agent told (the outcome)."""
    node_id = node.pk
    with transaction.atomic():
        _retire(node)
        node.delete()
    return homeagent.remove_node(node_id)


def delete_user(user: User) -> homeagent.ReloadResult:
    """Delete a user and their nodes (each :func:`_retire`), then tell the home agent."""
    node_ids = []
    with transaction.atomic():
        for node in user.nodes.select_related("owner").prefetch_related("prefixes"):
            _retire(node)
            node_ids.append(node.pk)
        user.delete()
    for node_id in node_ids:
        files.remove(homeagent.include_path(node_id))
    return homeagent.reload()


def set_enabled(node: Node, enabled: bool) -> homeagent.ReloadResult:
    """Like :func:`delete_node`: committed, then the home agent told (the outcome)."""
    node.enabled = enabled
    node.save(update_fields=["enabled"])
    return homeagent.sync_node(node)


def update_node(node: Node, name: str, interface: str) -> homeagent.ReloadResult:
    """Rename the node or change its interface (both checked by the caller's form);
    :class:`NameTaken` if the owner has another node of that name. Committed, then the
    home agent told (the outcome)."""
    if Node.objects.filter(owner=node.owner, name=name).exclude(pk=node.pk).exists():
        raise NameTaken(f"you already have a node called {name!r}")
    node.name, node.interface = name, interface
    try:
        with transaction.atomic():
            node.save(update_fields=["name", "interface"])
    except IntegrityError:
        raise NameTaken(f"you already have a node called {name!r}") from None
    return homeagent.sync_node(node)


def revoke_certificate(node: Node) -> bool:
    """Revoke the node's certificate (lost or stolen): the home agent refuses its IKE
    authentication from the next CRL it reads. False if there was nothing to revoke."""
    return revocation.revoke(node, revocation.Reason.KEY_COMPROMISE)


def renew_certificate(node: Node, base_url: str = "") -> None:
    """A new key and certificate for a certificate-keyed node; the old one is revoked
    (superseded) unless it already was. The node fetches the new ones with its token
    (a node that makes its own key finds no certificate for it, and sends a request)."""
    if node.keying != Keying.CERTIFICATE.value:
        raise ValueError(f"node {node.name!r} uses {node.keying} keys, not certificates")
    with transaction.atomic():
        revocation.revoke(node, revocation.Reason.SUPERSEDED)
        _issue(node, base_url)
    _log.info("node %s has a new certificate", node.pk)


class RequestRefused(ValueError):
    """A certificate request this node may not have signed: ``status`` is the HTTP
    status that says why (403 another node's address, 409 not this node's keying or a
    key another node has), the message what to do."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def sign_request(node: Node, request_pem: str, base_url: str = "") -> None:
    """Certify the key of the node's certificate request (checked by
    :func:`haiku.core.csr.check`, :class:`~haiku.core.csr.CsrError` if it is not one
    the CA signs), subject and address the service's own; the node's certificate before
    it is revoked (superseded). Raises :class:`RequestRefused`."""
    if node.keying != Keying.CERTIFICATE.value or node.key_origin != KeyOrigin.NODE.value:
        raise RequestRefused(409, f"node {node.name!r} does not make its own key (keying "
                             f"{node.keying}, key made by the {node.key_origin}); set its "
                             "key_origin to node first")
    checked = csr.check(request_pem)
    if revocation.compromised(checked.fingerprint):
        raise RequestRefused(409, "this key's certificate was revoked as compromised; make "
                             "a new key on the node (pki --gen) and request again")
    home = ipaddress.ip_address(node.home_address)
    others = [str(a) for a in checked.addresses if a != home]
    if others:
        raise RequestRefused(403, f"the request asks for {', '.join(others)}; this node's "
                             f"token gets a certificate for its home address {home} only "
                             "(is this node set up with another node's token?)")
    with transaction.atomic():
        if Node.objects.filter(key_fingerprint=checked.fingerprint) \
                .exclude(pk=node.pk).exists():
            raise RequestRefused(409, "another node's certificate has this key; make a new "
                                 "key on this node (pki --gen)")
        revocation.revoke(node, revocation.Reason.SUPERSEDED)
        node.certificate_pem = ca.load_or_create(settings.HAIKU.secrets_dir).certify(
            checked.public_key, ca.common_name(node.name, node.home_address),
            node.home_address, crl_url(base_url))
        node.private_key_pem, node.key_fingerprint = "", checked.fingerprint
        node.save(update_fields=["private_key_pem", "certificate_pem", "key_fingerprint"])
    _log.info("node %s: certified its own %s key %s", node.pk, checked.key_type,
              checked.fingerprint[:16])


def set_key_origin(node: Node, origin: KeyOrigin, base_url: str = "") -> None:
    """Where a certificate-keyed node's key is made from now on: its certificate is
    revoked (superseded); the service makes a new key and certificate, or forgets the
    key it had and waits for the node's request."""
    if node.keying != Keying.CERTIFICATE.value:
        raise ValueError(f"node {node.name!r} uses {node.keying} keys; only a "
                         "certificate-keyed node makes its own key")
    if node.key_origin == origin.value:
        return
    with transaction.atomic():
        node.key_origin = origin.value
        node.save(update_fields=["key_origin"])
        revocation.revoke(node, revocation.Reason.SUPERSEDED)
        _issue(node, base_url)
    _log.info("node %s: keys made by the %s from now on", node.pk, origin.value)


def rotate_token(node: Node) -> str:
    """A new token for the node (the old one stops working); shown once."""
    token = tokens.new_token()
    node.token_digest = tokens.digest(token)
    node.token_created = timezone.now()
    node.save(update_fields=["token_digest", "token_created"])
    return token


def revoke_token(node: Node) -> None:
    node.token_digest = None
    node.token_created = None
    node.save(update_fields=["token_digest", "token_created"])


def node_by_token(token: str) -> Node | None:
    """The active node this token belongs to, or None."""
    node = (Node.objects.select_related("owner")
            .filter(token_digest=tokens.digest(token)).first())
    if node is None or not node.active:
        return None
    return node
