"""Test helpers that build real, tiny assets and servers (no network)."""
