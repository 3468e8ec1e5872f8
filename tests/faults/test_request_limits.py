"""Every request is checked against its descriptor before a servicer sees it: an enum number
the enum does not declare and an overlong string are INVALID_ARGUMENT naming the field (they
were INTERNAL, or stored), and no log line grows with what a client sent."""

from __future__ import annotations

import grpc
import pytest

from tuneforge.client import InvalidArgument
from tuneforge.client.errors import from_rpc_error
from tuneforge.dataset.v1 import dataset_pb2
from tuneforge.registry.v1 import registry_pb2
from tuneforge.runtime.errors import TuneforgeError
from tuneforge.runtime.request_checks import check_request
from tuneforge.trainer.v1 import trainer_pb2, trainer_pb2_grpc

BIG = 7 * 1024 * 1024
MAX_LOG_LINE = 16 * 1024


@pytest.fixture
def trainer(server):
    channel = grpc.insecure_channel(server.target, options=[("grpc.max_send_message_length", 64 << 20),
                                                            ("grpc.max_receive_message_length", 64 << 20)])
    yield trainer_pb2_grpc.TrainerServiceStub(channel)
    channel.close()


def refusal(call, request) -> InvalidArgument:
    with pytest.raises(grpc.RpcError) as err:
        call(request, timeout=60)
    error = from_rpc_error(err.value)
    assert isinstance(error, InvalidArgument), error
    return error


def test_an_unknown_enum_number_is_invalid_argument_naming_the_field(trainer):
    request = trainer_pb2.CreateTrainingJobRequest(dataset="d", config=trainer_pb2.TrainingConfig(method=999))
    error = refusal(trainer.CreateTrainingJob, request)
    assert error.reason == "UNKNOWN_ENUM_VALUE"
    assert [v.field for v in error.field_violations] == ["config.method"]


def test_a_7_mib_string_is_invalid_argument_and_is_not_stored(trainer):
    before = trainer.GetTrainingConfig(trainer_pb2.GetTrainingConfigRequest(), timeout=30)
    request = trainer_pb2.UpdateTrainingConfigRequest(config=trainer_pb2.TrainingConfig(target_modules=["q" * BIG]))
    error = refusal(trainer.UpdateTrainingConfig, request)
    assert error.reason == "STRING_TOO_LONG"
    assert [v.field for v in error.field_violations] == ["config.target_modules[0]"]
    assert trainer.GetTrainingConfig(trainer_pb2.GetTrainingConfigRequest(), timeout=30) == before


def test_a_stored_config_has_a_size_limit(client):
    contacts = [f"contact number {i:06d} with a long enough name" for i in range(20_000)]  # ~1 MB, every string short
    with pytest.raises(InvalidArgument) as err:
        client.dataset.update_telegram_config(config=dataset_pb2.TelegramConfig(owner_name="me", exclude_contacts=contacts))
    assert err.value.reason == "CONFIG_TOO_LARGE"
    assert [v.field for v in err.value.field_violations] == ["config"]
    assert len(client.dataset.get_telegram_config().exclude_contacts) == 0


def test_a_7_mib_logged_value_makes_a_bounded_log_line(capfd, json_logs):
    from tuneforge.runtime.logging import get_logger

    capfd.readouterr()
    get_logger("test").error("rpc_internal_error", error="ValueError: " + "x" * BIG)
    lines = capfd.readouterr().err.splitlines()
    assert lines and max(map(len, lines)) < MAX_LOG_LINE
    assert "bytes more)" in lines[-1]


def test_a_chat_turn_may_be_longer_than_other_strings_up_to_its_own_limit():
    long_turn = registry_pb2.ChatMessage(role="user", content="w" * 200_000)
    check_request(trainer_pb2.ChatRequest(messages=[long_turn]))
    with pytest.raises(TuneforgeError) as err:
        check_request(trainer_pb2.ChatRequest(messages=[long_turn, registry_pb2.ChatMessage(content="w" * BIG)]))
    assert [v.field for v in err.value.violations] == ["messages[1].content"]
