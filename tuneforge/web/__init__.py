"""The web console: the seeds' Finetune tab (LLM and TTS) as a small ASGI app.

It is one more client of the four services over gRPC: every call goes through
:mod:`tuneforge.web.grpc_api` (the SDK's ``AsyncClient``); it never imports a service. Pages
are static files in ``static/`` (no build step, no CDN); live progress and logs are
server-sent events bridged from the job Watch stream. ``tuneforge web --target HOST:PORT``
runs it alone, ``tuneforge serve all --web-port PORT`` beside the services.
"""
