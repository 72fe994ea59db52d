"""The pure core of mip6d: protocol state machines that do no I/O.

- :mod:`.seqno`: Binding Update sequence numbers modulo 2**16 (RFC 6275 section 9.5.1);
- :mod:`.effects`: the actions the shell carries out (messages, tunnels, routes, proxy
  Neighbor Discovery, addresses, rules, XFRM states, timers, logs) and how install
  lists turn into teardown and update lists;
- :mod:`.policy`: what a home agent serves and whom it accepts;
- :mod:`.bcache`: the home agent's binding cache, with JSON persistence;
- :mod:`.homeagent`: home agent processing of home registrations (RFC 6275 section 10,
  RFC 3963 section 6);
- :mod:`.prefixdisc`: the home agent's home prefixes and its Mobile Prefix
  Advertisements (RFC 6275 section 10.6);
- :mod:`.bul`: one Binding Update List entry of a mobile node or mobile router, a table
  of state transitions (RFC 6275 section 11, RFC 3963 section 5);
- :mod:`.mobile`: the mobile node: movement events, care-of address choice, dispatch.

Every entry point takes ``now`` (seconds since the UNIX epoch) and returns effects; the
thin shell owns the clock, the sockets and netlink.
"""
