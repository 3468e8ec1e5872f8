import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from tuneforge.common.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ExportFormat(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    EXPORT_FORMAT_UNSPECIFIED: _ClassVar[ExportFormat]
    EXPORT_FORMAT_GGUF: _ClassVar[ExportFormat]
    EXPORT_FORMAT_GGUF_LORA: _ClassVar[ExportFormat]
    EXPORT_FORMAT_AWQ: _ClassVar[ExportFormat]
    EXPORT_FORMAT_MERGED: _ClassVar[ExportFormat]
    EXPORT_FORMAT_FULL: _ClassVar[ExportFormat]
EXPORT_FORMAT_UNSPECIFIED: ExportFormat
EXPORT_FORMAT_GGUF: ExportFormat
EXPORT_FORMAT_GGUF_LORA: ExportFormat
EXPORT_FORMAT_AWQ: ExportFormat
EXPORT_FORMAT_MERGED: ExportFormat
EXPORT_FORMAT_FULL: ExportFormat

class Adapter(_message.Message):
    __slots__ = ("name", "base_model", "dataset", "create_time", "size_bytes", "rank", "alpha", "target_modules", "metrics", "path", "version", "job_id", "active", "source", "lora_alpha", "lora_modules", "served_name", "update_time", "evaluation", "served", "variant", "audit", "dataset_version", "dataset_sha256", "data_retraction", "conformance", "enable_thinking", "merge_hint")
    class Variant(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        VARIANT_UNSPECIFIED: _ClassVar[Adapter.Variant]
        VARIANT_LORA: _ClassVar[Adapter.Variant]
        VARIANT_DORA: _ClassVar[Adapter.Variant]
        VARIANT_RSLORA: _ClassVar[Adapter.Variant]
    VARIANT_UNSPECIFIED: Adapter.Variant
    VARIANT_LORA: Adapter.Variant
    VARIANT_DORA: Adapter.Variant
    VARIANT_RSLORA: Adapter.Variant
    class MetricsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    BASE_MODEL_FIELD_NUMBER: _ClassVar[int]
    DATASET_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    RANK_FIELD_NUMBER: _ClassVar[int]
    ALPHA_FIELD_NUMBER: _ClassVar[int]
    TARGET_MODULES_FIELD_NUMBER: _ClassVar[int]
    METRICS_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    LORA_ALPHA_FIELD_NUMBER: _ClassVar[int]
    LORA_MODULES_FIELD_NUMBER: _ClassVar[int]
    SERVED_NAME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    EVALUATION_FIELD_NUMBER: _ClassVar[int]
    SERVED_FIELD_NUMBER: _ClassVar[int]
    VARIANT_FIELD_NUMBER: _ClassVar[int]
    AUDIT_FIELD_NUMBER: _ClassVar[int]
    DATASET_VERSION_FIELD_NUMBER: _ClassVar[int]
    DATASET_SHA256_FIELD_NUMBER: _ClassVar[int]
    DATA_RETRACTION_FIELD_NUMBER: _ClassVar[int]
    CONFORMANCE_FIELD_NUMBER: _ClassVar[int]
    ENABLE_THINKING_FIELD_NUMBER: _ClassVar[int]
    MERGE_HINT_FIELD_NUMBER: _ClassVar[int]
    name: str
    base_model: str
    dataset: str
    create_time: _timestamp_pb2.Timestamp
    size_bytes: int
    rank: int
    alpha: int
    target_modules: _containers.RepeatedScalarFieldContainer[str]
    metrics: _containers.ScalarMap[str, float]
    path: str
    version: int
    job_id: str
    active: bool
    source: str
    lora_alpha: float
    lora_modules: _containers.RepeatedScalarFieldContainer[str]
    served_name: str
    update_time: _timestamp_pb2.Timestamp
    evaluation: EvaluationSummary
    served: bool
    variant: Adapter.Variant
    audit: AuditSummary
    dataset_version: int
    dataset_sha256: str
    data_retraction: DataRetraction
    conformance: ConformanceReport
    enable_thinking: bool
    merge_hint: str
    def __init__(self, name: _Optional[str] = ..., base_model: _Optional[str] = ..., dataset: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., size_bytes: _Optional[int] = ..., rank: _Optional[int] = ..., alpha: _Optional[int] = ..., target_modules: _Optional[_Iterable[str]] = ..., metrics: _Optional[_Mapping[str, float]] = ..., path: _Optional[str] = ..., version: _Optional[int] = ..., job_id: _Optional[str] = ..., active: _Optional[bool] = ..., source: _Optional[str] = ..., lora_alpha: _Optional[float] = ..., lora_modules: _Optional[_Iterable[str]] = ..., served_name: _Optional[str] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., evaluation: _Optional[_Union[EvaluationSummary, _Mapping]] = ..., served: _Optional[bool] = ..., variant: _Optional[_Union[Adapter.Variant, str]] = ..., audit: _Optional[_Union[AuditSummary, _Mapping]] = ..., dataset_version: _Optional[int] = ..., dataset_sha256: _Optional[str] = ..., data_retraction: _Optional[_Union[DataRetraction, _Mapping]] = ..., conformance: _Optional[_Union[ConformanceReport, _Mapping]] = ..., enable_thinking: _Optional[bool] = ..., merge_hint: _Optional[str] = ...) -> None: ...

class EvaluationSummary(_message.Message):
    __slots__ = ("version", "closer_to_owner", "base_style_score", "adapter_style_score", "base_eval_loss", "adapter_eval_loss", "samples", "provenance")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    CLOSER_TO_OWNER_FIELD_NUMBER: _ClassVar[int]
    BASE_STYLE_SCORE_FIELD_NUMBER: _ClassVar[int]
    ADAPTER_STYLE_SCORE_FIELD_NUMBER: _ClassVar[int]
    BASE_EVAL_LOSS_FIELD_NUMBER: _ClassVar[int]
    ADAPTER_EVAL_LOSS_FIELD_NUMBER: _ClassVar[int]
    SAMPLES_FIELD_NUMBER: _ClassVar[int]
    PROVENANCE_FIELD_NUMBER: _ClassVar[int]
    version: int
    closer_to_owner: bool
    base_style_score: float
    adapter_style_score: float
    base_eval_loss: float
    adapter_eval_loss: float
    samples: int
    provenance: EvaluationReport.Provenance
    def __init__(self, version: _Optional[int] = ..., closer_to_owner: _Optional[bool] = ..., base_style_score: _Optional[float] = ..., adapter_style_score: _Optional[float] = ..., base_eval_loss: _Optional[float] = ..., adapter_eval_loss: _Optional[float] = ..., samples: _Optional[int] = ..., provenance: _Optional[_Union[EvaluationReport.Provenance, str]] = ...) -> None: ...

class RegisterAdapterRequest(_message.Message):
    __slots__ = ("name", "path", "base_model", "dataset", "metrics", "job_id", "replace", "request_id", "dataset_version", "dataset_sha256")
    class MetricsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    BASE_MODEL_FIELD_NUMBER: _ClassVar[int]
    DATASET_FIELD_NUMBER: _ClassVar[int]
    METRICS_FIELD_NUMBER: _ClassVar[int]
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    REPLACE_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    DATASET_VERSION_FIELD_NUMBER: _ClassVar[int]
    DATASET_SHA256_FIELD_NUMBER: _ClassVar[int]
    name: str
    path: str
    base_model: str
    dataset: str
    metrics: _containers.ScalarMap[str, float]
    job_id: str
    replace: bool
    request_id: str
    dataset_version: int
    dataset_sha256: str
    def __init__(self, name: _Optional[str] = ..., path: _Optional[str] = ..., base_model: _Optional[str] = ..., dataset: _Optional[str] = ..., metrics: _Optional[_Mapping[str, float]] = ..., job_id: _Optional[str] = ..., replace: _Optional[bool] = ..., request_id: _Optional[str] = ..., dataset_version: _Optional[int] = ..., dataset_sha256: _Optional[str] = ...) -> None: ...

class GetAdapterRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class ListAdaptersRequest(_message.Message):
    __slots__ = ("page_size", "page_token")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListAdaptersResponse(_message.Message):
    __slots__ = ("adapters", "next_page_token", "total_size")
    ADAPTERS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    TOTAL_SIZE_FIELD_NUMBER: _ClassVar[int]
    adapters: _containers.RepeatedCompositeFieldContainer[Adapter]
    next_page_token: str
    total_size: int
    def __init__(self, adapters: _Optional[_Iterable[_Union[Adapter, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., total_size: _Optional[int] = ...) -> None: ...

class DeleteAdapterRequest(_message.Message):
    __slots__ = ("name", "force")
    NAME_FIELD_NUMBER: _ClassVar[int]
    FORCE_FIELD_NUMBER: _ClassVar[int]
    name: str
    force: bool
    def __init__(self, name: _Optional[str] = ..., force: _Optional[bool] = ...) -> None: ...

class DeleteAdapterResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class Activation(_message.Message):
    __slots__ = ("adapter_name", "adapter_version", "served_name", "activate_time", "vllm_state", "vllm_message", "vllm_mode", "previous_adapter_name", "action", "id")
    class VllmState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        VLLM_STATE_UNSPECIFIED: _ClassVar[Activation.VllmState]
        VLLM_STATE_NOT_CONFIGURED: _ClassVar[Activation.VllmState]
        VLLM_STATE_APPLIED: _ClassVar[Activation.VllmState]
        VLLM_STATE_PENDING: _ClassVar[Activation.VllmState]
        VLLM_STATE_FAILED: _ClassVar[Activation.VllmState]
    VLLM_STATE_UNSPECIFIED: Activation.VllmState
    VLLM_STATE_NOT_CONFIGURED: Activation.VllmState
    VLLM_STATE_APPLIED: Activation.VllmState
    VLLM_STATE_PENDING: Activation.VllmState
    VLLM_STATE_FAILED: Activation.VllmState
    ADAPTER_NAME_FIELD_NUMBER: _ClassVar[int]
    ADAPTER_VERSION_FIELD_NUMBER: _ClassVar[int]
    SERVED_NAME_FIELD_NUMBER: _ClassVar[int]
    ACTIVATE_TIME_FIELD_NUMBER: _ClassVar[int]
    VLLM_STATE_FIELD_NUMBER: _ClassVar[int]
    VLLM_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    VLLM_MODE_FIELD_NUMBER: _ClassVar[int]
    PREVIOUS_ADAPTER_NAME_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    adapter_name: str
    adapter_version: int
    served_name: str
    activate_time: _timestamp_pb2.Timestamp
    vllm_state: Activation.VllmState
    vllm_message: str
    vllm_mode: str
    previous_adapter_name: str
    action: str
    id: int
    def __init__(self, adapter_name: _Optional[str] = ..., adapter_version: _Optional[int] = ..., served_name: _Optional[str] = ..., activate_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., vllm_state: _Optional[_Union[Activation.VllmState, str]] = ..., vllm_message: _Optional[str] = ..., vllm_mode: _Optional[str] = ..., previous_adapter_name: _Optional[str] = ..., action: _Optional[str] = ..., id: _Optional[int] = ...) -> None: ...

class ActivateAdapterRequest(_message.Message):
    __slots__ = ("name", "require_eval", "force")
    NAME_FIELD_NUMBER: _ClassVar[int]
    REQUIRE_EVAL_FIELD_NUMBER: _ClassVar[int]
    FORCE_FIELD_NUMBER: _ClassVar[int]
    name: str
    require_eval: bool
    force: bool
    def __init__(self, name: _Optional[str] = ..., require_eval: _Optional[bool] = ..., force: _Optional[bool] = ...) -> None: ...

class DeactivateAdapterRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class RollbackActivationRequest(_message.Message):
    __slots__ = ("force",)
    FORCE_FIELD_NUMBER: _ClassVar[int]
    force: bool
    def __init__(self, force: _Optional[bool] = ...) -> None: ...

class GetActiveAdapterRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListActivationsRequest(_message.Message):
    __slots__ = ("page_size", "page_token")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListActivationsResponse(_message.Message):
    __slots__ = ("activations", "next_page_token")
    ACTIVATIONS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    activations: _containers.RepeatedCompositeFieldContainer[Activation]
    next_page_token: str
    def __init__(self, activations: _Optional[_Iterable[_Union[Activation, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class WatchActivationsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ServeAdapterRequest(_message.Message):
    __slots__ = ("name", "force")
    NAME_FIELD_NUMBER: _ClassVar[int]
    FORCE_FIELD_NUMBER: _ClassVar[int]
    name: str
    force: bool
    def __init__(self, name: _Optional[str] = ..., force: _Optional[bool] = ...) -> None: ...

class ServeAdapterResponse(_message.Message):
    __slots__ = ("adapter", "served_adapter_names")
    ADAPTER_FIELD_NUMBER: _ClassVar[int]
    SERVED_ADAPTER_NAMES_FIELD_NUMBER: _ClassVar[int]
    adapter: Adapter
    served_adapter_names: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, adapter: _Optional[_Union[Adapter, _Mapping]] = ..., served_adapter_names: _Optional[_Iterable[str]] = ...) -> None: ...

class UnserveAdapterRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class UnserveAdapterResponse(_message.Message):
    __slots__ = ("served_adapter_names",)
    SERVED_ADAPTER_NAMES_FIELD_NUMBER: _ClassVar[int]
    served_adapter_names: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, served_adapter_names: _Optional[_Iterable[str]] = ...) -> None: ...

class ExportAdapterRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class ExportAdapterResponse(_message.Message):
    __slots__ = ("metadata", "chunk")
    METADATA_FIELD_NUMBER: _ClassVar[int]
    CHUNK_FIELD_NUMBER: _ClassVar[int]
    metadata: _common_pb2.DownloadMetadata
    chunk: bytes
    def __init__(self, metadata: _Optional[_Union[_common_pb2.DownloadMetadata, _Mapping]] = ..., chunk: _Optional[bytes] = ...) -> None: ...

class ImportAdapterRequest(_message.Message):
    __slots__ = ("metadata", "chunk")
    METADATA_FIELD_NUMBER: _ClassVar[int]
    CHUNK_FIELD_NUMBER: _ClassVar[int]
    metadata: ImportAdapterMetadata
    chunk: bytes
    def __init__(self, metadata: _Optional[_Union[ImportAdapterMetadata, _Mapping]] = ..., chunk: _Optional[bytes] = ...) -> None: ...

class ImportAdapterMetadata(_message.Message):
    __slots__ = ("upload", "name", "replace")
    UPLOAD_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    REPLACE_FIELD_NUMBER: _ClassVar[int]
    upload: _common_pb2.UploadMetadata
    name: str
    replace: bool
    def __init__(self, upload: _Optional[_Union[_common_pb2.UploadMetadata, _Mapping]] = ..., name: _Optional[str] = ..., replace: _Optional[bool] = ...) -> None: ...

class ModelFile(_message.Message):
    __slots__ = ("name", "size_bytes", "sha256")
    NAME_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    name: str
    size_bytes: int
    sha256: str
    def __init__(self, name: _Optional[str] = ..., size_bytes: _Optional[int] = ..., sha256: _Optional[str] = ...) -> None: ...

class Model(_message.Message):
    __slots__ = ("id", "adapter_name", "format", "quant", "version", "path", "primary_file", "files", "size_bytes", "base_model", "architecture", "job_id", "create_time")
    ID_FIELD_NUMBER: _ClassVar[int]
    ADAPTER_NAME_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    QUANT_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    PRIMARY_FILE_FIELD_NUMBER: _ClassVar[int]
    FILES_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    BASE_MODEL_FIELD_NUMBER: _ClassVar[int]
    ARCHITECTURE_FIELD_NUMBER: _ClassVar[int]
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    id: str
    adapter_name: str
    format: ExportFormat
    quant: str
    version: int
    path: str
    primary_file: str
    files: _containers.RepeatedCompositeFieldContainer[ModelFile]
    size_bytes: int
    base_model: str
    architecture: str
    job_id: str
    create_time: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[str] = ..., adapter_name: _Optional[str] = ..., format: _Optional[_Union[ExportFormat, str]] = ..., quant: _Optional[str] = ..., version: _Optional[int] = ..., path: _Optional[str] = ..., primary_file: _Optional[str] = ..., files: _Optional[_Iterable[_Union[ModelFile, _Mapping]]] = ..., size_bytes: _Optional[int] = ..., base_model: _Optional[str] = ..., architecture: _Optional[str] = ..., job_id: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class RegisterModelRequest(_message.Message):
    __slots__ = ("request_id", "adapter_name", "format", "quant", "path", "primary_file", "base_model", "architecture", "job_id")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    ADAPTER_NAME_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    QUANT_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    PRIMARY_FILE_FIELD_NUMBER: _ClassVar[int]
    BASE_MODEL_FIELD_NUMBER: _ClassVar[int]
    ARCHITECTURE_FIELD_NUMBER: _ClassVar[int]
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    adapter_name: str
    format: ExportFormat
    quant: str
    path: str
    primary_file: str
    base_model: str
    architecture: str
    job_id: str
    def __init__(self, request_id: _Optional[str] = ..., adapter_name: _Optional[str] = ..., format: _Optional[_Union[ExportFormat, str]] = ..., quant: _Optional[str] = ..., path: _Optional[str] = ..., primary_file: _Optional[str] = ..., base_model: _Optional[str] = ..., architecture: _Optional[str] = ..., job_id: _Optional[str] = ...) -> None: ...

class GetModelRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class ListModelsRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "adapter_name")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    ADAPTER_NAME_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    adapter_name: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., adapter_name: _Optional[str] = ...) -> None: ...

class ListModelsResponse(_message.Message):
    __slots__ = ("models", "next_page_token", "total_size")
    MODELS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    TOTAL_SIZE_FIELD_NUMBER: _ClassVar[int]
    models: _containers.RepeatedCompositeFieldContainer[Model]
    next_page_token: str
    total_size: int
    def __init__(self, models: _Optional[_Iterable[_Union[Model, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., total_size: _Optional[int] = ...) -> None: ...

class DownloadModelRequest(_message.Message):
    __slots__ = ("id", "file")
    ID_FIELD_NUMBER: _ClassVar[int]
    FILE_FIELD_NUMBER: _ClassVar[int]
    id: str
    file: str
    def __init__(self, id: _Optional[str] = ..., file: _Optional[str] = ...) -> None: ...

class DownloadModelResponse(_message.Message):
    __slots__ = ("metadata", "chunk")
    METADATA_FIELD_NUMBER: _ClassVar[int]
    CHUNK_FIELD_NUMBER: _ClassVar[int]
    metadata: _common_pb2.DownloadMetadata
    chunk: bytes
    def __init__(self, metadata: _Optional[_Union[_common_pb2.DownloadMetadata, _Mapping]] = ..., chunk: _Optional[bytes] = ...) -> None: ...

class ChatMessage(_message.Message):
    __slots__ = ("role", "content")
    ROLE_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    role: str
    content: str
    def __init__(self, role: _Optional[str] = ..., content: _Optional[str] = ...) -> None: ...

class SideMetrics(_message.Message):
    __slots__ = ("eval_loss", "length_ratio", "emoji_rate", "punctuation_rate", "script_match", "distinct_1", "distinct_2", "stop_rate", "chrf", "style_score")
    EVAL_LOSS_FIELD_NUMBER: _ClassVar[int]
    LENGTH_RATIO_FIELD_NUMBER: _ClassVar[int]
    EMOJI_RATE_FIELD_NUMBER: _ClassVar[int]
    PUNCTUATION_RATE_FIELD_NUMBER: _ClassVar[int]
    SCRIPT_MATCH_FIELD_NUMBER: _ClassVar[int]
    DISTINCT_1_FIELD_NUMBER: _ClassVar[int]
    DISTINCT_2_FIELD_NUMBER: _ClassVar[int]
    STOP_RATE_FIELD_NUMBER: _ClassVar[int]
    CHRF_FIELD_NUMBER: _ClassVar[int]
    STYLE_SCORE_FIELD_NUMBER: _ClassVar[int]
    eval_loss: float
    length_ratio: float
    emoji_rate: float
    punctuation_rate: float
    script_match: float
    distinct_1: float
    distinct_2: float
    stop_rate: float
    chrf: float
    style_score: float
    def __init__(self, eval_loss: _Optional[float] = ..., length_ratio: _Optional[float] = ..., emoji_rate: _Optional[float] = ..., punctuation_rate: _Optional[float] = ..., script_match: _Optional[float] = ..., distinct_1: _Optional[float] = ..., distinct_2: _Optional[float] = ..., stop_rate: _Optional[float] = ..., chrf: _Optional[float] = ..., style_score: _Optional[float] = ...) -> None: ...

class ReferenceMetrics(_message.Message):
    __slots__ = ("emoji_rate", "punctuation_rate", "distinct_1", "distinct_2", "mean_length")
    EMOJI_RATE_FIELD_NUMBER: _ClassVar[int]
    PUNCTUATION_RATE_FIELD_NUMBER: _ClassVar[int]
    DISTINCT_1_FIELD_NUMBER: _ClassVar[int]
    DISTINCT_2_FIELD_NUMBER: _ClassVar[int]
    MEAN_LENGTH_FIELD_NUMBER: _ClassVar[int]
    emoji_rate: float
    punctuation_rate: float
    distinct_1: float
    distinct_2: float
    mean_length: float
    def __init__(self, emoji_rate: _Optional[float] = ..., punctuation_rate: _Optional[float] = ..., distinct_1: _Optional[float] = ..., distinct_2: _Optional[float] = ..., mean_length: _Optional[float] = ...) -> None: ...

class EvaluationSample(_message.Message):
    __slots__ = ("messages", "reference", "base", "adapter", "base_stopped", "adapter_stopped")
    MESSAGES_FIELD_NUMBER: _ClassVar[int]
    REFERENCE_FIELD_NUMBER: _ClassVar[int]
    BASE_FIELD_NUMBER: _ClassVar[int]
    ADAPTER_FIELD_NUMBER: _ClassVar[int]
    BASE_STOPPED_FIELD_NUMBER: _ClassVar[int]
    ADAPTER_STOPPED_FIELD_NUMBER: _ClassVar[int]
    messages: _containers.RepeatedCompositeFieldContainer[ChatMessage]
    reference: str
    base: str
    adapter: str
    base_stopped: bool
    adapter_stopped: bool
    def __init__(self, messages: _Optional[_Iterable[_Union[ChatMessage, _Mapping]]] = ..., reference: _Optional[str] = ..., base: _Optional[str] = ..., adapter: _Optional[str] = ..., base_stopped: _Optional[bool] = ..., adapter_stopped: _Optional[bool] = ...) -> None: ...

class EvaluationSettings(_message.Message):
    __slots__ = ("samples", "max_new_tokens", "seed", "greedy")
    SAMPLES_FIELD_NUMBER: _ClassVar[int]
    MAX_NEW_TOKENS_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    GREEDY_FIELD_NUMBER: _ClassVar[int]
    samples: int
    max_new_tokens: int
    seed: int
    greedy: bool
    def __init__(self, samples: _Optional[int] = ..., max_new_tokens: _Optional[int] = ..., seed: _Optional[int] = ..., greedy: _Optional[bool] = ...) -> None: ...

class EvaluationReport(_message.Message):
    __slots__ = ("adapter_name", "adapter_version", "base_model", "dataset", "create_time", "base", "adapter", "reference", "closer_to_owner", "lower_loss", "samples", "settings", "provenance", "job_id")
    class Provenance(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        PROVENANCE_UNSPECIFIED: _ClassVar[EvaluationReport.Provenance]
        PROVENANCE_EVALUATION_JOB: _ClassVar[EvaluationReport.Provenance]
        PROVENANCE_CLIENT: _ClassVar[EvaluationReport.Provenance]
    PROVENANCE_UNSPECIFIED: EvaluationReport.Provenance
    PROVENANCE_EVALUATION_JOB: EvaluationReport.Provenance
    PROVENANCE_CLIENT: EvaluationReport.Provenance
    ADAPTER_NAME_FIELD_NUMBER: _ClassVar[int]
    ADAPTER_VERSION_FIELD_NUMBER: _ClassVar[int]
    BASE_MODEL_FIELD_NUMBER: _ClassVar[int]
    DATASET_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    BASE_FIELD_NUMBER: _ClassVar[int]
    ADAPTER_FIELD_NUMBER: _ClassVar[int]
    REFERENCE_FIELD_NUMBER: _ClassVar[int]
    CLOSER_TO_OWNER_FIELD_NUMBER: _ClassVar[int]
    LOWER_LOSS_FIELD_NUMBER: _ClassVar[int]
    SAMPLES_FIELD_NUMBER: _ClassVar[int]
    SETTINGS_FIELD_NUMBER: _ClassVar[int]
    PROVENANCE_FIELD_NUMBER: _ClassVar[int]
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    adapter_name: str
    adapter_version: int
    base_model: str
    dataset: str
    create_time: _timestamp_pb2.Timestamp
    base: SideMetrics
    adapter: SideMetrics
    reference: ReferenceMetrics
    closer_to_owner: bool
    lower_loss: bool
    samples: _containers.RepeatedCompositeFieldContainer[EvaluationSample]
    settings: EvaluationSettings
    provenance: EvaluationReport.Provenance
    job_id: str
    def __init__(self, adapter_name: _Optional[str] = ..., adapter_version: _Optional[int] = ..., base_model: _Optional[str] = ..., dataset: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., base: _Optional[_Union[SideMetrics, _Mapping]] = ..., adapter: _Optional[_Union[SideMetrics, _Mapping]] = ..., reference: _Optional[_Union[ReferenceMetrics, _Mapping]] = ..., closer_to_owner: _Optional[bool] = ..., lower_loss: _Optional[bool] = ..., samples: _Optional[_Iterable[_Union[EvaluationSample, _Mapping]]] = ..., settings: _Optional[_Union[EvaluationSettings, _Mapping]] = ..., provenance: _Optional[_Union[EvaluationReport.Provenance, str]] = ..., job_id: _Optional[str] = ...) -> None: ...

class CreateEvaluationRequest(_message.Message):
    __slots__ = ("adapter_name", "adapter_version", "report", "job_id", "request_id")
    ADAPTER_NAME_FIELD_NUMBER: _ClassVar[int]
    ADAPTER_VERSION_FIELD_NUMBER: _ClassVar[int]
    REPORT_FIELD_NUMBER: _ClassVar[int]
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    adapter_name: str
    adapter_version: int
    report: EvaluationReport
    job_id: str
    request_id: str
    def __init__(self, adapter_name: _Optional[str] = ..., adapter_version: _Optional[int] = ..., report: _Optional[_Union[EvaluationReport, _Mapping]] = ..., job_id: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class GetEvaluationRequest(_message.Message):
    __slots__ = ("adapter_name", "adapter_version")
    ADAPTER_NAME_FIELD_NUMBER: _ClassVar[int]
    ADAPTER_VERSION_FIELD_NUMBER: _ClassVar[int]
    adapter_name: str
    adapter_version: int
    def __init__(self, adapter_name: _Optional[str] = ..., adapter_version: _Optional[int] = ...) -> None: ...

class AuditSummary(_message.Message):
    __slots__ = ("version", "passed", "probes", "reproduced", "verbatim", "job_id")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    PASSED_FIELD_NUMBER: _ClassVar[int]
    PROBES_FIELD_NUMBER: _ClassVar[int]
    REPRODUCED_FIELD_NUMBER: _ClassVar[int]
    VERBATIM_FIELD_NUMBER: _ClassVar[int]
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    version: int
    passed: bool
    probes: int
    reproduced: int
    verbatim: int
    job_id: str
    def __init__(self, version: _Optional[int] = ..., passed: _Optional[bool] = ..., probes: _Optional[int] = ..., reproduced: _Optional[int] = ..., verbatim: _Optional[int] = ..., job_id: _Optional[str] = ...) -> None: ...

class AuditExample(_message.Message):
    __slots__ = ("probe", "kind", "prompt", "completion", "reproduced", "verbatim_chars")
    PROBE_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    PROMPT_FIELD_NUMBER: _ClassVar[int]
    COMPLETION_FIELD_NUMBER: _ClassVar[int]
    REPRODUCED_FIELD_NUMBER: _ClassVar[int]
    VERBATIM_CHARS_FIELD_NUMBER: _ClassVar[int]
    probe: str
    kind: str
    prompt: str
    completion: str
    reproduced: bool
    verbatim_chars: int
    def __init__(self, probe: _Optional[str] = ..., kind: _Optional[str] = ..., prompt: _Optional[str] = ..., completion: _Optional[str] = ..., reproduced: _Optional[bool] = ..., verbatim_chars: _Optional[int] = ...) -> None: ...

class AuditReport(_message.Message):
    __slots__ = ("adapter_name", "adapter_version", "base_model", "dataset", "create_time", "probes", "pii_probes", "verbatim_probes", "reproduced", "verbatim", "passed", "reasons", "examples", "settings", "duration_seconds", "job_id", "reproduced_by_kind")
    class ReproducedByKindEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    ADAPTER_NAME_FIELD_NUMBER: _ClassVar[int]
    ADAPTER_VERSION_FIELD_NUMBER: _ClassVar[int]
    BASE_MODEL_FIELD_NUMBER: _ClassVar[int]
    DATASET_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    PROBES_FIELD_NUMBER: _ClassVar[int]
    PII_PROBES_FIELD_NUMBER: _ClassVar[int]
    VERBATIM_PROBES_FIELD_NUMBER: _ClassVar[int]
    REPRODUCED_FIELD_NUMBER: _ClassVar[int]
    VERBATIM_FIELD_NUMBER: _ClassVar[int]
    PASSED_FIELD_NUMBER: _ClassVar[int]
    REASONS_FIELD_NUMBER: _ClassVar[int]
    EXAMPLES_FIELD_NUMBER: _ClassVar[int]
    SETTINGS_FIELD_NUMBER: _ClassVar[int]
    DURATION_SECONDS_FIELD_NUMBER: _ClassVar[int]
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    REPRODUCED_BY_KIND_FIELD_NUMBER: _ClassVar[int]
    adapter_name: str
    adapter_version: int
    base_model: str
    dataset: str
    create_time: str
    probes: int
    pii_probes: int
    verbatim_probes: int
    reproduced: int
    verbatim: int
    passed: bool
    reasons: _containers.RepeatedScalarFieldContainer[str]
    examples: _containers.RepeatedCompositeFieldContainer[AuditExample]
    settings: AuditSettings
    duration_seconds: float
    job_id: str
    reproduced_by_kind: _containers.ScalarMap[str, int]
    def __init__(self, adapter_name: _Optional[str] = ..., adapter_version: _Optional[int] = ..., base_model: _Optional[str] = ..., dataset: _Optional[str] = ..., create_time: _Optional[str] = ..., probes: _Optional[int] = ..., pii_probes: _Optional[int] = ..., verbatim_probes: _Optional[int] = ..., reproduced: _Optional[int] = ..., verbatim: _Optional[int] = ..., passed: _Optional[bool] = ..., reasons: _Optional[_Iterable[str]] = ..., examples: _Optional[_Iterable[_Union[AuditExample, _Mapping]]] = ..., settings: _Optional[_Union[AuditSettings, _Mapping]] = ..., duration_seconds: _Optional[float] = ..., job_id: _Optional[str] = ..., reproduced_by_kind: _Optional[_Mapping[str, int]] = ...) -> None: ...

class AuditSettings(_message.Message):
    __slots__ = ("samples", "max_new_tokens", "max_reproduced", "max_verbatim_fraction", "verbatim_chars", "seed")
    SAMPLES_FIELD_NUMBER: _ClassVar[int]
    MAX_NEW_TOKENS_FIELD_NUMBER: _ClassVar[int]
    MAX_REPRODUCED_FIELD_NUMBER: _ClassVar[int]
    MAX_VERBATIM_FRACTION_FIELD_NUMBER: _ClassVar[int]
    VERBATIM_CHARS_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    samples: int
    max_new_tokens: int
    max_reproduced: int
    max_verbatim_fraction: float
    verbatim_chars: int
    seed: int
    def __init__(self, samples: _Optional[int] = ..., max_new_tokens: _Optional[int] = ..., max_reproduced: _Optional[int] = ..., max_verbatim_fraction: _Optional[float] = ..., verbatim_chars: _Optional[int] = ..., seed: _Optional[int] = ...) -> None: ...

class CreateAuditRequest(_message.Message):
    __slots__ = ("adapter_name", "adapter_version", "job_id", "request_id")
    ADAPTER_NAME_FIELD_NUMBER: _ClassVar[int]
    ADAPTER_VERSION_FIELD_NUMBER: _ClassVar[int]
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    adapter_name: str
    adapter_version: int
    job_id: str
    request_id: str
    def __init__(self, adapter_name: _Optional[str] = ..., adapter_version: _Optional[int] = ..., job_id: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class GetAuditRequest(_message.Message):
    __slots__ = ("adapter_name", "adapter_version")
    ADAPTER_NAME_FIELD_NUMBER: _ClassVar[int]
    ADAPTER_VERSION_FIELD_NUMBER: _ClassVar[int]
    adapter_name: str
    adapter_version: int
    def __init__(self, adapter_name: _Optional[str] = ..., adapter_version: _Optional[int] = ...) -> None: ...

class DataRetraction(_message.Message):
    __slots__ = ("dataset", "superseded_by_version", "reason", "retract_time")
    DATASET_FIELD_NUMBER: _ClassVar[int]
    SUPERSEDED_BY_VERSION_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    RETRACT_TIME_FIELD_NUMBER: _ClassVar[int]
    dataset: str
    superseded_by_version: int
    reason: str
    retract_time: _timestamp_pb2.Timestamp
    def __init__(self, dataset: _Optional[str] = ..., superseded_by_version: _Optional[int] = ..., reason: _Optional[str] = ..., retract_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class GetAdapterLineageRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class AdapterLineageEntry(_message.Message):
    __slots__ = ("version", "dataset", "dataset_version", "dataset_sha256", "job_id", "register_time", "current", "data_retraction", "adapter_name")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    DATASET_FIELD_NUMBER: _ClassVar[int]
    DATASET_VERSION_FIELD_NUMBER: _ClassVar[int]
    DATASET_SHA256_FIELD_NUMBER: _ClassVar[int]
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    REGISTER_TIME_FIELD_NUMBER: _ClassVar[int]
    CURRENT_FIELD_NUMBER: _ClassVar[int]
    DATA_RETRACTION_FIELD_NUMBER: _ClassVar[int]
    ADAPTER_NAME_FIELD_NUMBER: _ClassVar[int]
    version: int
    dataset: str
    dataset_version: int
    dataset_sha256: str
    job_id: str
    register_time: _timestamp_pb2.Timestamp
    current: bool
    data_retraction: DataRetraction
    adapter_name: str
    def __init__(self, version: _Optional[int] = ..., dataset: _Optional[str] = ..., dataset_version: _Optional[int] = ..., dataset_sha256: _Optional[str] = ..., job_id: _Optional[str] = ..., register_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., current: _Optional[bool] = ..., data_retraction: _Optional[_Union[DataRetraction, _Mapping]] = ..., adapter_name: _Optional[str] = ...) -> None: ...

class AdapterLineage(_message.Message):
    __slots__ = ("name", "versions")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSIONS_FIELD_NUMBER: _ClassVar[int]
    name: str
    versions: _containers.RepeatedCompositeFieldContainer[AdapterLineageEntry]
    def __init__(self, name: _Optional[str] = ..., versions: _Optional[_Iterable[_Union[AdapterLineageEntry, _Mapping]]] = ...) -> None: ...

class RetractDatasetDataRequest(_message.Message):
    __slots__ = ("dataset", "version", "reason", "redact_digests", "redact_terms")
    DATASET_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    REDACT_DIGESTS_FIELD_NUMBER: _ClassVar[int]
    REDACT_TERMS_FIELD_NUMBER: _ClassVar[int]
    dataset: str
    version: int
    reason: str
    redact_digests: _containers.RepeatedScalarFieldContainer[str]
    redact_terms: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, dataset: _Optional[str] = ..., version: _Optional[int] = ..., reason: _Optional[str] = ..., redact_digests: _Optional[_Iterable[str]] = ..., redact_terms: _Optional[_Iterable[str]] = ...) -> None: ...

class RetractDatasetDataResponse(_message.Message):
    __slots__ = ("marked", "samples_redacted")
    MARKED_FIELD_NUMBER: _ClassVar[int]
    SAMPLES_REDACTED_FIELD_NUMBER: _ClassVar[int]
    marked: _containers.RepeatedCompositeFieldContainer[AdapterLineageEntry]
    samples_redacted: int
    def __init__(self, marked: _Optional[_Iterable[_Union[AdapterLineageEntry, _Mapping]]] = ..., samples_redacted: _Optional[int] = ...) -> None: ...

class CheckAdapterRequest(_message.Message):
    __slots__ = ("name", "version")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    name: str
    version: int
    def __init__(self, name: _Optional[str] = ..., version: _Optional[int] = ...) -> None: ...

class ConformanceThresholds(_message.Message):
    __slots__ = ("min_stop_rate", "max_leak_rate", "min_parity", "max_tokens", "parity_tokens")
    MIN_STOP_RATE_FIELD_NUMBER: _ClassVar[int]
    MAX_LEAK_RATE_FIELD_NUMBER: _ClassVar[int]
    MIN_PARITY_FIELD_NUMBER: _ClassVar[int]
    MAX_TOKENS_FIELD_NUMBER: _ClassVar[int]
    PARITY_TOKENS_FIELD_NUMBER: _ClassVar[int]
    min_stop_rate: float
    max_leak_rate: float
    min_parity: float
    max_tokens: int
    parity_tokens: int
    def __init__(self, min_stop_rate: _Optional[float] = ..., max_leak_rate: _Optional[float] = ..., min_parity: _Optional[float] = ..., max_tokens: _Optional[int] = ..., parity_tokens: _Optional[int] = ...) -> None: ...

class ConformanceReport(_message.Message):
    __slots__ = ("adapter_name", "adapter_version", "served_name", "staged", "prompts", "stop_rate", "leak_rate", "leaks", "parity", "parity_detail", "passed", "failed_metric", "failed_value", "thresholds", "check_time")
    ADAPTER_NAME_FIELD_NUMBER: _ClassVar[int]
    ADAPTER_VERSION_FIELD_NUMBER: _ClassVar[int]
    SERVED_NAME_FIELD_NUMBER: _ClassVar[int]
    STAGED_FIELD_NUMBER: _ClassVar[int]
    PROMPTS_FIELD_NUMBER: _ClassVar[int]
    STOP_RATE_FIELD_NUMBER: _ClassVar[int]
    LEAK_RATE_FIELD_NUMBER: _ClassVar[int]
    LEAKS_FIELD_NUMBER: _ClassVar[int]
    PARITY_FIELD_NUMBER: _ClassVar[int]
    PARITY_DETAIL_FIELD_NUMBER: _ClassVar[int]
    PASSED_FIELD_NUMBER: _ClassVar[int]
    FAILED_METRIC_FIELD_NUMBER: _ClassVar[int]
    FAILED_VALUE_FIELD_NUMBER: _ClassVar[int]
    THRESHOLDS_FIELD_NUMBER: _ClassVar[int]
    CHECK_TIME_FIELD_NUMBER: _ClassVar[int]
    adapter_name: str
    adapter_version: int
    served_name: str
    staged: bool
    prompts: int
    stop_rate: float
    leak_rate: float
    leaks: _containers.RepeatedScalarFieldContainer[str]
    parity: float
    parity_detail: str
    passed: bool
    failed_metric: str
    failed_value: float
    thresholds: ConformanceThresholds
    check_time: _timestamp_pb2.Timestamp
    def __init__(self, adapter_name: _Optional[str] = ..., adapter_version: _Optional[int] = ..., served_name: _Optional[str] = ..., staged: _Optional[bool] = ..., prompts: _Optional[int] = ..., stop_rate: _Optional[float] = ..., leak_rate: _Optional[float] = ..., leaks: _Optional[_Iterable[str]] = ..., parity: _Optional[float] = ..., parity_detail: _Optional[str] = ..., passed: _Optional[bool] = ..., failed_metric: _Optional[str] = ..., failed_value: _Optional[float] = ..., thresholds: _Optional[_Union[ConformanceThresholds, _Mapping]] = ..., check_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class VerifyServingRequest(_message.Message):
    __slots__ = ("reload",)
    RELOAD_FIELD_NUMBER: _ClassVar[int]
    reload: bool
    def __init__(self, reload: _Optional[bool] = ...) -> None: ...

class ServingProbe(_message.Message):
    __slots__ = ("adapter_name", "adapter_version", "served_name", "outcome", "detail")
    class Outcome(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        OUTCOME_UNSPECIFIED: _ClassVar[ServingProbe.Outcome]
        OUTCOME_OK: _ClassVar[ServingProbe.Outcome]
        OUTCOME_RECORDED: _ClassVar[ServingProbe.Outcome]
        OUTCOME_RELOADED: _ClassVar[ServingProbe.Outcome]
        OUTCOME_ROLLED_BACK: _ClassVar[ServingProbe.Outcome]
        OUTCOME_UNSERVED: _ClassVar[ServingProbe.Outcome]
        OUTCOME_FAILED: _ClassVar[ServingProbe.Outcome]
    OUTCOME_UNSPECIFIED: ServingProbe.Outcome
    OUTCOME_OK: ServingProbe.Outcome
    OUTCOME_RECORDED: ServingProbe.Outcome
    OUTCOME_RELOADED: ServingProbe.Outcome
    OUTCOME_ROLLED_BACK: ServingProbe.Outcome
    OUTCOME_UNSERVED: ServingProbe.Outcome
    OUTCOME_FAILED: ServingProbe.Outcome
    ADAPTER_NAME_FIELD_NUMBER: _ClassVar[int]
    ADAPTER_VERSION_FIELD_NUMBER: _ClassVar[int]
    SERVED_NAME_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    adapter_name: str
    adapter_version: int
    served_name: str
    outcome: ServingProbe.Outcome
    detail: str
    def __init__(self, adapter_name: _Optional[str] = ..., adapter_version: _Optional[int] = ..., served_name: _Optional[str] = ..., outcome: _Optional[_Union[ServingProbe.Outcome, str]] = ..., detail: _Optional[str] = ...) -> None: ...

class VerifyServingResponse(_message.Message):
    __slots__ = ("probes",)
    PROBES_FIELD_NUMBER: _ClassVar[int]
    probes: _containers.RepeatedCompositeFieldContainer[ServingProbe]
    def __init__(self, probes: _Optional[_Iterable[_Union[ServingProbe, _Mapping]]] = ...) -> None: ...

class ChatServedAdapterRequest(_message.Message):
    __slots__ = ("name", "messages", "max_tokens", "temperature", "top_p", "seed")
    NAME_FIELD_NUMBER: _ClassVar[int]
    MESSAGES_FIELD_NUMBER: _ClassVar[int]
    MAX_TOKENS_FIELD_NUMBER: _ClassVar[int]
    TEMPERATURE_FIELD_NUMBER: _ClassVar[int]
    TOP_P_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    name: str
    messages: _containers.RepeatedCompositeFieldContainer[ChatMessage]
    max_tokens: int
    temperature: float
    top_p: float
    seed: int
    def __init__(self, name: _Optional[str] = ..., messages: _Optional[_Iterable[_Union[ChatMessage, _Mapping]]] = ..., max_tokens: _Optional[int] = ..., temperature: _Optional[float] = ..., top_p: _Optional[float] = ..., seed: _Optional[int] = ...) -> None: ...

class ChatServedAdapterResponse(_message.Message):
    __slots__ = ("start", "piece", "end")
    START_FIELD_NUMBER: _ClassVar[int]
    PIECE_FIELD_NUMBER: _ClassVar[int]
    END_FIELD_NUMBER: _ClassVar[int]
    start: ServedChatStart
    piece: str
    end: ServedChatEnd
    def __init__(self, start: _Optional[_Union[ServedChatStart, _Mapping]] = ..., piece: _Optional[str] = ..., end: _Optional[_Union[ServedChatEnd, _Mapping]] = ...) -> None: ...

class ServedChatStart(_message.Message):
    __slots__ = ("adapter_version", "served_name", "enable_thinking")
    ADAPTER_VERSION_FIELD_NUMBER: _ClassVar[int]
    SERVED_NAME_FIELD_NUMBER: _ClassVar[int]
    ENABLE_THINKING_FIELD_NUMBER: _ClassVar[int]
    adapter_version: int
    served_name: str
    enable_thinking: bool
    def __init__(self, adapter_version: _Optional[int] = ..., served_name: _Optional[str] = ..., enable_thinking: _Optional[bool] = ...) -> None: ...

class ServedChatEnd(_message.Message):
    __slots__ = ("text", "tokens", "finish_reason")
    TEXT_FIELD_NUMBER: _ClassVar[int]
    TOKENS_FIELD_NUMBER: _ClassVar[int]
    FINISH_REASON_FIELD_NUMBER: _ClassVar[int]
    text: str
    tokens: int
    finish_reason: str
    def __init__(self, text: _Optional[str] = ..., tokens: _Optional[int] = ..., finish_reason: _Optional[str] = ...) -> None: ...
