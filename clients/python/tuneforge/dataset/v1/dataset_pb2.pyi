import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from tuneforge.common.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class UploadFileRequest(_message.Message):
    __slots__ = ("metadata", "chunk")
    METADATA_FIELD_NUMBER: _ClassVar[int]
    CHUNK_FIELD_NUMBER: _ClassVar[int]
    metadata: _common_pb2.UploadMetadata
    chunk: bytes
    def __init__(self, metadata: _Optional[_Union[_common_pb2.UploadMetadata, _Mapping]] = ..., chunk: _Optional[bytes] = ...) -> None: ...

class Upload(_message.Message):
    __slots__ = ("id", "filename", "size_bytes", "sha256", "create_time")
    ID_FIELD_NUMBER: _ClassVar[int]
    FILENAME_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    id: str
    filename: str
    size_bytes: int
    sha256: str
    create_time: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[str] = ..., filename: _Optional[str] = ..., size_bytes: _Optional[int] = ..., sha256: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class TelegramConfig(_message.Message):
    __slots__ = ("owner_name", "owner_id", "transcribe_voice", "min_dialog_messages", "max_message_length", "max_dialog_length", "include_groups", "include_channels", "include_bots", "include_saved_messages", "include_forwarded", "stickers_as_emoji", "session_gap_seconds", "system_prompt", "output_format", "whisper_model", "whisper_language", "validation_split", "scrub", "scrub_names", "exclude_contacts", "no_validation_split")
    OWNER_NAME_FIELD_NUMBER: _ClassVar[int]
    OWNER_ID_FIELD_NUMBER: _ClassVar[int]
    TRANSCRIBE_VOICE_FIELD_NUMBER: _ClassVar[int]
    MIN_DIALOG_MESSAGES_FIELD_NUMBER: _ClassVar[int]
    MAX_MESSAGE_LENGTH_FIELD_NUMBER: _ClassVar[int]
    MAX_DIALOG_LENGTH_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_GROUPS_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_CHANNELS_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_BOTS_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_SAVED_MESSAGES_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_FORWARDED_FIELD_NUMBER: _ClassVar[int]
    STICKERS_AS_EMOJI_FIELD_NUMBER: _ClassVar[int]
    SESSION_GAP_SECONDS_FIELD_NUMBER: _ClassVar[int]
    SYSTEM_PROMPT_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_FORMAT_FIELD_NUMBER: _ClassVar[int]
    WHISPER_MODEL_FIELD_NUMBER: _ClassVar[int]
    WHISPER_LANGUAGE_FIELD_NUMBER: _ClassVar[int]
    VALIDATION_SPLIT_FIELD_NUMBER: _ClassVar[int]
    SCRUB_FIELD_NUMBER: _ClassVar[int]
    SCRUB_NAMES_FIELD_NUMBER: _ClassVar[int]
    EXCLUDE_CONTACTS_FIELD_NUMBER: _ClassVar[int]
    NO_VALIDATION_SPLIT_FIELD_NUMBER: _ClassVar[int]
    owner_name: str
    owner_id: str
    transcribe_voice: bool
    min_dialog_messages: int
    max_message_length: int
    max_dialog_length: int
    include_groups: bool
    include_channels: bool
    include_bots: bool
    include_saved_messages: bool
    include_forwarded: bool
    stickers_as_emoji: bool
    session_gap_seconds: int
    system_prompt: str
    output_format: str
    whisper_model: str
    whisper_language: str
    validation_split: float
    scrub: bool
    scrub_names: bool
    exclude_contacts: _containers.RepeatedScalarFieldContainer[str]
    no_validation_split: bool
    def __init__(self, owner_name: _Optional[str] = ..., owner_id: _Optional[str] = ..., transcribe_voice: _Optional[bool] = ..., min_dialog_messages: _Optional[int] = ..., max_message_length: _Optional[int] = ..., max_dialog_length: _Optional[int] = ..., include_groups: _Optional[bool] = ..., include_channels: _Optional[bool] = ..., include_bots: _Optional[bool] = ..., include_saved_messages: _Optional[bool] = ..., include_forwarded: _Optional[bool] = ..., stickers_as_emoji: _Optional[bool] = ..., session_gap_seconds: _Optional[int] = ..., system_prompt: _Optional[str] = ..., output_format: _Optional[str] = ..., whisper_model: _Optional[str] = ..., whisper_language: _Optional[str] = ..., validation_split: _Optional[float] = ..., scrub: _Optional[bool] = ..., scrub_names: _Optional[bool] = ..., exclude_contacts: _Optional[_Iterable[str]] = ..., no_validation_split: _Optional[bool] = ...) -> None: ...

