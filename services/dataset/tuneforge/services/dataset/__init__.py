"""The dataset service's domain: Telegram exports, format import, generation, stats, catalog.

Transport-free (no grpc). Heavy or long work (Telegram processing with Whisper, generation
from a project) runs in the worker modules ``telegram_worker`` and ``generate_worker``.
"""
