"""One async use case per endpoint; no HTTP types, collaborators passed in by argument."""
