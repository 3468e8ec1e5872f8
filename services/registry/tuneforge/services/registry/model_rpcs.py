"""The model-catalog RPCs of RegistryService (RegisterModel, GetModel, ListModels, DownloadModel).

A mixin of the registry's servicer, kept apart so the catalog of exported models reads on its
own; thin like the rest: proto → :mod:`tuneforge.services.registry.models` → proto.
"""

from __future__ import annotations

import asyncio

from google.protobuf import timestamp_pb2
from tuneforge.registry.v1 import registry_pb2 as pb

from tuneforge.runtime import paging
from tuneforge.runtime.errors import invalid_argument
from tuneforge.runtime.transfer import send_file
from tuneforge.services.registry.models import Model, ModelCatalog

_FORMATS = {"gguf": pb.EXPORT_FORMAT_GGUF, "gguf-lora": pb.EXPORT_FORMAT_GGUF_LORA,
            "awq": pb.EXPORT_FORMAT_AWQ, "merged": pb.EXPORT_FORMAT_MERGED, "full": pb.EXPORT_FORMAT_FULL}
_FORMAT_NAMES = {v: k for k, v in _FORMATS.items()}
_CONTENT_TYPES = {".gguf": "application/octet-stream", ".json": "application/json",
                  ".safetensors": "application/octet-stream"}


def model_pb(m: Model) -> pb.Model:
    created = timestamp_pb2.Timestamp()
    created.FromJsonString(m.create_time)
    return pb.Model(
        id=m.id, adapter_name=m.adapter_name, format=_FORMATS.get(m.format, pb.EXPORT_FORMAT_UNSPECIFIED),
        quant=m.quant, version=m.version, path=m.path, primary_file=m.primary_file,
        files=[pb.ModelFile(name=f.name, size_bytes=f.size_bytes, sha256=f.sha256) for f in m.files],
        size_bytes=m.size_bytes, base_model=m.base_model, architecture=m.architecture, job_id=m.job_id,
        create_time=created,
    )  # fmt: skip


class ModelRpcs:
    """Needs ``self.models`` (a ModelCatalog), set by the registry's wiring."""

    models: ModelCatalog

    async def RegisterModel(self, request, context):
        if request.format not in _FORMAT_NAMES:
            raise invalid_argument("format", f"one of {', '.join(pb.ExportFormat.keys()[1:])}")
        model = await asyncio.to_thread(
            self.models.register, adapter_name=request.adapter_name, fmt=_FORMAT_NAMES[request.format],
            quant=request.quant, path=request.path, primary_file=request.primary_file,
            base_model=request.base_model, architecture=request.architecture, job_id=request.job_id,
            request_id=request.request_id,
        )  # fmt: skip
        return model_pb(model)

    async def GetModel(self, request, context):
        return model_pb(self.models.get(request.id))

    async def ListModels(self, request, context):
        scope = f"models:{request.adapter_name}"
        offset, limit = paging.page(request.page_size, request.page_token, scope)
        models, total = self.models.list(offset, limit, request.adapter_name)
        return pb.ListModelsResponse(models=[model_pb(m) for m in models], total_size=total,
                                     next_page_token=paging.next_token(offset, limit, len(models), total, scope))

    async def DownloadModel(self, request, context):
        path, listed = self.models.file(request.id, request.file)
        # the checksum recorded at registration, so a file changed since then fails the client's check
        async for message in send_file(path, pb.DownloadModelResponse, filename=listed.name,
                                       content_type=_CONTENT_TYPES.get(path.suffix, "text/plain"),
                                       size_bytes=listed.size_bytes, sha256=listed.sha256):
            yield message
