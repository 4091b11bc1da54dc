"""Escape attempts run INSIDE the sandbox: each ``test_*`` passes when the sandbox contained it.

Standard library only: it runs as a pytest file inside a generated-looking project (through the
real runner) and as a plain script (``python sandbox_escapes.py`` prints a JSON verdict per
check) under an isolation the runner did not pick on this machine. Parameters come from
``escape_params.json`` in the working folder; they name no secret value, only the secret's
variable name. Every loop is bounded; nothing is written outside the work folder and /tmp
unless the sandbox failed (the host side checks and cleans those exact paths).
"""

from __future__ import annotations

import ctypes
import errno
import json
import os
import resource
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

PARAMS: dict[str, Any] = json.loads((Path.cwd() / "escape_params.json").read_text())
TAG = PARAMS["tag"]


def _fails(action: Any) -> str:
    """'' when ``action`` raised OSError (contained), otherwise what it returned."""
    try:
        result = action()
    except OSError:
        return ""
    return f"succeeded: {str(result)[:80]}"


# --------------------------------------------------------------------------- network
def test_the_hosts_loopback_is_unreachable() -> None:
    assert _fails(lambda: socket.create_connection(("127.0.0.1", PARAMS["port"]), timeout=2)) == ""


def test_public_addresses_and_dns_are_unreachable() -> None:
    for address in (("1.1.1.1", 443), ("8.8.8.8", 53), ("2606:4700:4700::1111", 443)):
        assert _fails(lambda a=address: socket.create_connection(a, timeout=2)) == "", address
    try:
        socket.getaddrinfo("pypi.org", 443)
    except socket.gaierror:
        return
    raise AssertionError("pypi.org resolved")


def test_only_a_private_loopback_exists_and_works() -> None:
    assert [name for _, name in socket.if_nameindex()] == ["lo"]
    server = socket.create_server(("127.0.0.1", 0))
    with server, socket.create_connection(server.getsockname(), timeout=2):
        pass


# --------------------------------------------------------------------------- /proc and secrets
def _variable_names(path: str) -> list[str] | None:
    try:
        with open(path, "rb") as handle:
            return [item.split(b"=", 1)[0].decode(errors="replace") for item in handle.read().split(b"\0") if item]
    except OSError:
        return None


def test_no_visible_process_has_the_secret_in_its_environment() -> None:
    visible = [p for p in os.listdir("/proc") if p.isdigit()]
    holders = [p for p in visible if PARAMS["secret_name"] in (_variable_names(f"/proc/{p}/environ") or [])]
    assert holders == [], f"/proc/{holders}/environ holds {PARAMS['secret_name']}"
    assert PARAMS["secret_name"] not in os.environ


def test_the_parent_process_is_not_visible() -> None:
    parent = PARAMS["parent_pid"]
    names = _variable_names(f"/proc/{parent}/environ")
    assert names is None or PARAMS["secret_name"] not in names


# --------------------------------------------------------------------------- files
def test_host_files_outside_the_folder_cannot_be_read() -> None:
    for path in PARAMS["unreadable"]:
        assert _fails(lambda p=path: Path(p).read_bytes()) == "", path
    allowed = PARAMS["interpreter_roots"]  # bound read-only, with the folders leading to them
    for folder in ("/root", "/home", "/var", "/srv", "/mnt", "/work", "/opt"):
        entries = [f"{folder}/{name}" for name in os.listdir(folder)] if os.path.isdir(folder) else []
        stray = [e for e in entries if not any(r == e or r.startswith(e + "/") or e.startswith(r + "/")
                                                 for r in allowed)]
        assert stray == [], stray
    assert set(os.listdir("/etc")) <= {"group", "hosts", "ld.so.cache", "localtime", "nsswitch.conf", "passwd"}


def test_nothing_outside_the_folder_can_be_written() -> None:
    written = []
    for path in [*PARAMS["unwritable"], "/usr/escape", "/etc/escape", "/escape", f"{sys.prefix}/escape"]:
        if _fails(lambda p=path: Path(p).write_text("escaped")) != "":
            written.append(path)
    assert written == [], written
    Path("written-inside.txt").write_text("inside")  # the work folder is writable


