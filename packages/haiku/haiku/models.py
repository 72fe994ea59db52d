"""The database: users (with role and account state), nodes, their prefixes, statistics.

Uniqueness that matters is the database's job: a node's ``slot`` (its home address index)
and ``home_address``, a prefix's ``index`` and ``prefix``, and token digests all carry
unique constraints, so two concurrent creations cannot get the same address.
"""

from __future__ import annotations

from ipaddress import IPv6Address, IPv6Network

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.db import models

from haiku.core import keys as corekeys
from haiku.core.csr import KeyOrigin
from haiku.core.keys import Direction, SaKey
from haiku.core.render import Keying, NodeKind, NodeSpec


class User(AbstractUser):
    class Role(models.TextChoices):
        USER = "user", "user"
        OPERATOR = "operator", "operator"

    role = models.CharField(max_length=16, choices=Role.choices, default=Role.USER)
    email_confirmed = models.BooleanField(default=True)
    approved = models.BooleanField(default=True)

    @property
    def is_operator(self) -> bool:
        return self.role == self.Role.OPERATOR

    @property
    def can_log_in(self) -> bool:
        return self.is_active and self.email_confirmed and self.approved

    @property
    def state(self) -> str:
        if not self.is_active:
            return "disabled"
        if not self.email_confirmed:
            return "e-mail not confirmed"
        if not self.approved:
            return "awaiting approval"
        return "active"


class Node(models.Model):
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                              related_name="nodes")
    name = models.CharField(max_length=64)
    kind = models.CharField(max_length=8, choices=[(k.value, k.value) for k in NodeKind])
    slot = models.PositiveIntegerField(unique=True)
    home_address = models.CharField(max_length=39, unique=True)
    keying = models.CharField(max_length=16, choices=[(k.value, k.value) for k in Keying])
    protect_all_traffic = models.BooleanField(default=False)
    interface = models.CharField(max_length=15, default="eth0")
    enabled = models.BooleanField(default=True)
    # Static keys: [{"direction", "spi", "reqid", "encryption", "key"}], never logged.
    static_keys = models.JSONField(default=list, blank=True)
    # Certificate keying: where the node's key is made (KeyOrigin: "service", or "node",
    # which sends a certificate request at enrollment and whose key never comes here);
    # the key (service-made only) and certificate, PEM; the certified key's fingerprint
    # (SHA-256 of its SubjectPublicKeyInfo), which no two nodes share.
    key_origin = models.CharField(max_length=8, default=KeyOrigin.SERVICE.value,
                                  choices=[(k.value, k.value) for k in KeyOrigin])
    private_key_pem = models.TextField(blank=True, default="")
    certificate_pem = models.TextField(blank=True, default="")
    key_fingerprint = models.CharField(max_length=64, blank=True, default="", db_index=True)
    token_digest = models.CharField(max_length=64, unique=True, null=True, blank=True)
    token_created = models.DateTimeField(null=True, blank=True)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["owner", "name"], name="node_name_per_owner"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.home_address})"

    @property
    def active(self) -> bool:
        """Whether the home agent should accept it: enabled, and its owner may log in."""
        return self.enabled and self.owner.can_log_in

    def keys(self) -> tuple[SaKey, ...]:
        return tuple(SaKey(Direction(k["direction"]), int(k["spi"]), int(k["reqid"]),
                           str(k["encryption"]), str(k["key"])) for k in self.static_keys)

    def spec(self, prefixes: list[str] | None = None) -> NodeSpec:
        haiku = settings.HAIKU
        if prefixes is None:
            prefixes = [p.prefix for p in self.prefixes.all()]
        return NodeSpec(
            name=self.name,
            kind=NodeKind(self.kind),
            home_address=IPv6Address(self.home_address),
            home_prefix_length=haiku.home_prefix.prefixlen,
            home_agent_address=haiku.home_agent_address,
            mobile_network_prefixes=tuple(IPv6Network(p) for p in prefixes),
            keying=Keying(self.keying),
            protect_all_traffic=self.protect_all_traffic,
            reqids=corekeys.reqids(self.slot),
            keys=self.keys(),
            interface=self.interface,
        )


