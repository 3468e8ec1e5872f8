"""tts service: voice samples, Whisper transcription, Qwen3-TTS data preparation, training, preview."""
