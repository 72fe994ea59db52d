"""mip6d's shell: the daemon's loop (:mod:`~mip6d.shell.loop`), the home agent's and
the mobile node's parts (:mod:`~mip6d.shell.homeagent`, :mod:`~mip6d.shell.mobile`),
and the adapters between the pure core and the system: the kernel
(:mod:`~mip6d.shell.kernel`), the Mobility Header socket (:mod:`~mip6d.shell.mhsocket`),
Neighbor Discovery (:mod:`~mip6d.shell.ndisc`), netlink events
(:mod:`~mip6d.shell.netlink_events`) and the configuration's translation into the core's
terms (:mod:`~mip6d.shell.adapters`)."""
