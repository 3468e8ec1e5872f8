"""Generate a chat dataset from a project: docs, scenarios, FAQ, escalation templates, code, git.

Each source is optional and counted in :class:`GenerateReport`:

* ``docs_dir`` — every ``*.md``, cut into short passages under a token budget, each asked
  in ``questions_per_passage`` natural phrasings in the document's language
  (:mod:`tuneforge.services.dataset.doc_passages`).
* ``scenarios_dir`` — ``*.md``/``*.txt`` dialogs written as ``Клиент:``/``Менеджер:`` or
  ``User:``/``Assistant:`` lines (also ``Customer``/``Agent``, ``Пользователь``/``Оператор``);
  scenarios are separated by headings or ``---``; a line without a speaker continues the turn.
* ``faq_file`` — CSV with question/answer columns (``question``/``answer``, ``q``/``a``,
  ``вопрос``/``ответ``), a JSON array or JSONL of such objects, read by the same reader as
  ``ImportDataset`` (standard CSV quoting; a row with more fields than the header, or a
  broken JSON record, fails the job with its line).
* ``faq_sqlite_file`` + ``faq_sqlite_query`` — a read-only SELECT returning (question, answer).
* ``escalation_dir`` — one template per file: the title (first ``#`` heading, else the file
  name) is the situation, the rest the reply; ``Trigger:``/``Когда:`` lines add more
  user phrasings of the same situation.
* ``code_dir`` — ``*.py`` through :mod:`tuneforge.services.dataset.code_qa` (trivial objects
  and ``__init__``/test modules skipped; answers cut to the passage budget).
* ``repo_url`` (+ ``repo_branch``) — a shallow ``git clone`` (``https://`` or ``file://``
  only), then its ``*.md`` as docs and ``*.py`` as code.

Records are deduplicated on their normalised text. Output records carry ``source``. With
``scrub`` personal data is replaced by placeholders (:mod:`tuneforge.services.dataset.scrub`);
with ``llm_url`` the generated docs/code pairs are rephrased by an OpenAI-compatible endpoint
(:mod:`tuneforge.services.dataset.llm_rephrase`).
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import re
import sqlite3
import subprocess
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tuneforge.runtime.errors import invalid_argument
from tuneforge.services.dataset import code_qa, doc_passages

SKIP_DIRS = frozenset(
    {".git", ".venv", "venv", "node_modules", "__pycache__", ".tox", "build", "dist"}
)
MAX_FILE_BYTES = 2 * 1024 * 1024
GIT_TIMEOUT_SECONDS = 300
_BRANCH_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,199}$")
SPEAKERS = {
    "клиент": "user", "пользователь": "user", "user": "user", "customer": "user",
    "client": "user", "human": "user", "менеджер": "assistant", "оператор": "assistant",
    "assistant": "assistant", "agent": "assistant", "manager": "assistant",
    "support": "assistant", "бот": "assistant", "bot": "assistant",
}  # fmt: skip
_SPEAKER_RE = re.compile(
    r"^\s*[-*]?\s*\**(" + "|".join(SPEAKERS) + r")\**\s*:\s*(.*)$", re.IGNORECASE
)
_HEADING_RE = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")


@dataclass
class GenerateOptions:
    docs_dir: str = ""
    scenarios_dir: str = ""
    faq_file: str = ""
    faq_sqlite_file: str = ""
    faq_sqlite_query: str = ""
    escalation_dir: str = ""
    code_dir: str = ""
    repo_url: str = ""
    repo_branch: str = ""
    system_prompt: str = ""
    scrub: bool = False
    llm_url: str = ""
    llm_model: str = ""
    questions_per_passage: int = 0  # 0 = DEFAULT_QUESTIONS

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GenerateOptions:
        kinds = {"scrub": bool, "questions_per_passage": int}
        return cls(**{k: kinds.get(k, str)(data.get(k) or kinds.get(k, str)()) for k in cls.__dataclass_fields__})


@dataclass
class GenerateReport:
    records_by_source: dict[str, int] = field(default_factory=dict)
    files_by_source: dict[str, int] = field(default_factory=dict)
    records: int = 0
    duplicates: int = 0
    file_errors: list[str] = field(default_factory=list)  # first 50 unreadable files
    passages: int = 0  # doc passages asked about
    code_blocks_skipped: int = 0  # code blocks over the passage budget, left out
    faq_rows_skipped: int = 0  # FAQ rows without a question or an answer
    scrubbed: dict[str, int] = field(default_factory=dict)
    llm_rephrased: int = 0
    llm_kept_original: int = 0  # replies that were not the JSON asked for

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _files(root: Path, suffixes: tuple[str, ...]) -> Iterator[Path]:
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(
            d for d in dirnames if d not in SKIP_DIRS and not d.startswith(".")
        )
        for name in sorted(filenames):
            path = Path(dirpath) / name
            if path.suffix.lower() in suffixes and not path.is_symlink():
                yield path


def _dir(value: str, field_name: str) -> Path:
    path = Path(value)
    if not path.is_dir():
        raise invalid_argument(
            field_name, f"{value} is not a directory", reason="SOURCE_NOT_FOUND"
        )
    return path


def _as_question(heading: str) -> str:
    """A heading as a question (escalation templates without triggers)."""
    passage = doc_passages.Passage(heading, "", 1, doc_passages.language(heading))
    return doc_passages.questions(passage, 1)[0]


def scenario_dialogs(text: str) -> list[list[dict[str, str]]]:
    """Speaker-labelled dialogs in a markdown/text file."""
    dialogs, turns = [], []  # type: ignore[var-annotated]

    def close() -> None:
        while turns and turns[-1]["role"] == "user":
            turns.pop()
        if any(t["role"] == "assistant" for t in turns) and any(
            t["role"] == "user" for t in turns
        ):
            dialogs.append([dict(t) for t in turns])
        turns.clear()

    for line in text.splitlines():
        if _HEADING_RE.match(line) or line.strip() in ("---", "***", "___"):
            close()
            continue
        m = _SPEAKER_RE.match(line)
        if m:
            role = SPEAKERS[m.group(1).lower()]
            if turns and turns[-1]["role"] == role:
                turns[-1]["content"] += "\n" + m.group(2).strip()
            else:
                turns.append({"role": role, "content": m.group(2).strip()})
        elif line.strip() and turns:
            turns[-1]["content"] += "\n" + line.strip()
    close()
    return [[t for t in d if t["content"].strip()] for d in dialogs]


_Q_KEYS = ("question", "q", "вопрос", "prompt", "instruction", "questions", "вопросы")
_A_KEYS = ("answer", "a", "ответ", "response", "output", "completion", "answers", "ответы")


def _qa_from_row(row: dict[str, Any]) -> tuple[str, str] | None:
    low = {str(k).strip().lower(): v for k, v in row.items() if k is not None}
    q = next((low[k] for k in _Q_KEYS if low.get(k)), None)
    a = next((low[k] for k in _A_KEYS if low.get(k)), None)
    if isinstance(q, str) and isinstance(a, str) and q.strip() and a.strip():
        return q.strip(), a.strip()
    return None


def faq_pairs(path: Path, skipped: list[int] | None = None) -> list[tuple[str, str]]:
    """Q/A pairs of a CSV, JSON array or JSONL FAQ file, read like ``ImportDataset`` reads.

    Raises INVALID_ARGUMENT ``FAQ_INVALID_ROW`` naming the line of a row that cannot be read
    (more fields than the header, broken JSON), ``FAQ_COLUMNS_UNKNOWN`` naming the columns
    when no row has a question and an answer column (``title,content``); rows without a
    question or an answer are skipped and their lines appended to ``skipped``.
    """
    from tuneforge.services.dataset.importing import read_records

    fmt = "csv" if path.suffix.lower() in (".csv", ".tsv") else "auto"
    out = []
    columns: set[str] = set()
    for _index, line, column, record, problem in read_records(path, fmt):
        if isinstance(record, dict):
            columns.update(str(k).strip().lower() for k in record)
        if problem is not None:
            col = f", column {column}" if column else ""
            raise invalid_argument("faq_file", f"{path.name} line {line}{col}: {problem.code}: {problem.message}",
                                   reason="FAQ_INVALID_ROW")  # fmt: skip
        qa = _qa_from_row(record) if isinstance(record, dict) else None
        if qa:
            out.append(qa)
        elif skipped is not None:
            skipped.append(line)
    if not out and columns and not (columns & set(_Q_KEYS) and columns & set(_A_KEYS)):
        raise invalid_argument(
            "faq_file", f"{path.name} has the columns {', '.join(sorted(columns)[:10])}: a FAQ needs a "
            f"question column ({', '.join(_Q_KEYS[:4])}, ...) and an answer column "
            f"({', '.join(_A_KEYS[:4])}, ...); rename them in the header", reason="FAQ_COLUMNS_UNKNOWN")
    return out


def sqlite_pairs(db_file: str, query: str) -> list[tuple[str, str]]:
    """Rows of a read-only SELECT; the first two columns are question and answer."""
    if not Path(db_file).is_file():
        raise invalid_argument(
            "faq_sqlite_file", f"{db_file} is not a file", reason="SOURCE_NOT_FOUND"
        )
    q = query.strip().rstrip(";")
    if not q or not re.match(r"^(select|with)\b", q, re.IGNORECASE) or ";" in q:
        raise invalid_argument("faq_sqlite_query", "must be a single SELECT statement")
    conn = sqlite3.connect(f"file:{Path(db_file).resolve()}?mode=ro", uri=True)
    try:
        rows = conn.execute(q).fetchall()
    except sqlite3.Error as exc:
        raise invalid_argument("faq_sqlite_query", f"query failed: {exc}") from None
    finally:
        conn.close()
    if rows and len(rows[0]) < 2:
        raise invalid_argument(
            "faq_sqlite_query", "must return (question, answer) columns"
        )
    return [(str(r[0]).strip(), str(r[1]).strip()) for r in rows if r[0] and r[1]]


def escalation_pairs(path: Path) -> list[tuple[str, str]]:
    lines = path.read_text(encoding="utf-8").splitlines()
    title, triggers, body = path.stem.replace("_", " ").replace("-", " "), [], []
    for line in lines:
        m = _HEADING_RE.match(line)
        trig = re.match(r"^\s*(trigger|когда|триггер)\s*:\s*(.+)$", line, re.IGNORECASE)
        if m and not body and title == path.stem.replace("_", " ").replace("-", " "):
            title = m.group(2)
        elif trig:
            triggers.append(trig.group(2).strip())
        else:
            body.append(line)
    answer = "\n".join(body).strip()
    if not answer:
        return []
    return [(q, answer) for q in (triggers or [_as_question(title)])]


def validate_repo(url: str, branch: str) -> None:
    """Only ``https://`` and ``file://`` URLs, no option-like values, a plain branch name."""
    if not re.match(r"^(https://[^\s]+|file:///[^\s]*)$", url) or url.startswith("-"):
        raise invalid_argument(
            "repo_url", "must be an https:// or file:// URL", reason="INVALID_REPO_URL"
        )
    if any(c in url for c in "\x00\n\r") or "::" in url:
        raise invalid_argument(
            "repo_url", "contains forbidden characters", reason="INVALID_REPO_URL"
        )
    if branch and (
        not _BRANCH_RE.match(branch)
        or ".." in branch
        or branch.endswith((".lock", "/"))
    ):
        raise invalid_argument(
            "repo_branch", "is not a valid branch name", reason="INVALID_BRANCH"
        )


