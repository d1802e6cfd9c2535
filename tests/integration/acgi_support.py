"""Helpers of the end-to-end tests: processes in their own process groups
that are always stopped, waits with deadlines, free ports, the nginx config,
an HTTP client, FNV-1a and deterministic test data."""
import hashlib
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import time

import pytest

FNV64_OFFSET = 0xCBF29CE484222325
FNV64_PRIME = 0x100000001B3
MASK64 = 0xFFFFFFFFFFFFFFFF

ALPHABET = b"abcdefghijklmnopqrstuvwxyz"

# What a sanitizer writes when it finds a bug in the program under test.
SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
                   "runtime error:", "ERROR: UndefinedBehaviorSanitizer",
                   "WARNING: ThreadSanitizer")


def fnv1a64(data, h=FNV64_OFFSET):
    """FNV-1a 64-bit of data, continuing from h (so it can run over
    chunks). About 13 MB/s in CPython: keep big inputs to one test."""
    p, m = FNV64_PRIME, MASK64
    for b in data:
        h = ((h ^ b) * p) & m
    return h


def fnv_hex(data):
    return "%016x" % fnv1a64(data)


def det_bytes(seed, n):
    """n deterministic pseudo-random bytes (SHA-256 in counter mode)."""
    out = bytearray()
    seed = _bytes(seed)
    i = 0
    while len(out) < n:
        out += hashlib.sha256(seed + i.to_bytes(8, "big")).digest()
        i += 1
    return bytes(out[:n])


def _bytes(x):
    return x if isinstance(x, bytes) else str(x).encode()


def alphabet_at(offset, n):
    """n bytes of the echo app's size=N answer, starting at offset."""
    start = offset % 26
    reps = (start + n) // 26 + 1
    return (ALPHABET * reps)[start:start + n]


PEERS = {
    "nginx": "/usr/sbin/nginx",
    "spawn-fcgi": "/usr/bin/spawn-fcgi",
    "cgi-fcgi": "/usr/bin/cgi-fcgi",
    "curl": "/usr/bin/curl",
    "php-cgi": "/usr/bin/php-cgi",
}


def peer(name):
    """The path of a peer program (Debian's); the test fails, never skips,
    when it is missing."""
    p = PEERS[name]
    if not os.access(p, os.X_OK):
        p = shutil.which(name)
    if not p:
        pytest.fail("%s is not installed: run scripts/install-deps.sh"
                    % name)
    return p


# ---- ports, sockets, waits -----------------------------------------------

