"""The S3/SQS endpoint on 127.0.0.1:4566 (LocalStack's port), served by moto server."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from devstack.errors import StackError


def port_open(host: str, port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.3)
        return s.connect_ex((host, port)) == 0


class MotoServer:
    def __init__(self, host: str = "127.0.0.1", port: int = 4566, log_file: Path | None = None) -> None:
        self.host = host
        self.port = port
        self.log_file = log_file
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float = 20) -> str:
        if port_open(self.host, self.port):
            raise StackError(
                f"port {self.port} on {self.host} is already taken: stop what listens there, or set "
                f"AWS_ENDPOINT_URL=http://{self.host}:{self.port} to use it (LocalStack, another moto)"
            )
        out = self.log_file.open("ab") if self.log_file else subprocess.DEVNULL
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", self.host, "-p", str(self.port)],
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            env={**os.environ, "MOTO_ALLOW_NONEXISTENT_REGION": "true"},
        )
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self._proc.poll() is not None:
                raise StackError(f"moto server exited with code {self._proc.returncode}; see {self.log_file}")
            try:
                urllib.request.urlopen(f"{self.url}/moto-api/", timeout=1).read(1)  # noqa: S310 - http to our own server
                return self.url
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise StackError(f"moto server did not answer on {self.url} within {timeout:.0f} s")

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            os.killpg(self._proc.pid, signal.SIGTERM)
            try:
                self._proc.wait(5)
            except subprocess.TimeoutExpired:
                os.killpg(self._proc.pid, signal.SIGKILL)
                self._proc.wait()
        self._proc = None
