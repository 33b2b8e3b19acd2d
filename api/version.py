"""The hub's version, as /healthz and the OpenAPI document state it."""

VERSION = "0.1.0"