class RevokedCertificate(models.Model):
    """A node certificate the CA revoked; it stays listed in the CRL when its node is
    deleted (until it expires, the key it certifies could still be used)."""

    class Reason(models.TextChoices):
        # RFC 5280, 5.3.1 (cryptography's x509.ReasonFlags values)
        UNSPECIFIED = "unspecified", "unspecified"
        KEY_COMPROMISE = "keyCompromise", "key compromise"
        SUPERSEDED = "superseded", "superseded"
        CESSATION_OF_OPERATION = "cessationOfOperation", "cessation of operation"

    # Serials are up to 20 octets: kept as lower-case hex without leading zeros.
    serial = models.CharField(max_length=40, unique=True)
    node = models.ForeignKey(Node, on_delete=models.SET_NULL, null=True, blank=True,
                             related_name="revoked_certificates")
    subject = models.CharField(max_length=200)
    # The certified key's fingerprint: a key revoked as compromised is not certified again.
    key_fingerprint = models.CharField(max_length=64, blank=True, default="", db_index=True)
    reason = models.CharField(max_length=32, choices=Reason.choices)
    revoked_at = models.DateTimeField()
    not_after = models.DateTimeField()

    class Meta:
        ordering = ["revoked_at", "id"]

    def __str__(self) -> str:
        return f"{self.serial} ({self.subject}, {self.reason})"


class MobileNetworkPrefix(models.Model):
    node = models.ForeignKey(Node, on_delete=models.CASCADE, related_name="prefixes")
    index = models.PositiveIntegerField(unique=True)
    prefix = models.CharField(max_length=43, unique=True)

    class Meta:
        ordering = ["index"]

    def __str__(self) -> str:
        return self.prefix


class Sample(models.Model):
    """One reading of the home agent's control socket by the collector, at most one a
    minute (:data:`haiku.core.dashboard.MIN_SAMPLE_INTERVAL`): what the operator's plots
    show. Counters are mip6d's totals since it started (rates are their differences)."""

    taken = models.DateTimeField(db_index=True)
    ok = models.BooleanField(default=True)
    error = models.TextField(blank=True, default="")
    bindings = models.PositiveIntegerField(default=0)
    binding_updates = models.PositiveBigIntegerField(default=0)
    failures = models.PositiveBigIntegerField(default=0)

    class Meta:
        ordering = ["taken"]


class ThrottleCount(models.Model):
    """Events of one kind for one subject (``kind:subject``: failed log-ins of an account
    name, registrations from a client address or with an e-mail address) within the
    window of :data:`haiku.throttle.LIMITS`, and until when the subject is locked."""

    key = models.CharField(max_length=150, unique=True)
    count = models.PositiveIntegerField(default=0)
    first = models.DateTimeField()
    locked_until = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.key}: {self.count}"


class ApiToken(models.Model):
    """A user's token for the JSON API (``Authorization: Bearer hga_...``): shown once,
    stored as its SHA-256 digest, with the scopes it was made with (space-separated,
    :mod:`haiku.core.scopes`). Revoking it deletes the row."""

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                              related_name="api_tokens")
    name = models.CharField(max_length=64)
    digest = models.CharField(max_length=64, unique=True)
    # The first characters of the secret, so that people can tell their tokens apart.
    hint = models.CharField(max_length=12)
    scopes = models.CharField(max_length=200)
    created = models.DateTimeField(auto_now_add=True)
    last_used = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.hint}..., {self.scopes})"

    @property
    def scope_names(self) -> list[str]:
        return self.scopes.split()


class QuarantinedAddress(models.Model):
    """A deleted node's home address or prefix, not handed out again until ``until``:
    a home agent may hold a CRL that does not list the node's revoked certificate yet
    for up to HAIKU_CRL_LIFETIME after the deletion (and a static-keyed node's old keys
    belong to the address)."""

    class Pool(models.TextChoices):
        HOME = "home", "home address"
        MNP = "mnp", "mobile network prefix"

    pool = models.CharField(max_length=8, choices=Pool.choices)
    index = models.PositiveIntegerField()
    value = models.CharField(max_length=43)
    former_node = models.CharField(max_length=200)
    until = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["until", "id"]
        constraints = [models.UniqueConstraint(fields=["pool", "index"],
                                               name="quarantine_once_per_piece")]

    def __str__(self) -> str:
        return f"{self.value} until {self.until:%Y-%m-%d %H:%M}"