class ProcessTelegramExportRequest(_message.Message):
    __slots__ = ("upload_id", "dataset_name", "config", "request_id", "append_to", "local_path")
    UPLOAD_ID_FIELD_NUMBER: _ClassVar[int]
    DATASET_NAME_FIELD_NUMBER: _ClassVar[int]
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    APPEND_TO_FIELD_NUMBER: _ClassVar[int]
    LOCAL_PATH_FIELD_NUMBER: _ClassVar[int]
    upload_id: str
    dataset_name: str
    config: TelegramConfig
    request_id: str
    append_to: str
    local_path: str
    def __init__(self, upload_id: _Optional[str] = ..., dataset_name: _Optional[str] = ..., config: _Optional[_Union[TelegramConfig, _Mapping]] = ..., request_id: _Optional[str] = ..., append_to: _Optional[str] = ..., local_path: _Optional[str] = ...) -> None: ...

class GetTelegramConfigRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class UpdateTelegramConfigRequest(_message.Message):
    __slots__ = ("config",)
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    config: TelegramConfig
    def __init__(self, config: _Optional[_Union[TelegramConfig, _Mapping]] = ...) -> None: ...

class ImportDatasetRequest(_message.Message):
    __slots__ = ("upload_id", "dataset_name", "format", "skip_invalid", "preview_size", "validation_split", "validate_only", "max_record_chars", "request_id", "scrub", "local_path")
    UPLOAD_ID_FIELD_NUMBER: _ClassVar[int]
    DATASET_NAME_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    SKIP_INVALID_FIELD_NUMBER: _ClassVar[int]
    PREVIEW_SIZE_FIELD_NUMBER: _ClassVar[int]
    VALIDATION_SPLIT_FIELD_NUMBER: _ClassVar[int]
    VALIDATE_ONLY_FIELD_NUMBER: _ClassVar[int]
    MAX_RECORD_CHARS_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    SCRUB_FIELD_NUMBER: _ClassVar[int]
    LOCAL_PATH_FIELD_NUMBER: _ClassVar[int]
    upload_id: str
    dataset_name: str
    format: str
    skip_invalid: bool
    preview_size: int
    validation_split: float
    validate_only: bool
    max_record_chars: int
    request_id: str
    scrub: bool
    local_path: str
    def __init__(self, upload_id: _Optional[str] = ..., dataset_name: _Optional[str] = ..., format: _Optional[str] = ..., skip_invalid: _Optional[bool] = ..., preview_size: _Optional[int] = ..., validation_split: _Optional[float] = ..., validate_only: _Optional[bool] = ..., max_record_chars: _Optional[int] = ..., request_id: _Optional[str] = ..., scrub: _Optional[bool] = ..., local_path: _Optional[str] = ...) -> None: ...

class RecordError(_message.Message):
    __slots__ = ("line", "column", "code", "message", "index")
    LINE_FIELD_NUMBER: _ClassVar[int]
    COLUMN_FIELD_NUMBER: _ClassVar[int]
    CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    INDEX_FIELD_NUMBER: _ClassVar[int]
    line: int
    column: int
    code: str
    message: str
    index: int
    def __init__(self, line: _Optional[int] = ..., column: _Optional[int] = ..., code: _Optional[str] = ..., message: _Optional[str] = ..., index: _Optional[int] = ...) -> None: ...

class ImportWarning(_message.Message):
    __slots__ = ("code", "count", "message")
    CODE_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    code: str
    count: int
    message: str
    def __init__(self, code: _Optional[str] = ..., count: _Optional[int] = ..., message: _Optional[str] = ...) -> None: ...

class ScrubCounts(_message.Message):
    __slots__ = ("phones", "emails", "cards", "ibans", "names")
    PHONES_FIELD_NUMBER: _ClassVar[int]
    EMAILS_FIELD_NUMBER: _ClassVar[int]
    CARDS_FIELD_NUMBER: _ClassVar[int]
    IBANS_FIELD_NUMBER: _ClassVar[int]
    NAMES_FIELD_NUMBER: _ClassVar[int]
    phones: int
    emails: int
    cards: int
    ibans: int
    names: int
    def __init__(self, phones: _Optional[int] = ..., emails: _Optional[int] = ..., cards: _Optional[int] = ..., ibans: _Optional[int] = ..., names: _Optional[int] = ...) -> None: ...

