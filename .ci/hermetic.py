"""Run the test suite with canary provider keys and every provider base URL pointed at a listener on 127.0.0.1
that counts connections; fail when the suite fails, collects nothing, or anything connected to the listener.

A test that read the developer's keys or base URLs would find the canaries here and call the listener, so
"zero connections" shows the suite never uses a developer's account. Arguments are passed on to pytest.

    .venv/bin/python .ci/hermetic.py [pytest arguments]
"""

from __future__ import annotations

import os
import socketserver
import subprocess
import sys
import threading
from typing import Any

CANARY_KEYS = ("ARK_API_KEY", "VOLC_ACCESSKEY", "VOLC_SECRETKEY", "CHANJING_APP_ID", "CHANJING_SECRET_KEY",
               "SEEDREAM_GATEWAY_API_KEY", "DISCORD_TOKEN")
BASE_URLS = {"SEEDREAM_ARK_BASE_URL": "/api/v3", "SEEDREAM_VISUAL_BASE_URL": "",
             "SEEDREAM_CHANJING_BASE_URL": "", "SEEDREAM_GATEWAY_BASE_URL": ""}
NO_TESTS_COLLECTED = 5


class CountingListener(socketserver.ThreadingTCPServer):
    """Counts every connection to it on 127.0.0.1 (at accept), notes the first line each client sent, hangs up."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _FirstLine)
        self.connections: list[str] = []  # each client's host:port

    @property
    def base_url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"

    def verify_request(self, request: Any, client_address: Any) -> bool:
        """Called at each accept, before any handler thread: the count cannot miss a connection."""
        self.connections.append(f"{client_address[0]}:{client_address[1]}")
        return True

    def stop(self) -> None:
        """Stop serving, then count what is still waiting in the backlog (the child has exited by now)."""
        self.shutdown()
        self.socket.setblocking(False)
        while True:
            try:
                conn, address = self.socket.accept()
            except BlockingIOError:
                break
            self.connections.append(f"{address[0]}:{address[1]} (never served)")
            conn.close()
        self.server_close()


class _FirstLine(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        self.request.settimeout(2)
        try:
            first = self.request.recv(4096).split(b"\r\n", 1)[0].decode("latin-1")
        except OSError:
            return
        print(f"hermetic: the canary listener was sent: {first!r}", file=sys.stderr)


def canary_environment(base_url: str) -> dict[str, str]:
    env = dict(os.environ)
    env |= {name: f"canary-{name.lower()}-must-never-be-used" for name in CANARY_KEYS}
    env |= {name: base_url + path for name, path in BASE_URLS.items()}
    env["SEEDREAM_PROVIDER"] = "ark"  # a test that read the environment would pick a real provider
    return env


def main(pytest_args: list[str]) -> int:
    listener = CountingListener()
    serving = threading.Thread(target=listener.serve_forever, name="canary-listener", daemon=True)
    serving.start()
    try:
        command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *pytest_args]
        status = subprocess.run(command, env=canary_environment(listener.base_url), check=False).returncode
    finally:
        listener.stop()
    if listener.connections:
        print(f"hermetic: the canary listener saw {len(listener.connections)} connection(s): a test used the "
              "environment's provider settings", *listener.connections, sep="\n  ", file=sys.stderr)
        return 1
    if status == NO_TESTS_COLLECTED:
        print("hermetic: pytest collected no tests", file=sys.stderr)
        return 1
    print(f"hermetic: the canary listener at {listener.base_url} saw 0 connections", file=sys.stderr)
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
