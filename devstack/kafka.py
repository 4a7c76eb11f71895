"""Run a real single-node Apache Kafka 4.x broker (KRaft) from Maven Central jars.

No Docker and no Kafka tarball: the broker's runtime classpath is resolved by
Maven from ``devstack/kafka_pom.xml`` into a cache directory once, and the
broker is then started with plain ``java``::

    with KafkaBroker(Path(".data/kafka")) as broker:
        print(broker.bootstrap_servers)  # 127.0.0.1:9092

or, for manual checks, ``python -m devstack.kafka --data-dir .data/kafka``.

The node is a combined broker+controller (``process.roles=broker,controller``)
formatted as a standalone dynamic KRaft quorum.  Its data lives in
``data_dir``; restarting on the same directory keeps topics and committed
consumer-group offsets.
"""

from __future__ import annotations

import argparse
import atexit
import base64
import contextlib
import fcntl
import hashlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
import weakref
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import FrameType, TracebackType

REPO_ROOT = Path(__file__).resolve().parents[1]
POM_PATH = Path(__file__).resolve().with_name("kafka_pom.xml")
DEFAULT_CACHE_DIR = REPO_ROOT / ".cache" / "kafka"
OVERRIDE_ENV = "KAFKA_BOOTSTRAP_SERVERS"
HOST = "127.0.0.1"

_MARKER_NAME = ".complete"
_MVN_TIMEOUT_S = 900.0
_MAX_LOG_BYTES = 20 * 1024 * 1024
_START_BANNER = "===== devstack: starting Kafka"
_PROBE_GROUP = "devstack-readiness-probe"
_ANSI_RE = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
# Maven's generic advice lines, which say nothing about the actual failure.
_MVN_BOILERPLATE = re.compile(
    r"^\[ERROR\]\s*$|Re-run Maven|full stack trace|For more information about the errors"
    r"|^\[ERROR\] \[Help \d+\]"
)


class KafkaUnavailable(RuntimeError):
    """Kafka cannot be run here (no mvn/java, jars not fetchable, port taken).

    The message is always a single line suitable for ``pytest.skip`` or a CLI
    error.
    """


class PortInUse(KafkaUnavailable):
    """A port the broker needs is already bound by another process."""


class KafkaStartError(RuntimeError):
    """The broker process was launched but failed to start or become ready."""


# --------------------------------------------------------------------------
# jars
# --------------------------------------------------------------------------


def _pom_property(name: str, pom: Path | None = None) -> str:
    """Read ``<properties><name>`` from our own pom (a regex: no XML parser needed for one tag)."""
    pom = pom or POM_PATH
    match = re.search(rf"<{re.escape(name)}>\s*([^<\s]+)\s*</{re.escape(name)}>", pom.read_text())
    if match is None:
        raise KafkaUnavailable(f"{pom} has no <{name}> property")
    return match.group(1)


def kafka_version() -> str:
    """The Kafka version pinned in ``devstack/kafka_pom.xml``."""
    return _pom_property("kafka.version")