class ValidationReport(_message.Message):
    __slots__ = ("detected_format", "records_read", "records_valid", "records_invalid", "errors", "error_counts", "file_kind", "warnings", "scrubbed")
    class ErrorCountsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    DETECTED_FORMAT_FIELD_NUMBER: _ClassVar[int]
    RECORDS_READ_FIELD_NUMBER: _ClassVar[int]
    RECORDS_VALID_FIELD_NUMBER: _ClassVar[int]
    RECORDS_INVALID_FIELD_NUMBER: _ClassVar[int]
    ERRORS_FIELD_NUMBER: _ClassVar[int]
    ERROR_COUNTS_FIELD_NUMBER: _ClassVar[int]
    FILE_KIND_FIELD_NUMBER: _ClassVar[int]
    WARNINGS_FIELD_NUMBER: _ClassVar[int]
    SCRUBBED_FIELD_NUMBER: _ClassVar[int]
    detected_format: str
    records_read: int
    records_valid: int
    records_invalid: int
    errors: _containers.RepeatedCompositeFieldContainer[RecordError]
    error_counts: _containers.ScalarMap[str, int]
    file_kind: str
    warnings: _containers.RepeatedCompositeFieldContainer[ImportWarning]
    scrubbed: ScrubCounts
    def __init__(self, detected_format: _Optional[str] = ..., records_read: _Optional[int] = ..., records_valid: _Optional[int] = ..., records_invalid: _Optional[int] = ..., errors: _Optional[_Iterable[_Union[RecordError, _Mapping]]] = ..., error_counts: _Optional[_Mapping[str, int]] = ..., file_kind: _Optional[str] = ..., warnings: _Optional[_Iterable[_Union[ImportWarning, _Mapping]]] = ..., scrubbed: _Optional[_Union[ScrubCounts, _Mapping]] = ...) -> None: ...

class ImportDatasetResponse(_message.Message):
    __slots__ = ("dataset", "report", "preview")
    DATASET_FIELD_NUMBER: _ClassVar[int]
    REPORT_FIELD_NUMBER: _ClassVar[int]
    PREVIEW_FIELD_NUMBER: _ClassVar[int]
    dataset: Dataset
    report: ValidationReport
    preview: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, dataset: _Optional[_Union[Dataset, _Mapping]] = ..., report: _Optional[_Union[ValidationReport, _Mapping]] = ..., preview: _Optional[_Iterable[str]] = ...) -> None: ...

class GenerateDatasetRequest(_message.Message):
    __slots__ = ("dataset_name", "docs_dir", "faq_file", "faq_sqlite_file", "faq_sqlite_query", "code_dir", "scenarios_dir", "escalation_dir", "repo_url", "repo_branch", "system_prompt", "validation_split", "request_id", "project_upload_id", "scrub", "llm_url", "llm_model", "questions_per_passage")
    DATASET_NAME_FIELD_NUMBER: _ClassVar[int]
    DOCS_DIR_FIELD_NUMBER: _ClassVar[int]
    FAQ_FILE_FIELD_NUMBER: _ClassVar[int]
    FAQ_SQLITE_FILE_FIELD_NUMBER: _ClassVar[int]
    FAQ_SQLITE_QUERY_FIELD_NUMBER: _ClassVar[int]
    CODE_DIR_FIELD_NUMBER: _ClassVar[int]
    SCENARIOS_DIR_FIELD_NUMBER: _ClassVar[int]
    ESCALATION_DIR_FIELD_NUMBER: _ClassVar[int]
    REPO_URL_FIELD_NUMBER: _ClassVar[int]
    REPO_BRANCH_FIELD_NUMBER: _ClassVar[int]
    SYSTEM_PROMPT_FIELD_NUMBER: _ClassVar[int]
    VALIDATION_SPLIT_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    PROJECT_UPLOAD_ID_FIELD_NUMBER: _ClassVar[int]
    SCRUB_FIELD_NUMBER: _ClassVar[int]
    LLM_URL_FIELD_NUMBER: _ClassVar[int]
    LLM_MODEL_FIELD_NUMBER: _ClassVar[int]
    QUESTIONS_PER_PASSAGE_FIELD_NUMBER: _ClassVar[int]
    dataset_name: str
    docs_dir: str
    faq_file: str
    faq_sqlite_file: str
    faq_sqlite_query: str
    code_dir: str
    scenarios_dir: str
    escalation_dir: str
    repo_url: str
    repo_branch: str
    system_prompt: str
    validation_split: float
    request_id: str
    project_upload_id: str
    scrub: bool
    llm_url: str
    llm_model: str
    questions_per_passage: int
    def __init__(self, dataset_name: _Optional[str] = ..., docs_dir: _Optional[str] = ..., faq_file: _Optional[str] = ..., faq_sqlite_file: _Optional[str] = ..., faq_sqlite_query: _Optional[str] = ..., code_dir: _Optional[str] = ..., scenarios_dir: _Optional[str] = ..., escalation_dir: _Optional[str] = ..., repo_url: _Optional[str] = ..., repo_branch: _Optional[str] = ..., system_prompt: _Optional[str] = ..., validation_split: _Optional[float] = ..., request_id: _Optional[str] = ..., project_upload_id: _Optional[str] = ..., scrub: _Optional[bool] = ..., llm_url: _Optional[str] = ..., llm_model: _Optional[str] = ..., questions_per_passage: _Optional[int] = ...) -> None: ...

