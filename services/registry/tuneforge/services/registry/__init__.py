"""The adapter registry: catalog, export/import, activation (the ``.active`` marker) and vLLM.

Transport-free: no grpc here. The servicer builds an :class:`AdapterCatalog`, a
:class:`VllmController` and an :class:`ActivationManager` and calls them.
"""
