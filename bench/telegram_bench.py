"""Benchmark: streaming Telegram export processing vs ``json.load`` of the same file.

Generates a synthetic full-account Telegram Desktop export (``chats.list[]`` of personal and
group chats, messages with text entities, service messages, stickers, forwards) of
``--messages`` messages (default 1,000,000, ~1 GB), then runs, each in its own child process
so that peak RSS is the child's own (``os.wait4`` rusage):

* ``stream``: :func:`tuneforge.services.dataset.dialogs.process_export` → dialogs JSONL;
* ``json.load``: the whole file parsed with the standard library (the naive baseline);
* with ``--e2e``, end to end through the CLI against a real server in its own process:
  ``e2e upload`` (``tuneforge dataset telegram FILE``: upload + job + dataset) and
  ``e2e local`` (the same with ``--local``: the server reads the file in place, allowed by
  ``local_input_dirs``). Seconds are the CLI's wall time; peak RSS is the largest of the
  server and its workers (``os.wait4`` of the server process reports the maximum over the
  children it reaped) and of the CLI.

Targets: streaming peak RSS < 300 MB and >= 30 MB/s (issue 3 §5); end to end >= 30 MB/s with
a peak under 150 MB (issue 14 §10). CPU is shared on the dev VMs: compare with json.load of
the same run, not with absolute figures.

    python bench/telegram_bench.py --messages 300000 --e2e [--path /tmp/tg_bench.json] [--keep]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

WORDS = [
    "привет",
    "как",
    "дела",
    "что",
    "нового",
    "сегодня",
    "завтра",
    "встреча",
    "проект",
    "отчёт",
    "hello",
    "okay",
    "thanks",
    "sure",
    "maybe",
    "later",
    "call",
    "me",
    "tomorrow",
    "deadline",
    "review",
    "merge",
    "deploy",
    "кофе",
    "обед",
    "домой",
]


def generate(path: Path, n_messages: int, seed: int = 0) -> None:
    rng = random.Random(seed)
    owner_id, owner = 999, "Ivan Ivanov"
    n_chats = max(1, n_messages // 5000)
    per_chat = n_messages // n_chats
    t0 = 1_600_000_000
    with open(path, "w", encoding="utf-8") as fh:
        fh.write('{\n "about": "Here is the data you requested.",\n')
        fh.write(
            ' "personal_information": '
            + json.dumps(
                {
                    "user_id": owner_id,
                    "first_name": "Ivan",
                    "last_name": "Ivanov",
                    "phone_number": "+0",
                    "bio": "",
                }
            )
            + ",\n"
        )
        fh.write(
            ' "contacts": {"about": "", "list": []},\n "chats": {"about": "", "list": [\n'
        )
        mid = 0
        for c in range(n_chats):
            group = c % 10 == 9
            peer_id = 1000 + c
            peer = f"Contact {c}"
            head = {
                "name": peer,
                "type": "private_supergroup" if group else "personal_chat",
                "id": peer_id,
            }
            fh.write(
                (",\n" if c else "")
                + "  "
                + json.dumps(head, ensure_ascii=False)[:-1]
                + ', "messages": [\n'
            )
            ts = t0 + c * 1000
            count = (
                per_chat if c < n_chats - 1 else n_messages - per_chat * (n_chats - 1)
            )
            for i in range(count):
                mid += 1
                ts += rng.choice((5, 30, 60, 600, 30000))
                mine = rng.random() < 0.45
                frm, fid = (
                    (owner, f"user{owner_id}") if mine else (peer, f"user{peer_id}")
                )
                words = " ".join(rng.choice(WORDS) for _ in range(rng.randint(20, 90)))
                msg: dict = {
                    "id": mid,
                    "type": "message",
                    "date": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts)),
                    "date_unixtime": str(ts),
                    "from": frm,
                    "from_id": fid,
                }
                r = rng.random()
                if r < 0.03:
                    msg = {
                        "id": mid,
                        "type": "service",
                        "date": msg["date"],
                        "date_unixtime": str(ts),
                        "actor": frm,
                        "actor_id": fid,
                        "action": "phone_call",
                        "text": "",
                        "text_entities": [],
                    }
                elif r < 0.06:
                    msg.update(
                        file="stickers/s.webp",
                        media_type="sticker",
                        sticker_emoji="👍",
                        text="",
                        text_entities=[],
                    )
                elif r < 0.10:
                    msg.update(
                        forwarded_from="Channel",
                        text=words,
                        text_entities=[{"type": "plain", "text": words}],
                    )
                elif r < 0.30:
                    text = [
                        words[:40],
                        {
                            "type": "text_link",
                            "text": "link",
                            "href": "https://example.com/x",
                        },
                        words[40:],
                    ]
                    msg.update(
                        text=text,
                        text_entities=[
                            {"type": "plain", "text": words[:40]},
                            {
                                "type": "text_link",
                                "text": "link",
                                "href": "https://example.com/x",
                            },
                            {"type": "plain", "text": words[40:]},
                        ],
                    )
                else:
                    msg.update(
                        text=words, text_entities=[{"type": "plain", "text": words}]
                    )
                fh.write(
                    ("" if i == 0 else ",\n")
                    + "   "
                    + json.dumps(msg, ensure_ascii=False)
                )
            fh.write("\n  ]}")
        fh.write('\n ]},\n "left_chats": {"about": "", "list": []}\n}\n')


def child(mode: str, path: str) -> None:
    t = time.perf_counter()
    if mode == "json.load":
        with open(path, "rb") as fh:
            data = json.load(fh)
        extra = {"chats": len(data["chats"]["list"])}
    else:
        from tuneforge.services.dataset import dialogs, telegram

        with tempfile.TemporaryDirectory() as tmp, telegram.ExportSource(path) as src:
            report = dialogs.process_export(
                src, Path(tmp) / "out.jsonl", dialogs.TelegramOptions()
            )
        extra = {
            "messages_read": report.messages_read,
            "dialogs": report.dialogs,
            "messages_kept": report.messages_kept,
        }
    print(json.dumps({"seconds": time.perf_counter() - t, **extra}))


SERVER_SCRIPT = """
import sys
from pathlib import Path
from tuneforge.testing.server import ServerThread
srv = ServerThread(sys.argv[1], services=("dataset",), local_input_dirs=sys.argv[2]).start()
Path(sys.argv[3]).write_text(srv.target)
sys.stdin.read()
srv.stop(stop_workers=True)
"""


def run_e2e(path: Path, local: bool) -> dict:
    """The CLI against a server in its own process; the server's wait4 gives the worker peak."""
    repo = Path(__file__).resolve().parents[1]
    from tuneforge.testing.paths import source_path

    env = {**os.environ, "PYTHONPATH": source_path()}
    with tempfile.TemporaryDirectory(prefix="tg-e2e-") as root:
        ready = Path(root) / "target"
        server = subprocess.Popen([sys.executable, "-c", SERVER_SCRIPT, f"{root}/var", str(path.parent.resolve()), str(ready)],
                                  stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, cwd=repo, env=env)  # fmt: skip
        while not ready.exists() or not ready.read_text():
            if server.poll() is not None:
                raise SystemExit("the server did not start")
            time.sleep(0.1)
        target = ready.read_text()
        cmd = [sys.executable, "-m", "tuneforge.cli.main", "dataset", "telegram", str(path.resolve()),
               "--owner-id", "999", "--name", "bench", "--target", target, "--json"]  # fmt: skip
        if local:
            cmd.append("--local")
        t = time.perf_counter()
        cli = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, cwd=repo, env=env)
        out = cli.stdout.read()  # type: ignore[union-attr]
        _pid, status, cli_usage = os.wait4(cli.pid, 0)
        seconds = time.perf_counter() - t
        server.stdin.close()  # type: ignore[union-attr]
        _pid, _status, server_usage = os.wait4(server.pid, 0)
    if status != 0:
        raise SystemExit(f"e2e CLI failed with status {status}: {out[-2000:]!r}")
    job = json.loads(out)
    report = job["result"]["report"]
    return {"seconds": seconds, "peak_rss_mb": max(cli_usage.ru_maxrss, server_usage.ru_maxrss) / 1024,
            "messages_read": report["messages_read"], "dialogs": report["dialogs"],
            "messages_kept": report["messages_kept"]}  # fmt: skip


