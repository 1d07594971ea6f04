"""The lab Elasticsearch node: a real single-node Elasticsearch built from Maven Central jars.

No Debian or PyPI package ships an Elasticsearch server, but Maven Central carries the server jar
and its HTTP module. `LabElasticsearch` copies them (and their dependencies) into a cache with
Maven, compiles the small launcher in `lab/es/src/`, and runs the node as a background JVM bound
to 127.0.0.1 with security off. It is for tests and the lab only. See docs/elasticsearch-lab.md.

State directory layout (`state_dir`, e.g. `<data_dir>/lab/elasticsearch/`):

    home/        the node's path.home (home/data, home/logs, home/config, home/tmp)
    node.log     the JVM's stdout and stderr
    node.json    {"pid", "port", "url", "started_at"} of the running node, removed on stop

Jar cache (`cache_dir`, default `$XDG_CACHE_HOME/tulou/lab-elasticsearch/<key>/`): `jars/` and
`classes/`, where `<key>` hashes the POM and the launcher sources, so a change to either
materialises a fresh cache. Maven's own cache (`~/.m2`) makes a re-materialisation fast.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

__all__ = ["PLUGINS", "LabElasticsearch", "LabElasticsearchError"]

ES_DIR = Path(__file__).resolve().parent / "es"
POM = ES_DIR / "pom.xml"
SOURCES = ES_DIR / "src"
LAUNCHER = "org.elasticsearch.node.LabNode"

#: Plugin classes the node loads from its classpath, in order. Elasticsearch 8.x modules other
#: than transport-netty4 are not on Maven Central (see docs/elasticsearch-lab.md).
PLUGINS: tuple[str, ...] = (
    "org.elasticsearch.transport.netty4.Netty4Plugin",  # HTTP and transport
    "tulou.lab.RootInfoPlugin",  # GET / (stands in for the unpublished rest-root module)
)

DEFAULT_PORT = 9250
LOG_TAIL_LINES = 40


class LabElasticsearchError(RuntimeError):
    """The lab node could not be materialised, started or stopped; the message says why."""


def _java_bin(tool: str) -> str:
    """`$JAVA_HOME/bin/<tool>` when JAVA_HOME is set, else `<tool>` from PATH."""
    java_home = os.environ.get("JAVA_HOME")
    if java_home:
        candidate = Path(java_home) / "bin" / tool
        if candidate.is_file():
            return str(candidate)
        raise LabElasticsearchError(f"JAVA_HOME is {java_home} but {candidate} does not exist")
    found = shutil.which(tool)
    if found is None:
        raise LabElasticsearchError(f"{tool} not found: install a JDK 17+ or set JAVA_HOME")
    return found


def _default_cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "tulou" / "lab-elasticsearch"


def _cache_key() -> str:
    """A digest of everything that decides the cache's content: the POM and launcher sources."""
    if not POM.is_file():
        # The wheel carries no Java (pyproject.toml): the node is built from a source checkout.
        raise LabElasticsearchError(
            f"no lab node sources at {ES_DIR}: the lab Elasticsearch is built from a source "
            "checkout of Tulou (lab/es), or set TULOU_ES_URL to use an existing cluster"
        )
    digest = hashlib.sha256()
    for path in [POM, *sorted(SOURCES.rglob("*.java"))]:
        digest.update(str(path.relative_to(ES_DIR)).encode())
        digest.update(b"\0")
        digest.update(path.read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()[:16]


def _port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _pid_alive(pid: int) -> bool:
    """True if `pid` runs and is not a zombie (a dead child not yet reaped by its parent)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    # The state letter follows the parenthesised command name, which may itself contain spaces.
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _progress(message: str) -> None:
    print(f"lab elasticsearch: {message}", file=sys.stderr, flush=True)


class LabElasticsearch:
    """One lab Elasticsearch node, managed through its state directory.

    Several instances may point at the same `state_dir` (say, the CLI's `start` and a later
    `stop`): the state lives on disk, not in the object. Two nodes need two state directories.
    `port=0` picks a free port at `start()`.
    """

    def __init__(
        self,
        state_dir: Path,
        *,
        port: int = DEFAULT_PORT,
        heap_mb: int = 1024,
        cache_dir: Path | None = None,
        maven_repo: Path | None = None,
    ) -> None:
        if not 0 <= port <= 65535:
            raise ValueError(f"port out of range: {port}")
        if heap_mb < 256:
            raise ValueError(f"heap_mb must be at least 256, got {heap_mb}")
        self.state_dir = Path(state_dir).resolve()
        self.port = port
        self.heap_mb = heap_mb
        self.cache_dir = cache_dir or _default_cache_root() / _cache_key()
        self.maven_repo = maven_repo
        self._proc: subprocess.Popen[bytes] | None = None

    # -- paths -----------------------------------------------------------------------------

    @property
    def home(self) -> Path:
        return self.state_dir / "home"

    @property
    def log_path(self) -> Path:
        return self.state_dir / "node.log"

    @property
    def _state_file(self) -> Path:
        return self.state_dir / "node.json"

    # -- materialise -------------------------------------------------------------------------

    def materialise(self) -> Path:
        """Copy the node's jars into the cache and compile the launcher; return the cache dir.

        Idempotent: a complete cache (marked by its `complete` file) is reused as is.
        """
        marker = self.cache_dir / "complete"
        if marker.is_file():
            return self.cache_dir
        mvn = shutil.which("mvn")
        if mvn is None:
            raise LabElasticsearchError("mvn not found: install Maven (Debian package 'maven')")
        self.cache_dir.parent.mkdir(parents=True, exist_ok=True)
        # Build in a sibling temporary directory and rename it into place, so an interrupted run
        # never leaves a cache that looks complete.
        work = Path(tempfile.mkdtemp(prefix=".partial-", dir=self.cache_dir.parent))
        try:
            _progress(f"resolving Elasticsearch jars from Maven Central into {self.cache_dir}")
            command = [
                mvn,
                "-B",
                "-q",
                "-f",
                str(POM),
                "dependency:copy-dependencies",
                f"-DoutputDirectory={work / 'jars'}",
                "-DincludeScope=runtime",
            ]
            if self.maven_repo is not None:
                command.append(f"-Dmaven.repo.local={self.maven_repo}")
            self._run_build_step(command, "mvn dependency:copy-dependencies")
            _progress("compiling the launcher")
            sources = sorted(str(p) for p in SOURCES.rglob("*.java"))
            classpath = os.pathsep.join(str(p) for p in sorted((work / "jars").glob("*.jar")))
            self._run_build_step(
                [
                    _java_bin("javac"),
                    "--release",
                    "17",
                    "-d",
                    str(work / "classes"),
                    "-cp",
                    classpath,
                    *sources,
                ],
                "javac",
            )
            (work / "complete").write_text(time.strftime("%Y-%m-%dT%H:%M:%S%z\n"))
            if self.cache_dir.exists():  # a concurrent materialise won the race
                shutil.rmtree(work)
            else:
                work.rename(self.cache_dir)
        except BaseException:
            shutil.rmtree(work, ignore_errors=True)
            raise
        _progress("jars ready")
        return self.cache_dir

    @staticmethod
    def _run_build_step(command: list[str], what: str) -> None:
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            output = (result.stdout + result.stderr).strip().splitlines()
            tail = "\n".join(output[-LOG_TAIL_LINES:])
            raise LabElasticsearchError(f"{what} failed (exit {result.returncode}):\n{tail}")

    def _classpath(self) -> str:
        jars = sorted((self.cache_dir / "jars").glob("*.jar"))
        return os.pathsep.join([str(self.cache_dir / "classes"), *(str(j) for j in jars)])

    # -- state file --------------------------------------------------------------------------

    def _read_state(self) -> dict[str, Any] | None:
        try:
            state = json.loads(self._state_file.read_text())
        except (OSError, ValueError):
            return None
        return state if isinstance(state, dict) else None

    def _is_our_node(self, pid: int) -> bool:
        """True if `pid` is alive and is a lab node of this state directory.

        Checked against the command line so that a stale pid file whose pid the kernel has
        since given to another process never makes us signal that process.
        """
        if not _pid_alive(pid):
            return False
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            return False
        return LAUNCHER.encode() in argv and str(self.home).encode() in argv

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self, timeout: float = 120.0) -> str:
        """Start the node unless it already runs; wait for yellow health; return its URL."""
        current = self.status()
        if current["running"]:
            if current["healthy"]:
                return str(current["url"])
            return self._wait_healthy(int(current["pid"]), str(current["url"]), timeout)
        self._state_file.unlink(missing_ok=True)  # stale: its process is gone

        self.materialise()
        port = self.port or _free_port()
        if not _port_is_free(port):
            raise LabElasticsearchError(
                f"port {port} on 127.0.0.1 is already in use by another process; "
                "stop it or pass another port"
            )
        for sub in ("data", "logs", "config", "tmp"):
            (self.home / sub).mkdir(parents=True, exist_ok=True)
        url = f"http://127.0.0.1:{port}"
        command = [
            _java_bin("java"),
            f"-Xms{min(512, self.heap_mb)}m",
            f"-Xmx{self.heap_mb}m",
            "-XX:+UseSerialGC",  # the smallest footprint; a lab node serves one client at a time
            "-XX:+ExitOnOutOfMemoryError",
            "-Dfile.encoding=UTF-8",
            f"-Djava.io.tmpdir={self.home / 'tmp'}",
            "-Dlog4j2.disable.jmx=true",
            "-Dlog4j.shutdownHookEnabled=false",
            "-Dio.netty.noUnsafe=true",
            "-Dio.netty.recycler.maxCapacityPerThread=0",
            "-cp",
            self._classpath(),
            LAUNCHER,
            str(self.home),
            str(port),
            *PLUGINS,
        ]
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        _progress(f"starting node on {url} (log: {self.log_path})")
        with self.log_path.open("wb") as log:
            # A new session: the node outlives the CLI that started it and ignores its Ctrl-C.
            self._proc = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.home,
                start_new_session=True,
            )
        state = {"pid": self._proc.pid, "port": port, "url": url, "started_at": time.time()}
        self._state_file.write_text(json.dumps(state) + "\n")
        try:
            return self._wait_healthy(self._proc.pid, url, timeout)
        except LabElasticsearchError:
            self.stop()
            raise

    def _wait_healthy(self, pid: int, url: str, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc is not None and self._proc.pid == pid:
                exited = self._proc.poll() is not None
            else:
                exited = not _pid_alive(pid)
            if exited:
                raise LabElasticsearchError(
                    f"the Elasticsearch node exited during start-up\n{self.log_tail()}"
                )
            if self._healthy(url):
                return url
            time.sleep(0.5)
        raise LabElasticsearchError(
            f"the Elasticsearch node at {url} was not healthy after {timeout:.0f}s\n"
            f"{self.log_tail()}"
        )

    @staticmethod
    def _get_json(url: str, timeout: float = 2.0) -> dict[str, Any] | None:
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 (loopback)
                body = json.loads(response.read())
        except (OSError, ValueError):
            return None
        return body if isinstance(body, dict) else None

    def _healthy(self, url: str) -> bool:
        health = self._get_json(f"{url}/_cluster/health?wait_for_status=yellow&timeout=1s")
        return health is not None and health.get("status") in ("yellow", "green")

    def stop(self, timeout: float = 30.0) -> bool:
        """Stop the node (SIGTERM, then SIGKILL after `timeout`); wait until its port is free.

        Returns True if a node was running. A no-op when none is.
        """
        state = self._read_state()
        if state is None:
            return False
        pid, port = int(state["pid"]), int(state["port"])
        was_running = self._is_our_node(pid)
        if was_running:
            os.kill(pid, signal.SIGTERM)
            if not self._wait_exit(pid, timeout):
                _progress(f"node {pid} ignored SIGTERM for {timeout:.0f}s; killing it")
                os.kill(pid, signal.SIGKILL)
                self._wait_exit(pid, 10.0)
        self._proc = None
        deadline = time.monotonic() + 10.0
        while not _port_is_free(port):
            if time.monotonic() > deadline:
                raise LabElasticsearchError(f"port {port} still in use after the node stopped")
            time.sleep(0.1)
        self._state_file.unlink(missing_ok=True)
        return was_running

    def _wait_exit(self, pid: int, timeout: float) -> bool:
        if self._proc is not None and self._proc.pid == pid:
            try:
                self._proc.wait(timeout)
            except subprocess.TimeoutExpired:
                return False
            return True
        deadline = time.monotonic() + timeout
        while _pid_alive(pid):
            if time.monotonic() > deadline:
                return False
            time.sleep(0.1)
        return True

    def status(self) -> dict[str, Any]:
        """`running`, `healthy`, `pid`, `url`, `version`, `state_dir`, `log` of the node."""
        state = self._read_state() or {}
        pid = state.get("pid")
        running = isinstance(pid, int) and self._is_our_node(pid)
        url = state.get("url") if running else None
        version: str | None = None
        healthy = False
        if running and url:
            info = self._get_json(f"{url}/")
            if info is not None:
                version = info.get("version", {}).get("number")
            healthy = self._healthy(url)
        return {
            "running": running,
            "healthy": healthy,
            "pid": pid if running else None,
            "url": url,
            "version": version,
            "state_dir": str(self.state_dir),
            "log": str(self.log_path),
        }

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        """The last `lines` lines of the node's log, for error messages."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return f"(no log at {self.log_path})"
        tail = "\n".join(text.splitlines()[-lines:])
        return f"--- last lines of {self.log_path} ---\n{tail}"
