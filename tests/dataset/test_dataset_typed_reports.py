"""The domain reports and the typed messages they travel in declare the same fields."""

from __future__ import annotations

import pytest
from tuneforge.dataset.v1 import dataset_pb2

from tuneforge.runtime.job_rpcs import to_message
from tuneforge.services.dataset import dialogs, generate, import_report


@pytest.mark.parametrize(("report", "cls"), [
    (dialogs.TelegramReport(), dataset_pb2.TelegramReport),
    (generate.GenerateReport(), dataset_pb2.GenerateReport),
    (import_report.ImportReport(), dataset_pb2.ValidationReport),
], ids=["telegram", "generate", "import"])  # fmt: skip
def test_every_report_key_is_a_field_of_its_typed_message(report, cls):
    missing = set(report.to_dict()) - set(cls.DESCRIPTOR.fields_by_name)
    assert not missing, f"{cls.__name__} lacks {sorted(missing)}"


def test_new_report_content_survives_the_conversion():
    stored = {"scrubbed": {"phones": 2, "names": 1}, "contacts": [{"name": "Anna", "messages": 7}],
              "messages_already_in_dataset": 4}  # fmt: skip
    msg = to_message(stored, dataset_pb2.TelegramReport)
    assert (msg.scrubbed.phones, msg.scrubbed.names, msg.contacts[0].name, msg.messages_already_in_dataset) == (2, 1, "Anna", 4)
    imported = to_message({"warnings": [{"code": "IMAGES_DROPPED", "count": 3, "message": "m"}],
                           "errors": [{"line": 9, "index": 2, "code": "X", "message": "y", "column": 0}]},
                          dataset_pb2.ValidationReport)  # fmt: skip
    assert imported.warnings[0].count == 3 and imported.errors[0].index == 2
