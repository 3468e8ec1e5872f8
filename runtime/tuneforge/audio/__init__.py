"""Audio decoding and Whisper transcription shared by the dataset and tts services."""