def _one_line_tail(output: str, max_lines: int = 4, max_chars: int = 600) -> str:
    lines = [_ANSI_RE.sub("", ln).strip() for ln in output.splitlines()]
    lines = [ln for ln in lines if ln and not _MVN_BOILERPLATE.search(ln)]
    errors = [ln for ln in lines if ln.startswith("[ERROR]")]
    picked = errors[:max_lines] if errors else lines[-max_lines:]
    text = " | ".join(picked) or "no output"
    return text if len(text) <= max_chars else "..." + text[-max_chars:]


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def ensure_kafka_jars(cache_dir: Path = DEFAULT_CACHE_DIR) -> Path:
    """Return ``cache_dir/kafka-<version>/libs`` with the broker's jars in it.

    The first call runs ``mvn dependency:copy-dependencies`` on
    ``devstack/kafka_pom.xml`` (a minute or so on a cold Maven cache); later
    calls only check a marker file.  Raises :class:`KafkaUnavailable` when mvn
    is missing or the fetch fails.
    """
    version = kafka_version()
    home = Path(cache_dir).resolve() / f"kafka-{version}"
    libs = home / "libs"
    marker = home / _MARKER_NAME
    stamp = hashlib.sha256(POM_PATH.read_bytes()).hexdigest()

    def complete() -> bool:
        try:
            return libs.is_dir() and marker.read_text().strip() == stamp
        except OSError:
            return False

    if complete():
        return libs

    hint = f"set {OVERRIDE_ENV}=host:port to use an existing broker instead"
    mvn = shutil.which("mvn")
    if mvn is None:
        raise KafkaUnavailable(f"cannot fetch the Kafka {version} jars: `mvn` is not on PATH (install Maven); {hint}")

    with _file_lock(home / ".lock"):
        if complete():  # another process fetched them while we waited
            return libs
        partial = home / f"libs.partial-{os.getpid()}"
        shutil.rmtree(partial, ignore_errors=True)
        cmd = [
            mvn,
            "-B",
            "-q",
            "-Dstyle.color=never",
            "-f",
            str(POM_PATH),
            "dependency:copy-dependencies",
            "-DincludeScope=runtime",
            f"-DoutputDirectory={partial}",
        ]
        try:
            proc = subprocess.run(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                timeout=_MVN_TIMEOUT_S,
                check=False,
            )
        except subprocess.TimeoutExpired:
            shutil.rmtree(partial, ignore_errors=True)
            raise KafkaUnavailable(
                f"fetching the Kafka {version} jars with mvn timed out after {_MVN_TIMEOUT_S:.0f}s; {hint}"
            ) from None
        if proc.returncode != 0 or not any(partial.glob("kafka_2.13-*.jar")):
            shutil.rmtree(partial, ignore_errors=True)
            raise KafkaUnavailable(
                f"fetching the Kafka {version} jars with mvn failed "
                f"(exit {proc.returncode}): {_one_line_tail(proc.stdout)}; {hint}"
            )
        shutil.rmtree(libs, ignore_errors=True)
        partial.rename(libs)
        marker.write_text(stamp + "\n")
    return libs


# --------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------


def _find_java() -> str:
    java_home = os.environ.get("JAVA_HOME")
    if java_home:
        candidate = Path(java_home) / "bin" / "java"
        if os.access(candidate, os.X_OK):
            return str(candidate)
    java = shutil.which("java")
    if java is None:
        raise KafkaUnavailable(
            f"cannot run Kafka: `java` (17+) is not on PATH and JAVA_HOME is not set; "
            f"set {OVERRIDE_ENV}=host:port to use an existing broker instead"
        )
    return java


def _port_in_use(port: int, host: str = HOST) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # Same option the JVM sets on its server sockets, so a port that only
        # has TIME_WAIT leftovers from our previous broker counts as free.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


def _can_connect(port: int, host: str = HOST) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _startup_failure(path: Path, max_chars: int = 600) -> str:
    """One line explaining why the broker died: its last ERROR/exception lines, else the tail."""
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            fh.seek(max(0, fh.tell() - 65536))
            text = fh.read().decode("utf-8", "replace")
    except OSError:
        return "no log"
    text = text.rsplit(_START_BANNER, 1)[-1]
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    lines = [ln for ln in lines if not ln.startswith(("at ", "..."))]
    errors = [ln for ln in lines if re.search(r"\bERROR\b|Exception|Error\b", ln)]
    picked = errors[-3:] if errors else lines[-3:]
    msg = " | ".join(picked) or "no output"
    return msg if len(msg) <= max_chars else msg[:max_chars] + "..."


def random_cluster_id() -> str:
    """A KRaft cluster id: a random UUID, base64url without padding (like Uuid.randomUuid)."""
    while True:
        cid = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cid.startswith("-"):  # Kafka avoids ids that look like CLI flags
            return cid


