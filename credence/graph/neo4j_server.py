"""Start and stop a real Neo4j 5.26 LTS server without Docker, for development and tests.

The server is the small Maven project in ``credence/graph/neo4j_launcher``: an embedded Neo4j
DBMS (``org.neo4j:neo4j``) with the Bolt connector on ``127.0.0.1``, authentication
off, HTTP off, and the open Graph Data Science procedures (``gds.*``) registered.
:func:`build_launcher` builds it with Maven (the first build downloads about 140 MB of
jars from Maven Central into ``~/.m2``); :func:`start_neo4j` runs it as a detached
``java`` process and waits until it prints its READY line; :func:`stop_neo4j` ends it
with SIGTERM, which checkpoints and closes the stores through the launcher's shutdown
hook.

A server's files all live under its home directory::

    HOME/conf/credence-neo4j.conf   the settings it was started with (rewritten each start)
    HOME/data/                      the databases (``neo4j`` and ``system``)
    HOME/import/                    what ``LOAD CSV FROM 'file:///NAME'`` may read
    HOME/logs/debug.log             Neo4j's own log
    HOME/logs/launcher.log          the launcher's stderr (start-up errors land here)
    HOME/logs/launcher.out          the launcher's stdout: the single READY line
    HOME/logs/import.log            the output of the last offline import (:func:`import_offline`)

:func:`import_offline` fills an empty database with Neo4j's offline importer (the
classes behind ``neo4j-admin database import full``, run from the launcher's own
classpath in a separate ``java`` process while the server is stopped), then starts the
server again on the same port.

Users with Docker may run the official image instead (``docker-compose.yml`` at the
repository root); it serves the same ``bolt://127.0.0.1:7687`` without authentication.

Examples
--------
>>> from credence.graph.neo4j_server import running_neo4j
>>> with running_neo4j() as proc:  # doctest: +SKIP
...     import neo4j
...     with neo4j.GraphDatabase.driver(proc.bolt_uri, auth=None) as driver:
...         driver.execute_query("RETURN 1")
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from credence.core.errors import Neo4jUnavailableError, ParameterError, StoreError

__all__ = [
    "JAR_NAME",
    "READY_MARKER",
    "Neo4jProcess",
    "build_launcher",
    "default_state_path",
    "import_offline",
    "is_running",
    "launcher_dir",
    "load_state",
    "running_neo4j",
    "save_state",
    "start_neo4j",
    "stop_neo4j",
]

JAR_NAME = "credence-neo4j-launcher.jar"
"""File name of the launcher jar under ``launcher_dir() / "target"``."""

READY_MARKER = "CREDENCE_NEO4J_READY"
"""First word of the one line the launcher prints once Bolt accepts connections."""

HOST = "127.0.0.1"

MIN_JAVA = 17
"""Neo4j 5.26 runs on Java 17 or 21."""

# What Neo4j's own start script passes on Java 17+, less what only matters in production.
JVM_OPTIONS: tuple[str, ...] = (
    "--add-opens=java.base/java.nio=ALL-UNNAMED",
    "--add-opens=java.base/java.io=ALL-UNNAMED",
    "--add-opens=java.base/sun.nio.ch=ALL-UNNAMED",
    "-Dio.netty.tryReflectionSetAccessible=true",
    "-Djdk.nio.maxCachedBufferSize=1024",
    "-Dlog4j2.disable.jmx=true",
    "-XX:+UseG1GC",
    "-XX:-OmitStackTraceInFastThrow",
    "-XX:+ExitOnOutOfMemoryError",
)

_MEMORY_RE = re.compile(r"^[1-9][0-9]*[kKmMgG]?$")
_LOG_TAIL_LINES = 40
_BUILD_TAIL_LINES = 60

# Popen objects of servers this interpreter started, so that their exit is reaped (no
# zombie looks alive) and they are not garbage-collected while running.
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


@dataclass(frozen=True)
class Neo4jProcess:
    """A Neo4j server started by :func:`start_neo4j`.

    Parameters
    ----------
    pid : int
        Process id of the ``java`` process (also its process-group and session id).
    bolt_uri : str
        Where to connect, e.g. ``bolt://127.0.0.1:7687`` (no authentication).
    home : Path
        The server's home directory (``conf/``, ``data/``, ``logs/``).
    log_path : Path
        The launcher's stderr log, ``home/logs/launcher.log``.
    heap : str, default "2g"
        The JVM heap it was started with (a restart reuses it).
    page_cache : str, default "512m"
        The page cache it was started with (a restart reuses it).
    """

    pid: int
    bolt_uri: str
    home: Path
    log_path: Path
    heap: str = "2g"
    page_cache: str = "512m"

    @property
    def port(self) -> int:
        """The Bolt port, parsed from :attr:`bolt_uri`."""
        return int(self.bolt_uri.rsplit(":", 1)[1])

    @property
    def debug_log_path(self) -> Path:
        """Neo4j's own log, ``home/logs/debug.log``."""
        return self.home / "logs" / "debug.log"