def clone_repo(url: str, branch: str, dest: Path) -> None:
    validate_repo(url, branch)
    cmd = ["git", "-c", "protocol.allow=never", "-c", "protocol.https.allow=always",
           "-c", "protocol.file.allow=always", "clone", "--depth", "1", "--single-branch",
           "--no-tags"]  # fmt: skip
    if branch:
        cmd += ["--branch", branch]
    cmd += ["--", url, str(dest)]
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "GIT_ASKPASS": "true"}
    proc = subprocess.run(
        cmd,
        check=False,
        capture_output=True,
        text=True,
        env=env,
        timeout=GIT_TIMEOUT_SECONDS,
    )
    if proc.returncode != 0:
        raise invalid_argument(
            "repo_url",
            f"git clone failed: {proc.stderr.strip()[-500:]}",
            reason="GIT_CLONE_FAILED",
        )


DEFAULT_QUESTIONS = 3
SOURCE_KEYS = ("docs_dir", "scenarios_dir", "faq_file", "faq_sqlite_file", "escalation_dir", "code_dir", "repo_url")


def generate(
    opts: GenerateOptions, out_path: Path, progress: Callable[[str], None] | None = None
) -> GenerateReport:
    """Write deduplicated records from every given source to ``out_path`` (JSONL).

    Raises INVALID_ARGUMENT for a missing source directory/file, a bad SQLite query, an
    unreadable FAQ row, a bad repo URL/branch or a failed clone, ``NO_SOURCES`` when no source
    is given; UNAVAILABLE ``LLM_UNAVAILABLE`` when ``llm_url`` cannot be reached.
    """
    if not any(getattr(opts, k) for k in SOURCE_KEYS):
        raise invalid_argument("sources", "give at least one source", reason="NO_SOURCES")
    if not 0 <= opts.questions_per_passage <= 5:
        raise invalid_argument("questions_per_passage", "must be between 1 and 5 (0 = default 3)")
    with open(out_path, "w", encoding="utf-8") as out:
        gen = _Generator(opts, out, progress)
        gen.run()
    return gen.finish()


