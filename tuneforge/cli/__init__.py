"""The `tuneforge` command line."""