# --------------------------------------------------------------------------- build


def launcher_dir() -> Path:
    """Return the directory of the launcher's Maven project.

    Returns
    -------
    Path
        ``credence/graph/neo4j_launcher`` (holds ``pom.xml``; the build writes ``target/``).

    Examples
    --------
    >>> (launcher_dir() / "pom.xml").is_file()
    True
    """
    return Path(__file__).resolve().parent / "neo4j_launcher"


def _jar_path() -> Path:
    return launcher_dir() / "target" / JAR_NAME


def _is_built(jar: Path) -> bool:
    """Whether the jar and its ``lib/`` exist and are newer than every source file."""
    lib = jar.parent / "lib"
    if not jar.is_file() or not lib.is_dir() or not any(lib.glob("*.jar")):
        return False
    built = jar.stat().st_mtime
    sources = [launcher_dir() / "pom.xml", *(launcher_dir() / "src").rglob("*")]
    return all(p.stat().st_mtime <= built for p in sources if p.is_file())


def build_launcher(*, force: bool = False, quiet: bool = True) -> Path:
    """Build the launcher with Maven unless it is already built; return the jar.

    Runs ``mvn -B -f credence/graph/neo4j_launcher/pom.xml package -DskipTests`` when the jar
    or ``target/lib`` is missing, when ``pom.xml`` or a source file is newer than the
    jar, or when ``force`` is true. Concurrent callers are serialised with a file lock.

    Parameters
    ----------
    force : bool, default False
        Rebuild even if the jar is up to date.
    quiet : bool, default True
        Run Maven with ``-q`` and print nothing; otherwise echo Maven's output to
        stderr as it runs.

    Returns
    -------
    Path
        ``launcher_dir() / "target" / "credence-neo4j-launcher.jar"``; its
        dependencies are in ``target/lib`` (named by the jar's ``Class-Path``).

    Raises
    ------
    Neo4jUnavailableError
        If ``java`` or ``mvn`` is not installed, or the build fails (the message
        ends with the tail of Maven's output).
    """
    jar = _jar_path()
    if not force and _is_built(jar):
        return jar
    _java_executable()  # a clear error before Maven's own, if there is no JDK
    mvn = shutil.which("mvn")
    if mvn is None:
        raise Neo4jUnavailableError(
            "cannot build the Neo4j launcher: Maven ('mvn') is not on PATH; "
            "install Maven 3.8+ (e.g. 'apt-get install maven') or use docker-compose.yml"
        )
    target = jar.parent
    target.mkdir(parents=True, exist_ok=True)
    with open(target / ".build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not force and _is_built(jar):  # another process built it while we waited
            return jar
        cmd = [mvn, "-B", "-Dstyle.color=never", "-f", str(launcher_dir() / "pom.xml")]
        if quiet:
            cmd.append("-q")
        cmd += ["package", "-DskipTests"]
        tail: deque[str] = deque(maxlen=_BUILD_TAIL_LINES)
        try:
            with subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                errors="replace",
            ) as mvn_proc:
                assert mvn_proc.stdout is not None
                for line in mvn_proc.stdout:
                    tail.append(line.rstrip("\n"))
                    if not quiet:
                        sys.stderr.write(line)
                rc = mvn_proc.wait()
        except OSError as exc:
            raise Neo4jUnavailableError(f"cannot run Maven ({mvn}): {exc}") from exc
        if rc != 0 or not jar.is_file():
            raise Neo4jUnavailableError(
                f"building the Neo4j launcher failed (mvn exit code {rc}): {' '.join(cmd)}\n"
                "--- last lines of Maven's output ---\n" + "\n".join(tail)
            )
        jar.touch()  # newer than every source even if Maven left an older jar in place
    return jar


