"""The service's web security, pure: the headers the TLS reverse proxy must set (one table:
haiku_setup's nginx site and the shipped example set exactly these), Django's security
settings for a service behind that proxy or reached over plain HTTP, the
Content-Security-Policy, and the client address a throttle counts."""

from __future__ import annotations

from ipaddress import IPv6Address, IPv6Network, ip_address
from typing import Any

__all__ = ["CONTENT_SECURITY_POLICY", "PROXY_HEADERS", "client_address", "django_settings"]

# Header -> the value nginx sets (proxy_set_header); what the service makes of it.
PROXY_HEADERS: dict[str, str] = {
    # The name the client asked for, with its port: checked against HAIKU_ALLOWED_HOSTS.
    "Host": "$http_host",
    # The proxy took the request over TLS: request.is_secure() (SECURE_PROXY_SSL_HEADER).
    "X-Forwarded-Proto": "https",
    # nginx appends the address it saw: the last entry is the client's (registrations
    # are throttled per client address); entries before it are whatever the client sent.
    "X-Forwarded-For": "$proxy_add_x_forwarded_for",
}

# Directive -> sources. Scripts and styles come from the service's own files only (live.js,
# haiku.css): no inline script or style, no eval; no page may frame the service's.
CSP: dict[str, str] = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self' data:",
    "object-src": "'none'",
    "base-uri": "'none'",
    "form-action": "'self'",
    "frame-ancestors": "'none'",
}
CONTENT_SECURITY_POLICY = "; ".join(f"{name} {sources}" for name, sources in CSP.items())


def django_settings(tls_proxy: bool, hsts_seconds: int) -> dict[str, Any]:
    """Django's security settings. Behind the TLS proxy (HAIKU_TLS_PROXY): its
    X-Forwarded-Proto trusted, Secure cookies, HSTS (Django sends it on HTTPS requests
    only). Without it the service is reached over plain HTTP by design (the lab, the
    images' enrollment with allow_http): no Secure cookies, which browsers would drop,
    and no redirect to an HTTPS that is not there."""
    return {
        "SECURE_PROXY_SSL_HEADER": ("HTTP_X_FORWARDED_PROTO", "https") if tls_proxy else None,
        "SECURE_SSL_REDIRECT": False,  # nginx redirects, or plain HTTP is meant
        "SESSION_COOKIE_SECURE": tls_proxy,
        "CSRF_COOKIE_SECURE": tls_proxy,
        "SESSION_COOKIE_HTTPONLY": True,
        "CSRF_COOKIE_HTTPONLY": True,  # the forms carry the token; no script reads it
        "SESSION_COOKIE_SAMESITE": "Lax",
        "CSRF_COOKIE_SAMESITE": "Lax",
        # This host only: other names under its domain are not the service's to pin.
        "SECURE_HSTS_SECONDS": hsts_seconds if tls_proxy else 0,
        "SECURE_HSTS_INCLUDE_SUBDOMAINS": False,
        "SECURE_HSTS_PRELOAD": False,
        "SECURE_CONTENT_TYPE_NOSNIFF": True,
        "SECURE_REFERRER_POLICY": "same-origin",
        "X_FRAME_OPTIONS": "DENY",
    }


def client_address(remote_addr: str, forwarded_for: str, tls_proxy: bool) -> str:
    """The client a throttle counts: behind the TLS proxy the last X-Forwarded-For entry
    (the proxy's own view), else the peer; an IPv6 client by its /64, which one host may
    hold entirely; something that is no address as itself, cut short."""
    text = forwarded_for.rsplit(",", 1)[-1].strip() if tls_proxy and forwarded_for \
        else remote_addr
    try:
        address = ip_address(text.strip("[]"))
    except ValueError:
        return text[:64] or "unknown"
    if isinstance(address, IPv6Address):
        mapped = address.ipv4_mapped
        return str(mapped) if mapped else str(IPv6Network((address, 64), strict=False))
    return str(address)
