"""The embedded local stack: PostgreSQL + pgvector, Kafka (KRaft), and moto on :4566.

Each service can be replaced by an external one: DATABASE_URL, KAFKA_BOOTSTRAP_SERVERS,
AWS_ENDPOINT_URL. A running stack writes `.data/stack.json`, so tests and `invoke` reuse it.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from devstack.errors import StackError
from devstack.moto_server import MotoServer, port_open
from devstack.postgres import EmbeddedPostgres, ensure_database, with_database

ROOT = Path(__file__).resolve().parents[1]
DATA_DIR = Path(os.environ.get("DEVSTACK_DATA_DIR") or ROOT / ".data")
CACHE_DIR = ROOT / ".cache"
APP_DATABASE = "smartcourse"


@dataclass(frozen=True)
class Endpoints:
    admin_database_url: str
    aws_endpoint_url: str
    kafka_bootstrap_servers: str

    def database_url(self, name: str = APP_DATABASE) -> str:
        return with_database(self.admin_database_url, name)


def load_local_env(path: Path = ROOT / "config" / "local.env") -> dict[str, str]:
    out = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            k, v = line.split("=", 1)
            out[k.strip()] = v.strip()
    return out


def local_overrides(ep: Endpoints, stage: str, database_url: str | None = None) -> dict[str, str]:
    """What every function sees locally on top of its template environment: the stack's endpoints,
    plaintext Kafka (MSK uses SASL_SSL + IAM), the stage's topic prefix, and config/local.env."""
    return {
        **load_local_env(),
        "DATABASE_URL": database_url or os.environ.get("DATABASE_URL") or ep.database_url(),
        "AWS_ENDPOINT_URL": ep.aws_endpoint_url,
        "KAFKA_BOOTSTRAP_SERVERS": ep.kafka_bootstrap_servers,
        "KAFKA_SECURITY_PROTOCOL": "PLAINTEXT",
        "KAFKA_SASL_MECHANISM": "",
        "AWS_REGION": "us-east-1",
        "STAGE": stage,
        "TOPIC_PREFIX": f"smartcourse.{stage}",
    }


def aws_clients(endpoint: str, region: str = "us-east-1") -> tuple[Any, Any]:
    import boto3
    from botocore.config import Config

    kw: dict[str, Any] = {"endpoint_url": endpoint, "region_name": region,
                          "aws_access_key_id": os.environ.get("AWS_ACCESS_KEY_ID", "testing"),
                          "aws_secret_access_key": os.environ.get("AWS_SECRET_ACCESS_KEY", "testing")}
    s3 = boto3.client("s3", config=Config(s3={"addressing_style": "path"}), **kw)
    sqs = boto3.client("sqs", **kw)
    return s3, sqs


class Stack:
    def __init__(self, data_dir: Path = DATA_DIR, cache_dir: Path = CACHE_DIR, *,
                 moto_port: int = int(os.environ.get("DEVSTACK_MOTO_PORT", "4566")),
                 kafka_port: int = int(os.environ.get("DEVSTACK_KAFKA_PORT", "9092")),
                 controller_port: int = int(os.environ.get("DEVSTACK_CONTROLLER_PORT", "9093")),
                 ephemeral: bool = False) -> None:
        self.data_dir = data_dir
        self.cache_dir = cache_dir
        self.moto_port = moto_port
        self.kafka_port = kafka_port
        self.controller_port = controller_port
        self.ephemeral = ephemeral
        self._pg: EmbeddedPostgres | None = None
        self._moto: MotoServer | None = None
        self._kafka: Any = None
        self.endpoints: Endpoints | None = None

    @property
    def state_file(self) -> Path:
        return self.data_dir / "stack.json"

    def start(self) -> Endpoints:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        try:
            db = os.environ.get("DATABASE_URL")
            if not db:
                self._pg = EmbeddedPostgres(self.data_dir / "postgres",
                                            cleanup_mode="delete" if self.ephemeral else "stop")
                db = self._pg.start()
            aws = os.environ.get("AWS_ENDPOINT_URL")
            if not aws:
                self._moto = MotoServer(port=self.moto_port, log_file=self.data_dir / "moto.log")
                aws = self._moto.start()
            kafka = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
            if not kafka:
                from devstack.kafka import KafkaBroker, KafkaStartError, KafkaUnavailable

                for port in (self.kafka_port, self.controller_port):
                    if port_open("127.0.0.1", port):
                        raise StackError(f"port {port} is already taken: stop what listens there, or set "
                                         "KAFKA_BOOTSTRAP_SERVERS to use an external broker")
                self._kafka = KafkaBroker(self.data_dir / "kafka", port=self.kafka_port,
                                          controller_port=self.controller_port, cache_dir=self.cache_dir / "kafka")
                try:
                    self._kafka.start()
                except (KafkaUnavailable, KafkaStartError) as exc:
                    raise StackError(str(exc)) from exc
                kafka = self._kafka.bootstrap_servers
        except BaseException:
            self.stop()
            raise
        self.endpoints = Endpoints(db, aws, kafka)
        self.state_file.write_text(json.dumps({"pid": os.getpid(), **asdict(self.endpoints)}))
        return self.endpoints

    def prepare(self, stage: str, template: Any) -> dict[tuple[str, str], str]:
        """Create the app database, migrate it, create buckets, notifications and topics."""
        from devstack.provision import ensure_buckets_and_notifications, ensure_topics, topic_specs
        from smartcourse import migrate

        assert self.endpoints is not None
        ep = self.endpoints
        ensure_database(ep.admin_database_url, APP_DATABASE)
        try:
            migrate.apply(ep.database_url())
        except migrate.MigrationError as exc:
            raise StackError(f"migrations: {exc}") from exc
        s3, sqs = aws_clients(ep.aws_endpoint_url)
        queues = ensure_buckets_and_notifications(template, stage, s3, sqs)
        ensure_topics(ep.kafka_bootstrap_servers, topic_specs(f"smartcourse.{stage}"))
        return queues

    def stop(self) -> None:
        if self.state_file.exists():
            try:
                if json.loads(self.state_file.read_text()).get("pid") == os.getpid():
                    self.state_file.unlink()
            except (OSError, ValueError):
                pass
        for svc in (self._kafka, self._moto, self._pg):
            if svc is not None:
                try:
                    svc.stop()
                except Exception as exc:  # stop the others regardless
                    print(f"devstack: stopping {type(svc).__name__} failed: {exc}")
        self._kafka = self._moto = self._pg = None


def running_stack(data_dir: Path = DATA_DIR) -> Endpoints | None:
    """The endpoints of a stack started by another process (`make run`, `make stack`), if it is up."""
    path = data_dir / "stack.json"
    if not path.exists():
        return None
    try:
        state = json.loads(path.read_text())
        os.kill(int(state["pid"]), 0)
    except (OSError, ValueError, KeyError):
        return None
    return Endpoints(state["admin_database_url"], state["aws_endpoint_url"], state["kafka_bootstrap_servers"])
