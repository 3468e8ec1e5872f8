"""The four tuneforge services."""