class _Generator:
    """One generation run: the output, the dedup set, counters, scrubber and rephraser."""

    def __init__(self, opts: GenerateOptions, out: Any, progress: Callable[[str], None] | None) -> None:
        from tuneforge.services.dataset.llm_rephrase import Rephraser
        from tuneforge.services.dataset.scrub import Scrubber

        self.opts, self.out, self.progress = opts, out, progress
        self.report = GenerateReport()
        self.by_source: Counter[str] = Counter()
        self.files: Counter[str] = Counter()
        self.seen: set[bytes] = set()
        self.scrubber = Scrubber() if opts.scrub else None
        self.rephraser = Rephraser(opts.llm_url, opts.llm_model) if opts.llm_url else None
        self.n_questions = opts.questions_per_passage or DEFAULT_QUESTIONS

    def run(self) -> None:
        opts = self.opts
        if opts.docs_dir:
            self.docs("docs", _dir(opts.docs_dir, "docs_dir"))
        if opts.scenarios_dir:
            self.each_file("scenarios", _dir(opts.scenarios_dir, "scenarios_dir"), (".md", ".txt"),
                           lambda p: [self.emit("scenarios", d) for d in scenario_dialogs(p.read_text(encoding="utf-8"))])  # fmt: skip
        if opts.faq_file:
            self.faq(Path(opts.faq_file))
        if opts.faq_sqlite_file:
            self.pairs("faq_sqlite", sqlite_pairs(opts.faq_sqlite_file, opts.faq_sqlite_query))
            self.files["faq_sqlite"] += 1
        if opts.escalation_dir:
            self.each_file("escalation", _dir(opts.escalation_dir, "escalation_dir"), (".md", ".txt"),
                           lambda p: self.pairs("escalation", escalation_pairs(p)))  # fmt: skip
        if opts.code_dir:
            self.code("code", _dir(opts.code_dir, "code_dir"))
        if opts.repo_url:
            with tempfile.TemporaryDirectory(prefix="tuneforge-repo-") as tmp:
                clone_repo(opts.repo_url, opts.repo_branch, Path(tmp) / "repo")
                self.docs("repo_docs", Path(tmp) / "repo")
                self.code("repo_code", Path(tmp) / "repo")

    def finish(self) -> GenerateReport:
        report = self.report
        report.records_by_source = dict(self.by_source)
        report.files_by_source = dict(self.files)
        report.records = sum(self.by_source.values())
        if self.scrubber is not None:
            report.scrubbed = dict(self.scrubber.counts)
        if self.rephraser is not None:
            report.llm_rephrased, report.llm_kept_original = self.rephraser.rephrased, self.rephraser.kept
        return report

    # -- output
    def emit(self, source: str, messages: list[dict[str, str]]) -> None:
        if self.scrubber is not None:
            messages = [{**m, "content": self.scrubber.text(m["content"])} for m in messages]
        key = hashlib.sha1(
            json.dumps([" ".join(m["content"].lower().split()) for m in messages]).encode()
        ).digest()
        if key in self.seen:
            self.report.duplicates += 1
            return
        self.seen.add(key)
        if self.opts.system_prompt:
            messages = [{"role": "system", "content": self.opts.system_prompt}, *messages]
        self.out.write(json.dumps({"messages": messages, "source": source}, ensure_ascii=False) + "\n")
        self.by_source[source] += 1

    def pairs(self, source: str, qa: list[tuple[str, str]]) -> None:
        for q, a in qa:
            self.emit(source, [{"role": "user", "content": q}, {"role": "assistant", "content": a}])

    def asked(self, source: str, questions: list[str], answer: str) -> None:
        """One passage asked several ways: rephrased first when an LLM is configured."""
        if self.rephraser is not None:
            questions, answer = self.rephraser.rephrase(questions, answer)
        self.pairs(source, [(q, answer) for q in questions])

    # -- sources
    def each_file(self, source: str, root: Path, suffixes: tuple[str, ...], fn: Callable[[Path], None]) -> None:
        for path in _files(root, suffixes):
            if path.stat().st_size > MAX_FILE_BYTES:
                continue
            self.files[source] += 1
            try:
                fn(path)
            except (SyntaxError, UnicodeDecodeError, ValueError) as exc:
                if len(self.report.file_errors) < 50:
                    self.report.file_errors.append(f"{path}: {type(exc).__name__}: {exc}")
        if self.progress:
            self.progress(source)

    def docs(self, source: str, root: Path) -> None:
        def one(path: Path) -> None:
            split = doc_passages.split_document(path.read_text(encoding="utf-8"))
            self.report.code_blocks_skipped += split.skipped_code_blocks
            for passage in split.passages:
                self.report.passages += 1
                self.asked(source, doc_passages.questions(passage, self.n_questions), passage.text)

        self.each_file(source, root, (".md", ".markdown"), one)

    def code(self, source: str, root: Path) -> None:
        def one(path: Path) -> None:
            for q, a in code_qa.pairs_from_file(path, root):
                self.asked(source, [q], doc_passages.shorten(a) or a)

        self.each_file(source, root, (".py",), one)

    def faq(self, path: Path) -> None:
        if not path.is_file():
            raise invalid_argument("faq_file", f"{path} is not a file", reason="SOURCE_NOT_FOUND")
        skipped: list[int] = []
        try:
            self.pairs("faq", faq_pairs(path, skipped))
        except (ValueError, csv.Error, UnicodeDecodeError) as exc:
            raise invalid_argument("faq_file", f"cannot read FAQ: {exc}") from None
        self.report.faq_rows_skipped += len(skipped)
        if skipped and len(self.report.file_errors) < 50:
            lines = ", ".join(str(n) for n in skipped[:20])
            self.report.file_errors.append(f"{path.name}: rows without a question or an answer skipped (lines {lines})")
        self.files["faq"] += 1
