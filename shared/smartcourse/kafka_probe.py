"""A cheap broker liveness check: one ApiVersions (v0) round trip over a raw socket.

Used by health checks so the API need not import a Kafka client. ApiVersions is answered
before SASL authentication, so over TLS (MSK with IAM) the same probe works.
"""

from __future__ import annotations

import socket
import ssl
import struct


class BrokerUnreachable(OSError):
    pass


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise BrokerUnreachable("connection closed by broker")
        buf += chunk
    return buf


def probe(bootstrap_servers: str, *, timeout: float = 2.0, use_tls: bool = False) -> str:
    """Returns the first server that answered; raises BrokerUnreachable if none did."""
    errors = []
    client_id = b"smartcourse-health"
    header = struct.pack(">hhih", 18, 0, 7, len(client_id)) + client_id
    request = struct.pack(">i", len(header)) + header
    for server in bootstrap_servers.split(","):
        host, _, port = server.strip().rpartition(":")
        try:
            with socket.create_connection((host, int(port)), timeout=timeout) as raw:
                sock: socket.socket = (ssl.create_default_context().wrap_socket(raw, server_hostname=host)
                                       if use_tls else raw)
                sock.settimeout(timeout)
                sock.sendall(request)
                size = struct.unpack(">i", _recv_exact(sock, 4))[0]
                body = _recv_exact(sock, size)
                correlation_id, error_code = struct.unpack(">ih", body[:6])
                if correlation_id != 7:
                    raise BrokerUnreachable("unexpected response")
                if error_code != 0:
                    raise BrokerUnreachable(f"ApiVersions error {error_code}")
                return server
        except (OSError, ValueError, struct.error) as exc:
            errors.append(f"{server.strip()}: {exc}")
    raise BrokerUnreachable("; ".join(errors) or "no bootstrap servers")
