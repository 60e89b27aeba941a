"""The HTTP edge: the only package that knows the ASGI framework."""
