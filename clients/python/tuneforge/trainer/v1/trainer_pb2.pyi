from google.protobuf import field_mask_pb2 as _field_mask_pb2
from tuneforge.common.v1 import common_pb2 as _common_pb2
from tuneforge.registry.v1 import registry_pb2 as _registry_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ChatSide(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CHAT_SIDE_UNSPECIFIED: _ClassVar[ChatSide]
    CHAT_SIDE_BASE: _ClassVar[ChatSide]
    CHAT_SIDE_ADAPTER: _ClassVar[ChatSide]
CHAT_SIDE_UNSPECIFIED: ChatSide
CHAT_SIDE_BASE: ChatSide
CHAT_SIDE_ADAPTER: ChatSide

class TrainingConfig(_message.Message):
    __slots__ = ("lora_rank", "lora_alpha", "lora_dropout", "target_modules", "batch_size", "gradient_accumulation_steps", "learning_rate", "epochs", "max_seq_length", "warmup_ratio", "weight_decay", "gradient_checkpointing", "precision", "quantization", "save_steps", "eval_steps", "validation_split", "early_stopping_patience", "seed", "packing", "method", "use_dora", "use_rslora", "loraplus_lr_ratio", "preference_beta", "report_to", "use_liger_kernel", "attn_implementation", "truncation", "desirable_weight", "undesirable_weight", "num_generations", "max_completion_length", "rewards", "best_checkpoint_metric", "save_total_limit")
    class Precision(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        PRECISION_UNSPECIFIED: _ClassVar[TrainingConfig.Precision]
        PRECISION_AUTO: _ClassVar[TrainingConfig.Precision]
        PRECISION_BF16: _ClassVar[TrainingConfig.Precision]
        PRECISION_FP16: _ClassVar[TrainingConfig.Precision]
        PRECISION_FP32: _ClassVar[TrainingConfig.Precision]
    PRECISION_UNSPECIFIED: TrainingConfig.Precision
    PRECISION_AUTO: TrainingConfig.Precision
    PRECISION_BF16: TrainingConfig.Precision
    PRECISION_FP16: TrainingConfig.Precision
    PRECISION_FP32: TrainingConfig.Precision
    class Quantization(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        QUANTIZATION_UNSPECIFIED: _ClassVar[TrainingConfig.Quantization]
        QUANTIZATION_NONE: _ClassVar[TrainingConfig.Quantization]
        QUANTIZATION_NF4: _ClassVar[TrainingConfig.Quantization]
    QUANTIZATION_UNSPECIFIED: TrainingConfig.Quantization
    QUANTIZATION_NONE: TrainingConfig.Quantization
    QUANTIZATION_NF4: TrainingConfig.Quantization
    class Method(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        METHOD_UNSPECIFIED: _ClassVar[TrainingConfig.Method]
        METHOD_LORA: _ClassVar[TrainingConfig.Method]
        METHOD_FULL: _ClassVar[TrainingConfig.Method]
        METHOD_DPO: _ClassVar[TrainingConfig.Method]
        METHOD_ORPO: _ClassVar[TrainingConfig.Method]
        METHOD_KTO: _ClassVar[TrainingConfig.Method]
        METHOD_GRPO: _ClassVar[TrainingConfig.Method]
    METHOD_UNSPECIFIED: TrainingConfig.Method
    METHOD_LORA: TrainingConfig.Method
    METHOD_FULL: TrainingConfig.Method
    METHOD_DPO: TrainingConfig.Method
    METHOD_ORPO: TrainingConfig.Method
    METHOD_KTO: TrainingConfig.Method
    METHOD_GRPO: TrainingConfig.Method
    class ReportTo(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        REPORT_TO_UNSPECIFIED: _ClassVar[TrainingConfig.ReportTo]
        REPORT_TO_NONE: _ClassVar[TrainingConfig.ReportTo]
        REPORT_TO_TENSORBOARD: _ClassVar[TrainingConfig.ReportTo]
        REPORT_TO_MLFLOW: _ClassVar[TrainingConfig.ReportTo]
    REPORT_TO_UNSPECIFIED: TrainingConfig.ReportTo
    REPORT_TO_NONE: TrainingConfig.ReportTo
    REPORT_TO_TENSORBOARD: TrainingConfig.ReportTo
    REPORT_TO_MLFLOW: TrainingConfig.ReportTo
    class AttnImplementation(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        ATTN_IMPLEMENTATION_UNSPECIFIED: _ClassVar[TrainingConfig.AttnImplementation]
        ATTN_IMPLEMENTATION_AUTO: _ClassVar[TrainingConfig.AttnImplementation]
        ATTN_IMPLEMENTATION_EAGER: _ClassVar[TrainingConfig.AttnImplementation]
        ATTN_IMPLEMENTATION_SDPA: _ClassVar[TrainingConfig.AttnImplementation]
        ATTN_IMPLEMENTATION_FLASH_ATTENTION_2: _ClassVar[TrainingConfig.AttnImplementation]
        ATTN_IMPLEMENTATION_FLASH_ATTENTION_3: _ClassVar[TrainingConfig.AttnImplementation]
    ATTN_IMPLEMENTATION_UNSPECIFIED: TrainingConfig.AttnImplementation
    ATTN_IMPLEMENTATION_AUTO: TrainingConfig.AttnImplementation
    ATTN_IMPLEMENTATION_EAGER: TrainingConfig.AttnImplementation
    ATTN_IMPLEMENTATION_SDPA: TrainingConfig.AttnImplementation
    ATTN_IMPLEMENTATION_FLASH_ATTENTION_2: TrainingConfig.AttnImplementation
    ATTN_IMPLEMENTATION_FLASH_ATTENTION_3: TrainingConfig.AttnImplementation
    class Truncation(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        TRUNCATION_UNSPECIFIED: _ClassVar[TrainingConfig.Truncation]
        TRUNCATION_TRUNCATE: _ClassVar[TrainingConfig.Truncation]
        TRUNCATION_SPLIT_TURNS: _ClassVar[TrainingConfig.Truncation]
        TRUNCATION_DROP: _ClassVar[TrainingConfig.Truncation]
    TRUNCATION_UNSPECIFIED: TrainingConfig.Truncation
    TRUNCATION_TRUNCATE: TrainingConfig.Truncation
    TRUNCATION_SPLIT_TURNS: TrainingConfig.Truncation
    TRUNCATION_DROP: TrainingConfig.Truncation
    LORA_RANK_FIELD_NUMBER: _ClassVar[int]
    LORA_ALPHA_FIELD_NUMBER: _ClassVar[int]
    LORA_DROPOUT_FIELD_NUMBER: _ClassVar[int]
    TARGET_MODULES_FIELD_NUMBER: _ClassVar[int]
    BATCH_SIZE_FIELD_NUMBER: _ClassVar[int]
    GRADIENT_ACCUMULATION_STEPS_FIELD_NUMBER: _ClassVar[int]
    LEARNING_RATE_FIELD_NUMBER: _ClassVar[int]
    EPOCHS_FIELD_NUMBER: _ClassVar[int]
    MAX_SEQ_LENGTH_FIELD_NUMBER: _ClassVar[int]
    WARMUP_RATIO_FIELD_NUMBER: _ClassVar[int]
    WEIGHT_DECAY_FIELD_NUMBER: _ClassVar[int]
    GRADIENT_CHECKPOINTING_FIELD_NUMBER: _ClassVar[int]
    PRECISION_FIELD_NUMBER: _ClassVar[int]
    QUANTIZATION_FIELD_NUMBER: _ClassVar[int]
    SAVE_STEPS_FIELD_NUMBER: _ClassVar[int]
    EVAL_STEPS_FIELD_NUMBER: _ClassVar[int]
    VALIDATION_SPLIT_FIELD_NUMBER: _ClassVar[int]
    EARLY_STOPPING_PATIENCE_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    PACKING_FIELD_NUMBER: _ClassVar[int]
    METHOD_FIELD_NUMBER: _ClassVar[int]
    USE_DORA_FIELD_NUMBER: _ClassVar[int]
    USE_RSLORA_FIELD_NUMBER: _ClassVar[int]
    LORAPLUS_LR_RATIO_FIELD_NUMBER: _ClassVar[int]
    PREFERENCE_BETA_FIELD_NUMBER: _ClassVar[int]
    REPORT_TO_FIELD_NUMBER: _ClassVar[int]
    USE_LIGER_KERNEL_FIELD_NUMBER: _ClassVar[int]
    ATTN_IMPLEMENTATION_FIELD_NUMBER: _ClassVar[int]
    TRUNCATION_FIELD_NUMBER: _ClassVar[int]
    DESIRABLE_WEIGHT_FIELD_NUMBER: _ClassVar[int]
    UNDESIRABLE_WEIGHT_FIELD_NUMBER: _ClassVar[int]
    NUM_GENERATIONS_FIELD_NUMBER: _ClassVar[int]
    MAX_COMPLETION_LENGTH_FIELD_NUMBER: _ClassVar[int]
    REWARDS_FIELD_NUMBER: _ClassVar[int]
    BEST_CHECKPOINT_METRIC_FIELD_NUMBER: _ClassVar[int]
    SAVE_TOTAL_LIMIT_FIELD_NUMBER: _ClassVar[int]
    lora_rank: int
    lora_alpha: int
    lora_dropout: float
    target_modules: _containers.RepeatedScalarFieldContainer[str]
    batch_size: int
    gradient_accumulation_steps: int
    learning_rate: float
    epochs: float
    max_seq_length: int
    warmup_ratio: float
    weight_decay: float
    gradient_checkpointing: bool
    precision: TrainingConfig.Precision
    quantization: TrainingConfig.Quantization
    save_steps: int
    eval_steps: int
    validation_split: float
    early_stopping_patience: int
    seed: int
    packing: bool
    method: TrainingConfig.Method
    use_dora: bool
    use_rslora: bool
    loraplus_lr_ratio: float
    preference_beta: float
    report_to: TrainingConfig.ReportTo
    use_liger_kernel: bool
    attn_implementation: TrainingConfig.AttnImplementation
    truncation: TrainingConfig.Truncation
    desirable_weight: float
    undesirable_weight: float
    num_generations: int
    max_completion_length: int
    rewards: _containers.RepeatedCompositeFieldContainer[RewardFunction]
    best_checkpoint_metric: str
    save_total_limit: int
    def __init__(self, lora_rank: _Optional[int] = ..., lora_alpha: _Optional[int] = ..., lora_dropout: _Optional[float] = ..., target_modules: _Optional[_Iterable[str]] = ..., batch_size: _Optional[int] = ..., gradient_accumulation_steps: _Optional[int] = ..., learning_rate: _Optional[float] = ..., epochs: _Optional[float] = ..., max_seq_length: _Optional[int] = ..., warmup_ratio: _Optional[float] = ..., weight_decay: _Optional[float] = ..., gradient_checkpointing: _Optional[bool] = ..., precision: _Optional[_Union[TrainingConfig.Precision, str]] = ..., quantization: _Optional[_Union[TrainingConfig.Quantization, str]] = ..., save_steps: _Optional[int] = ..., eval_steps: _Optional[int] = ..., validation_split: _Optional[float] = ..., early_stopping_patience: _Optional[int] = ..., seed: _Optional[int] = ..., packing: _Optional[bool] = ..., method: _Optional[_Union[TrainingConfig.Method, str]] = ..., use_dora: _Optional[bool] = ..., use_rslora: _Optional[bool] = ..., loraplus_lr_ratio: _Optional[float] = ..., preference_beta: _Optional[float] = ..., report_to: _Optional[_Union[TrainingConfig.ReportTo, str]] = ..., use_liger_kernel: _Optional[bool] = ..., attn_implementation: _Optional[_Union[TrainingConfig.AttnImplementation, str]] = ..., truncation: _Optional[_Union[TrainingConfig.Truncation, str]] = ..., desirable_weight: _Optional[float] = ..., undesirable_weight: _Optional[float] = ..., num_generations: _Optional[int] = ..., max_completion_length: _Optional[int] = ..., rewards: _Optional[_Iterable[_Union[RewardFunction, _Mapping]]] = ..., best_checkpoint_metric: _Optional[str] = ..., save_total_limit: _Optional[int] = ...) -> None: ...

class TruncationReport(_message.Message):
    __slots__ = ("max_seq_length", "truncation", "records", "records_over_limit", "record_indices", "assistant_tokens_cut", "turns_cut", "records_dropped", "records_added_by_split", "assistant_tokens_lost", "turns_without_end_of_turn")
    MAX_SEQ_LENGTH_FIELD_NUMBER: _ClassVar[int]
    TRUNCATION_FIELD_NUMBER: _ClassVar[int]
    RECORDS_FIELD_NUMBER: _ClassVar[int]
    RECORDS_OVER_LIMIT_FIELD_NUMBER: _ClassVar[int]
    RECORD_INDICES_FIELD_NUMBER: _ClassVar[int]
    ASSISTANT_TOKENS_CUT_FIELD_NUMBER: _ClassVar[int]
    TURNS_CUT_FIELD_NUMBER: _ClassVar[int]
    RECORDS_DROPPED_FIELD_NUMBER: _ClassVar[int]
    RECORDS_ADDED_BY_SPLIT_FIELD_NUMBER: _ClassVar[int]
    ASSISTANT_TOKENS_LOST_FIELD_NUMBER: _ClassVar[int]
    TURNS_WITHOUT_END_OF_TURN_FIELD_NUMBER: _ClassVar[int]
    max_seq_length: int
    truncation: TrainingConfig.Truncation
    records: int
    records_over_limit: int
    record_indices: _containers.RepeatedScalarFieldContainer[int]
    assistant_tokens_cut: int
    turns_cut: int
    records_dropped: int
    records_added_by_split: int
    assistant_tokens_lost: int
    turns_without_end_of_turn: int
    def __init__(self, max_seq_length: _Optional[int] = ..., truncation: _Optional[_Union[TrainingConfig.Truncation, str]] = ..., records: _Optional[int] = ..., records_over_limit: _Optional[int] = ..., record_indices: _Optional[_Iterable[int]] = ..., assistant_tokens_cut: _Optional[int] = ..., turns_cut: _Optional[int] = ..., records_dropped: _Optional[int] = ..., records_added_by_split: _Optional[int] = ..., assistant_tokens_lost: _Optional[int] = ..., turns_without_end_of_turn: _Optional[int] = ...) -> None: ...

class Preset(_message.Message):
    __slots__ = ("name", "description", "config")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    name: str
    description: str
    config: TrainingConfig
    def __init__(self, name: _Optional[str] = ..., description: _Optional[str] = ..., config: _Optional[_Union[TrainingConfig, _Mapping]] = ...) -> None: ...

class TrainingConfigInfo(_message.Message):
    __slots__ = ("config", "presets", "help", "default_preset")
    class HelpEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    PRESETS_FIELD_NUMBER: _ClassVar[int]
    HELP_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_PRESET_FIELD_NUMBER: _ClassVar[int]
    config: TrainingConfig
    presets: _containers.RepeatedCompositeFieldContainer[Preset]
    help: _containers.ScalarMap[str, str]
    default_preset: str
    def __init__(self, config: _Optional[_Union[TrainingConfig, _Mapping]] = ..., presets: _Optional[_Iterable[_Union[Preset, _Mapping]]] = ..., help: _Optional[_Mapping[str, str]] = ..., default_preset: _Optional[str] = ...) -> None: ...

class GetTrainingConfigRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class UpdateTrainingConfigRequest(_message.Message):
    __slots__ = ("config", "update_mask", "reset")
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    RESET_FIELD_NUMBER: _ClassVar[int]
    config: TrainingConfig
    update_mask: _field_mask_pb2.FieldMask
    reset: bool
    def __init__(self, config: _Optional[_Union[TrainingConfig, _Mapping]] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ..., reset: _Optional[bool] = ...) -> None: ...

class CreateTrainingJobRequest(_message.Message):
    __slots__ = ("dataset", "base_model", "preset", "config", "adapter_name", "resume_from", "register", "request_id", "continue_from")
    DATASET_FIELD_NUMBER: _ClassVar[int]
    BASE_MODEL_FIELD_NUMBER: _ClassVar[int]
    PRESET_FIELD_NUMBER: _ClassVar[int]
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    ADAPTER_NAME_FIELD_NUMBER: _ClassVar[int]
    RESUME_FROM_FIELD_NUMBER: _ClassVar[int]
    REGISTER_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    CONTINUE_FROM_FIELD_NUMBER: _ClassVar[int]
    dataset: str
    base_model: str
    preset: str
    config: TrainingConfig
    adapter_name: str
    resume_from: str
    register: bool
    request_id: str
    continue_from: str
    def __init__(self, dataset: _Optional[str] = ..., base_model: _Optional[str] = ..., preset: _Optional[str] = ..., config: _Optional[_Union[TrainingConfig, _Mapping]] = ..., adapter_name: _Optional[str] = ..., resume_from: _Optional[str] = ..., register: _Optional[bool] = ..., request_id: _Optional[str] = ..., continue_from: _Optional[str] = ...) -> None: ...

class MergeAdapterRequest(_message.Message):
    __slots__ = ("adapter_name", "output_dir", "base_model", "request_id")
    ADAPTER_NAME_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_DIR_FIELD_NUMBER: _ClassVar[int]
    BASE_MODEL_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    adapter_name: str
    output_dir: str
    base_model: str
    request_id: str
    def __init__(self, adapter_name: _Optional[str] = ..., output_dir: _Optional[str] = ..., base_model: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class TrainingJobParams(_message.Message):
    __slots__ = ("base_model", "train_file", "validation_file", "config", "output_dir", "adapter_name", "dataset_name", "resume_from_checkpoint", "preset", "resume_from", "register", "max_steps", "full_max_parameters", "resumed_from_job", "continue_from", "continue_from_adapter")
    BASE_MODEL_FIELD_NUMBER: _ClassVar[int]
    TRAIN_FILE_FIELD_NUMBER: _ClassVar[int]
    VALIDATION_FILE_FIELD_NUMBER: _ClassVar[int]
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_DIR_FIELD_NUMBER: _ClassVar[int]
    ADAPTER_NAME_FIELD_NUMBER: _ClassVar[int]
    DATASET_NAME_FIELD_NUMBER: _ClassVar[int]
    RESUME_FROM_CHECKPOINT_FIELD_NUMBER: _ClassVar[int]
    PRESET_FIELD_NUMBER: _ClassVar[int]
    RESUME_FROM_FIELD_NUMBER: _ClassVar[int]
    REGISTER_FIELD_NUMBER: _ClassVar[int]
    MAX_STEPS_FIELD_NUMBER: _ClassVar[int]
    FULL_MAX_PARAMETERS_FIELD_NUMBER: _ClassVar[int]
    RESUMED_FROM_JOB_FIELD_NUMBER: _ClassVar[int]
    CONTINUE_FROM_FIELD_NUMBER: _ClassVar[int]
    CONTINUE_FROM_ADAPTER_FIELD_NUMBER: _ClassVar[int]
    base_model: str
    train_file: str
    validation_file: str
    config: TrainingConfig
    output_dir: str
    adapter_name: str
    dataset_name: str
    resume_from_checkpoint: str
    preset: str
    resume_from: str
    register: bool
    max_steps: int
    full_max_parameters: int
    resumed_from_job: str
    continue_from: str
    continue_from_adapter: str
    def __init__(self, base_model: _Optional[str] = ..., train_file: _Optional[str] = ..., validation_file: _Optional[str] = ..., config: _Optional[_Union[TrainingConfig, _Mapping]] = ..., output_dir: _Optional[str] = ..., adapter_name: _Optional[str] = ..., dataset_name: _Optional[str] = ..., resume_from_checkpoint: _Optional[str] = ..., preset: _Optional[str] = ..., resume_from: _Optional[str] = ..., register: _Optional[bool] = ..., max_steps: _Optional[int] = ..., full_max_parameters: _Optional[int] = ..., resumed_from_job: _Optional[str] = ..., continue_from: _Optional[str] = ..., continue_from_adapter: _Optional[str] = ...) -> None: ...

class Registration(_message.Message):
    __slots__ = ("state", "attempts", "message", "name", "version", "path", "registry", "last_attempt_time")
    class State(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        STATE_UNSPECIFIED: _ClassVar[Registration.State]
        STATE_REGISTERED: _ClassVar[Registration.State]
        STATE_PENDING: _ClassVar[Registration.State]
        STATE_FAILED: _ClassVar[Registration.State]
        STATE_SKIPPED: _ClassVar[Registration.State]
    STATE_UNSPECIFIED: Registration.State
    STATE_REGISTERED: Registration.State
    STATE_PENDING: Registration.State
    STATE_FAILED: Registration.State
    STATE_SKIPPED: Registration.State
    STATE_FIELD_NUMBER: _ClassVar[int]
    ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    REGISTRY_FIELD_NUMBER: _ClassVar[int]
    LAST_ATTEMPT_TIME_FIELD_NUMBER: _ClassVar[int]
    state: Registration.State
    attempts: int
    message: str
    name: str
    version: int
    path: str
    registry: str
    last_attempt_time: float
    def __init__(self, state: _Optional[_Union[Registration.State, str]] = ..., attempts: _Optional[int] = ..., message: _Optional[str] = ..., name: _Optional[str] = ..., version: _Optional[int] = ..., path: _Optional[str] = ..., registry: _Optional[str] = ..., last_attempt_time: _Optional[float] = ...) -> None: ...

class TrainingJobResult(_message.Message):
    __slots__ = ("base_model", "dataset", "adapter_name", "config", "precision", "global_step", "max_steps", "epoch", "train_loss", "last_loss", "eval_loss", "best_eval_loss", "num_tokens", "train_runtime", "tokens_per_second", "train_records", "dropped_records", "early_stopped", "wall_seconds", "stopped", "adapter_dir", "output_dir", "checkpoint", "registration", "method", "variant", "artifact", "end_of_turn_coverage", "truncation", "reward", "reward_components", "best", "resumed_from_job", "train_loss_steps", "mfu", "flops_per_token", "peak_gpu_memory_bytes", "peak_flops", "continued_from")
    class RewardComponentsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    BASE_MODEL_FIELD_NUMBER: _ClassVar[int]
    DATASET_FIELD_NUMBER: _ClassVar[int]
    ADAPTER_NAME_FIELD_NUMBER: _ClassVar[int]
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    PRECISION_FIELD_NUMBER: _ClassVar[int]
    GLOBAL_STEP_FIELD_NUMBER: _ClassVar[int]
    MAX_STEPS_FIELD_NUMBER: _ClassVar[int]
    EPOCH_FIELD_NUMBER: _ClassVar[int]
    TRAIN_LOSS_FIELD_NUMBER: _ClassVar[int]
    LAST_LOSS_FIELD_NUMBER: _ClassVar[int]
    EVAL_LOSS_FIELD_NUMBER: _ClassVar[int]
    BEST_EVAL_LOSS_FIELD_NUMBER: _ClassVar[int]
    NUM_TOKENS_FIELD_NUMBER: _ClassVar[int]
    TRAIN_RUNTIME_FIELD_NUMBER: _ClassVar[int]
    TOKENS_PER_SECOND_FIELD_NUMBER: _ClassVar[int]
    TRAIN_RECORDS_FIELD_NUMBER: _ClassVar[int]
    DROPPED_RECORDS_FIELD_NUMBER: _ClassVar[int]
    EARLY_STOPPED_FIELD_NUMBER: _ClassVar[int]
    WALL_SECONDS_FIELD_NUMBER: _ClassVar[int]
    STOPPED_FIELD_NUMBER: _ClassVar[int]
    ADAPTER_DIR_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_DIR_FIELD_NUMBER: _ClassVar[int]
    CHECKPOINT_FIELD_NUMBER: _ClassVar[int]
    REGISTRATION_FIELD_NUMBER: _ClassVar[int]
    METHOD_FIELD_NUMBER: _ClassVar[int]
    VARIANT_FIELD_NUMBER: _ClassVar[int]
    ARTIFACT_FIELD_NUMBER: _ClassVar[int]
    END_OF_TURN_COVERAGE_FIELD_NUMBER: _ClassVar[int]
    TRUNCATION_FIELD_NUMBER: _ClassVar[int]
    REWARD_FIELD_NUMBER: _ClassVar[int]
    REWARD_COMPONENTS_FIELD_NUMBER: _ClassVar[int]
    BEST_FIELD_NUMBER: _ClassVar[int]
    RESUMED_FROM_JOB_FIELD_NUMBER: _ClassVar[int]
    TRAIN_LOSS_STEPS_FIELD_NUMBER: _ClassVar[int]
    MFU_FIELD_NUMBER: _ClassVar[int]
    FLOPS_PER_TOKEN_FIELD_NUMBER: _ClassVar[int]
    PEAK_GPU_MEMORY_BYTES_FIELD_NUMBER: _ClassVar[int]
    PEAK_FLOPS_FIELD_NUMBER: _ClassVar[int]
    CONTINUED_FROM_FIELD_NUMBER: _ClassVar[int]
    base_model: str
    dataset: str
    adapter_name: str
    config: TrainingConfig
    precision: TrainingConfig.Precision
    global_step: int
    max_steps: int
    epoch: float
    train_loss: float
    last_loss: float
    eval_loss: float
    best_eval_loss: float
    num_tokens: float
    train_runtime: float
    tokens_per_second: float
    train_records: int
    dropped_records: int
    early_stopped: bool
    wall_seconds: float
    stopped: bool
    adapter_dir: str
    output_dir: str
    checkpoint: str
    registration: Registration
    method: TrainingConfig.Method
    variant: str
    artifact: str
    end_of_turn_coverage: float
    truncation: TruncationReport
    reward: float
    reward_components: _containers.ScalarMap[str, float]
    best: BestCheckpoint
    resumed_from_job: str
    train_loss_steps: int
    mfu: float
    flops_per_token: float
    peak_gpu_memory_bytes: int
    peak_flops: float
    continued_from: str
    def __init__(self, base_model: _Optional[str] = ..., dataset: _Optional[str] = ..., adapter_name: _Optional[str] = ..., config: _Optional[_Union[TrainingConfig, _Mapping]] = ..., precision: _Optional[_Union[TrainingConfig.Precision, str]] = ..., global_step: _Optional[int] = ..., max_steps: _Optional[int] = ..., epoch: _Optional[float] = ..., train_loss: _Optional[float] = ..., last_loss: _Optional[float] = ..., eval_loss: _Optional[float] = ..., best_eval_loss: _Optional[float] = ..., num_tokens: _Optional[float] = ..., train_runtime: _Optional[float] = ..., tokens_per_second: _Optional[float] = ..., train_records: _Optional[int] = ..., dropped_records: _Optional[int] = ..., early_stopped: _Optional[bool] = ..., wall_seconds: _Optional[float] = ..., stopped: _Optional[bool] = ..., adapter_dir: _Optional[str] = ..., output_dir: _Optional[str] = ..., checkpoint: _Optional[str] = ..., registration: _Optional[_Union[Registration, _Mapping]] = ..., method: _Optional[_Union[TrainingConfig.Method, str]] = ..., variant: _Optional[str] = ..., artifact: _Optional[str] = ..., end_of_turn_coverage: _Optional[float] = ..., truncation: _Optional[_Union[TruncationReport, _Mapping]] = ..., reward: _Optional[float] = ..., reward_components: _Optional[_Mapping[str, float]] = ..., best: _Optional[_Union[BestCheckpoint, _Mapping]] = ..., resumed_from_job: _Optional[str] = ..., train_loss_steps: _Optional[int] = ..., mfu: _Optional[float] = ..., flops_per_token: _Optional[float] = ..., peak_gpu_memory_bytes: _Optional[int] = ..., peak_flops: _Optional[float] = ..., continued_from: _Optional[str] = ...) -> None: ...

class PlanTrainingRequest(_message.Message):
    __slots__ = ("dataset", "base_model", "preset", "config", "warmup", "warmup_batches")
    class Warmup(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        WARMUP_UNSPECIFIED: _ClassVar[PlanTrainingRequest.Warmup]
        WARMUP_SKIP: _ClassVar[PlanTrainingRequest.Warmup]
        WARMUP_RUN: _ClassVar[PlanTrainingRequest.Warmup]
    WARMUP_UNSPECIFIED: PlanTrainingRequest.Warmup
    WARMUP_SKIP: PlanTrainingRequest.Warmup
    WARMUP_RUN: PlanTrainingRequest.Warmup
    DATASET_FIELD_NUMBER: _ClassVar[int]
    BASE_MODEL_FIELD_NUMBER: _ClassVar[int]
    PRESET_FIELD_NUMBER: _ClassVar[int]
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    WARMUP_FIELD_NUMBER: _ClassVar[int]
    WARMUP_BATCHES_FIELD_NUMBER: _ClassVar[int]
    dataset: str
    base_model: str
    preset: str
    config: TrainingConfig
    warmup: PlanTrainingRequest.Warmup
    warmup_batches: int
    def __init__(self, dataset: _Optional[str] = ..., base_model: _Optional[str] = ..., preset: _Optional[str] = ..., config: _Optional[_Union[TrainingConfig, _Mapping]] = ..., warmup: _Optional[_Union[PlanTrainingRequest.Warmup, str]] = ..., warmup_batches: _Optional[int] = ...) -> None: ...

class MemoryEstimate(_message.Message):
    __slots__ = ("weights_bytes", "trainable_state_bytes", "activations_bytes", "logits_bytes", "runtime_bytes", "total_bytes")
    WEIGHTS_BYTES_FIELD_NUMBER: _ClassVar[int]
    TRAINABLE_STATE_BYTES_FIELD_NUMBER: _ClassVar[int]
    ACTIVATIONS_BYTES_FIELD_NUMBER: _ClassVar[int]
    LOGITS_BYTES_FIELD_NUMBER: _ClassVar[int]
    RUNTIME_BYTES_FIELD_NUMBER: _ClassVar[int]
    TOTAL_BYTES_FIELD_NUMBER: _ClassVar[int]
    weights_bytes: int
    trainable_state_bytes: int
    activations_bytes: int
    logits_bytes: int
    runtime_bytes: int
    total_bytes: int
    def __init__(self, weights_bytes: _Optional[int] = ..., trainable_state_bytes: _Optional[int] = ..., activations_bytes: _Optional[int] = ..., logits_bytes: _Optional[int] = ..., runtime_bytes: _Optional[int] = ..., total_bytes: _Optional[int] = ...) -> None: ...

class TrainingPlan(_message.Message):
    __slots__ = ("parameters", "trainable_parameters", "seq_len", "seq_len_source", "memory", "device_kind", "device_name", "device_total_bytes", "available_bytes", "fits", "advice", "config", "time", "truncation")
    PARAMETERS_FIELD_NUMBER: _ClassVar[int]
    TRAINABLE_PARAMETERS_FIELD_NUMBER: _ClassVar[int]
    SEQ_LEN_FIELD_NUMBER: _ClassVar[int]
    SEQ_LEN_SOURCE_FIELD_NUMBER: _ClassVar[int]
    MEMORY_FIELD_NUMBER: _ClassVar[int]
    DEVICE_KIND_FIELD_NUMBER: _ClassVar[int]
    DEVICE_NAME_FIELD_NUMBER: _ClassVar[int]
    DEVICE_TOTAL_BYTES_FIELD_NUMBER: _ClassVar[int]
    AVAILABLE_BYTES_FIELD_NUMBER: _ClassVar[int]
    FITS_FIELD_NUMBER: _ClassVar[int]
    ADVICE_FIELD_NUMBER: _ClassVar[int]
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    TIME_FIELD_NUMBER: _ClassVar[int]
    TRUNCATION_FIELD_NUMBER: _ClassVar[int]
    parameters: int
    trainable_parameters: int
    seq_len: int
    seq_len_source: str
    memory: MemoryEstimate
    device_kind: str
    device_name: str
    device_total_bytes: int
    available_bytes: int
    fits: bool
    advice: _containers.RepeatedScalarFieldContainer[str]
    config: TrainingConfig
    time: TimeEstimate
    truncation: TruncationReport
    def __init__(self, parameters: _Optional[int] = ..., trainable_parameters: _Optional[int] = ..., seq_len: _Optional[int] = ..., seq_len_source: _Optional[str] = ..., memory: _Optional[_Union[MemoryEstimate, _Mapping]] = ..., device_kind: _Optional[str] = ..., device_name: _Optional[str] = ..., device_total_bytes: _Optional[int] = ..., available_bytes: _Optional[int] = ..., fits: _Optional[bool] = ..., advice: _Optional[_Iterable[str]] = ..., config: _Optional[_Union[TrainingConfig, _Mapping]] = ..., time: _Optional[_Union[TimeEstimate, _Mapping]] = ..., truncation: _Optional[_Union[TruncationReport, _Mapping]] = ...) -> None: ...

class TimeEstimate(_message.Message):
    __slots__ = ("measured", "note", "total_steps", "warmup_batches", "timed_batches", "seconds_per_step", "load_seconds", "estimated_seconds", "tokens_per_second", "measured_peak_bytes", "device", "job_id", "seconds_per_batch", "optimizer_seconds", "total_batches")
    MEASURED_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    TOTAL_STEPS_FIELD_NUMBER: _ClassVar[int]
    WARMUP_BATCHES_FIELD_NUMBER: _ClassVar[int]
    TIMED_BATCHES_FIELD_NUMBER: _ClassVar[int]
    SECONDS_PER_STEP_FIELD_NUMBER: _ClassVar[int]
    LOAD_SECONDS_FIELD_NUMBER: _ClassVar[int]
    ESTIMATED_SECONDS_FIELD_NUMBER: _ClassVar[int]
    TOKENS_PER_SECOND_FIELD_NUMBER: _ClassVar[int]
    MEASURED_PEAK_BYTES_FIELD_NUMBER: _ClassVar[int]
    DEVICE_FIELD_NUMBER: _ClassVar[int]
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    SECONDS_PER_BATCH_FIELD_NUMBER: _ClassVar[int]
    OPTIMIZER_SECONDS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_BATCHES_FIELD_NUMBER: _ClassVar[int]
    measured: bool
    note: str
    total_steps: int
    warmup_batches: int
    timed_batches: int
    seconds_per_step: float
    load_seconds: float
    estimated_seconds: float
    tokens_per_second: float
    measured_peak_bytes: int
    device: str
    job_id: str
    seconds_per_batch: float
    optimizer_seconds: float
    total_batches: int
    def __init__(self, measured: _Optional[bool] = ..., note: _Optional[str] = ..., total_steps: _Optional[int] = ..., warmup_batches: _Optional[int] = ..., timed_batches: _Optional[int] = ..., seconds_per_step: _Optional[float] = ..., load_seconds: _Optional[float] = ..., estimated_seconds: _Optional[float] = ..., tokens_per_second: _Optional[float] = ..., measured_peak_bytes: _Optional[int] = ..., device: _Optional[str] = ..., job_id: _Optional[str] = ..., seconds_per_batch: _Optional[float] = ..., optimizer_seconds: _Optional[float] = ..., total_batches: _Optional[int] = ...) -> None: ...

class WarmupJobParams(_message.Message):
    __slots__ = ("base_model", "train_file", "validation_file", "config", "dataset_name", "warmup_batches")
    BASE_MODEL_FIELD_NUMBER: _ClassVar[int]
    TRAIN_FILE_FIELD_NUMBER: _ClassVar[int]
    VALIDATION_FILE_FIELD_NUMBER: _ClassVar[int]
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    DATASET_NAME_FIELD_NUMBER: _ClassVar[int]
    WARMUP_BATCHES_FIELD_NUMBER: _ClassVar[int]
    base_model: str
    train_file: str
    validation_file: str
    config: TrainingConfig
    dataset_name: str
    warmup_batches: int
    def __init__(self, base_model: _Optional[str] = ..., train_file: _Optional[str] = ..., validation_file: _Optional[str] = ..., config: _Optional[_Union[TrainingConfig, _Mapping]] = ..., dataset_name: _Optional[str] = ..., warmup_batches: _Optional[int] = ...) -> None: ...

class WarmupJobResult(_message.Message):
    __slots__ = ("time",)
    TIME_FIELD_NUMBER: _ClassVar[int]
    time: TimeEstimate
    def __init__(self, time: _Optional[_Union[TimeEstimate, _Mapping]] = ...) -> None: ...

class MergeJobParams(_message.Message):
    __slots__ = ("adapter_name", "adapter_dir", "output_dir", "base_model", "dtype")
    ADAPTER_NAME_FIELD_NUMBER: _ClassVar[int]
    ADAPTER_DIR_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_DIR_FIELD_NUMBER: _ClassVar[int]
    BASE_MODEL_FIELD_NUMBER: _ClassVar[int]
    DTYPE_FIELD_NUMBER: _ClassVar[int]
    adapter_name: str
    adapter_dir: str
    output_dir: str
    base_model: str
    dtype: str
    def __init__(self, adapter_name: _Optional[str] = ..., adapter_dir: _Optional[str] = ..., output_dir: _Optional[str] = ..., base_model: _Optional[str] = ..., dtype: _Optional[str] = ...) -> None: ...

class MergeJobResult(_message.Message):
    __slots__ = ("output_dir", "base_model", "adapter_dir", "parameters", "size_bytes")
    OUTPUT_DIR_FIELD_NUMBER: _ClassVar[int]
    BASE_MODEL_FIELD_NUMBER: _ClassVar[int]
    ADAPTER_DIR_FIELD_NUMBER: _ClassVar[int]
    PARAMETERS_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    output_dir: str
    base_model: str
    adapter_dir: str
    parameters: int
    size_bytes: int
    def __init__(self, output_dir: _Optional[str] = ..., base_model: _Optional[str] = ..., adapter_dir: _Optional[str] = ..., parameters: _Optional[int] = ..., size_bytes: _Optional[int] = ...) -> None: ...

class CreateExportJobRequest(_message.Message):
    __slots__ = ("request_id", "adapter_name", "format", "quant", "output_dir", "base_model", "calibration_dataset", "calibration_samples")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    ADAPTER_NAME_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    QUANT_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_DIR_FIELD_NUMBER: _ClassVar[int]
    BASE_MODEL_FIELD_NUMBER: _ClassVar[int]
    CALIBRATION_DATASET_FIELD_NUMBER: _ClassVar[int]
    CALIBRATION_SAMPLES_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    adapter_name: str
    format: _registry_pb2.ExportFormat
    quant: str
    output_dir: str
    base_model: str
    calibration_dataset: str
    calibration_samples: int
    def __init__(self, request_id: _Optional[str] = ..., adapter_name: _Optional[str] = ..., format: _Optional[_Union[_registry_pb2.ExportFormat, str]] = ..., quant: _Optional[str] = ..., output_dir: _Optional[str] = ..., base_model: _Optional[str] = ..., calibration_dataset: _Optional[str] = ..., calibration_samples: _Optional[int] = ...) -> None: ...

class ExportJobParams(_message.Message):
    __slots__ = ("adapter_name", "adapter_version", "adapter_dir", "base_model", "architecture", "format", "quant", "output_dir", "calibration_file", "calibration_samples", "register")
    ADAPTER_NAME_FIELD_NUMBER: _ClassVar[int]
    ADAPTER_VERSION_FIELD_NUMBER: _ClassVar[int]
    ADAPTER_DIR_FIELD_NUMBER: _ClassVar[int]
    BASE_MODEL_FIELD_NUMBER: _ClassVar[int]
    ARCHITECTURE_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    QUANT_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_DIR_FIELD_NUMBER: _ClassVar[int]
    CALIBRATION_FILE_FIELD_NUMBER: _ClassVar[int]
    CALIBRATION_SAMPLES_FIELD_NUMBER: _ClassVar[int]
    REGISTER_FIELD_NUMBER: _ClassVar[int]
    adapter_name: str
    adapter_version: int
    adapter_dir: str
    base_model: str
    architecture: str
    format: _registry_pb2.ExportFormat
    quant: str
    output_dir: str
    calibration_file: str
    calibration_samples: int
    register: bool
    def __init__(self, adapter_name: _Optional[str] = ..., adapter_version: _Optional[int] = ..., adapter_dir: _Optional[str] = ..., base_model: _Optional[str] = ..., architecture: _Optional[str] = ..., format: _Optional[_Union[_registry_pb2.ExportFormat, str]] = ..., quant: _Optional[str] = ..., output_dir: _Optional[str] = ..., calibration_file: _Optional[str] = ..., calibration_samples: _Optional[int] = ..., register: _Optional[bool] = ...) -> None: ...

class ExportJobResult(_message.Message):
    __slots__ = ("output_dir", "format", "quant", "adapter_name", "base_model", "architecture", "files", "primary_file", "sha256", "size_bytes", "calibration_samples", "registration", "serving_check")
    OUTPUT_DIR_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    QUANT_FIELD_NUMBER: _ClassVar[int]
    ADAPTER_NAME_FIELD_NUMBER: _ClassVar[int]
    BASE_MODEL_FIELD_NUMBER: _ClassVar[int]
    ARCHITECTURE_FIELD_NUMBER: _ClassVar[int]
    FILES_FIELD_NUMBER: _ClassVar[int]
    PRIMARY_FILE_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    CALIBRATION_SAMPLES_FIELD_NUMBER: _ClassVar[int]
    REGISTRATION_FIELD_NUMBER: _ClassVar[int]
    SERVING_CHECK_FIELD_NUMBER: _ClassVar[int]
    output_dir: str
    format: _registry_pb2.ExportFormat
    quant: str
    adapter_name: str
    base_model: str
    architecture: str
    files: _containers.RepeatedScalarFieldContainer[str]
    primary_file: str
    sha256: str
    size_bytes: int
    calibration_samples: int
    registration: Registration
    serving_check: _registry_pb2.ConformanceReport
    def __init__(self, output_dir: _Optional[str] = ..., format: _Optional[_Union[_registry_pb2.ExportFormat, str]] = ..., quant: _Optional[str] = ..., adapter_name: _Optional[str] = ..., base_model: _Optional[str] = ..., architecture: _Optional[str] = ..., files: _Optional[_Iterable[str]] = ..., primary_file: _Optional[str] = ..., sha256: _Optional[str] = ..., size_bytes: _Optional[int] = ..., calibration_samples: _Optional[int] = ..., registration: _Optional[_Union[Registration, _Mapping]] = ..., serving_check: _Optional[_Union[_registry_pb2.ConformanceReport, _Mapping]] = ...) -> None: ...

class CreateEvaluationJobRequest(_message.Message):
    __slots__ = ("adapter_name", "dataset", "samples", "max_new_tokens", "request_id")
    ADAPTER_NAME_FIELD_NUMBER: _ClassVar[int]
    DATASET_FIELD_NUMBER: _ClassVar[int]
    SAMPLES_FIELD_NUMBER: _ClassVar[int]
    MAX_NEW_TOKENS_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    adapter_name: str
    dataset: str
    samples: int
    max_new_tokens: int
    request_id: str
    def __init__(self, adapter_name: _Optional[str] = ..., dataset: _Optional[str] = ..., samples: _Optional[int] = ..., max_new_tokens: _Optional[int] = ..., request_id: _Optional[str] = ...) -> None: ...

class EvaluationJobParams(_message.Message):
    __slots__ = ("base_model", "adapter_dir", "adapter_name", "adapter_version", "dataset_name", "validation_file", "train_file", "validation_split", "seed", "max_seq_length", "samples", "max_new_tokens", "training_job_id")
    BASE_MODEL_FIELD_NUMBER: _ClassVar[int]
    ADAPTER_DIR_FIELD_NUMBER: _ClassVar[int]
    ADAPTER_NAME_FIELD_NUMBER: _ClassVar[int]
    ADAPTER_VERSION_FIELD_NUMBER: _ClassVar[int]
    DATASET_NAME_FIELD_NUMBER: _ClassVar[int]
    VALIDATION_FILE_FIELD_NUMBER: _ClassVar[int]
    TRAIN_FILE_FIELD_NUMBER: _ClassVar[int]
    VALIDATION_SPLIT_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    MAX_SEQ_LENGTH_FIELD_NUMBER: _ClassVar[int]
    SAMPLES_FIELD_NUMBER: _ClassVar[int]
    MAX_NEW_TOKENS_FIELD_NUMBER: _ClassVar[int]
    TRAINING_JOB_ID_FIELD_NUMBER: _ClassVar[int]
    base_model: str
    adapter_dir: str
    adapter_name: str
    adapter_version: int
    dataset_name: str
    validation_file: str
    train_file: str
    validation_split: float
    seed: int
    max_seq_length: int
    samples: int
    max_new_tokens: int
    training_job_id: str
    def __init__(self, base_model: _Optional[str] = ..., adapter_dir: _Optional[str] = ..., adapter_name: _Optional[str] = ..., adapter_version: _Optional[int] = ..., dataset_name: _Optional[str] = ..., validation_file: _Optional[str] = ..., train_file: _Optional[str] = ..., validation_split: _Optional[float] = ..., seed: _Optional[int] = ..., max_seq_length: _Optional[int] = ..., samples: _Optional[int] = ..., max_new_tokens: _Optional[int] = ..., training_job_id: _Optional[str] = ...) -> None: ...

class EvaluationJobResult(_message.Message):
    __slots__ = ("report", "recorded", "record_message")
    REPORT_FIELD_NUMBER: _ClassVar[int]
    RECORDED_FIELD_NUMBER: _ClassVar[int]
    RECORD_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    report: _registry_pb2.EvaluationReport
    recorded: bool
    record_message: str
    def __init__(self, report: _Optional[_Union[_registry_pb2.EvaluationReport, _Mapping]] = ..., recorded: _Optional[bool] = ..., record_message: _Optional[str] = ...) -> None: ...

class ChatRequest(_message.Message):
    __slots__ = ("adapter_name", "base_model", "messages", "compare", "max_new_tokens", "temperature", "top_p", "seed")
    ADAPTER_NAME_FIELD_NUMBER: _ClassVar[int]
    BASE_MODEL_FIELD_NUMBER: _ClassVar[int]
    MESSAGES_FIELD_NUMBER: _ClassVar[int]
    COMPARE_FIELD_NUMBER: _ClassVar[int]
    MAX_NEW_TOKENS_FIELD_NUMBER: _ClassVar[int]
    TEMPERATURE_FIELD_NUMBER: _ClassVar[int]
    TOP_P_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    adapter_name: str
    base_model: str
    messages: _containers.RepeatedCompositeFieldContainer[_registry_pb2.ChatMessage]
    compare: bool
    max_new_tokens: int
    temperature: float
    top_p: float
    seed: int
    def __init__(self, adapter_name: _Optional[str] = ..., base_model: _Optional[str] = ..., messages: _Optional[_Iterable[_Union[_registry_pb2.ChatMessage, _Mapping]]] = ..., compare: _Optional[bool] = ..., max_new_tokens: _Optional[int] = ..., temperature: _Optional[float] = ..., top_p: _Optional[float] = ..., seed: _Optional[int] = ...) -> None: ...

class ChatPiece(_message.Message):
    __slots__ = ("side", "text")
    SIDE_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    side: ChatSide
    text: str
    def __init__(self, side: _Optional[_Union[ChatSide, str]] = ..., text: _Optional[str] = ...) -> None: ...

class ChatReply(_message.Message):
    __slots__ = ("side", "text", "tokens", "stopped", "finish_reason")
    SIDE_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    TOKENS_FIELD_NUMBER: _ClassVar[int]
    STOPPED_FIELD_NUMBER: _ClassVar[int]
    FINISH_REASON_FIELD_NUMBER: _ClassVar[int]
    side: ChatSide
    text: str
    tokens: int
    stopped: bool
    finish_reason: str
    def __init__(self, side: _Optional[_Union[ChatSide, str]] = ..., text: _Optional[str] = ..., tokens: _Optional[int] = ..., stopped: _Optional[bool] = ..., finish_reason: _Optional[str] = ...) -> None: ...

class ChatResponse(_message.Message):
    __slots__ = ("job", "piece", "reply")
    JOB_FIELD_NUMBER: _ClassVar[int]
    PIECE_FIELD_NUMBER: _ClassVar[int]
    REPLY_FIELD_NUMBER: _ClassVar[int]
    job: _common_pb2.Job
    piece: ChatPiece
    reply: ChatReply
    def __init__(self, job: _Optional[_Union[_common_pb2.Job, _Mapping]] = ..., piece: _Optional[_Union[ChatPiece, _Mapping]] = ..., reply: _Optional[_Union[ChatReply, _Mapping]] = ...) -> None: ...

class ChatJobParams(_message.Message):
    __slots__ = ("base_model", "adapter_dir", "messages", "sides", "deadline", "max_new_tokens", "temperature", "top_p", "seed")
    BASE_MODEL_FIELD_NUMBER: _ClassVar[int]
    ADAPTER_DIR_FIELD_NUMBER: _ClassVar[int]
    MESSAGES_FIELD_NUMBER: _ClassVar[int]
    SIDES_FIELD_NUMBER: _ClassVar[int]
    DEADLINE_FIELD_NUMBER: _ClassVar[int]
    MAX_NEW_TOKENS_FIELD_NUMBER: _ClassVar[int]
    TEMPERATURE_FIELD_NUMBER: _ClassVar[int]
    TOP_P_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    base_model: str
    adapter_dir: str
    messages: _containers.RepeatedCompositeFieldContainer[_registry_pb2.ChatMessage]
    sides: _containers.RepeatedScalarFieldContainer[ChatSide]
    deadline: float
    max_new_tokens: int
    temperature: float
    top_p: float
    seed: int
    def __init__(self, base_model: _Optional[str] = ..., adapter_dir: _Optional[str] = ..., messages: _Optional[_Iterable[_Union[_registry_pb2.ChatMessage, _Mapping]]] = ..., sides: _Optional[_Iterable[_Union[ChatSide, str]]] = ..., deadline: _Optional[float] = ..., max_new_tokens: _Optional[int] = ..., temperature: _Optional[float] = ..., top_p: _Optional[float] = ..., seed: _Optional[int] = ...) -> None: ...

class ChatJobResult(_message.Message):
    __slots__ = ("replies",)
    REPLIES_FIELD_NUMBER: _ClassVar[int]
    replies: _containers.RepeatedCompositeFieldContainer[ChatReply]
    def __init__(self, replies: _Optional[_Iterable[_Union[ChatReply, _Mapping]]] = ...) -> None: ...

class CreateAuditJobRequest(_message.Message):
    __slots__ = ("adapter_name", "adapter_version", "dataset", "samples", "max_new_tokens", "request_id")
    ADAPTER_NAME_FIELD_NUMBER: _ClassVar[int]
    ADAPTER_VERSION_FIELD_NUMBER: _ClassVar[int]
    DATASET_FIELD_NUMBER: _ClassVar[int]
    SAMPLES_FIELD_NUMBER: _ClassVar[int]
    MAX_NEW_TOKENS_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    adapter_name: str
    adapter_version: int
    dataset: str
    samples: int
    max_new_tokens: int
    request_id: str
    def __init__(self, adapter_name: _Optional[str] = ..., adapter_version: _Optional[int] = ..., dataset: _Optional[str] = ..., samples: _Optional[int] = ..., max_new_tokens: _Optional[int] = ..., request_id: _Optional[str] = ...) -> None: ...

class AuditJobParams(_message.Message):
    __slots__ = ("base_model", "adapter_dir", "adapter_name", "adapter_version", "dataset_name", "data_file", "probes_file", "settings")
    BASE_MODEL_FIELD_NUMBER: _ClassVar[int]
    ADAPTER_DIR_FIELD_NUMBER: _ClassVar[int]
    ADAPTER_NAME_FIELD_NUMBER: _ClassVar[int]
    ADAPTER_VERSION_FIELD_NUMBER: _ClassVar[int]
    DATASET_NAME_FIELD_NUMBER: _ClassVar[int]
    DATA_FILE_FIELD_NUMBER: _ClassVar[int]
    PROBES_FILE_FIELD_NUMBER: _ClassVar[int]
    SETTINGS_FIELD_NUMBER: _ClassVar[int]
    base_model: str
    adapter_dir: str
    adapter_name: str
    adapter_version: int
    dataset_name: str
    data_file: str
    probes_file: str
    settings: _registry_pb2.AuditSettings
    def __init__(self, base_model: _Optional[str] = ..., adapter_dir: _Optional[str] = ..., adapter_name: _Optional[str] = ..., adapter_version: _Optional[int] = ..., dataset_name: _Optional[str] = ..., data_file: _Optional[str] = ..., probes_file: _Optional[str] = ..., settings: _Optional[_Union[_registry_pb2.AuditSettings, _Mapping]] = ...) -> None: ...

class AuditJobResult(_message.Message):
    __slots__ = ("report", "recorded", "record_message")
    REPORT_FIELD_NUMBER: _ClassVar[int]
    RECORDED_FIELD_NUMBER: _ClassVar[int]
    RECORD_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    report: _registry_pb2.AuditReport
    recorded: bool
    record_message: str
    def __init__(self, report: _Optional[_Union[_registry_pb2.AuditReport, _Mapping]] = ..., recorded: _Optional[bool] = ..., record_message: _Optional[str] = ...) -> None: ...

class RewardFunction(_message.Message):
    __slots__ = ("kind", "weight", "name", "min_chars", "max_chars", "pattern", "must_not_match", "url", "timeout_seconds", "max_response_bytes")
    class Kind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        KIND_UNSPECIFIED: _ClassVar[RewardFunction.Kind]
        KIND_FORMAT: _ClassVar[RewardFunction.Kind]
        KIND_LENGTH: _ClassVar[RewardFunction.Kind]
        KIND_CHRF: _ClassVar[RewardFunction.Kind]
        KIND_REGEX: _ClassVar[RewardFunction.Kind]
        KIND_HTTP: _ClassVar[RewardFunction.Kind]
    KIND_UNSPECIFIED: RewardFunction.Kind
    KIND_FORMAT: RewardFunction.Kind
    KIND_LENGTH: RewardFunction.Kind
    KIND_CHRF: RewardFunction.Kind
    KIND_REGEX: RewardFunction.Kind
    KIND_HTTP: RewardFunction.Kind
    KIND_FIELD_NUMBER: _ClassVar[int]
    WEIGHT_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    MIN_CHARS_FIELD_NUMBER: _ClassVar[int]
    MAX_CHARS_FIELD_NUMBER: _ClassVar[int]
    PATTERN_FIELD_NUMBER: _ClassVar[int]
    MUST_NOT_MATCH_FIELD_NUMBER: _ClassVar[int]
    URL_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_SECONDS_FIELD_NUMBER: _ClassVar[int]
    MAX_RESPONSE_BYTES_FIELD_NUMBER: _ClassVar[int]
    kind: RewardFunction.Kind
    weight: float
    name: str
    min_chars: int
    max_chars: int
    pattern: str
    must_not_match: bool
    url: str
    timeout_seconds: float
    max_response_bytes: int
    def __init__(self, kind: _Optional[_Union[RewardFunction.Kind, str]] = ..., weight: _Optional[float] = ..., name: _Optional[str] = ..., min_chars: _Optional[int] = ..., max_chars: _Optional[int] = ..., pattern: _Optional[str] = ..., must_not_match: _Optional[bool] = ..., url: _Optional[str] = ..., timeout_seconds: _Optional[float] = ..., max_response_bytes: _Optional[int] = ...) -> None: ...

class BestCheckpoint(_message.Message):
    __slots__ = ("metric", "step", "path", "value", "last_step", "last_checkpoint", "evaluated", "reason")
    METRIC_FIELD_NUMBER: _ClassVar[int]
    STEP_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    LAST_STEP_FIELD_NUMBER: _ClassVar[int]
    LAST_CHECKPOINT_FIELD_NUMBER: _ClassVar[int]
    EVALUATED_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    metric: str
    step: int
    path: str
    value: float
    last_step: int
    last_checkpoint: str
    evaluated: int
    reason: str
    def __init__(self, metric: _Optional[str] = ..., step: _Optional[int] = ..., path: _Optional[str] = ..., value: _Optional[float] = ..., last_step: _Optional[int] = ..., last_checkpoint: _Optional[str] = ..., evaluated: _Optional[int] = ..., reason: _Optional[str] = ...) -> None: ...

class ListBaseModelsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class BaseModel(_message.Message):
    __slots__ = ("name", "source", "path", "architecture", "size_bytes", "kind")
    NAME_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    ARCHITECTURE_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    name: str
    source: str
    path: str
    architecture: str
    size_bytes: int
    kind: str
    def __init__(self, name: _Optional[str] = ..., source: _Optional[str] = ..., path: _Optional[str] = ..., architecture: _Optional[str] = ..., size_bytes: _Optional[int] = ..., kind: _Optional[str] = ...) -> None: ...

class ListBaseModelsResponse(_message.Message):
    __slots__ = ("models", "models_dir", "hint")
    MODELS_FIELD_NUMBER: _ClassVar[int]
    MODELS_DIR_FIELD_NUMBER: _ClassVar[int]
    HINT_FIELD_NUMBER: _ClassVar[int]
    models: _containers.RepeatedCompositeFieldContainer[BaseModel]
    models_dir: str
    hint: str
    def __init__(self, models: _Optional[_Iterable[_Union[BaseModel, _Mapping]]] = ..., models_dir: _Optional[str] = ..., hint: _Optional[str] = ...) -> None: ...
