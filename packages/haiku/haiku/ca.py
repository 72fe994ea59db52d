"""The service's own certificate authority, for nodes keyed with IKEv2 certificates.

Created on first use in the secrets directory (``ca.key`` mode 0600, ``ca.pem``), under a
lock so that two workers do not make two CAs. Node keys are generated here and returned
(:meth:`CertificateAuthority.issue`), or made on the node, which sends a certificate
request (:meth:`CertificateAuthority.certify` of its checked public key); nothing of a
private key is ever logged.

Revocation (RFC 5280, 5): :meth:`CertificateAuthority.crl` signs the list of revoked
serials the database keeps; node certificates name where it is published (their CRL
distribution point), so a relying party (the home agent's charon with its revocation and
curl plugins) fetches it. Its CRL number is the signing time in microseconds, so a later
CRL always has a higher number (charon keeps the newer of two CRLs by that number).
"""

from __future__ import annotations

import datetime
import fcntl
import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from haiku.core.csr import PublicKey
from haiku.files import write_atomic

__all__ = ["CertificateAuthority", "IssuedCertificate", "Revocation", "common_name",
           "home_agent_certificate", "load_or_create", "serial_of"]

CA_DAYS = 3650
NODE_DAYS = 825
SERVICE_DAYS = 825  # the longest validity browsers accept for a server certificate
# RFC 5280, appendix A.1: a common name has at most 64 characters; cryptography counts
# them in UTF-8 bytes, so the CN is kept within 64 bytes.
UB_COMMON_NAME = 64
ELLIPSIS = "\u2026"


def common_name(name: str, home_address: str) -> str:
    """A node certificate's CN, "name (home address)": a name too long for it is cut and
    ends in an ellipsis; the home address (unique) keeps CNs apart."""
    suffix = f" ({home_address})"
    if len((name + suffix).encode()) <= UB_COMMON_NAME:
        return name + suffix
    room = UB_COMMON_NAME - len((ELLIPSIS + suffix).encode())
    return name.encode()[:room].decode(errors="ignore") + ELLIPSIS + suffix


@dataclass(frozen=True)
class IssuedCertificate:
    private_key_pem: str
    certificate_pem: str

    def __repr__(self) -> str:  # never show the key
        return "IssuedCertificate(private_key_pem=<hidden>, certificate_pem=...)"


@dataclass(frozen=True)
class Revocation:
    """One revoked certificate, as the CRL lists it."""

    serial: int
    revoked_at: datetime.datetime
    reason: x509.ReasonFlags


def serial_of(certificate_pem: str) -> int:
    return x509.load_pem_x509_certificate(certificate_pem.encode()).serial_number


@dataclass(frozen=True)
class CertificateAuthority:
    key: ec.EllipticCurvePrivateKey
    certificate: x509.Certificate

    def __repr__(self) -> str:
        return f"CertificateAuthority({self.certificate.subject.rfc4514_string()})"

    @property
    def certificate_pem(self) -> str:
        return self.certificate.public_bytes(serialization.Encoding.PEM).decode()

    def crl(self, revoked: Iterable[Revocation], lifetime: datetime.timedelta,
            now: datetime.datetime | None = None) -> x509.CertificateRevocationList:
        """The CRL of these revocations, valid from now for ``lifetime`` (its nextUpdate:
        how long a relying party may cache it before it fetches it again)."""
        now = now or datetime.datetime.now(datetime.timezone.utc)  # noqa: UP017
        builder = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(self.certificate.subject)
            .last_update(now)
            .next_update(now + lifetime)
            .add_extension(x509.CRLNumber(int(now.timestamp() * 1_000_000)), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                self.key.public_key()), critical=False)
        )
        for item in revoked:
            entry = (x509.RevokedCertificateBuilder().serial_number(item.serial)
                     .revocation_date(item.revoked_at))
            if item.reason is not x509.ReasonFlags.unspecified:
                entry = entry.add_extension(x509.CRLReason(item.reason), critical=False)
            builder = builder.add_revoked_certificate(entry.build())
        return builder.sign(self.key, hashes.SHA384())

    def issue(self, common_name: str, home_address: str, crl_url: str | None = None,
              usage: x509.ObjectIdentifier = ExtendedKeyUsageOID.CLIENT_AUTH,
              ) -> IssuedCertificate:
        """A new key and certificate for a node (``usage`` client authentication) or the
        home agent (server authentication): :meth:`certify` of a key made here."""
        key = ec.generate_private_key(ec.SECP256R1())
        return IssuedCertificate(
            key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption()).decode(),
            self.certify(key.public_key(), common_name, home_address, crl_url, usage),
        )

    def certify(self, public_key: PublicKey, common_name: str, home_address: str,
                crl_url: str | None = None,
                usage: x509.ObjectIdentifier = ExtendedKeyUsageOID.CLIENT_AUTH) -> str:
        """The certificate (PEM) of ``public_key``, made here or on the node (its
        certificate request checked by :func:`haiku.core.csr.check`): subject
        ``common_name``, its address as subject alternative name; ``crl_url`` (where
        :meth:`crl` is published) goes in as its CRL distribution point."""
        now = datetime.datetime.now(datetime.timezone.utc)  # noqa: UP017 (Python 3.11 and Django 3.2 both fine)
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
            .issuer_name(self.certificate.subject)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=NODE_DAYS))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.IPv6Address(home_address))]), critical=False)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        )
        if crl_url:
            builder = builder.add_extension(x509.CRLDistributionPoints([x509.DistributionPoint(
                full_name=[x509.UniformResourceIdentifier(crl_url)], relative_name=None,
                reasons=None, crl_issuer=None)]), critical=False)
        cert = builder.sign(self.key, hashes.SHA256())
        return cert.public_bytes(serialization.Encoding.PEM).decode()


