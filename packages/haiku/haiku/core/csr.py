"""Certificate requests from nodes that make their own keys (PKCS #10, RFC 2986).

A certificate-keyed node's key is made either by the service (:attr:`KeyOrigin.SERVICE`,
kept in its database and sent to the node) or on the node itself
(:attr:`KeyOrigin.NODE`: strongSwan's ``pki --gen`` and ``pki --req`` at enrollment;
the service only ever sees the public key). :func:`check` decides whether a request is
one the CA signs: a PEM request whose signature verifies (proof that the sender holds
the key), with a key of a type and size in :data:`ACCEPTED`. Its subject and extensions
are not used: the certificate's subject and subjectAltName are the service's (the node's
name and home address); a request that asks for another address is refused all the same,
so that a node set up for another one is noticed.
"""

from __future__ import annotations

import hashlib
import ipaddress
from dataclasses import dataclass
from enum import StrEnum

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

__all__ = ["ACCEPTED", "MAX_PEM", "CheckedRequest", "CsrError", "KeyOrigin", "check",
           "key_fingerprint"]


class KeyOrigin(StrEnum):
    SERVICE = "service"  # made by the service's CA, kept in its database, sent to the node
    NODE = "node"  # made on the node; it sends a certificate request (CSR) at enrollment


# The keys the CA certifies, by what a person would ask for: what strongSwan's
# `pki --gen --type ecdsa|rsa|ed25519` makes and charon authenticates with.
ACCEPTED = {
    "ecdsa": "ECDSA on P-256, P-384 or P-521",
    "rsa": "RSA of 2048 to 8192 bits (exponent 65537)",
    "ed25519": "Ed25519",
}
CURVES = {"secp256r1", "secp384r1", "secp521r1"}
RSA_BITS = (2048, 8192)
RSA_EXPONENT = 65537
# A request with an RSA 8192 key and a few extensions is under 4 KiB in PEM.
MAX_PEM = 16384

PublicKey = ec.EllipticCurvePublicKey | rsa.RSAPublicKey | ed25519.Ed25519PublicKey


class CsrError(ValueError):
    """A request the CA does not sign; the message says what is wrong, for the node's
    operator."""


@dataclass(frozen=True)
class CheckedRequest:
    public_key: PublicKey
    key_type: str  # "ecdsa P-256", "rsa 3072", "ed25519": for logs and answers
    fingerprint: str  # key_fingerprint(public_key)
    addresses: tuple[ipaddress.IPv4Address | ipaddress.IPv6Address, ...]  # SAN IPs asked


def key_fingerprint(public_key: PublicKey) -> str:
    """SHA-256 of the key's SubjectPublicKeyInfo (DER), lower-case hex: one key, one
    fingerprint, whatever certificate or request carries it."""
    der = public_key.public_bytes(serialization.Encoding.DER,
                                  serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).hexdigest()


def _key_type(key: object) -> tuple[PublicKey, str]:
    accepted = "; ".join(ACCEPTED.values())
    if isinstance(key, ec.EllipticCurvePublicKey):
        if key.curve.name not in CURVES:
            raise CsrError(f"the request's ECDSA key is on {key.curve.name}; the CA "
                           f"certifies {accepted}")
        return key, f"ecdsa P-{key.curve.key_size}"
    if isinstance(key, rsa.RSAPublicKey):
        low, high = RSA_BITS
        if not low <= key.key_size <= high:
            raise CsrError(f"the request's RSA key has {key.key_size} bits; the CA "
                           f"certifies {accepted}")
        if key.public_numbers().e != RSA_EXPONENT:
            raise CsrError(f"the request's RSA key has the public exponent "
                           f"{key.public_numbers().e}; the CA certifies {accepted}")
        return key, f"rsa {key.key_size}"
    if isinstance(key, ed25519.Ed25519PublicKey):
        return key, "ed25519"
    raise CsrError(f"the request's key is a {type(key).__name__.removeprefix('_')}; "
                   f"the CA certifies {accepted}")


def check(pem: str) -> CheckedRequest:
    """The request in ``pem`` (``-----BEGIN CERTIFICATE REQUEST-----``), checked; raises
    :class:`CsrError` naming what is wrong."""
    if len(pem) > MAX_PEM:
        raise CsrError(f"the request is {len(pem)} characters long; a certificate request "
                       f"in PEM is at most {MAX_PEM}")
    if "-----BEGIN CERTIFICATE REQUEST-----" not in pem:
        raise CsrError("the request is not a PEM certificate request (-----BEGIN "
                       "CERTIFICATE REQUEST-----); make it with 'pki --req --outform pem'")
    try:
        request = x509.load_pem_x509_csr(pem.encode())
    except (ValueError, TypeError, UnicodeError) as exc:
        raise CsrError(f"the certificate request cannot be read: {exc}") from None
    try:
        key = request.public_key()
    except (ValueError, TypeError) as exc:  # an unknown or malformed key
        raise CsrError(f"the request's public key cannot be read: {exc}") from None
    public_key, key_type = _key_type(key)
    try:
        signed = request.is_signature_valid
    except Exception as exc:
        raise CsrError(f"the request's signature cannot be checked: {exc}") from None
    if not signed:
        raise CsrError("the request's signature does not verify: it was not signed with "
                       "the key it carries")
    try:
        names = request.extensions.get_extension_for_class(x509.SubjectAlternativeName)
        # IPAddress names are addresses in a request (networks only in name constraints).
        addresses = tuple(a for a in names.value.get_values_for_type(x509.IPAddress)
                          if isinstance(a, ipaddress.IPv4Address | ipaddress.IPv6Address))
    except x509.ExtensionNotFound:
        addresses = ()
    except Exception as exc:
        raise CsrError(f"the request's extensions cannot be read: {exc}") from None
    return CheckedRequest(public_key, key_type, key_fingerprint(public_key), addresses)
