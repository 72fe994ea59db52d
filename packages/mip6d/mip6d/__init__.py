"""mip6d: a Mobile IPv6 (RFC 6275) and NEMO Basic Support (RFC 3963) stack for Linux."""

__version__ = "0.1.0"
