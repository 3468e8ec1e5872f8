"""The bundled demo: a tiny model, a small Telegram export, end to end."""
