from __future__ import annotations

import json
import sqlite3
import subprocess
from pathlib import Path

import pytest

from tuneforge.runtime.errors import TuneforgeError
from tuneforge.services.dataset import generate
from tuneforge.services.dataset.generate import GenerateOptions

CODE = '''"""Billing helpers for the shop."""
from fastapi import APIRouter
from pydantic import BaseModel
from sqlalchemy import Column, Integer, String

router = APIRouter()


class Order(BaseModel):
    """An order as the API sees it."""

    id: int
    note: str = ""


class Customer(Base):
    __tablename__ = "customers"
    id = Column(Integer, primary_key=True)
    email = Column(String(200))


@router.post("/orders")
async def create_order(order: Order):
    """Create an order and charge the card."""


def refund(order_id, amount):
    """Refund part of an order."""


def _private():
    """Not exported."""
'''

DOC = """# Delivery

We deliver in 2 days.

## Прайс

Доставка стоит 300 рублей.

```
# not a heading
```

## Empty section
"""

SCENARIO = """# Scenario 1
Клиент: Здравствуйте, где мой заказ?
Менеджер: Добрый день! Назовите номер.
Клиент: 123
Менеджер: Заказ в пути,
приедет завтра.

---
User: Hi
Assistant: Hello, how can I help?
User: bye
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    (root / "docs").mkdir(parents=True)
    (root / "docs" / "delivery.md").write_text(DOC, encoding="utf-8")
    (root / "docs" / "copy.md").write_text(DOC, encoding="utf-8")  # duplicates
    (root / "scenarios").mkdir()
    (root / "scenarios" / "orders.md").write_text(SCENARIO, encoding="utf-8")
    (root / "escalation").mkdir()
    (root / "escalation" / "angry_customer.md").write_text(
        "# Angry customer\nTrigger: Я буду жаловаться!\nTrigger: This is unacceptable\n\n"
        "Мне очень жаль. Передаю ваш вопрос старшему менеджеру.\n", encoding="utf-8")  # fmt: skip
    (root / "src" / "shop").mkdir(parents=True)
    (root / "src" / "shop" / "billing.py").write_text(CODE, encoding="utf-8")
    (root / "src" / "shop" / "broken.py").write_text("def broken(:\n", encoding="utf-8")
    (root / "faq.csv").write_text("Вопрос;Ответ\nКак вернуть товар?;Через личный кабинет.\n;пусто\n",
                                  encoding="utf-8")  # fmt: skip
    (root / "faq.json").write_text(
        json.dumps([{"question": "Q?", "answer": "A."}, {"q": "", "a": "x"}])
    )
    db = sqlite3.connect(root / "faq.db")
    db.execute("CREATE TABLE faq (q TEXT, a TEXT)")
    db.execute(
        "INSERT INTO faq VALUES ('Часы работы?', 'С 9 до 18.'), ('Адрес?', NULL)"
    )
    db.commit()
    db.close()
    return root


def records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_every_source_is_read_counted_and_deduplicated(project, tmp_path):
    out = tmp_path / "out.jsonl"
    opts = GenerateOptions(
        docs_dir=str(project / "docs"), scenarios_dir=str(project / "scenarios"),
        faq_file=str(project / "faq.csv"), faq_sqlite_file=str(project / "faq.db"),
        faq_sqlite_query="SELECT q, a FROM faq", escalation_dir=str(project / "escalation"),
        code_dir=str(project / "src"), system_prompt="You are the shop assistant.",
    )  # fmt: skip
    report = generate.generate(opts, out)
    rows = records(out)
    # docs: two passages, each asked three ways; copy.md repeats them all
    assert report.records_by_source == {"docs": 6, "scenarios": 2, "faq": 1, "faq_sqlite": 1,
                                        "escalation": 2, "code": 7}  # fmt: skip
    assert report.duplicates == 6 and report.records == len(rows) == 19
    assert report.files_by_source["code"] == 2 and any("broken.py" in e for e in report.file_errors)
    assert all(
        r["messages"][0] == {"role": "system", "content": "You are the shop assistant."}
        for r in rows
    )
    by = {}
    for r in rows:
        by.setdefault(r["source"], []).append(
            [(m["role"], m["content"]) for m in r["messages"][1:]]
        )
    assert by["docs"][0] == [
        ("user", "What is delivery?"),
        ("assistant", "We deliver in 2 days."),
    ]
    assert [d[0][1] for d in by["docs"][3:]] == ["Прайс — что это?", "Прайс: что нужно знать?",
                                                 "Расскажите подробнее: прайс."]  # fmt: skip
    assert "# not a heading" in by["docs"][3][1][1]
    assert report.faq_rows_skipped == 1 and any("(lines 3)" in e for e in report.file_errors)
    assert by["scenarios"][0] == [
        ("user", "Здравствуйте, где мой заказ?"), ("assistant", "Добрый день! Назовите номер."),
        ("user", "123"), ("assistant", "Заказ в пути,\nприедет завтра."),
    ]  # fmt: skip
    assert by["scenarios"][1] == [
        ("user", "Hi"),
        ("assistant", "Hello, how can I help?"),
    ]
    assert by["faq"] == [
        [("user", "Как вернуть товар?"), ("assistant", "Через личный кабинет.")]
    ]
    assert by["faq_sqlite"] == [[("user", "Часы работы?"), ("assistant", "С 9 до 18.")]]
    assert by["escalation"][0][0] == ("user", "Я буду жаловаться!")
    questions = [turns[0][1] for turns in by["code"]]
    assert "What does the `POST /orders` endpoint do?" in questions
    assert "Which fields does the `Order` schema have?" in questions
    assert "Which fields does the `Customer` model have?" in questions
    assert "What does `refund(order_id, amount)` in `shop.billing` do?" in questions
    assert "What is the module `shop.billing` for?" in questions
    assert not any("_private" in q for q in questions)


def test_faq_json_and_sqlite_query_guard(project, tmp_path):
    report = generate.generate(
        GenerateOptions(faq_file=str(project / "faq.json")), tmp_path / "o.jsonl"
    )
    assert report.records_by_source == {"faq": 1}
    for query in ("DELETE FROM faq", "SELECT 1; DROP TABLE faq", ""):
        with pytest.raises(TuneforgeError) as exc:
            generate.sqlite_pairs(str(project / "faq.db"), query)
        assert exc.value.violations[0].field == "faq_sqlite_query"


def test_missing_sources_are_errors(tmp_path):
    with pytest.raises(TuneforgeError) as exc:
        generate.generate(GenerateOptions(), tmp_path / "o.jsonl")
    assert exc.value.reason == "NO_SOURCES"
    with pytest.raises(TuneforgeError) as exc:
        generate.generate(
            GenerateOptions(docs_dir=str(tmp_path / "nope")), tmp_path / "o.jsonl"
        )
    assert exc.value.violations[0].field == "docs_dir"


def _git(*args: str, cwd: Path) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True,
                   env={"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
                        "GIT_COMMITTER_EMAIL": "t@t", "HOME": str(cwd), "PATH": "/usr/bin:/bin"})  # fmt: skip


def test_git_repo_is_cloned_shallow_from_a_file_url(project, tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    _git("init", "-q", "-b", "main", cwd=repo)
    (repo / "README.md").write_text("# Setup\n\nRun make.\n")
    (repo / "app.py").write_text(CODE)
    _git("add", ".", cwd=repo)
    _git("commit", "-q", "-m", "init", cwd=repo)
    _git("checkout", "-q", "-b", "feature/x", cwd=repo)
    (repo / "extra.md").write_text("# Extra\n\nOnly on the branch.\n")
    _git("add", ".", cwd=repo)
    _git("commit", "-q", "-m", "extra", cwd=repo)
    out = tmp_path / "o.jsonl"
    report = generate.generate(
        GenerateOptions(repo_url=f"file://{repo}", repo_branch="main"), out
    )
    assert (
        report.records_by_source["repo_docs"] == 3
        and report.records_by_source["repo_code"] == 7
    )
    report = generate.generate(
        GenerateOptions(repo_url=f"file://{repo}", repo_branch="feature/x"), out
    )
    assert report.records_by_source["repo_docs"] == 6
    with pytest.raises(TuneforgeError) as exc:
        generate.generate(
            GenerateOptions(repo_url=f"file://{repo}", repo_branch="nope"), out
        )
    assert exc.value.reason == "GIT_CLONE_FAILED"


@pytest.mark.parametrize(
    ("url", "branch", "field"),
    [
        ("ssh://git@host/repo", "", "repo_url"),
        ("--upload-pack=touch /tmp/pwned", "", "repo_url"),
        ("ext::sh -c touch% /tmp/pwned", "", "repo_url"),
        ("http://example.com/repo.git", "", "repo_url"),
        ("/local/path", "", "repo_url"),
        ("https://example.com/r.git", "--upload-pack=x", "repo_branch"),
        ("https://example.com/r.git", "a..b", "repo_branch"),
        ("https://example.com/r.git", "x y", "repo_branch"),
    ],
)
def test_repo_url_and_branch_are_validated_before_git_runs(url, branch, field):
    with pytest.raises(TuneforgeError) as exc:
        generate.validate_repo(url, branch)
    assert exc.value.violations[0].field == field