# --------------------------------------------------------------------------- java


def _java_executable() -> str:
    """Return the ``java`` to run (``$JAVA_HOME/bin/java`` first), checking it is 17+."""
    java: str | None = None
    java_home = os.environ.get("JAVA_HOME")
    if java_home and (Path(java_home) / "bin" / "java").is_file():
        java = str(Path(java_home) / "bin" / "java")
    else:
        java = shutil.which("java")
    if java is None:
        raise Neo4jUnavailableError(
            "cannot run Neo4j: no 'java' on PATH and no JAVA_HOME; install a JDK 17 or 21 "
            "(e.g. 'apt-get install openjdk-17-jdk-headless') or use docker-compose.yml"
        )
    major = _java_major(java)
    if major is not None and major < MIN_JAVA:
        raise Neo4jUnavailableError(
            f"cannot run Neo4j 5.26 with Java {major} ({java}): it needs Java 17 or 21"
        )
    return java


def _java_major(java: str) -> int | None:
    """Return the major version ``java -version`` reports, or None if unreadable."""
    try:
        out = subprocess.run(
            [java, "-version"], capture_output=True, text=True, timeout=30, check=False
        ).stderr
    except (OSError, subprocess.TimeoutExpired):
        return None
    m = re.search(r'version "(\d+)(?:\.(\d+))?', out)
    if m is None:
        return None
    major = int(m.group(1))
    return int(m.group(2) or 0) if major == 1 else major  # "1.8.0" is Java 8


# --------------------------------------------------------------------------- start/stop


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        port: int = s.getsockname()[1]
        return port


def _port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(1.0)
        return s.connect_ex((HOST, port)) == 0


def _tail(path: Path, lines: int = _LOG_TAIL_LINES) -> str:
    try:
        with open(path, errors="replace") as f:
            return "".join(deque(f, maxlen=lines)).rstrip()
    except OSError:
        return ""


def _failure_report(proc: Neo4jProcess) -> str:
    parts = []
    for path in (proc.log_path, proc.debug_log_path):
        text = _tail(path)
        if text:
            parts.append(f"--- last lines of {path} ---\n{text}")
    return "\n".join(parts) if parts else f"(no log under {proc.home / 'logs'})"


def _check_memory(name: str, value: str) -> None:
    if not _MEMORY_RE.match(value):
        raise ParameterError(name, value, "must be a JVM size such as '512m' or '2g'")