class Dataset(_message.Message):
    __slots__ = ("name", "source", "format", "record_count", "validation_record_count", "size_bytes", "create_time", "path", "validation_path", "job_id", "telegram_report", "generate_report", "import_report", "version", "sha256")
    NAME_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    RECORD_COUNT_FIELD_NUMBER: _ClassVar[int]
    VALIDATION_RECORD_COUNT_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    VALIDATION_PATH_FIELD_NUMBER: _ClassVar[int]
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    TELEGRAM_REPORT_FIELD_NUMBER: _ClassVar[int]
    GENERATE_REPORT_FIELD_NUMBER: _ClassVar[int]
    IMPORT_REPORT_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    name: str
    source: str
    format: str
    record_count: int
    validation_record_count: int
    size_bytes: int
    create_time: _timestamp_pb2.Timestamp
    path: str
    validation_path: str
    job_id: str
    telegram_report: TelegramReport
    generate_report: GenerateReport
    import_report: ValidationReport
    version: int
    sha256: str
    def __init__(self, name: _Optional[str] = ..., source: _Optional[str] = ..., format: _Optional[str] = ..., record_count: _Optional[int] = ..., validation_record_count: _Optional[int] = ..., size_bytes: _Optional[int] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., path: _Optional[str] = ..., validation_path: _Optional[str] = ..., job_id: _Optional[str] = ..., telegram_report: _Optional[_Union[TelegramReport, _Mapping]] = ..., generate_report: _Optional[_Union[GenerateReport, _Mapping]] = ..., import_report: _Optional[_Union[ValidationReport, _Mapping]] = ..., version: _Optional[int] = ..., sha256: _Optional[str] = ...) -> None: ...