def run_child(mode: str, path: Path) -> dict:
    proc = subprocess.Popen(
        [sys.executable, __file__, "--child", mode, str(path)],
        stdout=subprocess.PIPE,
        cwd=Path(__file__).resolve().parents[1],
    )
    out = proc.stdout.read()  # type: ignore[union-attr]
    _pid, status, usage = os.wait4(proc.pid, 0)
    if status != 0:
        raise SystemExit(f"{mode} child failed with status {status}")
    data = json.loads(out.decode().strip().splitlines()[-1])
    data["peak_rss_mb"] = usage.ru_maxrss / 1024  # kilobytes on Linux
    return data


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--messages", type=int, default=1_000_000)
    ap.add_argument(
        "--path", type=Path, default=None, help="export file (generated if missing)"
    )
    ap.add_argument("--keep", action="store_true", help="keep the generated file")
    ap.add_argument("--skip-json-load", action="store_true")
    ap.add_argument("--e2e", action="store_true", help="also end to end through the CLI and a server")
    ap.add_argument(
        "--child", nargs=2, metavar=("MODE", "PATH"), help=argparse.SUPPRESS
    )
    args = ap.parse_args()
    if args.child:
        child(*args.child)
        return
    path = args.path or Path(tempfile.gettempdir()) / f"tg_bench_{args.messages}.json"
    generated = False
    if not path.exists():
        t = time.perf_counter()
        generate(path, args.messages)
        generated = True
        print(f"generated {path} in {time.perf_counter() - t:.1f}s")
    size_mb = path.stat().st_size / 1e6
    print(f"file: {size_mb:.1f} MB, {args.messages} messages")
    try:
        rows = [("stream (tuneforge)", run_child("stream", path))]
        if not args.skip_json_load:
            rows.append(("json.load (baseline)", run_child("json.load", path)))
        if args.e2e:
            rows.append(("e2e upload (CLI)", run_e2e(path, local=False)))
            rows.append(("e2e local (CLI)", run_e2e(path, local=True)))
    finally:
        if generated and not args.keep:
            path.unlink(missing_ok=True)
    base = dict(rows).get("json.load (baseline)")
    print(f"{'mode':<22}{'seconds':>9}{'MB/s':>9}{'peak RSS MB':>13}{'vs json.load':>14}")
    for name, r in rows:
        ratio = f"{base['seconds'] / r['seconds']:.2f}x" if base else "-"
        print(
            f"{name:<22}{r['seconds']:>9.1f}{size_mb / r['seconds']:>9.1f}{r['peak_rss_mb']:>13.1f}{ratio:>14}"
        )
    s = rows[0][1]
    print(
        f"stream: {s.get('messages_read')} messages read, {s.get('messages_kept')} kept, "
        f"{s.get('dialogs')} dialogs"
    )
    ok = s["peak_rss_mb"] < 300 and size_mb / s["seconds"] >= 30
    print("targets (RSS < 300 MB, >= 30 MB/s):", "met" if ok else "NOT met")


if __name__ == "__main__":
    main()
