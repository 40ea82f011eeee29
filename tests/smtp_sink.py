"""A minimal SMTP server on 127.0.0.1 for alert tests (Python 3.12 no longer ships `smtpd`): just enough of
the protocol for smtplib, keeping every message it is sent."""

from __future__ import annotations

import json
import socketserver
import threading


class _SmtpSink(socketserver.StreamRequestHandler):
    """Just enough SMTP for smtplib: greeting, EHLO, MAIL, RCPT, DATA, QUIT. Keeps each message."""

    messages: list[dict] = []

    def _say(self, line: str) -> None:
        self.wfile.write(line.encode() + b"\r\n")

    def handle(self) -> None:
        self._say("220 127.0.0.1 sink")
        sender, rcpts = None, []
        while True:
            line = self.rfile.readline(65536)
            if not line:
                return
            verb = line.decode().strip().split(" ", 1)[0].upper()
            if verb in ("EHLO", "HELO"):
                self._say("250 127.0.0.1")
            elif verb == "MAIL":
                sender = line.decode().split(":", 1)[1].strip()
                self._say("250 ok")
            elif verb == "RCPT":
                rcpts.append(line.decode().split(":", 1)[1].strip().strip("<>"))
                self._say("250 ok")
            elif verb == "DATA":
                self._say("354 end with .")
                data = []
                while (chunk := self.rfile.readline(65536)) not in (b".\r\n", b""):
                    data.append(chunk[1:] if chunk.startswith(b"..") else chunk)
                type(self).messages.append({"from": sender, "to": rcpts, "data": b"".join(data)})
                self._say("250 queued")
            elif verb == "QUIT":
                self._say("221 bye")
                return
            else:
                self._say("250 ok")


def start_sink() -> tuple[socketserver.ThreadingTCPServer, type[_SmtpSink]]:
    _SmtpSink.messages = []
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _SmtpSink)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, _SmtpSink


def connection_json(server: socketserver.ThreadingTCPServer) -> str:
    """An Airflow SMTP connection (AIRFLOW_CONN_<ID>) to the sink: plain SMTP on loopback."""
    return json.dumps({"conn_type": "smtp", "host": "127.0.0.1", "port": server.server_address[1],
                       "extra": {"disable_tls": True, "disable_ssl": True, "from_email": "nightshift@example.org",
                                 "timeout": 10, "retry_limit": 1}})