class TelegramReport(_message.Message):
    __slots__ = ("chats_read", "chats_used", "chats_skipped", "messages_read", "messages_kept", "messages_dropped", "voice_transcribed", "dialogs", "dialogs_dropped", "user_turns", "assistant_turns", "owner", "bytes_read", "balance", "scrubbed", "contacts", "messages_already_in_dataset", "media_text_only")
    class ChatsSkippedEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    class MessagesDroppedEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    class DialogsDroppedEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    CHATS_READ_FIELD_NUMBER: _ClassVar[int]
    CHATS_USED_FIELD_NUMBER: _ClassVar[int]
    CHATS_SKIPPED_FIELD_NUMBER: _ClassVar[int]
    MESSAGES_READ_FIELD_NUMBER: _ClassVar[int]
    MESSAGES_KEPT_FIELD_NUMBER: _ClassVar[int]
    MESSAGES_DROPPED_FIELD_NUMBER: _ClassVar[int]
    VOICE_TRANSCRIBED_FIELD_NUMBER: _ClassVar[int]
    DIALOGS_FIELD_NUMBER: _ClassVar[int]
    DIALOGS_DROPPED_FIELD_NUMBER: _ClassVar[int]
    USER_TURNS_FIELD_NUMBER: _ClassVar[int]
    ASSISTANT_TURNS_FIELD_NUMBER: _ClassVar[int]
    OWNER_FIELD_NUMBER: _ClassVar[int]
    BYTES_READ_FIELD_NUMBER: _ClassVar[int]
    BALANCE_FIELD_NUMBER: _ClassVar[int]
    SCRUBBED_FIELD_NUMBER: _ClassVar[int]
    CONTACTS_FIELD_NUMBER: _ClassVar[int]
    MESSAGES_ALREADY_IN_DATASET_FIELD_NUMBER: _ClassVar[int]
    MEDIA_TEXT_ONLY_FIELD_NUMBER: _ClassVar[int]
    chats_read: int
    chats_used: int
    chats_skipped: _containers.ScalarMap[str, int]
    messages_read: int
    messages_kept: int
    messages_dropped: _containers.ScalarMap[str, int]
    voice_transcribed: int
    dialogs: int
    dialogs_dropped: _containers.ScalarMap[str, int]
    user_turns: int
    assistant_turns: int
    owner: str
    bytes_read: int
    balance: float
    scrubbed: ScrubCounts
    contacts: _containers.RepeatedCompositeFieldContainer[Contact]
    messages_already_in_dataset: int
    media_text_only: int
    def __init__(self, chats_read: _Optional[int] = ..., chats_used: _Optional[int] = ..., chats_skipped: _Optional[_Mapping[str, int]] = ..., messages_read: _Optional[int] = ..., messages_kept: _Optional[int] = ..., messages_dropped: _Optional[_Mapping[str, int]] = ..., voice_transcribed: _Optional[int] = ..., dialogs: _Optional[int] = ..., dialogs_dropped: _Optional[_Mapping[str, int]] = ..., user_turns: _Optional[int] = ..., assistant_turns: _Optional[int] = ..., owner: _Optional[str] = ..., bytes_read: _Optional[int] = ..., balance: _Optional[float] = ..., scrubbed: _Optional[_Union[ScrubCounts, _Mapping]] = ..., contacts: _Optional[_Iterable[_Union[Contact, _Mapping]]] = ..., messages_already_in_dataset: _Optional[int] = ..., media_text_only: _Optional[int] = ...) -> None: ...

class Contact(_message.Message):
    __slots__ = ("name", "messages")
    NAME_FIELD_NUMBER: _ClassVar[int]
    MESSAGES_FIELD_NUMBER: _ClassVar[int]
    name: str
    messages: int
    def __init__(self, name: _Optional[str] = ..., messages: _Optional[int] = ...) -> None: ...

class GenerateReport(_message.Message):
    __slots__ = ("records_by_source", "files_by_source", "records", "duplicates", "file_errors", "passages", "code_blocks_skipped", "faq_rows_skipped", "scrubbed", "llm_rephrased", "llm_kept_original")
    class RecordsBySourceEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    class FilesBySourceEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    RECORDS_BY_SOURCE_FIELD_NUMBER: _ClassVar[int]
    FILES_BY_SOURCE_FIELD_NUMBER: _ClassVar[int]
    RECORDS_FIELD_NUMBER: _ClassVar[int]
    DUPLICATES_FIELD_NUMBER: _ClassVar[int]
    FILE_ERRORS_FIELD_NUMBER: _ClassVar[int]
    PASSAGES_FIELD_NUMBER: _ClassVar[int]
    CODE_BLOCKS_SKIPPED_FIELD_NUMBER: _ClassVar[int]
    FAQ_ROWS_SKIPPED_FIELD_NUMBER: _ClassVar[int]
    SCRUBBED_FIELD_NUMBER: _ClassVar[int]
    LLM_REPHRASED_FIELD_NUMBER: _ClassVar[int]
    LLM_KEPT_ORIGINAL_FIELD_NUMBER: _ClassVar[int]
    records_by_source: _containers.ScalarMap[str, int]
    files_by_source: _containers.ScalarMap[str, int]
    records: int
    duplicates: int
    file_errors: _containers.RepeatedScalarFieldContainer[str]
    passages: int
    code_blocks_skipped: int
    faq_rows_skipped: int
    scrubbed: ScrubCounts
    llm_rephrased: int
    llm_kept_original: int
    def __init__(self, records_by_source: _Optional[_Mapping[str, int]] = ..., files_by_source: _Optional[_Mapping[str, int]] = ..., records: _Optional[int] = ..., duplicates: _Optional[int] = ..., file_errors: _Optional[_Iterable[str]] = ..., passages: _Optional[int] = ..., code_blocks_skipped: _Optional[int] = ..., faq_rows_skipped: _Optional[int] = ..., scrubbed: _Optional[_Union[ScrubCounts, _Mapping]] = ..., llm_rephrased: _Optional[int] = ..., llm_kept_original: _Optional[int] = ...) -> None: ...

