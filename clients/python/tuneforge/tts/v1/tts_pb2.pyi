import datetime

from google.protobuf import field_mask_pb2 as _field_mask_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from tuneforge.common.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class UploadVoiceSampleRequest(_message.Message):
    __slots__ = ("metadata", "chunk")
    METADATA_FIELD_NUMBER: _ClassVar[int]
    CHUNK_FIELD_NUMBER: _ClassVar[int]
    metadata: _common_pb2.UploadMetadata
    chunk: bytes
    def __init__(self, metadata: _Optional[_Union[_common_pb2.UploadMetadata, _Mapping]] = ..., chunk: _Optional[bytes] = ...) -> None: ...

class VoiceSample(_message.Message):
    __slots__ = ("name", "format", "duration_seconds", "sample_rate", "channels", "size_bytes", "transcript", "transcript_source", "create_time", "warnings")
    NAME_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    DURATION_SECONDS_FIELD_NUMBER: _ClassVar[int]
    SAMPLE_RATE_FIELD_NUMBER: _ClassVar[int]
    CHANNELS_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    TRANSCRIPT_FIELD_NUMBER: _ClassVar[int]
    TRANSCRIPT_SOURCE_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    WARNINGS_FIELD_NUMBER: _ClassVar[int]
    name: str
    format: str
    duration_seconds: float
    sample_rate: int
    channels: int
    size_bytes: int
    transcript: str
    transcript_source: str
    create_time: _timestamp_pb2.Timestamp
    warnings: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, name: _Optional[str] = ..., format: _Optional[str] = ..., duration_seconds: _Optional[float] = ..., sample_rate: _Optional[int] = ..., channels: _Optional[int] = ..., size_bytes: _Optional[int] = ..., transcript: _Optional[str] = ..., transcript_source: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., warnings: _Optional[_Iterable[str]] = ...) -> None: ...

