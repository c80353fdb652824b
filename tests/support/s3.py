"""A real S3-compatible server for the tests: moto's standalone server as a child process, optionally behind
a TCP proxy process that a test stops and starts to simulate an object-store outage."""

import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import httpx

from app.core.storage.s3 import s3_client
from tests.support.processes import free_port, wait_for

# moto takes any credentials; boto3's standard chain reads these from the environment, as in production.
AWS_ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}


class ChildProcess:
    """A ``python`` child on a port of its own, logging to a file; ``answers`` says when it is up."""

    def __init__(self, args: list[str], port: int, log_path: Path) -> None:
        self.args, self.port, self.log_path = args, port, log_path
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        log = self.log_path.open("ab")
        env = {**os.environ, **AWS_ENV}
        self.process = subprocess.Popen([sys.executable, *self.args], stdout=log, stderr=subprocess.STDOUT, env=env)
        wait_for(self.answers, timeout=60, what=f"{self.args[1]} on port {self.port}", progress=self._log_size)

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(timeout=30)
            self.process = None

    def answers(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            raise AssertionError(f"{self.args} exited:\n{self.log_path.read_text(errors='replace')[-3000:]}")
        try:
            httpx.get(self.url, timeout=2)
        except httpx.HTTPError:
            return False
        return True

    def _log_size(self) -> int:
        return self.log_path.stat().st_size if self.log_path.exists() else 0


def moto_server(log_dir: Path) -> ChildProcess:
    port = free_port()
    return ChildProcess(["-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)], port, log_dir / "moto.log")


def tcp_proxy(target_port: int, log_dir: Path) -> ChildProcess:
    port = free_port()
    args = ["-m", "tests.support.tcp_proxy", str(port), str(target_port)]
    return ChildProcess(args, port, log_dir / f"proxy-{port}.log")


def new_bucket(endpoint_url: str) -> str:
    """A fresh bucket of the caller's own on the server, so tests never see each other's objects."""
    name = f"test-{uuid.uuid4().hex[:12]}"
    client(endpoint_url).create_bucket(Bucket=name)
    return name


def client(endpoint_url: str) -> Any:
    """The same boto3 client production builds, pointed at the test server."""
    os.environ.update({k: os.environ.get(k, v) for k, v in AWS_ENV.items()})
    return s3_client(endpoint_url=endpoint_url, region="us-east-1")