def test_private_tmp_takes_writes_that_never_reach_the_host() -> None:
    for path in PARAMS["private"]:
        Path(path).write_text("stays in the sandbox")  # the host checks that it did not arrive


def test_global_kernel_settings_are_read_only() -> None:
    current = Path("/proc/sys/vm/swappiness").read_text().strip()
    assert current.isdigit()
    assert _fails(lambda: Path("/proc/sys/vm/swappiness").write_text(current)) == ""


# --------------------------------------------------------------------------- privileges
def test_the_tests_hold_no_capability_and_cannot_gain_one() -> None:
    """The host side checks the uid the kernel sees (never 0); inside, no capability, no_new_privs."""
    status = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines() if ":" in line)
    assert int(status["CapEff"].strip(), 16) == 0
    assert int(status["CapPrm"].strip(), 16) == 0
    assert status["NoNewPrivs"].strip() == "1"
    assert os.getuid() != 0 and os.geteuid() != 0


def test_no_nested_user_namespace() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    clone_newuser = 0x10000000
    assert libc.unshare(clone_newuser) == -1
    assert ctypes.get_errno() in (errno.EPERM, errno.ENOSPC, errno.EINVAL)


# --------------------------------------------------------------------------- processes and limits
def _sleeper(label: str) -> list[str]:
    return [sys.executable, "-c", "import time; time.sleep(600)", f"{TAG}-{label}"]


def test_background_processes_can_be_started() -> None:
    """They must not outlive the run: the host looks for the tag afterwards."""
    subprocess.Popen(_sleeper("child"))
    subprocess.run(["setsid", "-f", *_sleeper("setsid")], check=True)
    pid = os.fork()
    if pid == 0:  # a classic daemon: double fork, new session, deaf to TERM and HUP
        os.setsid()
        if os.fork() == 0:
            import signal

            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            signal.signal(signal.SIGHUP, signal.SIG_IGN)
            os.execv(sys.executable, _sleeper("daemon"))
        os._exit(0)
    os.waitpid(pid, 0)


def test_the_process_count_is_limited() -> None:
    soft, _ = resource.getrlimit(resource.RLIMIT_NPROC)
    assert soft == PARAMS["processes"]
    read_end, write_end = os.pipe()
    children, refused = [], False
    try:
        for _ in range(PARAMS["processes"] + 40):  # bounded: never more than the limit plus 40 attempts
            try:
                pid = os.fork()
            except BlockingIOError:
                refused = True
                break
            if pid == 0:
                os.close(write_end)
                os.read(read_end, 1)  # waits until the parent closes the pipe
                os._exit(0)
            children.append(pid)
    finally:
        os.close(write_end)
        for pid in children:
            os.waitpid(pid, 0)
        os.close(read_end)
    assert refused and len(children) < PARAMS["processes"]


def test_cpu_time_is_limited() -> None:
    busy = subprocess.run([sys.executable, "-c", "while True: pass"], timeout=60, check=False)
    assert busy.returncode in (-24, -9)  # SIGXCPU at the soft limit, SIGKILL at the hard one


def test_memory_is_limited() -> None:
    try:
        bytearray(2 * PARAMS["memory_bytes"])
    except MemoryError:
        return
    raise AssertionError("allocated twice the address-space limit")


def test_private_tmp_is_small() -> None:
    try:
        with open("/tmp/fill", "wb") as handle:
            for _ in range(2 * PARAMS["tmp_bytes"] // 2**20):
                handle.write(b"\0" * 2**20)
    except OSError as exc:
        assert exc.errno in (errno.ENOSPC, errno.EFBIG)
        return
    finally:
        Path("/tmp/fill").unlink(missing_ok=True)
    raise AssertionError("wrote twice the size of /tmp")


def main() -> int:
    verdicts = {}
    for name, check in sorted(globals().items()):
        if name.startswith("test_") and callable(check):
            try:
                check()
                verdicts[name] = "contained"
            except BaseException as exc:  # report every failed check, not only the first
                verdicts[name] = f"ESCAPED: {type(exc).__name__}: {exc}"[:300]
    print(json.dumps(verdicts))
    return 0


if __name__ == "__main__":
    sys.exit(main())
