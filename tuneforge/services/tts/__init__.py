"""tuneforge tts service."""
