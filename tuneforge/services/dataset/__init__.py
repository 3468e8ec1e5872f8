"""tuneforge dataset service."""
