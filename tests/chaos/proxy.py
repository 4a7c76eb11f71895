"""A fault-injecting TCP forwarder: the functions reach S3 (moto) through it, so S3 can be made
unreachable while moto keeps its in-memory state.

Modes: ``up`` forwards every connection; ``refuse`` resets every new connection at once (what a
client sees when nothing listens); ``blackhole`` accepts and then never answers (a partition:
the client waits for its own timeout). Leaving ``up`` cuts every open connection, so pooled
keep-alive connections cannot slip through the outage.
"""

from __future__ import annotations

import contextlib
import select
import socket
import struct
import threading
from typing import Literal

Mode = Literal["up", "refuse", "blackhole"]


class FaultProxy:
    def __init__(self, target_host: str, target_port: int, listen_host: str = "127.0.0.1") -> None:
        self.target = (target_host, target_port)
        self._server = socket.create_server((listen_host, 0), reuse_port=False)
        self._server.settimeout(0.5)
        self.port = int(self._server.getsockname()[1])
        self.host = listen_host
        self.mode: Mode = "up"
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._accept_loop, name=f"fault-proxy:{self.port}", daemon=True)
        self.connections = 0
        self.refused = 0

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> FaultProxy:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join(5)
        self._server.close()
        self._cut_all()

    def set_mode(self, mode: Mode) -> None:
        with self._lock:
            self.mode = mode
        if mode != "up":
            self._cut_all()

    def _cut_all(self) -> None:
        with self._lock:
            socks, self._open = list(self._open), set()
        for s in socks:
            _reset(s)

    def _accept_loop(self) -> None:
        while not self._stopping.is_set():
            try:
                client, _ = self._server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with self._lock:
                mode = self.mode
                if mode == "refuse":
                    self.refused += 1
                else:
                    self._open.add(client)
            if mode == "refuse":
                _reset(client)
                continue
            if mode == "blackhole":
                continue  # held open, never read nor answered, until the mode changes
            self.connections += 1
            threading.Thread(target=self._pipe, args=(client,), daemon=True).start()

    def _pipe(self, client: socket.socket) -> None:
        try:
            upstream = socket.create_connection(self.target, timeout=5)
        except OSError:
            _reset(client)
            return
        with self._lock:
            if self.mode != "up" or client not in self._open:
                _reset(client)
                _reset(upstream)
                return
            self._open.add(upstream)
        pair = {client: upstream, upstream: client}
        try:
            while not self._stopping.is_set():
                readable, _, _ = select.select(list(pair), [], [], 0.5)
                for s in readable:
                    data = s.recv(65536)
                    if not data:
                        return
                    pair[s].sendall(data)
        except (OSError, ValueError):
            return
        finally:
            with self._lock:
                self._open.discard(client)
                self._open.discard(upstream)
            for s in (client, upstream):
                with contextlib.suppress(OSError):
                    s.close()


def _reset(sock: socket.socket) -> None:
    """Close with RST (SO_LINGER 0), so the peer sees a reset, not a clean end of stream."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with contextlib.suppress(OSError):
        sock.close()
