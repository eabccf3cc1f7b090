#!/usr/bin/env python3
"""A plain-HTTP reverse proxy in front of a real registry that injects
transient failures, for tests/registry.sh only.

MODE `once`: the first blob HEAD is answered 503 (with Retry-After: 1),
and the connection of the first blob-upload PUT is reset before any of it
is forwarded; everything else goes to the registry unchanged.
MODE `always`: every request is answered 503.
MODE `reset-at:N`: the connection of the blob-upload PATCH or PUT during
which the bytes of upload bodies received in all pass N is reset once, when
N is reached (nothing of that request reaches the registry); every body
byte received is counted, and LOG gets `received TOTAL` lines.

Usage: flaky_proxy.py PORT UPSTREAM_PORT MODE LOG
"""
import http.client
import socket
import struct
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

port, upstream, mode, log = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
done = set()
reset_at = int(mode.split(":")[1]) if mode.startswith("reset-at:") else None
received = [0]
HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "proxy-authorization"}


def note(text):
    with open(log, "a") as f:
        f.write(text + "\n")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def handle_one(self):
        kind = None
        if self.command == "HEAD" and "/blobs/sha256:" in self.path:
            kind = "head"
        elif self.command == "PUT" and "/blobs/uploads/" in self.path:
            kind = "put"
        if mode == "always" or (mode == "once" and kind == "head" and "head" not in done):
            done.add("head")
            note(f"503 {self.command} {self.path}")
            self.send_response(503)
            self.send_header("Retry-After", "1")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if mode == "once" and kind == "put" and "put" not in done:
            done.add("put")
            note(f"reset {self.command} {self.path}")
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
            self.close_connection = True
            return
        length = int(self.headers.get("Content-Length", "0") or 0)
        if reset_at is not None and "/blobs/uploads/" in self.path and self.command in ("PATCH", "PUT") and length:
            if "reset" not in done and received[0] + length > reset_at:
                done.add("reset")
                got = self.rfile.read(reset_at - received[0])
                received[0] += len(got)
                note(f"reset {self.command} after {received[0]} bytes received in all")
                note(f"received {received[0]}")
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.connection.close()
                self.close_connection = True
                return
            body = self.rfile.read(length)
            received[0] += len(body)
            note(f"received {received[0]}")
        else:
            body = self.rfile.read(length) if length else None
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP}
        conn = http.client.HTTPConnection("127.0.0.1", upstream)
        conn.request(self.command, self.path, body=body, headers=headers)
        response = conn.getresponse()
        data = response.read()
        self.send_response(response.status)
        for k, v in response.getheaders():
            if k.lower() not in HOP and k.lower() != "content-length":
                self.send_header(k, v)
        self.send_header("Content-Length", (response.getheader("Content-Length") or "0") if self.command == "HEAD"
                         else str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
        conn.close()

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = handle_one

    def log_message(self, *args):
        pass


ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()