class ListVoiceSamplesRequest(_message.Message):
    __slots__ = ("page_size", "page_token")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListVoiceSamplesResponse(_message.Message):
    __slots__ = ("samples", "next_page_token", "total_size")
    SAMPLES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    TOTAL_SIZE_FIELD_NUMBER: _ClassVar[int]
    samples: _containers.RepeatedCompositeFieldContainer[VoiceSample]
    next_page_token: str
    total_size: int
    def __init__(self, samples: _Optional[_Iterable[_Union[VoiceSample, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., total_size: _Optional[int] = ...) -> None: ...

class GetVoiceSampleRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class DeleteVoiceSampleRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class DeleteVoiceSampleResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class UpdateVoiceSampleTranscriptRequest(_message.Message):
    __slots__ = ("name", "transcript")
    NAME_FIELD_NUMBER: _ClassVar[int]
    TRANSCRIPT_FIELD_NUMBER: _ClassVar[int]
    name: str
    transcript: str
    def __init__(self, name: _Optional[str] = ..., transcript: _Optional[str] = ...) -> None: ...

class DownloadVoiceSampleRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class DownloadVoiceSampleResponse(_message.Message):
    __slots__ = ("metadata", "chunk")
    METADATA_FIELD_NUMBER: _ClassVar[int]
    CHUNK_FIELD_NUMBER: _ClassVar[int]
    metadata: _common_pb2.DownloadMetadata
    chunk: bytes
    def __init__(self, metadata: _Optional[_Union[_common_pb2.DownloadMetadata, _Mapping]] = ..., chunk: _Optional[bytes] = ...) -> None: ...

class TranscribeSamplesRequest(_message.Message):
    __slots__ = ("whisper_model", "language", "min_duration_sec", "max_duration_sec", "vad", "sample_names", "overwrite", "request_id")
    WHISPER_MODEL_FIELD_NUMBER: _ClassVar[int]
    LANGUAGE_FIELD_NUMBER: _ClassVar[int]
    MIN_DURATION_SEC_FIELD_NUMBER: _ClassVar[int]
    MAX_DURATION_SEC_FIELD_NUMBER: _ClassVar[int]
    VAD_FIELD_NUMBER: _ClassVar[int]
    SAMPLE_NAMES_FIELD_NUMBER: _ClassVar[int]
    OVERWRITE_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    whisper_model: str
    language: str
    min_duration_sec: float
    max_duration_sec: float
    vad: bool
    sample_names: _containers.RepeatedScalarFieldContainer[str]
    overwrite: bool
    request_id: str
    def __init__(self, whisper_model: _Optional[str] = ..., language: _Optional[str] = ..., min_duration_sec: _Optional[float] = ..., max_duration_sec: _Optional[float] = ..., vad: _Optional[bool] = ..., sample_names: _Optional[_Iterable[str]] = ..., overwrite: _Optional[bool] = ..., request_id: _Optional[str] = ...) -> None: ...

class PrepareDatasetRequest(_message.Message):
    __slots__ = ("ref_sample", "base_model", "request_id")
    REF_SAMPLE_FIELD_NUMBER: _ClassVar[int]
    BASE_MODEL_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    ref_sample: str
    base_model: str
    request_id: str
    def __init__(self, ref_sample: _Optional[str] = ..., base_model: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class TtsTrainingConfig(_message.Message):
    __slots__ = ("base_model", "batch_size", "gradient_accumulation_steps", "learning_rate", "num_epochs", "speaker_name", "seed")
    BASE_MODEL_FIELD_NUMBER: _ClassVar[int]
    BATCH_SIZE_FIELD_NUMBER: _ClassVar[int]
    GRADIENT_ACCUMULATION_STEPS_FIELD_NUMBER: _ClassVar[int]
    LEARNING_RATE_FIELD_NUMBER: _ClassVar[int]
    NUM_EPOCHS_FIELD_NUMBER: _ClassVar[int]
    SPEAKER_NAME_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    base_model: str
    batch_size: int
    gradient_accumulation_steps: int
    learning_rate: float
    num_epochs: int
    speaker_name: str
    seed: int
    def __init__(self, base_model: _Optional[str] = ..., batch_size: _Optional[int] = ..., gradient_accumulation_steps: _Optional[int] = ..., learning_rate: _Optional[float] = ..., num_epochs: _Optional[int] = ..., speaker_name: _Optional[str] = ..., seed: _Optional[int] = ...) -> None: ...

class GetTtsTrainingConfigRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class UpdateTtsTrainingConfigRequest(_message.Message):
    __slots__ = ("config", "update_mask")
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    config: TtsTrainingConfig
    update_mask: _field_mask_pb2.FieldMask
    def __init__(self, config: _Optional[_Union[TtsTrainingConfig, _Mapping]] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ...) -> None: ...

class StartTrainingRequest(_message.Message):
    __slots__ = ("model_name", "config", "request_id")
    MODEL_NAME_FIELD_NUMBER: _ClassVar[int]
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    model_name: str
    config: TtsTrainingConfig
    request_id: str
    def __init__(self, model_name: _Optional[str] = ..., config: _Optional[_Union[TtsTrainingConfig, _Mapping]] = ..., request_id: _Optional[str] = ...) -> None: ...

class VoiceModel(_message.Message):
    __slots__ = ("name", "speaker_name", "checkpoints", "epochs", "size_bytes", "create_time", "base_model")
    NAME_FIELD_NUMBER: _ClassVar[int]
    SPEAKER_NAME_FIELD_NUMBER: _ClassVar[int]
    CHECKPOINTS_FIELD_NUMBER: _ClassVar[int]
    EPOCHS_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    BASE_MODEL_FIELD_NUMBER: _ClassVar[int]
    name: str
    speaker_name: str
    checkpoints: _containers.RepeatedScalarFieldContainer[str]
    epochs: int
    size_bytes: int
    create_time: _timestamp_pb2.Timestamp
    base_model: str
    def __init__(self, name: _Optional[str] = ..., speaker_name: _Optional[str] = ..., checkpoints: _Optional[_Iterable[str]] = ..., epochs: _Optional[int] = ..., size_bytes: _Optional[int] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., base_model: _Optional[str] = ...) -> None: ...

class ListVoiceModelsRequest(_message.Message):
    __slots__ = ("page_size", "page_token")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListVoiceModelsResponse(_message.Message):
    __slots__ = ("models", "next_page_token")
    MODELS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    models: _containers.RepeatedCompositeFieldContainer[VoiceModel]
    next_page_token: str
    def __init__(self, models: _Optional[_Iterable[_Union[VoiceModel, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class SynthesizePreviewRequest(_message.Message):
    __slots__ = ("model_name", "checkpoint", "text", "speaker", "language", "request_id")
    MODEL_NAME_FIELD_NUMBER: _ClassVar[int]
    CHECKPOINT_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    SPEAKER_FIELD_NUMBER: _ClassVar[int]
    LANGUAGE_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    model_name: str
    checkpoint: str
    text: str
    speaker: str
    language: str
    request_id: str
    def __init__(self, model_name: _Optional[str] = ..., checkpoint: _Optional[str] = ..., text: _Optional[str] = ..., speaker: _Optional[str] = ..., language: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class DownloadPreviewRequest(_message.Message):
    __slots__ = ("job_id",)
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    def __init__(self, job_id: _Optional[str] = ...) -> None: ...

class DownloadPreviewResponse(_message.Message):
    __slots__ = ("metadata", "chunk")
    METADATA_FIELD_NUMBER: _ClassVar[int]
    CHUNK_FIELD_NUMBER: _ClassVar[int]
    metadata: _common_pb2.DownloadMetadata
    chunk: bytes
    def __init__(self, metadata: _Optional[_Union[_common_pb2.DownloadMetadata, _Mapping]] = ..., chunk: _Optional[bytes] = ...) -> None: ...

class TranscribedSample(_message.Message):
    __slots__ = ("name", "text", "language", "duration_seconds")
    NAME_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    LANGUAGE_FIELD_NUMBER: _ClassVar[int]
    DURATION_SECONDS_FIELD_NUMBER: _ClassVar[int]
    name: str
    text: str
    language: str
    duration_seconds: float
    def __init__(self, name: _Optional[str] = ..., text: _Optional[str] = ..., language: _Optional[str] = ..., duration_seconds: _Optional[float] = ...) -> None: ...

class SkippedItem(_message.Message):
    __slots__ = ("name", "line", "reason", "detail")
    NAME_FIELD_NUMBER: _ClassVar[int]
    LINE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    name: str
    line: int
    reason: str
    detail: str
    def __init__(self, name: _Optional[str] = ..., line: _Optional[int] = ..., reason: _Optional[str] = ..., detail: _Optional[str] = ...) -> None: ...

class TranscribeJobParams(_message.Message):
    __slots__ = ("whisper_model", "language", "min_duration_sec", "max_duration_sec", "vad", "sample_names", "overwrite", "device")
    WHISPER_MODEL_FIELD_NUMBER: _ClassVar[int]
    LANGUAGE_FIELD_NUMBER: _ClassVar[int]
    MIN_DURATION_SEC_FIELD_NUMBER: _ClassVar[int]
    MAX_DURATION_SEC_FIELD_NUMBER: _ClassVar[int]
    VAD_FIELD_NUMBER: _ClassVar[int]
    SAMPLE_NAMES_FIELD_NUMBER: _ClassVar[int]
    OVERWRITE_FIELD_NUMBER: _ClassVar[int]
    DEVICE_FIELD_NUMBER: _ClassVar[int]
    whisper_model: str
    language: str
    min_duration_sec: float
    max_duration_sec: float
    vad: bool
    sample_names: _containers.RepeatedScalarFieldContainer[str]
    overwrite: bool
    device: str
    def __init__(self, whisper_model: _Optional[str] = ..., language: _Optional[str] = ..., min_duration_sec: _Optional[float] = ..., max_duration_sec: _Optional[float] = ..., vad: _Optional[bool] = ..., sample_names: _Optional[_Iterable[str]] = ..., overwrite: _Optional[bool] = ..., device: _Optional[str] = ...) -> None: ...

class PrepareJobParams(_message.Message):
    __slots__ = ("raw_jsonl", "output_dir", "base_model", "device")
    RAW_JSONL_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_DIR_FIELD_NUMBER: _ClassVar[int]
    BASE_MODEL_FIELD_NUMBER: _ClassVar[int]
    DEVICE_FIELD_NUMBER: _ClassVar[int]
    raw_jsonl: str
    output_dir: str
    base_model: str
    device: str
    def __init__(self, raw_jsonl: _Optional[str] = ..., output_dir: _Optional[str] = ..., base_model: _Optional[str] = ..., device: _Optional[str] = ...) -> None: ...

class TtsTrainingJobParams(_message.Message):
    __slots__ = ("train_jsonl", "output_dir", "model_name", "device", "config")
    TRAIN_JSONL_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_DIR_FIELD_NUMBER: _ClassVar[int]
    MODEL_NAME_FIELD_NUMBER: _ClassVar[int]
    DEVICE_FIELD_NUMBER: _ClassVar[int]
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    train_jsonl: str
    output_dir: str
    model_name: str
    device: str
    config: TtsTrainingConfig
    def __init__(self, train_jsonl: _Optional[str] = ..., output_dir: _Optional[str] = ..., model_name: _Optional[str] = ..., device: _Optional[str] = ..., config: _Optional[_Union[TtsTrainingConfig, _Mapping]] = ...) -> None: ...

class SynthesizeJobParams(_message.Message):
    __slots__ = ("checkpoint", "text", "speaker", "language", "output_wav", "max_new_tokens", "device")
    CHECKPOINT_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    SPEAKER_FIELD_NUMBER: _ClassVar[int]
    LANGUAGE_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_WAV_FIELD_NUMBER: _ClassVar[int]
    MAX_NEW_TOKENS_FIELD_NUMBER: _ClassVar[int]
    DEVICE_FIELD_NUMBER: _ClassVar[int]
    checkpoint: str
    text: str
    speaker: str
    language: str
    output_wav: str
    max_new_tokens: int
    device: str
    def __init__(self, checkpoint: _Optional[str] = ..., text: _Optional[str] = ..., speaker: _Optional[str] = ..., language: _Optional[str] = ..., output_wav: _Optional[str] = ..., max_new_tokens: _Optional[int] = ..., device: _Optional[str] = ...) -> None: ...

class TranscribeJobResult(_message.Message):
    __slots__ = ("model", "transcribed", "skipped", "stopped")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    TRANSCRIBED_FIELD_NUMBER: _ClassVar[int]
    SKIPPED_FIELD_NUMBER: _ClassVar[int]
    STOPPED_FIELD_NUMBER: _ClassVar[int]
    model: str
    transcribed: _containers.RepeatedCompositeFieldContainer[TranscribedSample]
    skipped: _containers.RepeatedCompositeFieldContainer[SkippedItem]
    stopped: bool
    def __init__(self, model: _Optional[str] = ..., transcribed: _Optional[_Iterable[_Union[TranscribedSample, _Mapping]]] = ..., skipped: _Optional[_Iterable[_Union[SkippedItem, _Mapping]]] = ..., stopped: _Optional[bool] = ...) -> None: ...

class PrepareJobResult(_message.Message):
    __slots__ = ("train_jsonl", "ref_audio", "base_model", "clips", "total_duration_seconds", "frames", "frame_rate", "codebooks", "skipped", "stopped")
    TRAIN_JSONL_FIELD_NUMBER: _ClassVar[int]
    REF_AUDIO_FIELD_NUMBER: _ClassVar[int]
    BASE_MODEL_FIELD_NUMBER: _ClassVar[int]
    CLIPS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_DURATION_SECONDS_FIELD_NUMBER: _ClassVar[int]
    FRAMES_FIELD_NUMBER: _ClassVar[int]
    FRAME_RATE_FIELD_NUMBER: _ClassVar[int]
    CODEBOOKS_FIELD_NUMBER: _ClassVar[int]
    SKIPPED_FIELD_NUMBER: _ClassVar[int]
    STOPPED_FIELD_NUMBER: _ClassVar[int]
    train_jsonl: str
    ref_audio: str
    base_model: str
    clips: int
    total_duration_seconds: float
    frames: int
    frame_rate: float
    codebooks: int
    skipped: _containers.RepeatedCompositeFieldContainer[SkippedItem]
    stopped: bool
    def __init__(self, train_jsonl: _Optional[str] = ..., ref_audio: _Optional[str] = ..., base_model: _Optional[str] = ..., clips: _Optional[int] = ..., total_duration_seconds: _Optional[float] = ..., frames: _Optional[int] = ..., frame_rate: _Optional[float] = ..., codebooks: _Optional[int] = ..., skipped: _Optional[_Iterable[_Union[SkippedItem, _Mapping]]] = ..., stopped: _Optional[bool] = ...) -> None: ...

class TtsTrainingJobResult(_message.Message):
    __slots__ = ("model_dir", "speaker_name", "checkpoints", "epochs_completed", "steps", "final_loss", "stopped")
    MODEL_DIR_FIELD_NUMBER: _ClassVar[int]
    SPEAKER_NAME_FIELD_NUMBER: _ClassVar[int]
    CHECKPOINTS_FIELD_NUMBER: _ClassVar[int]
    EPOCHS_COMPLETED_FIELD_NUMBER: _ClassVar[int]
    STEPS_FIELD_NUMBER: _ClassVar[int]
    FINAL_LOSS_FIELD_NUMBER: _ClassVar[int]
    STOPPED_FIELD_NUMBER: _ClassVar[int]
    model_dir: str
    speaker_name: str
    checkpoints: _containers.RepeatedScalarFieldContainer[str]
    epochs_completed: int
    steps: int
    final_loss: float
    stopped: bool
    def __init__(self, model_dir: _Optional[str] = ..., speaker_name: _Optional[str] = ..., checkpoints: _Optional[_Iterable[str]] = ..., epochs_completed: _Optional[int] = ..., steps: _Optional[int] = ..., final_loss: _Optional[float] = ..., stopped: _Optional[bool] = ...) -> None: ...

class SynthesizeJobResult(_message.Message):
    __slots__ = ("path", "sample_rate", "duration_seconds", "speaker", "checkpoint")
    PATH_FIELD_NUMBER: _ClassVar[int]
    SAMPLE_RATE_FIELD_NUMBER: _ClassVar[int]
    DURATION_SECONDS_FIELD_NUMBER: _ClassVar[int]
    SPEAKER_FIELD_NUMBER: _ClassVar[int]
    CHECKPOINT_FIELD_NUMBER: _ClassVar[int]
    path: str
    sample_rate: int
    duration_seconds: float
    speaker: str
    checkpoint: str
    def __init__(self, path: _Optional[str] = ..., sample_rate: _Optional[int] = ..., duration_seconds: _Optional[float] = ..., speaker: _Optional[str] = ..., checkpoint: _Optional[str] = ...) -> None: ...

class ActivateVoiceModelRequest(_message.Message):
    __slots__ = ("model_name", "checkpoint")
    MODEL_NAME_FIELD_NUMBER: _ClassVar[int]
    CHECKPOINT_FIELD_NUMBER: _ClassVar[int]
    model_name: str
    checkpoint: str
    def __init__(self, model_name: _Optional[str] = ..., checkpoint: _Optional[str] = ...) -> None: ...

class GetActiveVoiceModelRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class RollbackVoiceModelRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class VoiceActivationEntry(_message.Message):
    __slots__ = ("model_name", "checkpoint", "activate_time")
    MODEL_NAME_FIELD_NUMBER: _ClassVar[int]
    CHECKPOINT_FIELD_NUMBER: _ClassVar[int]
    ACTIVATE_TIME_FIELD_NUMBER: _ClassVar[int]
    model_name: str
    checkpoint: str
    activate_time: _timestamp_pb2.Timestamp
    def __init__(self, model_name: _Optional[str] = ..., checkpoint: _Optional[str] = ..., activate_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class VoiceActivation(_message.Message):
    __slots__ = ("model_name", "checkpoint", "activate_time", "history")
    MODEL_NAME_FIELD_NUMBER: _ClassVar[int]
    CHECKPOINT_FIELD_NUMBER: _ClassVar[int]
    ACTIVATE_TIME_FIELD_NUMBER: _ClassVar[int]
    HISTORY_FIELD_NUMBER: _ClassVar[int]
    model_name: str
    checkpoint: str
    activate_time: _timestamp_pb2.Timestamp
    history: _containers.RepeatedCompositeFieldContainer[VoiceActivationEntry]
    def __init__(self, model_name: _Optional[str] = ..., checkpoint: _Optional[str] = ..., activate_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., history: _Optional[_Iterable[_Union[VoiceActivationEntry, _Mapping]]] = ...) -> None: ...