_LIVE_BROKERS: weakref.WeakSet[KafkaBroker] = weakref.WeakSet()


@atexit.register
def _stop_leftover_brokers() -> None:
    for broker in list(_LIVE_BROKERS):
        with contextlib.suppress(Exception):
            broker.stop(timeout=10)


# --------------------------------------------------------------------------
# broker
# --------------------------------------------------------------------------


class KafkaBroker:
    """A single-node KRaft Kafka (broker+controller) running as a child ``java`` process."""

    def __init__(
        self,
        data_dir: Path,
        port: int = 9092,
        controller_port: int = 9093,
        cache_dir: Path = DEFAULT_CACHE_DIR,
        heap: str = "512m",
    ) -> None:
        if port == controller_port:
            raise ValueError("port and controller_port must differ")
        self.data_dir = Path(data_dir).resolve()
        self.port = port
        self.controller_port = controller_port
        self.cache_dir = Path(cache_dir)
        self.heap = heap
        self.log_dir = self.data_dir / "kraft-combined-logs"
        self.config_path = self.data_dir / "server.properties"
        self.log4j_path = self.data_dir / "log4j2.properties"
        self.log_path = self.data_dir / "broker.log"
        self.pid_path = self.data_dir / "broker.pid"
        self._proc: subprocess.Popen[bytes] | None = None

    # -- public API --------------------------------------------------------

    @property
    def bootstrap_servers(self) -> str:
        return f"{HOST}:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def is_running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self, timeout: float = 60) -> None:
        """Format the storage if needed, launch the broker and wait until it serves requests."""
        if self.is_running():
            return
        java = _find_java()
        for what, port in (("broker", self.port), ("controller", self.controller_port)):
            if _port_in_use(port):
                raise PortInUse(
                    f"cannot start Kafka: {what} port {port} on {HOST} is already in use"
                    f"{self._stale_pid_hint()}; pick another port or stop whatever holds it"
                )
        libs = ensure_kafka_jars(self.cache_dir)
        classpath = str(libs / "*")

        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._write_log4j_config()
        self._write_server_properties()
        if not (self.log_dir / "meta.properties").exists():
            self._format_storage(java, classpath)

        self._rotate_log()
        cmd = [
            java,
            *self._jvm_opts(),
            "-cp",
            classpath,
            "kafka.Kafka",
            str(self.config_path),
        ]
        # The child gets its own copy of the log file descriptor; ours is closed right away.
        with open(self.log_path, "ab") as log_fh:
            log_fh.write(f"\n{_START_BANNER} {kafka_version()} at {time.ctime()} =====\n".encode())
            log_fh.flush()
            try:
                proc = subprocess.Popen(
                    cmd,
                    cwd=self.data_dir,
                    stdin=subprocess.DEVNULL,
                    stdout=log_fh,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,  # own process group: Ctrl-C on the parent doesn't hit it
                )
            except OSError as exc:
                raise KafkaUnavailable(f"cannot launch java for Kafka: {exc}") from None
        self._proc = proc
        _LIVE_BROKERS.add(self)
        self.pid_path.write_text(f"{proc.pid}\n")
        try:
            self._wait_ready(timeout)
        except BaseException:
            self.stop(timeout=10)
            raise

    def stop(self, timeout: float = 30) -> None:
        """SIGTERM the broker (controlled shutdown), then SIGKILL after ``timeout`` seconds."""
        proc = self._proc
        if proc is not None:
            if proc.poll() is None:
                self._signal_group(proc, signal.SIGTERM)
                try:
                    proc.wait(timeout=timeout)
                except subprocess.TimeoutExpired:
                    self._signal_group(proc, signal.SIGKILL)
                    proc.wait()
            # Reap anything else left in the group (the JVM forks nothing, but be tidy).
            self._signal_group(proc, signal.SIGKILL)
            self._proc = None
            _LIVE_BROKERS.discard(self)
            with contextlib.suppress(OSError):
                self.pid_path.unlink()

    def __enter__(self) -> KafkaBroker:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = f"running pid={self.pid}" if self.is_running() else "stopped"
        return f"KafkaBroker({self.bootstrap_servers}, data_dir={str(self.data_dir)!r}, {state})"

    # -- internals ---------------------------------------------------------

    def _jvm_opts(self) -> list[str]:
        return [
            "-Xms128m",
            f"-Xmx{self.heap}",
            "-XX:+UseG1GC",
            "-XX:MaxGCPauseMillis=20",
            "-XX:InitiatingHeapOccupancyPercent=35",
            "-XX:+ExplicitGCInvokesConcurrent",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={self.log4j_path}",
            f"-Dkafka.logs.dir={self.data_dir}",
        ]

    def _write_server_properties(self) -> None:
        props = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.bootstrap.servers": f"{HOST}:{self.controller_port}",
            "listeners": f"PLAINTEXT://{HOST}:{self.port},CONTROLLER://{HOST}:{self.controller_port}",
            "advertised.listeners": (f"PLAINTEXT://{HOST}:{self.port},CONTROLLER://{HOST}:{self.controller_port}"),
            "inter.broker.listener.name": "PLAINTEXT",
            "controller.listener.names": "CONTROLLER",
            "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
            "log.dirs": str(self.log_dir),
            "num.partitions": "1",
            "default.replication.factor": "1",
            "min.insync.replicas": "1",
            # One partition per internal topic: quick to create, and the readiness
            # probe's group then lives on the same partition as every other group.
            "offsets.topic.num.partitions": "1",
            "offsets.topic.replication.factor": "1",
            "transaction.state.log.num.partitions": "1",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "share.coordinator.state.topic.num.partitions": "1",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            "group.initial.rebalance.delay.ms": "0",
            # Topics are created explicitly by the project.
            "auto.create.topics.enable": "false",
        }
        lines = ["# Generated by devstack/kafka.py on every start; edits are overwritten."]
        lines += [f"{key}={value}" for key, value in props.items()]
        self.config_path.write_text("\n".join(lines) + "\n")

    def _write_log4j_config(self) -> None:
        # Kafka 4.x logs through log4j2; without a config it would only print
        # ERRORs.  Everything goes to stdout, which start() sends to broker.log.
        self.log4j_path.write_text(
            "# Generated by devstack/kafka.py on every start.\n"
            "status = warn\n"
            # Keep log4j alive until the JVM exits so the shutdown sequence is logged.
            "shutdownHook = disable\n"
            "name = devstack-kafka\n"
            "appender.stdout.type = Console\n"
            "appender.stdout.name = STDOUT\n"
            "appender.stdout.layout.type = PatternLayout\n"
            "appender.stdout.layout.pattern = [%d] %p %m (%c)%n\n"
            "rootLogger.level = INFO\n"
            "rootLogger.appenderRef.stdout.ref = STDOUT\n"
            "logger.request.name = kafka.request.logger\n"
            "logger.request.level = WARN\n"
            "logger.statechange.name = state.change.logger\n"
            "logger.statechange.level = WARN\n"
            "logger.clients.name = org.apache.kafka.clients\n"
            "logger.clients.level = WARN\n"
        )

    def _format_storage(self, java: str, classpath: str) -> None:
        cmd = [
            java,
            "-Xmx256m",
            "-XX:+UseSerialGC",
            "-XX:TieredStopAtLevel=1",
            f"-Dlog4j2.configurationFile={self.log4j_path}",
            "-cp",
            classpath,
            "kafka.tools.StorageTool",
            "format",
            "--standalone",
            "--cluster-id",
            random_cluster_id(),
            "--config",
            str(self.config_path),
        ]
        proc = subprocess.run(
            cmd,
            cwd=self.data_dir,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=120,
            check=False,
        )
        if proc.returncode != 0:
            raise KafkaStartError(
                f"formatting Kafka storage in {self.log_dir} failed (exit {proc.returncode}): "
                f"{_one_line_tail(proc.stdout)}"
            )

    def _rotate_log(self) -> None:
        with contextlib.suppress(OSError):
            if self.log_path.stat().st_size > _MAX_LOG_BYTES:
                self.log_path.replace(self.log_path.with_suffix(".log.1"))

    def _stale_pid_hint(self) -> str:
        try:
            pid = int(self.pid_path.read_text().strip())
        except (OSError, ValueError):
            return ""
        if pid > 0 and _pid_alive(pid):
            return f" (a broker from an earlier run may still be alive: pid {pid}, see {self.pid_path})"
        return ""

    def _wait_ready(self, timeout: float) -> None:
        from kafka import KafkaAdminClient  # imported lazily: only needed once a broker runs

        deadline = time.monotonic() + timeout
        last_error = "broker port not open yet"
        while True:
            proc = self._proc
            if proc is None or proc.poll() is not None:
                code = proc.returncode if proc is not None else "?"
                raise KafkaStartError(
                    f"Kafka broker exited with code {code} during startup: "
                    f"{_startup_failure(self.log_path)} (full log: {self.log_path})"
                )
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise KafkaStartError(
                    f"Kafka broker on {self.bootstrap_servers} not ready after {timeout:.0f}s "
                    f"({last_error}); see {self.log_path}"
                )
            if _can_connect(self.port):
                admin = None
                try:
                    budget_ms = int(max(1.0, min(remaining, 5.0)) * 1000)
                    admin = KafkaAdminClient(
                        bootstrap_servers=self.bootstrap_servers,
                        client_id="devstack-kafka-readiness",
                        bootstrap_timeout_ms=budget_ms,
                        request_timeout_ms=budget_ms,
                    )
                    topics = admin.list_topics()
                    if "__consumer_offsets" in topics:
                        # After a restart the group coordinator loads committed
                        # offsets asynchronously and answers NOT_COORDINATOR /
                        # COORDINATOR_LOAD_IN_PROGRESS until done: wait for it.
                        admin.list_group_offsets({_PROBE_GROUP: None})
                    return
                except Exception as exc:  # not ready yet: any client error means retry
                    last_error = f"{type(exc).__name__}: {exc}"
                finally:
                    if admin is not None:
                        with contextlib.suppress(Exception):
                            admin.close()
            time.sleep(0.2)

    @staticmethod
    def _signal_group(proc: subprocess.Popen[bytes], sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, sig)


