"""Wire codecs of mip6d: pure functions from bytes to frozen dataclasses and back.

- :mod:`mip6d.wire.mh`: Mobility Header messages and options (RFC 6275 section 6.1-6.2,
  RFC 3963, RFC 5648, RFC 6089);
- :mod:`mip6d.wire.flowsel`: the binary traffic selectors of flow bindings (RFC 6088);
- :mod:`mip6d.wire.icmp6`: DHAAD, Mobile Prefix Solicitation/Advertisement and Router
  Advertisements (RFC 6275 sections 6.5-6.8 and 7, RFC 4861);
- :mod:`mip6d.wire.exthdr`: Home Address destination option, Type 2 Routing Header
  (RFC 6275 sections 6.3-6.4) and a captured-packet parser;
- :mod:`mip6d.wire.checksum`: the IPv6 pseudo-header checksum.

No module here does I/O. Decoders raise :class:`DecodeError` and nothing else.
"""

from mip6d.wire.errors import DecodeError, EncodeError

__all__ = ["DecodeError", "EncodeError"]
