"""tuneforge client SDK."""
