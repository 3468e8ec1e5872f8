"""tuneforge trainer service."""