class TelegramJobParams(_message.Message):
    __slots__ = ("dataset_name", "upload_id", "options", "append_to")
    DATASET_NAME_FIELD_NUMBER: _ClassVar[int]
    UPLOAD_ID_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    APPEND_TO_FIELD_NUMBER: _ClassVar[int]
    dataset_name: str
    upload_id: str
    options: TelegramConfig
    append_to: str
    def __init__(self, dataset_name: _Optional[str] = ..., upload_id: _Optional[str] = ..., options: _Optional[_Union[TelegramConfig, _Mapping]] = ..., append_to: _Optional[str] = ...) -> None: ...

class TelegramJobResult(_message.Message):
    __slots__ = ("dataset", "report")
    DATASET_FIELD_NUMBER: _ClassVar[int]
    REPORT_FIELD_NUMBER: _ClassVar[int]
    dataset: Dataset
    report: TelegramReport
    def __init__(self, dataset: _Optional[_Union[Dataset, _Mapping]] = ..., report: _Optional[_Union[TelegramReport, _Mapping]] = ...) -> None: ...

class GenerateOptions(_message.Message):
    __slots__ = ("docs_dir", "scenarios_dir", "faq_file", "faq_sqlite_file", "faq_sqlite_query", "escalation_dir", "code_dir", "repo_url", "repo_branch", "system_prompt", "scrub", "llm_url", "llm_model", "questions_per_passage")
    DOCS_DIR_FIELD_NUMBER: _ClassVar[int]
    SCENARIOS_DIR_FIELD_NUMBER: _ClassVar[int]
    FAQ_FILE_FIELD_NUMBER: _ClassVar[int]
    FAQ_SQLITE_FILE_FIELD_NUMBER: _ClassVar[int]
    FAQ_SQLITE_QUERY_FIELD_NUMBER: _ClassVar[int]
    ESCALATION_DIR_FIELD_NUMBER: _ClassVar[int]
    CODE_DIR_FIELD_NUMBER: _ClassVar[int]
    REPO_URL_FIELD_NUMBER: _ClassVar[int]
    REPO_BRANCH_FIELD_NUMBER: _ClassVar[int]
    SYSTEM_PROMPT_FIELD_NUMBER: _ClassVar[int]
    SCRUB_FIELD_NUMBER: _ClassVar[int]
    LLM_URL_FIELD_NUMBER: _ClassVar[int]
    LLM_MODEL_FIELD_NUMBER: _ClassVar[int]
    QUESTIONS_PER_PASSAGE_FIELD_NUMBER: _ClassVar[int]
    docs_dir: str
    scenarios_dir: str
    faq_file: str
    faq_sqlite_file: str
    faq_sqlite_query: str
    escalation_dir: str
    code_dir: str
    repo_url: str
    repo_branch: str
    system_prompt: str
    scrub: bool
    llm_url: str
    llm_model: str
    questions_per_passage: int
    def __init__(self, docs_dir: _Optional[str] = ..., scenarios_dir: _Optional[str] = ..., faq_file: _Optional[str] = ..., faq_sqlite_file: _Optional[str] = ..., faq_sqlite_query: _Optional[str] = ..., escalation_dir: _Optional[str] = ..., code_dir: _Optional[str] = ..., repo_url: _Optional[str] = ..., repo_branch: _Optional[str] = ..., system_prompt: _Optional[str] = ..., scrub: _Optional[bool] = ..., llm_url: _Optional[str] = ..., llm_model: _Optional[str] = ..., questions_per_passage: _Optional[int] = ...) -> None: ...

class GenerateJobParams(_message.Message):
    __slots__ = ("dataset_name", "options", "validation_split")
    DATASET_NAME_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    VALIDATION_SPLIT_FIELD_NUMBER: _ClassVar[int]
    dataset_name: str
    options: GenerateOptions
    validation_split: float
    def __init__(self, dataset_name: _Optional[str] = ..., options: _Optional[_Union[GenerateOptions, _Mapping]] = ..., validation_split: _Optional[float] = ...) -> None: ...