def free_port(host="127.0.0.1"):
    """A port the kernel says is free now (bind to 0 and close)."""
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(fam, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def ipv6_loopback():
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


def wait_until(pred, timeout, what, interval=0.02, proc=None):
    """Polls pred() until it is true. Fails when timeout passes or when
    proc (a Proc) exits first."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if proc is not None and proc.exit_status() is not None:
            raise AssertionError("%s: %s exited with %s before that.\n%s" % (
                what, proc.name, proc.exit_status(), proc.log_tail()))
        if time.monotonic() > deadline:
            extra = ("\n" + proc.log_tail()) if proc is not None else ""
            raise AssertionError("timed out after %.1f s waiting for %s%s"
                                 % (timeout, what, extra))
        time.sleep(interval)


def listening_inodes(path=None, port=None):
    """Inodes of the listening sockets bound to a Unix path or a TCP port
    (IPv4 or IPv6), from /proc/net."""
    out = set()
    if path is not None:
        with open("/proc/net/unix") as f:
            next(f)
            for line in f:
                parts = line.split()
                if (len(parts) >= 8 and parts[7] == path
                        and int(parts[3], 16) & 0x10000):
                    out.add(int(parts[6]))
    else:
        for name in ("/proc/net/tcp", "/proc/net/tcp6"):
            with open(name) as f:
                next(f)
                for line in f:
                    parts = line.split()
                    if (parts[3] == "0A" and
                            int(parts[1].rsplit(":", 1)[1], 16) == port):
                        out.add(int(parts[9]))
    return out


def socket_inodes(pid):
    """Inodes of the sockets that process pid holds."""
    out = set()
    try:
        fds = os.listdir("/proc/%d/fd" % pid)
    except OSError:
        return out
    for fd in fds:
        try:
            target = os.readlink("/proc/%d/fd/%s" % (pid, fd))
        except OSError:
            continue
        if target.startswith("socket:["):
            out.add(int(target[8:-1]))
    return out


def listening_in_group(pgid, path=None, port=None):
    """True when a process of group pgid holds a socket listening on path
    or port. Looking in /proc instead of connecting leaves the app's logs
    alone, and a port that another program took by chance is not ours."""
    want = listening_inodes(path, port)
    if not want:
        return False
    return any(want & socket_inodes(pid) for pid in pids_in_group(pgid))


def unix_connections(path):
    """Inodes of the connected (accepted) sockets bound to path."""
    out = set()
    with open("/proc/net/unix") as f:
        next(f)
        for line in f:
            parts = line.split()
            if len(parts) >= 8 and parts[7] == path and parts[5] == "03":
                out.add(int(parts[6]))
    return out


def tcp_connections(port):
    """Inodes of the established TCP sockets whose local port is port."""
    out = set()
    for name in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(name) as f:
            next(f)
            for line in f:
                parts = line.split()
                if (parts[3] == "01"
                        and int(parts[1].rsplit(":", 1)[1], 16) == port):
                    out.add(int(parts[9]))
    return out


# ---- processes -----------------------------------------------------

def _live_processes():
    """(pid, ppid, pgrp) of every process that is not a zombie."""
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                stat = f.read()
        except OSError:
            continue
        # The command is in parentheses and may hold spaces.
        fields = stat[stat.rindex(")") + 2:].split()
        if fields[0] != "Z":
            yield int(d), int(fields[1]), int(fields[2])


def pids_in_group(pgid):
    return [pid for pid, _, pgrp in _live_processes() if pgrp == pgid]


def children(pid):
    """The live child processes of pid."""
    return [p for p, ppid, _ in _live_processes() if ppid == pid]


# Every Proc not stopped yet, for the last-resort cleanup at exit.
LIVE = set()


def _die_with_parent():
    # Runs in the child between fork and exec: SIGKILL it when the test
    # process dies, even by SIGKILL, so that no server outlives a run.
    try:
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
    except Exception:
        pass


def kill_leftovers():
    """Kills the process groups of every Proc not stopped (at exit, or when
    pytest is told to stop)."""
    for p in list(LIVE):
        try:
            os.killpg(p.pgid, signal.SIGKILL)
        except OSError:
            pass
        try:
            p.popen.wait(timeout=5)
        except Exception:
            pass
        LIVE.discard(p)


class Proc:
    """A server the test started, alone in a new session and process group
    so that stop() reaches every process it forked."""

    def __init__(self, name, argv, env, log_path, cwd=None):
        self.name = name
        self.argv = argv
        self.log_path = log_path
        self.log = open(log_path, "ab")
        self.popen = subprocess.Popen(
            argv, env=env, cwd=cwd, stdin=subprocess.DEVNULL,
            stdout=self.log, stderr=self.log, start_new_session=True,
            preexec_fn=_die_with_parent)
        LIVE.add(self)
        self.pid = self.popen.pid
        self.pgid = self.pid
        self.stopped = False
        self.exited_early = None  # its exit status if it ended before stop
        self.expect_exit = False  # the test ends it itself

    def exit_status(self):
        """The leader's exit status (negative: the signal), or None while
        it runs. It does not reap the leader: until stop() does, its pid,
        and so its process group id, cannot be reused by an unrelated
        process that stop()'s killpg would then hit."""
        if self.popen.returncode is not None:
            return self.popen.returncode
        try:
            info = os.waitid(os.P_PID, self.pid,
                             os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:
            return self.popen.poll()
        if info is None:
            return None
        if info.si_code == os.CLD_EXITED:
            return info.si_status
        return -info.si_status

    def alive(self):
        return self.exit_status() is None

    def log_text(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def log_size(self):
        return os.path.getsize(self.log_path)

    def log_since(self, offset):
        with open(self.log_path, "rb") as f:
            f.seek(offset)
            return f.read().decode("utf-8", "replace")

    def log_tail(self, n=40):
        lines = self.log_text().splitlines()
        note = ""
        if self.exited_early is not None:
            note = ", it had exited by itself with status %d" % (
                self.exited_early)
        return "--- %s log (%s), last %d lines%s ---\n%s" % (
            self.name, self.log_path, min(n, len(lines)), note,
            "\n".join(lines[-n:]))

    def stop(self, sig=signal.SIGTERM, grace=5.0):
        """Signals the whole group, waits up to grace seconds, then kills
        what is left. Returns the leader's exit status and the pids that
        had to be killed."""
        if self.stopped:
            return self.popen.returncode, []
        self.stopped = True
        self.exited_early = self.exit_status()
        try:
            os.killpg(self.pgid, sig)
        except ProcessLookupError:
            pass
        killed = []
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            if self.exit_status() is not None and not [
                    p for p in pids_in_group(self.pgid) if p != self.pid]:
                break
            time.sleep(0.02)
        else:
            killed = pids_in_group(self.pgid)
            try:
                os.killpg(self.pgid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        try:
            self.popen.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        wait_until(lambda: not pids_in_group(self.pgid), 5,
                   "the processes of %s to go away" % self.name)
        LIVE.discard(self)
        self.log.close()
        return self.popen.returncode, killed


def clean_env(extra=None):
    """The test's environment without the variables that would change how
    the programs start (ANYCGI_*, CGI variables)."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("ANYCGI_") and k not in CGI_VARS}
    env.update(extra or {})
    return env


CGI_VARS = {
    "GATEWAY_INTERFACE", "REQUEST_METHOD", "CONTENT_LENGTH", "CONTENT_TYPE",
    "QUERY_STRING", "SCRIPT_NAME", "PATH_INFO", "PATH_TRANSLATED",
    "REMOTE_ADDR", "SERVER_NAME", "SERVER_PORT", "SERVER_PROTOCOL",
    "SERVER_SOFTWARE", "FCGI_WEB_SERVER_ADDRS", "REQUEST_URI",
}


# ---- HTTP -----------------------------------------------------

class HttpResponse:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers  # list of (lower-case name, value)
        self.body = body

    def header(self, name):
        vals = [v for k, v in self.headers if k == name.lower()]
        return vals[0] if vals else None

    def json(self):
        try:
            return json.loads(self.body)
        except ValueError as e:
            raise AssertionError("not JSON (%s), status %d: %r" % (
                e, self.status, self.body[:500]))

    def __repr__(self):
        return "HttpResponse(%d, %r, %r)" % (self.status, self.headers,
                                             self.body[:300])


def http_request(port, method, path, headers=(), body=None, timeout=30.0,
                 host="127.0.0.1"):
    """One HTTP/1.1 request on a new connection. headers is a list of
    (name, value), repeats allowed. Returns an HttpResponse."""
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.putrequest(method, path, skip_accept_encoding=True)
        for k, v in headers:
            conn.putheader(k, v)
        if body is not None:
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)
        r = conn.getresponse()
        data = r.read()
        return HttpResponse(r.status,
                            [(k.lower(), v) for k, v in r.getheaders()], data)
    finally:
        conn.close()


# ---- nginx -----------------------------------------------------

NGINX_CONF = """\
# Generated by tests/integration/conftest.py for one test.
user root;
worker_processes 1;
error_log {dir}/error.log info;
pid {dir}/nginx.pid;
events {{ worker_connections 1024; }}
http {{
    access_log {dir}/access.log;
    client_body_temp_path {dir}/tmp/client_body;
    fastcgi_temp_path {dir}/tmp/fastcgi;
    scgi_temp_path {dir}/tmp/scgi;
    proxy_temp_path {dir}/tmp/proxy;
    uwsgi_temp_path {dir}/tmp/uwsgi;
    client_max_body_size 0;
    keepalive_timeout 10;

    upstream app_keep {{
        server {app};
        keepalive 8;
    }}

    server {{
        listen 127.0.0.1:{port};
        server_name localhost;
        root {dir}/www;

        location = /ping {{ return 200 "pong\\n"; }}

        # FastCGI, a new connection per request.
        location ^~ /fcgi/ {{
            include /etc/nginx/fastcgi_params;
            fastcgi_param SCRIPT_FILENAME $document_root$fastcgi_script_name;
            fastcgi_pass {app};
        }}

        # FastCGI, unbuffered: the app's writes meet the client's pace.
        location ^~ /stream/ {{
            include /etc/nginx/fastcgi_params;
            fastcgi_param SCRIPT_FILENAME $document_root$fastcgi_script_name;
            fastcgi_buffering off;
            fastcgi_pass {app};
        }}

        # FastCGI over kept connections.
        location ^~ /keep/ {{
            include /etc/nginx/fastcgi_params;
            fastcgi_param SCRIPT_FILENAME $document_root$fastcgi_script_name;
            fastcgi_keep_conn on;
            fastcgi_pass app_keep;
        }}

        # SCGI: the first path segment is the script.
        location ~ ^(/scgi/[^/]*)(/.*)?$ {{
            include /etc/nginx/scgi_params;
            scgi_param SCRIPT_NAME $1;
            scgi_param PATH_INFO $2;
            scgi_pass {app};
        }}

        # The usual PHP-style split of SCRIPT_NAME and PATH_INFO.
        location ~ [^/]\\.php(/|$) {{
            fastcgi_split_path_info ^(.+\\.php)(/.*)$;
            include /etc/nginx/fastcgi_params;
            fastcgi_param SCRIPT_FILENAME $document_root$fastcgi_script_name;
            fastcgi_param PATH_INFO $fastcgi_path_info;
            fastcgi_pass {app};
        }}
    }}
}}
"""


def write_nginx_conf(dirpath, port, app_addr):
    for sub in ("tmp", "www", "logs"):
        os.makedirs(os.path.join(dirpath, sub), exist_ok=True)
    conf = os.path.join(dirpath, "nginx.conf")
    with open(conf, "w") as f:
        f.write(NGINX_CONF.format(dir=dirpath, port=port, app=app_addr))
    return conf
