"""Encryption at rest on the device: the sealed container, the keys, sealed audio streams.

See docs/privacy.md for the formats and the key handling."""
