"""What tests and benchmarks share, kept out of the code that ships or builds: `apt`, real
apt parts for the repository's end-to-end tests and its benchmark; `slot`, the slot
format's test vectors; `wire_fuzz`, the wire decoders' mutation fuzzer; `mip6d_fakes`,
mip6d's I/O stand-ins (one fake netlink, one fake daemon answering the control protocol,
the stand-in home agent HAiku is tested against); for the kernel lab, `mip6d_topology`
(the mobility topology and the mip6d helpers), `mip6d_ike` (IKEv2 keying with charon),
`strongswan_lab` (Debian's and Homeguy's strongSwan side by side), `mh_client` and
`mh_send` (crafted Mobility Header senders)."""
