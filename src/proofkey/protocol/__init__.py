"""The RFCs as pure, synchronous functions: no I/O, no framework, property-tested."""