def _self_signed(key: ec.EllipticCurvePrivateKey, common_name: str, days: int
                 ) -> x509.CertificateBuilder:
    """A certificate of `key` signed by itself, valid from a few minutes ago for `days`."""
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.timezone.utc)  # noqa: UP017
    return (
        x509.CertificateBuilder()
        .subject_name(subject).issuer_name(subject).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=days))
    )


def _create(name: str) -> CertificateAuthority:
    key = ec.generate_private_key(ec.SECP384R1())
    cert = (
        _self_signed(key, name, CA_DAYS)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(
            digital_signature=False, content_commitment=False, key_encipherment=False,
            data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
            encipher_only=False, decipher_only=False), critical=True)
        .sign(key, hashes.SHA384())
    )
    return CertificateAuthority(key, cert)


def load_or_create(secrets_dir: str | Path, name: str = "HAiku node CA") -> CertificateAuthority:
    directory = Path(secrets_dir)
    key_path, cert_path = directory / "ca.key", directory / "ca.pem"
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    with open(directory / "ca.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not key_path.exists():
            ca = _create(name)
            write_atomic(key_path, ca.key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption()), mode=0o600)
            write_atomic(cert_path, ca.certificate_pem, mode=0o644)
            return ca
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise RuntimeError(f"{key_path}: expected an EC private key for the CA")
        return CertificateAuthority(key, x509.load_pem_x509_certificate(cert_path.read_bytes()))


def _not_after(cert: x509.Certificate) -> datetime.datetime:
    """The end of validity, aware (cryptography 42 has not_valid_after_utc, Debian 12's 38
    only the naive UTC not_valid_after)."""
    aware = getattr(cert, "not_valid_after_utc", None)
    if isinstance(aware, datetime.datetime):
        return aware
    return cert.not_valid_after.replace(tzinfo=datetime.timezone.utc)  # noqa: UP017


# Issue the home agent a new certificate when this little validity is left.
RENEW_BEFORE = datetime.timedelta(days=30)


def home_agent_certificate(secrets_dir: str | Path, authority: CertificateAuthority,
                           address: str) -> IssuedCertificate:
    """The home agent's own certificate (``ha.pem``, key ``ha.key`` beside the CA's),
    issued by ``authority`` for ``address`` once, and again when the address changes or
    it is about to expire."""
    directory = Path(secrets_dir)
    key_path, cert_path = directory / "ha.key", directory / "ha.pem"
    with open(directory / "ca.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if key_path.exists() and cert_path.exists():
            cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
            names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
            current = names.value.get_values_for_type(x509.IPAddress)
            left = _not_after(cert) - datetime.datetime.now(datetime.timezone.utc)  # noqa: UP017
            if current == [ipaddress.ip_address(address)] and left > RENEW_BEFORE \
                    and cert.issuer == authority.certificate.subject:
                return IssuedCertificate(key_path.read_text(), cert_path.read_text())
        issued = authority.issue(common_name("home agent", address), address,
                                 usage=ExtendedKeyUsageOID.SERVER_AUTH)
        write_atomic(key_path, issued.private_key_pem, mode=0o600)
        write_atomic(cert_path, issued.certificate_pem, mode=0o644)
        return issued


def service_certificate(key_path: Path, cert_path: Path, host: str) -> str:
    """The web service's own TLS certificate for ``host`` (an address or a DNS name),
    self-signed and kept while it names that host; returns its SHA-256 fingerprint, which
    the nodes' images pin (``HAIKU_TLS_FINGERPRINT``) instead of trusting public CAs."""
    try:
        name: x509.GeneralName = x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        name = x509.DNSName(host)
    if key_path.exists() and cert_path.exists():
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        left = _not_after(cert) - datetime.datetime.now(datetime.timezone.utc)  # noqa: UP017
        if list(names) == [name] and left > RENEW_BEFORE:
            return cert.fingerprint(hashes.SHA256()).hex()
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        _self_signed(key, host[:64], SERVICE_DAYS)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName([name]), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]),
                       critical=False)
        .sign(key, hashes.SHA256())
    )
    key_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    write_atomic(key_path, key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()), mode=0o600)
    write_atomic(cert_path, cert.public_bytes(serialization.Encoding.PEM), mode=0o644)
    return cert.fingerprint(hashes.SHA256()).hex()