class GenerateJobResult(_message.Message):
    __slots__ = ("dataset", "report")
    DATASET_FIELD_NUMBER: _ClassVar[int]
    REPORT_FIELD_NUMBER: _ClassVar[int]
    dataset: Dataset
    report: GenerateReport
    def __init__(self, dataset: _Optional[_Union[Dataset, _Mapping]] = ..., report: _Optional[_Union[GenerateReport, _Mapping]] = ...) -> None: ...

class GetDatasetStatsRequest(_message.Message):
    __slots__ = ("name", "base_model", "max_seq_length")
    NAME_FIELD_NUMBER: _ClassVar[int]
    BASE_MODEL_FIELD_NUMBER: _ClassVar[int]
    MAX_SEQ_LENGTH_FIELD_NUMBER: _ClassVar[int]
    name: str
    base_model: str
    max_seq_length: int
    def __init__(self, name: _Optional[str] = ..., base_model: _Optional[str] = ..., max_seq_length: _Optional[int] = ...) -> None: ...

class HistogramBucket(_message.Message):
    __slots__ = ("lower", "upper", "count")
    LOWER_FIELD_NUMBER: _ClassVar[int]
    UPPER_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    lower: int
    upper: int
    count: int
    def __init__(self, lower: _Optional[int] = ..., upper: _Optional[int] = ..., count: _Optional[int] = ...) -> None: ...

class DatasetStats(_message.Message):
    __slots__ = ("name", "record_count", "message_count", "token_count", "token_count_method", "token_histogram", "records_over_max_seq_length", "max_seq_length", "size_bytes", "records_by_source", "messages_by_role", "max_record_tokens", "mean_record_tokens", "preference_pairs")
    class RecordsBySourceEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    class MessagesByRoleEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    RECORD_COUNT_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_COUNT_FIELD_NUMBER: _ClassVar[int]
    TOKEN_COUNT_FIELD_NUMBER: _ClassVar[int]
    TOKEN_COUNT_METHOD_FIELD_NUMBER: _ClassVar[int]
    TOKEN_HISTOGRAM_FIELD_NUMBER: _ClassVar[int]
    RECORDS_OVER_MAX_SEQ_LENGTH_FIELD_NUMBER: _ClassVar[int]
    MAX_SEQ_LENGTH_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    RECORDS_BY_SOURCE_FIELD_NUMBER: _ClassVar[int]
    MESSAGES_BY_ROLE_FIELD_NUMBER: _ClassVar[int]
    MAX_RECORD_TOKENS_FIELD_NUMBER: _ClassVar[int]
    MEAN_RECORD_TOKENS_FIELD_NUMBER: _ClassVar[int]
    PREFERENCE_PAIRS_FIELD_NUMBER: _ClassVar[int]
    name: str
    record_count: int
    message_count: int
    token_count: int
    token_count_method: str
    token_histogram: _containers.RepeatedCompositeFieldContainer[HistogramBucket]
    records_over_max_seq_length: int
    max_seq_length: int
    size_bytes: int
    records_by_source: _containers.ScalarMap[str, int]
    messages_by_role: _containers.ScalarMap[str, int]
    max_record_tokens: int
    mean_record_tokens: float
    preference_pairs: int
    def __init__(self, name: _Optional[str] = ..., record_count: _Optional[int] = ..., message_count: _Optional[int] = ..., token_count: _Optional[int] = ..., token_count_method: _Optional[str] = ..., token_histogram: _Optional[_Iterable[_Union[HistogramBucket, _Mapping]]] = ..., records_over_max_seq_length: _Optional[int] = ..., max_seq_length: _Optional[int] = ..., size_bytes: _Optional[int] = ..., records_by_source: _Optional[_Mapping[str, int]] = ..., messages_by_role: _Optional[_Mapping[str, int]] = ..., max_record_tokens: _Optional[int] = ..., mean_record_tokens: _Optional[float] = ..., preference_pairs: _Optional[int] = ...) -> None: ...

class PreviewDatasetRequest(_message.Message):
    __slots__ = ("name", "count", "validation")
    NAME_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    VALIDATION_FIELD_NUMBER: _ClassVar[int]
    name: str
    count: int
    validation: bool
    def __init__(self, name: _Optional[str] = ..., count: _Optional[int] = ..., validation: _Optional[bool] = ...) -> None: ...

