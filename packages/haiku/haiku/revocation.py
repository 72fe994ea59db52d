"""Revoking node certificates and publishing the CRL.

A certificate is revoked when its user (or an operator) says so on the node's page, when
it is replaced by a new one, and when its node (or its owner) is deleted: the key it
certifies may still be out there. Disabling a node does not revoke: it can be enabled
again, and the home agent already stops accepting it (its nodes.d/ file goes).

The CRL is made afresh for each request from the database (an ECDSA signature is cheap)
and served at /ca/crl (DER, the URL in the certificates' CRL distribution point), and
written to HAIKU_CRL_FILE when set.
"""

from __future__ import annotations

import datetime
import logging
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from haiku import ca, files
from haiku.core import csr
from haiku.models import Node, RevokedCertificate

__all__ = ["compromised", "current_crl", "is_revoked", "publish", "revoke"]

_log = logging.getLogger("haiku.revocation")
Reason = RevokedCertificate.Reason


def _serial(node: Node) -> str | None:
    return f"{ca.serial_of(node.certificate_pem):x}" if node.certificate_pem else None


def _not_after(certificate: x509.Certificate) -> datetime.datetime:
    # cryptography 42 added the aware property (and deprecated the naive one); Debian 12's
    # python3-cryptography has only the naive one.
    aware = getattr(certificate, "not_valid_after_utc", None)
    if isinstance(aware, datetime.datetime):
        return aware
    return certificate.not_valid_after.replace(tzinfo=datetime.timezone.utc)  # noqa: UP017


def is_revoked(node: Node) -> bool:
    serial = _serial(node)
    return serial is not None and RevokedCertificate.objects.filter(serial=serial).exists()


def compromised(fingerprint: str) -> bool:
    """Whether a certificate of this key (:func:`haiku.core.csr.key_fingerprint`) was
    revoked because the key was lost: it is not certified again, for any node."""
    return RevokedCertificate.objects.filter(
        key_fingerprint=fingerprint, reason=Reason.KEY_COMPROMISE.value).exists()


def revoke(node: Node, reason: str) -> bool:
    """Revoke the node's current certificate; False if it has none or it already is."""
    if not node.certificate_pem:
        return False
    certificate = x509.load_pem_x509_certificate(node.certificate_pem.encode())
    serial = f"{certificate.serial_number:x}"
    try:
        with transaction.atomic():
            RevokedCertificate.objects.create(
                serial=serial, node=node, reason=Reason(reason).value,
                subject=certificate.subject.rfc4514_string()[:200],
                key_fingerprint=csr.key_fingerprint(certificate.public_key()),
                revoked_at=timezone.now(), not_after=_not_after(certificate))
    except IntegrityError:
        return False  # already revoked
    _log.info("certificate %s of node %s revoked (%s)", serial, node.pk, reason)
    transaction.on_commit(publish)
    return True


def current_crl() -> x509.CertificateRevocationList:
    """The CA's CRL of every revoked certificate that has not expired yet."""
    authority = ca.load_or_create(settings.HAIKU.secrets_dir)
    listed = RevokedCertificate.objects.filter(not_after__gt=timezone.now())
    return authority.crl(
        [ca.Revocation(int(r.serial, 16), r.revoked_at, x509.ReasonFlags(r.reason))
         for r in listed],
        datetime.timedelta(seconds=settings.HAIKU.crl_lifetime))


def publish() -> None:
    """Write the CRL to HAIKU_CRL_FILE (atomically), if set."""
    path = settings.HAIKU.crl_file
    if not path:
        return
    der = current_crl().public_bytes(serialization.Encoding.DER)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    files.write_atomic(path, der, mode=0o644)
    _log.info("wrote the CRL to %s", path)
