"""A stand-in for the `grpcurl` binary, built on the server's reflection service only.

It takes the grpcurl command lines of docs/grpcurl.md as they are (``-plaintext``, ``-d``
with JSON or ``@`` for a stream of JSON messages on stdin, ``-H``, ``-max-time``, ``list``,
``describe``, ``pkg.Service/Method``), resolves the method and its message types through
``grpc.reflection.v1alpha`` (no proto files, no generated code), sends the JSON body and
prints every response as JSON like grpcurl does. Each call is appended to ``$GRPCURL_LOG``
(method, status code, number of responses) so the test can compare it with the outcome the
doc promises. ``$GRPCURL_TARGET`` replaces the address written in the doc.
"""

from __future__ import annotations

import io
import json
import os
import socketserver
import sys
import threading
import time

import grpc
from google.protobuf import descriptor_pool, json_format, message_factory
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)

STATUS_OFFSET = 64  # grpcurl exits with 64 + the gRPC status code when the RPC fails


def parse(argv: list[str]) -> dict:
    opts: dict = {"headers": [], "data": None, "max_time": None, "plaintext": False, "rest": []}
    it = iter(argv)
    for arg in it:
        flag = arg.lstrip("-") if arg.startswith("-") else None
        if flag in ("plaintext",):
            opts["plaintext"] = True
        elif flag in ("d",):
            opts["data"] = next(it)
        elif flag in ("H", "rpc-header", "reflect-header"):
            opts["headers"].append(next(it))
        elif flag in ("max-time", "connect-timeout"):
            opts["max_time" if flag == "max-time" else "connect_timeout"] = float(next(it))
        elif flag in ("emit-defaults", "format-error", "v"):
            pass
        elif flag is not None:
            raise SystemExit(f"grpcurl shim: unsupported flag {arg}")
        else:
            opts["rest"].append(arg)
    return opts


def json_messages(text: str) -> list[dict]:
    decoder, pos, out = json.JSONDecoder(), 0, []
    while True:
        while pos < len(text) and text[pos].isspace():
            pos += 1
        if pos >= len(text):
            return out
        obj, pos = decoder.raw_decode(text, pos)
        out.append(obj)


def record(entry: dict) -> None:
    log = os.environ.get("GRPCURL_LOG")
    if log:
        with open(log, "a", encoding="utf-8") as f:
            f.write(json.dumps(entry) + "\n")


def main(argv: list[str], stdin: str | None = None, out=None, err=None) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    opts = parse(argv)
    if not opts["plaintext"]:
        raise SystemExit("grpcurl shim: the cookbook's examples use -plaintext")
    address, *command = opts["rest"]
    address = os.environ.get("GRPCURL_TARGET", address)
    metadata = []
    for header in opts["headers"]:
        key, _, value = header.partition(":")
        metadata.append((key.strip().lower(), value.strip()))
    channel = grpc.insecure_channel(address)
    db = ProtoReflectionDescriptorDatabase(channel)
    pool = descriptor_pool.DescriptorPool(db)

    if command[0] == "list":
        services = db.get_services() if len(command) == 1 else [
            f"{command[1]}.{m.name}" for m in pool.FindServiceByName(command[1]).methods]
        print("\n".join(services), file=out)
        record({"command": "list", "code": "OK", "responses": len(services)})
        return 0
    if command[0] == "describe":
        symbol = command[1]
        try:
            desc = pool.FindServiceByName(symbol)
        except KeyError:
            desc = pool.FindMessageTypeByName(symbol)
        print(f"{desc.full_name} is a {'service' if hasattr(desc, 'methods') else 'message'}", file=out)
        record({"command": "describe", "code": "OK", "responses": 1})
        return 0

    full = command[0].replace("/", ".")
    service_name, method_name = full.rsplit(".", 1)
    method = pool.FindServiceByName(service_name).methods_by_name[method_name]
    request_cls = message_factory.GetMessageClass(method.input_type)
    response_cls = message_factory.GetMessageClass(method.output_type)
    raw = opts["data"] or "{}"
    if raw == "@":
        raw = sys.stdin.read() if stdin is None else stdin
    requests = [json_format.ParseDict(m, request_cls()) for m in json_messages(raw)] or [request_cls()]
    path = f"/{service_name}/{method_name}"
    kwargs = {"request_serializer": request_cls.SerializeToString, "response_deserializer": response_cls.FromString}
    timeout = opts["max_time"] or 30.0
    responses: list = []
    code = "OK"
    try:
        if method.client_streaming and method.server_streaming:
            call = channel.stream_stream(path, **kwargs)(iter(requests), metadata=metadata, timeout=timeout)
        elif method.server_streaming:
            call = channel.unary_stream(path, **kwargs)(requests[0], metadata=metadata, timeout=timeout)
        elif method.client_streaming:
            call = iter([channel.stream_unary(path, **kwargs)(iter(requests), metadata=metadata, timeout=timeout)])
        else:
            if len(requests) != 1:
                raise SystemExit("grpcurl shim: a unary method takes exactly one request message")
            call = iter([channel.unary_unary(path, **kwargs)(requests[0], metadata=metadata, timeout=timeout)])
        for response in call:
            responses.append(response)
            print(json_format.MessageToJson(response, indent=2), file=out, flush=True)
    except grpc.RpcError as exc:
        code = exc.code().name
        print(f"ERROR:\n  Code: {code}\n  Message: {exc.details()}", file=err)
    record({"method": path, "code": code, "responses": len(responses), "time": time.time()})
    channel.close()
    return 0 if code == "OK" else STATUS_OFFSET + grpc.StatusCode[code].value[0]


# -- a resident shim: one Python process answers every `grpcurl` call of a test over a unix
# socket, so a call costs a few milliseconds instead of a fresh interpreter importing grpc.

CLIENT = r"""
import json, os, socket, sys
argv = sys.argv[1:]
stdin = sys.stdin.read() if "@" in argv else ""
s = socket.socket(socket.AF_UNIX)
s.connect(os.environ["GRPCURL_SOCKET"])
s.sendall(json.dumps({"argv": argv, "stdin": stdin}).encode() + b"\n")
reply = json.loads(s.makefile().readline())
sys.stdout.write(reply["stdout"]); sys.stderr.write(reply["stderr"])
sys.exit(reply["rc"])
"""

_lock = threading.Lock()


class _Handler(socketserver.StreamRequestHandler):
    def handle(self) -> None:
        request = json.loads(self.rfile.readline())
        out, err = io.StringIO(), io.StringIO()
        with _lock:
            try:
                rc = main(request["argv"], request["stdin"], out, err)
            except SystemExit as exc:
                rc = exc.code if isinstance(exc.code, int) else 2
                print(exc.code, file=err)
            except Exception as exc:  # noqa: BLE001 - reported to the caller
                rc = 1
                print(f"grpcurl shim: {type(exc).__name__}: {exc}", file=err)
        self.wfile.write(json.dumps({"stdout": out.getvalue(), "stderr": err.getvalue(), "rc": rc}).encode() + b"\n")


def serve(socket_path: str) -> socketserver.UnixStreamServer:
    """Start the resident shim in a thread; stop it with ``.shutdown()``."""
    server = socketserver.ThreadingUnixStreamServer(socket_path, _Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
