"""What tests and benchmarks share, kept out of the code that ships or builds: `apt`, real
apt parts for the repository's end-to-end tests and its benchmark; `slot`, the slot
format's test vectors; `wire_fuzz`, the wire decoders' mutation fuzzer."""