def start_neo4j(
    *,
    home: Path | None = None,
    port: int | None = None,
    heap: str = "2g",
    page_cache: str = "512m",
    timeout: float = 180.0,
) -> Neo4jProcess:
    """Start a Neo4j 5.26 server and wait until it accepts Bolt connections.

    Builds the launcher first if needed (:func:`build_launcher`). The ``java`` process
    runs in a new session, detached from the caller's process group (a Ctrl-C in the
    caller's terminal does not reach it), and outlives the caller unless stopped.

    Parameters
    ----------
    home : Path or None
        The server's home directory, created if missing; an existing one is reused
        with its data. None makes a fresh temporary directory (not removed by
        :func:`stop_neo4j`; :func:`running_neo4j` removes the one it made).
    port : int or None
        Bolt port on 127.0.0.1; None picks a free one.
    heap : str, default "2g"
        JVM heap, passed as both ``-Xms`` and ``-Xmx``.
    page_cache : str, default "512m"
        Neo4j page cache (``server.memory.pagecache.size``).
    timeout : float, default 180.0
        Seconds to wait for the READY line.

    Returns
    -------
    Neo4jProcess
        The running server.

    Raises
    ------
    ParameterError
        If ``port``, ``heap``, ``page_cache`` or ``timeout`` is out of its domain.
    Neo4jUnavailableError
        If the launcher cannot be built, ``java`` is missing, the port is taken, or
        the server exits or is not ready within ``timeout`` (it is then killed). The
        message ends with the tails of ``launcher.log`` and ``debug.log``.
    """
    _check_memory("heap", heap)
    _check_memory("page_cache", page_cache)
    if timeout <= 0:
        raise ParameterError("timeout", timeout, "must be > 0")
    if port is not None and not 0 < port < 65536:
        raise ParameterError("port", port, "must be in 1..65535")

    jar = build_launcher()
    java = _java_executable()
    if home is None:
        home = Path(tempfile.mkdtemp(prefix="credence-neo4j-"))
    home = home.expanduser().resolve()
    logs = home / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    if port is None:
        port = _free_port()
    elif _port_in_use(port):
        raise Neo4jUnavailableError(f"cannot start Neo4j: {HOST}:{port} is already in use")

    bolt_uri = f"bolt://{HOST}:{port}"
    log_path = logs / "launcher.log"
    out_path = logs / "launcher.out"
    cmd = [
        java,
        f"-Xms{heap}",
        f"-Xmx{heap}",
        *JVM_OPTIONS,
        "-jar",
        str(jar),
        "--home",
        str(home),
        "--bolt-port",
        str(port),
        "--page-cache",
        page_cache,
    ]
    with open(out_path, "wb") as out, open(log_path, "ab") as err:
        err.write(f"\n=== {time.strftime('%Y-%m-%d %H:%M:%S')} {' '.join(cmd)}\n".encode())
        err.flush()
        try:
            popen = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                cwd=home,
                start_new_session=True,
            )
        except OSError as exc:
            raise Neo4jUnavailableError(f"cannot run {java}: {exc}") from exc
    _CHILDREN[popen.pid] = popen
    proc = Neo4jProcess(
        pid=popen.pid, bolt_uri=bolt_uri, home=home, log_path=log_path, heap=heap, page_cache=page_cache
    )

    ready = f"{READY_MARKER} {bolt_uri}"
    deadline = time.monotonic() + timeout
    while True:
        if ready in _tail(out_path, 5).splitlines():
            return proc
        rc = popen.poll()
        if rc is not None:
            _CHILDREN.pop(popen.pid, None)
            raise Neo4jUnavailableError(
                f"Neo4j exited with code {rc} before it was ready (home {home})\n" + _failure_report(proc)
            )
        if time.monotonic() > deadline:
            _kill_group(popen.pid)
            with contextlib.suppress(subprocess.TimeoutExpired):
                popen.wait(timeout=30)
            _CHILDREN.pop(popen.pid, None)
            raise Neo4jUnavailableError(
                f"Neo4j was not ready within {timeout:g} s and was killed (home {home})\n"
                + _failure_report(proc)
            )
        time.sleep(0.1)


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def _is_launcher(proc: Neo4jProcess) -> bool:
    """Whether ``proc.pid`` is alive and still this launcher (not a reused pid)."""
    popen = _CHILDREN.get(proc.pid)
    if popen is not None:
        if popen.poll() is None:
            return True
        _CHILDREN.pop(proc.pid, None)
        return False
    proc_dir = Path("/proc") / str(proc.pid)
    if Path("/proc/self").exists():
        try:
            state = (proc_dir / "stat").read_text().rsplit(")", 1)[1].split()[0]
            cmdline = (proc_dir / "cmdline").read_bytes().split(b"\0")
        except (OSError, IndexError):
            return False
        if state in ("Z", "X"):
            return False
        args = [a.decode(errors="replace") for a in cmdline]
        return any(a.endswith(JAR_NAME) for a in args) and str(proc.home) in args
    try:  # no /proc (not Linux): trust the pid
        os.kill(proc.pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def is_running(proc: Neo4jProcess) -> bool:
    """Whether the server's process is alive.

    Checks the pid still belongs to a launcher for ``proc.home`` (by its command line,
    on Linux), so a stale state file whose pid was reused reads as not running.

    Parameters
    ----------
    proc : Neo4jProcess
        The server.

    Returns
    -------
    bool
        True while the process exists; it may still be starting or stopping.
    """
    return _is_launcher(proc)


def stop_neo4j(proc: Neo4jProcess, *, timeout: float = 60.0) -> None:
    """Stop a server: SIGTERM, wait up to ``timeout`` seconds, then SIGKILL.

    SIGTERM runs the launcher's shutdown hook, which checkpoints and closes the
    databases (about 2 s when idle). Stopping a server that is not running does
    nothing. The home directory is left in place.

    Parameters
    ----------
    proc : Neo4jProcess
        The server.
    timeout : float, default 60.0
        Seconds to wait after SIGTERM before SIGKILL.

    Raises
    ------
    Neo4jUnavailableError
        If the process survives SIGKILL (should not happen) or cannot be signalled.
    """
    if not _is_launcher(proc):
        return
    try:
        os.kill(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        _CHILDREN.pop(proc.pid, None)
        return
    except PermissionError as exc:
        raise Neo4jUnavailableError(f"cannot stop Neo4j (pid {proc.pid}): {exc}") from exc
    if _wait_gone(proc, timeout):
        return
    _kill_group(proc.pid)
    if not _wait_gone(proc, 30.0):
        raise Neo4jUnavailableError(f"Neo4j (pid {proc.pid}) survived SIGKILL")


def _wait_gone(proc: Neo4jProcess, timeout: float) -> bool:
    popen = _CHILDREN.get(proc.pid)
    if popen is not None:
        try:
            popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return False
        _CHILDREN.pop(proc.pid, None)
        return True
    deadline = time.monotonic() + timeout
    while _is_launcher(proc):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


@contextlib.contextmanager
def running_neo4j(**kwargs: Any) -> Iterator[Neo4jProcess]:
    """Start a server for the duration of a ``with`` block, and always stop it.

    Parameters
    ----------
    **kwargs
        Passed to :func:`start_neo4j`. Without ``home`` (or with ``home=None``) the
        temporary home is removed after the server stops.

    Yields
    ------
    Neo4jProcess
        The running server.
    """
    temporary = kwargs.get("home") is None
    proc = start_neo4j(**kwargs)
    try:
        yield proc
    finally:
        stop_neo4j(proc)
        if temporary:
            shutil.rmtree(proc.home, ignore_errors=True)


# --------------------------------------------------------------------------- offline import

#: The import tool's entry point (``neo4j-admin``), in ``neo4j-command-line`` on the launcher's classpath.
ADMIN_MAIN = "org.neo4j.cli.AdminTool"
_IMPORT_TAIL_LINES = 40


def import_offline(
    proc: Neo4jProcess,
    *,
    nodes: Sequence[tuple[str, Sequence[Path]]],
    relationships: Sequence[tuple[str, Sequence[Path]]] = (),
    database: str = "neo4j",
    heap: str = "1g",
    off_heap: str = "2g",
    threads: int | None = None,
    multiline_fields: bool = False,
    verify: Callable[[Neo4jProcess], None] | None = None,
    on_restart: Callable[[Neo4jProcess], None] | None = None,
    timeout: float = 180.0,
) -> Neo4jProcess:
    """Replace an empty database of a launcher's server with an offline import of CSV files.

    Stops the server (SIGTERM: it checkpoints and closes), moves the database's store
    and transaction-log folders aside, runs Neo4j's importer (``neo4j-admin database
    import full``, the launcher's classpath, a ``java`` process of its own with ``heap``)
    into the now absent database, starts the server again on the same port with the
    same heap and page cache, and calls ``verify`` with it. If the import, the restart
    or ``verify`` fails, the imported files are deleted, the folders moved aside come
    back, and the server is started again before the error propagates: the database
    is then exactly as it was. The folders moved aside are deleted once ``verify``
    returned. The caller checks that the database is empty (this function does not
    read it); anything written to it after that check would be lost.

    Parameters
    ----------
    proc : Neo4jProcess
        A running server started by :func:`start_neo4j`.
    nodes : sequence of (label, files)
        ``--nodes=LABEL=FILE,FILE...`` groups: a header file first, then data files.
    relationships : sequence of (type, files)
        ``--relationships=TYPE=FILE,FILE...`` groups, as ``nodes``.
    database : str, default "neo4j"
        The database to replace (the launcher serves ``neo4j``).
    heap : str, default "1g"
        The importer's JVM heap.
    off_heap : str, default "2g"
        The importer's ``--max-off-heap-memory`` (its own default, 90% of the machine's
        free memory, is unfriendly on a shared machine).
    threads : int or None
        The importer's ``--threads``; None: the number of processors.
    multiline_fields : bool, default False
        Whether quoted fields may hold line breaks (``--multiline-fields=true``: slower).
    verify : callable, optional
        ``verify(server)`` after the restart; raising undoes the import.
    on_restart : callable, optional
        ``on_restart(server)`` after every start (the pid changes: e.g. save the state
        file), including the start after an undo.
    timeout : float, default 180.0
        Seconds each start may take (:func:`start_neo4j`).

    Returns
    -------
    Neo4jProcess
        The restarted server (same home and Bolt URI, a new pid).

    Raises
    ------
    ParameterError
        If ``heap``, ``off_heap`` or ``threads`` is out of its domain, or a file is missing
        (nothing was stopped then).
    Neo4jUnavailableError
        If ``proc`` is not a running launcher, or the server cannot be started again.
    StoreError
        If the importer fails (the message ends with the tail of its output, which is
        also in ``HOME/logs/import.log``); the database was restored and the server runs.
    """
    _check_memory("heap", heap)
    _check_memory("off_heap", off_heap)
    if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 1):
        raise ParameterError("threads", threads, "must be an int >= 1")
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9.-]*", database):
        raise ParameterError("database", database, "must be a database name")
    groups = [("nodes", name, files) for name, files in nodes]
    groups += [("relationships", name, files) for name, files in relationships]
    for _, name, files in groups:
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            raise ParameterError("label", name, "must be a plain label or relationship type")
        for file in files:
            if not Path(file).is_file():
                raise ParameterError("file", str(file), "must be an existing file")
    if not _is_launcher(proc):
        raise Neo4jUnavailableError(f"no launcher-owned Neo4j runs with pid {proc.pid} (home {proc.home})")
    jar = build_launcher()
    java = _java_executable()

    home = proc.home
    folders = [home / "data" / "databases" / database, home / "data" / "transactions" / database]
    work = Path(tempfile.mkdtemp(prefix="credence-import-"))  # mode 0700
    try:
        conf = work / "conf"
        conf.mkdir()
        # The settings the server was started with, so the importer writes where it reads.
        shutil.copyfile(home / "conf" / "credence-neo4j.conf", conf / "neo4j.conf")
        cmd = [
            java,
            f"-Xmx{heap}",
            *JVM_OPTIONS,
            "-cp",
            str(jar.parent / "lib" / "*"),
            ADMIN_MAIN,
            "database",
            "import",
            "full",
            database,  # before the file groups: --nodes and --relationships take every word after them
            "--id-type=integer",
            "--bad-tolerance=0",
            f"--max-off-heap-memory={off_heap}",
            f"--report-file={work / 'import.report'}",
        ]
        if threads is not None:
            cmd.append(f"--threads={threads}")
        if multiline_fields:
            cmd.append("--multiline-fields=true")
        cmd += [f"--{kind}={name}={','.join(str(f) for f in files)}" for kind, name, files in groups]
        env = {**os.environ, "NEO4J_HOME": str(home), "NEO4J_CONF": str(conf)}

        stop_neo4j(proc)
        aside = home / f"offline-import-{os.getpid()}-{time.monotonic_ns()}"
        aside.mkdir()
        moved = []
        try:
            for i, folder in enumerate(folders):
                if folder.exists():
                    folder.rename(aside / str(i))
                    moved.append(i)
            _run_importer(cmd, env, home / "logs" / "import.log")
            server = start_neo4j(
                home=home, port=proc.port, heap=proc.heap, page_cache=proc.page_cache, timeout=timeout
            )
        except BaseException:
            _restore(folders, aside, moved)
            _restart(proc, timeout, on_restart)
            raise
        if on_restart is not None:
            on_restart(server)
        try:
            if verify is not None:
                verify(server)
        except BaseException:
            stop_neo4j(server)
            _restore(folders, aside, moved)
            _restart(proc, timeout, on_restart)
            raise
        shutil.rmtree(aside, ignore_errors=True)
        return server
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _run_importer(cmd: list[str], env: dict[str, str], log: Path) -> None:
    """Run the import tool, its output into ``log``; StoreError with the tail of it on failure."""
    with open(log, "wb") as out:
        out.write(f"=== {time.strftime('%Y-%m-%d %H:%M:%S')} {' '.join(cmd)}\n".encode())
        out.flush()
        try:
            rc = subprocess.run(
                cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, env=env, check=False
            ).returncode
        except OSError as exc:
            raise Neo4jUnavailableError(f"cannot run the Neo4j import tool ({cmd[0]}): {exc}") from exc
    if rc != 0:
        raise StoreError(
            f"the Neo4j offline import failed (exit code {rc}); the database was restored, empty, and "
            f"the server restarted\n--- last lines of {log} ---\n{_tail(log, _IMPORT_TAIL_LINES)}"
        )