# --------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m devstack.kafka",
        description="Run a single-node KRaft Kafka broker from Maven Central jars until Ctrl-C.",
    )
    parser.add_argument("--data-dir", type=Path, default=Path(".data/kafka"))
    parser.add_argument("--port", type=int, default=9092)
    parser.add_argument("--controller-port", type=int, default=9093)
    parser.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE_DIR)
    parser.add_argument("--timeout", type=float, default=120.0, help="startup timeout, seconds")
    args = parser.parse_args(argv)

    def on_sigterm(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_sigterm)

    broker = KafkaBroker(args.data_dir, port=args.port, controller_port=args.controller_port, cache_dir=args.cache_dir)
    try:
        started = time.monotonic()
        broker.start(timeout=args.timeout)
        print(
            f"Kafka {kafka_version()} ready at {broker.bootstrap_servers} "
            f"in {time.monotonic() - started:.1f}s (data: {broker.data_dir}, log: {broker.log_path}); "
            "Ctrl-C to stop",
            flush=True,
        )
        while broker.is_running():
            time.sleep(0.5)
        print(f"Kafka broker exited unexpectedly; see {broker.log_path}", file=sys.stderr)
        return 1
    except (KafkaUnavailable, KafkaStartError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("stopping Kafka ...", flush=True)
        return 0
    finally:
        broker.stop()


if __name__ == "__main__":
    sys.exit(main())