class PreviewDatasetResponse(_message.Message):
    __slots__ = ("records",)
    RECORDS_FIELD_NUMBER: _ClassVar[int]
    records: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, records: _Optional[_Iterable[str]] = ...) -> None: ...

class GetDatasetRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class ListDatasetsRequest(_message.Message):
    __slots__ = ("page_size", "page_token")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListDatasetsResponse(_message.Message):
    __slots__ = ("datasets", "next_page_token", "total_size")
    DATASETS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    TOTAL_SIZE_FIELD_NUMBER: _ClassVar[int]
    datasets: _containers.RepeatedCompositeFieldContainer[Dataset]
    next_page_token: str
    total_size: int
    def __init__(self, datasets: _Optional[_Iterable[_Union[Dataset, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., total_size: _Optional[int] = ...) -> None: ...

class DeleteDatasetRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class DeleteDatasetResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class DownloadDatasetRequest(_message.Message):
    __slots__ = ("name", "validation")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VALIDATION_FIELD_NUMBER: _ClassVar[int]
    name: str
    validation: bool
    def __init__(self, name: _Optional[str] = ..., validation: _Optional[bool] = ...) -> None: ...

class DownloadDatasetResponse(_message.Message):
    __slots__ = ("metadata", "chunk")
    METADATA_FIELD_NUMBER: _ClassVar[int]
    CHUNK_FIELD_NUMBER: _ClassVar[int]
    metadata: _common_pb2.DownloadMetadata
    chunk: bytes
    def __init__(self, metadata: _Optional[_Union[_common_pb2.DownloadMetadata, _Mapping]] = ..., chunk: _Optional[bytes] = ...) -> None: ...

class ListDatasetContactsRequest(_message.Message):
    __slots__ = ("name", "page_size", "page_token")
    NAME_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    name: str
    page_size: int
    page_token: str
    def __init__(self, name: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class DatasetContact(_message.Message):
    __slots__ = ("id", "name", "messages_as_user", "messages_in_groups", "records")
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    MESSAGES_AS_USER_FIELD_NUMBER: _ClassVar[int]
    MESSAGES_IN_GROUPS_FIELD_NUMBER: _ClassVar[int]
    RECORDS_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    messages_as_user: int
    messages_in_groups: int
    records: int
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., messages_as_user: _Optional[int] = ..., messages_in_groups: _Optional[int] = ..., records: _Optional[int] = ...) -> None: ...

class ListDatasetContactsResponse(_message.Message):
    __slots__ = ("contacts", "next_page_token", "total_size")
    CONTACTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    TOTAL_SIZE_FIELD_NUMBER: _ClassVar[int]
    contacts: _containers.RepeatedCompositeFieldContainer[DatasetContact]
    next_page_token: str
    total_size: int
    def __init__(self, contacts: _Optional[_Iterable[_Union[DatasetContact, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., total_size: _Optional[int] = ...) -> None: ...

class ForgetContactRequest(_message.Message):
    __slots__ = ("name", "contact")
    NAME_FIELD_NUMBER: _ClassVar[int]
    CONTACT_FIELD_NUMBER: _ClassVar[int]
    name: str
    contact: str
    def __init__(self, name: _Optional[str] = ..., contact: _Optional[str] = ...) -> None: ...

class ForgetContactResponse(_message.Message):
    __slots__ = ("dataset", "previous_version", "contact_id", "records_removed", "messages_removed", "removed_digests")
    DATASET_FIELD_NUMBER: _ClassVar[int]
    PREVIOUS_VERSION_FIELD_NUMBER: _ClassVar[int]
    CONTACT_ID_FIELD_NUMBER: _ClassVar[int]
    RECORDS_REMOVED_FIELD_NUMBER: _ClassVar[int]
    MESSAGES_REMOVED_FIELD_NUMBER: _ClassVar[int]
    REMOVED_DIGESTS_FIELD_NUMBER: _ClassVar[int]
    dataset: Dataset
    previous_version: int
    contact_id: str
    records_removed: int
    messages_removed: int
    removed_digests: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, dataset: _Optional[_Union[Dataset, _Mapping]] = ..., previous_version: _Optional[int] = ..., contact_id: _Optional[str] = ..., records_removed: _Optional[int] = ..., messages_removed: _Optional[int] = ..., removed_digests: _Optional[_Iterable[str]] = ...) -> None: ...
