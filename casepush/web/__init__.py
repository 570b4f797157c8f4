"""The HTTP layer: middleware, request decoding and one module of handlers per API area."""