def _restore(folders: list[Path], aside: Path, moved: list[int]) -> None:
    """Delete what the importer wrote and put the moved folders back."""
    for i, folder in enumerate(folders):
        shutil.rmtree(folder, ignore_errors=True)
        if i in moved:
            (aside / str(i)).rename(folder)
    shutil.rmtree(aside, ignore_errors=True)


def _restart(proc: Neo4jProcess, timeout: float, on_restart: Callable[[Neo4jProcess], None] | None) -> None:
    server = start_neo4j(
        home=proc.home, port=proc.port, heap=proc.heap, page_cache=proc.page_cache, timeout=timeout
    )
    if on_restart is not None:
        on_restart(server)


# --------------------------------------------------------------------------- state file


def default_state_path() -> Path:
    """Return where the CLI records the server it started.

    Returns
    -------
    Path
        ``$CREDENCE_HOME/neo4j.json`` if ``CREDENCE_HOME`` is set and not empty,
        else ``~/.credence/neo4j.json``.

    Examples
    --------
    >>> default_state_path().name
    'neo4j.json'
    """
    base = os.environ.get("CREDENCE_HOME") or "~/.credence"
    return Path(base).expanduser() / "neo4j.json"


def save_state(proc: Neo4jProcess, path: Path) -> None:
    """Write ``proc`` to ``path`` as JSON (atomically; parent directories are created).

    Parameters
    ----------
    proc : Neo4jProcess
        The server.
    path : Path
        The state file, e.g. :func:`default_state_path`.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {
        "pid": proc.pid,
        "bolt_uri": proc.bolt_uri,
        "home": str(proc.home),
        "log_path": str(proc.log_path),
        "heap": proc.heap,
        "page_cache": proc.page_cache,
    }
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    os.replace(tmp, path)


def load_state(path: Path) -> Neo4jProcess | None:
    """Read a state file written by :func:`save_state`.

    The server it names may have stopped since; check with :func:`is_running`.

    Parameters
    ----------
    path : Path
        The state file.

    Returns
    -------
    Neo4jProcess or None
        None if the file does not exist.

    Raises
    ------
    Neo4jUnavailableError
        If the file exists but is not a valid state file.
    """
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    try:
        data = json.loads(text)
        return Neo4jProcess(
            pid=int(data["pid"]),
            bolt_uri=str(data["bolt_uri"]),
            home=Path(data["home"]),
            log_path=Path(data["log_path"]),
            heap=str(data.get("heap", "2g")),
            page_cache=str(data.get("page_cache", "512m")),
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise Neo4jUnavailableError(f"{path} is not a valid Neo4j state file: {exc}") from exc
