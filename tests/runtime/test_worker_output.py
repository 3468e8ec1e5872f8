"""Reading a worker's output: no shape of output stalls the tail or grows memory."""

from __future__ import annotations

from tuneforge.runtime.jobs.worker_output import Tail


def write(path, data: bytes):
    with open(path, "ab") as fh:
        fh.write(data)


def test_a_carriage_return_progress_bar_is_a_stream_of_lines(tmp_path):
    path = tmp_path / "worker.err"
    bar = b"".join(b"\rtraining %3d%%" % (i % 100) for i in range(800_000))  # ~11 MiB, no newline
    write(path, bar + b"\nafter the bar\n")
    tail, lines = Tail(path), []
    for _ in range(40):
        lines += tail.read_lines()
    assert lines[-1][0] == "after the bar"
    assert lines[0][0] == "training   0%"
    assert tail.offset == path.stat().st_size


def test_an_endless_line_is_cut_with_a_note_and_the_next_line_is_read(tmp_path):
    path = tmp_path / "worker.out"
    write(path, b"x" * (9 * 1024 * 1024) + b"\nnext line\n")
    tail, lines = Tail(path, max_line=1024 * 1024), []
    for _ in range(20):
        lines += tail.read_lines()
    assert [text for text, _ in lines][-1] == "next line"
    cut = lines[0][0]
    assert cut.startswith("x" * 100) and cut.endswith("[line cut: longer than 1048576 bytes]")
    assert len(lines) == 2


def test_offsets_resume_exactly_after_each_line(tmp_path):
    path = tmp_path / "worker.out"
    write(path, b"one\r\ntwo\rthree\npartial")
    tail = Tail(path)
    lines = tail.read_lines()
    assert [t for t, _ in lines] == ["one", "two", "three"]
    resumed = Tail(path, lines[1][1])
    assert [t for t, _ in resumed.read_lines()] == ["three"]
    write(path, b" end\n")
    assert [t for t, _ in tail.read_lines()] == ["partial end"]


def test_a_last_line_without_newline_is_read_when_the_worker_is_gone(tmp_path):
    path = tmp_path / "worker.out"
    write(path, b"last words")
    tail = Tail(path)
    assert tail.read_lines() == []
    assert [t for t, _ in tail.read_lines(final=True)] == ["last words"]
