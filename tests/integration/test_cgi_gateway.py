"""The CGI gateway, `anycgi cgi` (issue 4, first step): script resolution
beneath --root (openat2 RESOLVE_BENEATH) and from SCRIPT_FILENAME or
DOCUMENT_ROOT without it, the child's environment, the body streamed to
the child while its output is read (no deadlock), the response head
checked before anything is forwarded (502 for a bad one), Status: and
Location:, nph- scripts, stderr to the log, and a client abort that kills
the child's process group. Through real nginx (FastCGI and SCGI) and
straight over FastCGI for what nginx would normalise away."""
import hashlib
import json
import os
import socket
import threading
import time

import pytest

import acgi_support as sup
import fcgi_wire as fw
from conftest import App

SH = "#!/bin/sh\n"
PY = "#!/usr/bin/python3\n"

SCRIPTS = {
    "hello.cgi": SH + "printf 'Content-Type: text/plain\\n\\nhello\\n'\n",
    "env.py": PY + """import json, os, sys
print("Content-Type: application/json")
print()
print(json.dumps({"env": dict(os.environ), "cwd": os.getcwd(),
                  "argv": sys.argv}))
""",
    "post.py": PY + """import hashlib, os, sys
h = hashlib.sha256(); n = 0
while True:
    b = sys.stdin.buffer.read(65536)
    if not b:
        break
    h.update(b); n += len(b)
sys.stdout.write("Content-Type: text/plain\\n\\n%d %s\\n" % (n, h.hexdigest()))
""",
    # 1 MiB out before it reads a byte of its body.
    "writefirst.py": PY + """import hashlib, sys
out = sys.stdout.buffer
out.write(b"Content-Type: application/octet-stream\\n\\n")
out.write(b"x" * (1 << 20)); out.flush()
h = hashlib.sha256(); n = 0
while True:
    b = sys.stdin.buffer.read(65536)
    if not b:
        break
    h.update(b); n += len(b)
out.write(("\\n%d %s\\n" % (n, h.hexdigest())).encode())
""",
    "status.sh": SH + "printf 'Status: 418 I am a teapot\\n"
                      "Content-Type: text/plain\\n\\nshort and stout\\n'\n",
    "redirect.sh": SH + "printf 'Location: http://example.com/there\\n\\n'\n",
    "redirect-doc.sh": SH + "printf 'Status: 301 Moved\\nLocation: "
                            "http://example.com/moved\\nContent-Type: "
                            "text/plain\\n\\nmoved\\n'\n",
    "local.sh": SH + "printf 'Location: /fcgi/cgi-bin/hello.cgi\\n\\n'\n",
    # Local redirects (RFC 3875, 6.2.2): followed once, as a GET.
    "local-env.sh": SH + "cat > /dev/null\n"
                         "printf 'Location: /fcgi/cgi-bin/env.py/more?x=1\\n\\n'\n",
    "local-loop.sh": SH + "printf 'Location: /fcgi/cgi-bin/local-loop.sh\\n\\n'\n",
    "local-twice.sh": SH + "printf 'Location: /fcgi/cgi-bin/local.sh\\n\\n'\n",
    "local-missing.sh": SH + "printf 'Location: /fcgi/cgi-bin/none.cgi\\n\\n'\n",
    "local-out.sh": SH + "printf 'Location: /../outside/evil.sh\\n\\n'\n",
    "noheader.sh": SH + "echo 'just a body, no head'\n",
    "empty.sh": SH + "exit 0\n",
    "barecr.sh": SH + "printf 'Content-Type: text/plain\\rX-Evil: 1\\n\\n"
                      "body\\n'\n",
    "nph-hello.sh": SH + "printf 'HTTP/1.1 203 Partial\\r\\nContent-Type: "
                         "text/plain\\r\\n\\r\\nnph body\\n'\n",
    "nph-bad.sh": SH + "printf 'Content-Type: text/plain\\n\\nno line\\n'\n",
    "stderr.sh": SH + "echo 'something odd happened' >&2\n"
                      "printf 'Content-Type: text/plain\\n\\nok\\n'\n",
    # Its working directory is its folder: the pid files land there.
    "slow.sh": SH + "printf 'Content-Type: text/plain\\n\\n'\n"
                    "sleep 30 & echo $! > sleep.pid\nwait\n",
    "noread.sh": SH + "printf 'Content-Type: text/plain\\n\\nnot read\\n'\n",
    "hang.sh": SH + "sleep 30 & echo $! > sleep.pid\nwait\n",
    "hang-after.sh": SH + "printf 'Content-Type: text/plain\\n\\nstarted\\n'\n"
                          "sleep 30 & echo $! > sleep.pid\nwait\n",
    # N bytes of a known stream: SHA-256 counter mode, as det_bytes.
    "download.py": PY + """import hashlib, os, sys
n = int(os.environ["QUERY_STRING"]); seed = b"download"; i = 0
out = sys.stdout.buffer
out.write(b"Content-Type: application/octet-stream\\n\\n")
block = bytearray()
while n > 0:
    while len(block) < 65536:
        block += hashlib.sha256(seed + i.to_bytes(8, "big")).digest(); i += 1
    k = min(n, 65536)
    out.write(block[:k]); del block[:k]; n -= k
""",
    "sleep2.sh": SH + "sleep 2\nprintf 'Content-Type: text/plain\\n\\nslept\\n'\n",
    # Notes that it runs, then waits for the file its query names.
    "held.sh": SH + "touch \"$QUERY_STRING.$$\"\n"
                    "while [ ! -e \"$QUERY_STRING\" ]; do sleep 0.05; done\n"
                    "printf 'Content-Type: text/plain\\n\\nslept\\n'\n",
    "stream-held.sh": SH + "printf 'Content-Type: text/plain\\n\\nfirst\\n'\n"
                           "while [ ! -e \"$QUERY_STRING\" ]; do sleep 0.05; done\n"
                           "echo second\n",
    "stream.sh": SH + "printf 'Content-Type: text/plain\\n\\nfirst\\n'\n"
                      "sleep 1\necho second\n",
}


def write_script(path, text, mode=0o755):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, mode)


def make_root(base):
    """root/fcgi/cgi-bin/* (nginx's /fcgi/ passes the whole path as
    SCRIPT_NAME), root/scgi/* (its SCGI location splits the first
    segment), and a file outside the root that must never run."""
    root = os.path.join(base, "root")
    for d in ("fcgi/cgi-bin", "stream/cgi-bin", "scgi", "cgi-bin"):
        for name, text in SCRIPTS.items():
            write_script(os.path.join(root, d, name), text)
    write_script(os.path.join(root, "fcgi/cgi-bin/noexec.sh"),
                 SCRIPTS["hello.cgi"], 0o644)
    os.makedirs(os.path.join(root, "fcgi/cgi-bin/dir.cgi"))
    os.makedirs(os.path.join(root, "cgi-bin/dir.cgi"))
    outside = os.path.join(base, "outside")
    marker = os.path.join(base, "outside-ran")
    write_script(os.path.join(outside, "evil.sh"),
                 SH + "touch %s\nprintf 'Content-Type: text/plain\\n\\n"
                      "escaped\\n'\n" % marker)
    for d, up in (("fcgi/cgi-bin", "../../../"), ("cgi-bin", "../../")):
        os.symlink(os.path.join(outside, "evil.sh"),
                   os.path.join(root, d, "out.cgi"))
        os.symlink(up + "outside", os.path.join(root, d, "outdir"))
    # A symlink that stays inside the root is fine.
    os.symlink("hello.cgi", os.path.join(root, "cgi-bin/alias.cgi"))
    return root, marker


@pytest.fixture
def anycgi_bin(build_dir):
    path = os.path.join(build_dir, "src", "cli", "anycgi")
    assert os.access(path, os.X_OK), path
    return path


def start_gateway(servers, anycgi_bin, *opts):
    """`anycgi cgi --root ROOT` with 2 workers, and nginx in front."""
    root, marker = make_root(servers.workdir)
    path = os.path.join(servers.workdir, "cgi.sock")
    proc = servers.start("anycgi", [
        anycgi_bin, "cgi", "--fastcgi", "unix:" + path, "--root", root,
        "--workers", "2", "--env", "PIDFILE_DIR=" + servers.workdir]
        + list(opts))
    sup.wait_until(lambda: sup.listening_in_group(proc.pgid, path), 10,
                   "the gateway to listen", proc=proc)
    app = App(proc, "unix", path=path)
    app.root, app.marker = root, marker
    app.web = servers.nginx(app)
    return app


@pytest.fixture
def gw(servers, anycgi_bin):
    return start_gateway(servers, anycgi_bin)


def fcgi(path, params, body=b"", timeout=20.0):
    """One request straight to the gateway's socket, sent from a thread
    while the answer is read (full duplex, unlike nginx)."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(path)
    sender = threading.Thread(target=lambda: s.sendall(
        fw.request_bytes(1, params, body, flags=0)), daemon=True)
    sender.start()
    try:
        return fw.read_response(fw.Reader(s, timeout), 1,
                                timeout=timeout).cgi()
    finally:
        sender.join(timeout)
        s.close()


def fcgi_script(app, script_name, path_info=None, extra=None, body=b""):
    params = fw.cgi_params("POST" if body else "GET", script_name,
                           len(body) if body else None)
    params = [(k, v) for k, v in params if k != "SCRIPT_NAME"]
    params.append(("SCRIPT_NAME", script_name))
    if path_info is not None:
        params.append(("PATH_INFO", path_info))
    params.extend((extra or {}).items())
    return fcgi(app.path, params, body)


def scripts_of_workers(app):
    """Live processes below the gateway's workers (CGI children)."""
    out = []
    for w in sup.children(app.proc.pid):
        out += sup.children(w)
    return out


def zombies_under(pid):
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry) as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] == "Z" and int(fields[1]) in sup.children(pid):
            found.append(int(entry))
    return found


def assert_no_zombie(app):
    sup.wait_until(lambda: not zombies_under(app.proc.pid), 5,
                   "no zombie CGI child")


# ---- running scripts --------------------------------------------------------

def test_hello_through_fastcgi_and_scgi(gw):
    for loc in ("/fcgi/cgi-bin/hello.cgi", "/scgi/hello.cgi"):
        r = gw.web.request("GET", loc)
        assert r.status == 200, (loc, r, gw.web.error_log_tail())
        assert r.body == b"hello\n"
        assert r.header("content-type") == "text/plain"
    assert_no_zombie(gw)


def test_environment(gw):
    r = gw.web.request("GET", "/fcgi/cgi-bin/env.py/extra/path?a=1&b=%20c",
                       headers=[("Proxy", "http://evil:3128"),
                                ("X-Thing", "one")])
    assert r.status == 200, (r, gw.web.error_log_tail())
    j = r.json()
    env = j["env"]
    assert env["SCRIPT_NAME"] == "/fcgi/cgi-bin/env.py"
    assert env["PATH_INFO"] == "/extra/path"
    assert env["PATH_TRANSLATED"] == gw.root + "/extra/path"
    assert env["SCRIPT_FILENAME"] == gw.root + "/fcgi/cgi-bin/env.py"
    assert env["QUERY_STRING"] == "a=1&b=%20c"
    assert env["GATEWAY_INTERFACE"] == "CGI/1.1"
    assert env["PATH"] == "/usr/local/bin:/usr/bin:/bin"
    assert env["REQUEST_METHOD"] == "GET"
    assert env["HTTP_X_THING"] == "one"
    assert "HTTP_PROXY" not in env
    # Nothing of the worker's own environment leaks in.
    assert not any(k.startswith("ANYCGI_") for k in env), env
    assert "PIDFILE_DIR" not in env
    # No argv from the query string; the cwd is the script's folder.
    assert j["argv"][1:] == []
    assert os.path.realpath(j["cwd"]) == os.path.realpath(
        os.path.join(gw.root, "fcgi/cgi-bin"))


def test_environment_over_scgi(gw):
    r = gw.web.request("GET", "/scgi/env.py/more/info?q=1")
    assert r.status == 200, (r, gw.web.error_log_tail())
    env = r.json()["env"]
    assert env["SCRIPT_NAME"] == "/scgi/env.py"
    assert env["PATH_INFO"] == "/more/info"
    assert env["QUERY_STRING"] == "q=1"


def test_no_path_info_means_none(gw):
    env = gw.web.request("GET", "/fcgi/cgi-bin/env.py").json()["env"]
    assert "PATH_INFO" not in env and "PATH_TRANSLATED" not in env


def test_repeated_params_are_joined(gw):
    r = fcgi_script(gw, "/cgi-bin/env.py", extra=[])
    assert r.status == 200
    params = fw.cgi_params("GET", "/cgi-bin/env.py") + [
        ("HTTP_ACCEPT", "a"), ("HTTP_ACCEPT", "b"), ("HTTP_PROXY", "x")]
    env = json.loads(fcgi(gw.path, params).body)["env"]
    assert env["HTTP_ACCEPT"] == "a, b"
    assert "HTTP_PROXY" not in env


def test_post_10_mib_body(gw):
    body = sup.det_bytes("cgi-post", 10 << 20)
    r = gw.web.request("POST", "/fcgi/cgi-bin/post.py", body=body,
                       timeout=60)
    assert r.status == 200, (r, gw.web.error_log_tail())
    assert r.body.decode().split() == [str(len(body)),
                                       hashlib.sha256(body).hexdigest()]


def test_100_mib_up_and_down(gw):
    body = sup.det_bytes("big-up", 100 << 20)
    r = gw.web.request("POST", "/fcgi/cgi-bin/post.py", body=body,
                       timeout=120)
    assert r.status == 200, (r, gw.web.error_log_tail())
    assert r.body.decode().split() == [str(len(body)),
                                       hashlib.sha256(body).hexdigest()]
    n = 100 << 20
    r = gw.web.request("GET", "/fcgi/cgi-bin/download.py?%d" % n,
                       timeout=120)
    assert r.status == 200 and len(r.body) == n
    assert hashlib.sha256(r.body).digest() == hashlib.sha256(
        sup.det_bytes("download", n)).digest()


def test_script_writes_before_reading_its_body(gw):
    body = sup.det_bytes("writefirst", 100000)
    r = gw.web.request("POST", "/fcgi/cgi-bin/writefirst.py", body=body,
                       timeout=30)
    assert r.status == 200, (r, gw.web.error_log_tail())
    assert r.body[:1 << 20] == b"x" * (1 << 20)
    assert r.body[1 << 20:].decode().split() == [
        str(len(body)), hashlib.sha256(body).hexdigest()]


def test_write_before_read_full_duplex_over_fastcgi(gw):
    """Straight over FastCGI (nginx does not read a response while it
    sends the body): 4 MiB in while 1 MiB comes out first."""
    body = sup.det_bytes("duplex", 4 << 20)
    r = fcgi_script(gw, "/cgi-bin/writefirst.py", body=body)
    assert r.status == 200
    assert r.body[1 << 20:].decode().split() == [
        str(len(body)), hashlib.sha256(body).hexdigest()]


def test_script_that_exits_without_reading_its_body(gw):
    body = sup.det_bytes("noread", 8 << 20)
    workers = sorted(sup.children(gw.proc.pid))
    for _ in range(3):
        r = gw.web.request("POST", "/fcgi/cgi-bin/noread.sh", body=body,
                           timeout=60)
        assert (r.status, r.body) == (200, b"not read\n"), r
        r = fcgi_script(gw, "/cgi-bin/noread.sh", body=body)
        assert (r.status, r.body) == (200, b"not read\n"), r
    assert sorted(sup.children(gw.proc.pid)) == workers, "a worker died"
    assert gw.web.request("GET", "/fcgi/cgi-bin/hello.cgi").status == 200
    assert_no_zombie(gw)


def test_status_and_redirects(gw):
    r = gw.web.request("GET", "/fcgi/cgi-bin/status.sh")
    assert (r.status, r.body) == (418, b"short and stout\n")
    r = gw.web.request("GET", "/fcgi/cgi-bin/redirect.sh")
    assert r.status == 302 and r.header("location") == \
        "http://example.com/there"
    r = gw.web.request("GET", "/fcgi/cgi-bin/redirect-doc.sh")
    assert r.status == 301 and r.body == b"moved\n"
    assert r.header("location") == "http://example.com/moved"


def test_local_redirect_is_followed_once(gw):
    r = gw.web.request("GET", "/fcgi/cgi-bin/local.sh")
    assert (r.status, r.body) == (200, b"hello\n"), r
    assert r.header("location") is None
    # The target runs as a GET of the new URI, without the first body.
    r = gw.web.request("POST", "/fcgi/cgi-bin/local-env.sh?orig=2",
                       body=b"a body for the first script only")
    assert r.status == 200, (r, gw.web.error_log_tail())
    env = r.json()["env"]
    assert env["REQUEST_METHOD"] == "GET"
    assert env["SCRIPT_NAME"] == "/fcgi/cgi-bin/env.py"
    assert env["PATH_INFO"] == "/more"
    assert env["QUERY_STRING"] == "x=1"
    assert env["REQUEST_URI"] == "/fcgi/cgi-bin/env.py/more?x=1"
    assert "CONTENT_LENGTH" not in env and "CONTENT_TYPE" not in env
    assert env["REDIRECT_URL"] == "/fcgi/cgi-bin/local-env.sh"
    assert env["REDIRECT_QUERY_STRING"] == "orig=2"
    assert env["REDIRECT_REQUEST_METHOD"] == "POST"
    assert_no_zombie(gw)


@pytest.mark.parametrize("script,code,log", [
    ("local-loop.sh", 500, "a second local redirect"),
    ("local-twice.sh", 500, "a second local redirect"),
    ("local-missing.sh", 404, "local redirect to /fcgi/cgi-bin/none.cgi"),
    ("local-out.sh", 403, "resolves outside the root"),
])
def test_local_redirect_refused(gw, script, code, log):
    offset = gw.proc.log_size()
    r = gw.web.request("GET", "/fcgi/cgi-bin/" + script)
    assert r.status == code, r
    assert not os.path.exists(gw.marker)
    sup.wait_until(lambda: log in gw.proc.log_since(offset), 5,
                   "the log line: " + log)


@pytest.mark.parametrize("script", ["noheader.sh", "empty.sh", "barecr.sh",
                                    "nph-bad.sh"])
def test_bad_head_is_502(gw, script):
    offset = gw.proc.log_size()
    r = gw.web.request("GET", "/fcgi/cgi-bin/" + script)
    assert r.status == 502, r
    assert b"body" not in r.body and b"X-Evil" not in r.body
    assert r.header("x-evil") is None
    sup.wait_until(lambda: script in gw.proc.log_since(offset), 5,
                   "a log line naming " + script)


def test_nph_script(gw):
    r = fcgi_script(gw, "/cgi-bin/nph-hello.sh")
    assert (r.status, r.body) == (203, b"nph body\n")
    r = gw.web.request("GET", "/fcgi/cgi-bin/nph-hello.sh")
    assert (r.status, r.body) == (203, b"nph body\n")


def test_stderr_goes_to_the_log(gw):
    offset = gw.proc.log_size()
    assert gw.web.request("GET", "/fcgi/cgi-bin/stderr.sh").body == b"ok\n"
    sup.wait_until(lambda: "stderr.sh: something odd happened"
                   in gw.proc.log_since(offset), 5, "the stderr line")


def test_output_is_streamed(gw):
    """The first line reaches the client while the script still waits for
    the test's go-ahead to write the second: nothing is held back."""
    release = os.path.join(gw.root, "stream-go")
    s = socket.create_connection(("127.0.0.1", gw.web.port), timeout=10)
    try:
        s.sendall(("GET /stream/cgi-bin/stream-held.sh?%s HTTP/1.0\r\n\r\n"
                   % release).encode())
        got = b""
        while b"first" not in got:
            chunk = s.recv(4096)
            assert chunk
            got += chunk
        assert b"second" not in got
        open(release, "w").close()
        got += fw.recv_all(s, 10)
        assert got.endswith(b"second\n")
    finally:
        s.close()


def gone(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def sleep_pid_of(app):
    """The pid of the `sleep 30` that slow.sh, hang.sh and hang-after.sh
    start."""
    pidfile = os.path.join(app.root, "fcgi/cgi-bin/sleep.pid")
    sup.wait_until(lambda: os.path.exists(pidfile) and
                   open(pidfile).read().strip(), 10, "the script to start")
    return int(open(pidfile).read())


def test_client_abort_kills_the_process_group(gw):
    s = socket.create_connection(("127.0.0.1", gw.web.port), timeout=10)
    s.sendall(b"GET /fcgi/cgi-bin/slow.sh HTTP/1.1\r\nHost: x\r\n\r\n")
    sleep_pid = sleep_pid_of(gw)
    s.close()
    sup.wait_until(lambda: gone(sleep_pid), 10, "the script's sleep killed")
    assert_no_zombie(gw)
    assert gw.web.request("GET", "/fcgi/cgi-bin/hello.cgi").status == 200


def test_script_timeout(servers, anycgi_bin):
    app = start_gateway(servers, anycgi_bin, "--script-timeout", "1")
    offset = app.proc.log_size()
    t0 = time.monotonic()
    r = app.web.request("GET", "/fcgi/cgi-bin/hang.sh", timeout=20)
    assert r.status == 504 and b"timed out" in r.body, r
    assert time.monotonic() - t0 > 0.9  # not before its time
    sup.wait_until(lambda: gone(sleep_pid_of(app)), 5, "the sleep killed")
    sup.wait_until(lambda: "hang.sh: timed out" in
                   app.proc.log_since(offset), 5, "the log line")
    # A response that started is cut, and the group dies all the same.
    os.unlink(os.path.join(app.root, "fcgi/cgi-bin/sleep.pid"))
    s = socket.create_connection(("127.0.0.1", app.web.port), timeout=10)
    try:
        s.sendall(b"GET /stream/cgi-bin/hang-after.sh HTTP/1.0\r\n\r\n")
        got = fw.recv_all(s, 10)
    finally:
        s.close()
    assert b"started" in got and b"timed out" not in got
    sup.wait_until(lambda: "hang-after.sh: timed out after its response "
                   "started" in app.proc.log_since(offset), 5, "the log")
    assert app.web.request("GET", "/fcgi/cgi-bin/hello.cgi").status == 200
    assert_no_zombie(app)


def test_slow_scripts_do_not_hold_up_fast_ones(servers, anycgi_bin):
    """20 scripts held until the test releases them, and fast ones
    meanwhile: each worker runs one script, so a pool with room answers
    every fast one while all 20 slow ones still run (no clock involved)."""
    import concurrent.futures
    import glob
    app = start_gateway(servers, anycgi_bin, "--workers", "24")
    sup.wait_until(lambda: len(sup.children(app.proc.pid)) == 24, 10,
                   "24 workers")
    release = os.path.join(servers.workdir, "release")
    with concurrent.futures.ThreadPoolExecutor(30) as ex:
        slow = [ex.submit(app.web.request, "GET",
                          "/fcgi/cgi-bin/held.sh?" + release, timeout=60)
                for _ in range(20)]
        sup.wait_until(lambda: len(glob.glob(release + ".*")) == 20, 20,
                       "20 slow scripts running")
        for _ in range(10):
            assert app.web.request("GET", "/fcgi/cgi-bin/hello.cgi").status \
                == 200
        assert not any(f.done() for f in slow)
        open(release, "w").close()
        assert all(f.result().body == b"slept\n" for f in slow)
    assert_no_zombie(app)


def test_pool_request_timeout_kills_the_script(servers, anycgi_bin):
    """--request-timeout: the master's SIGTERM makes the worker answer 504
    and exit; the script's process group goes with it."""
    app = start_gateway(servers, anycgi_bin, "--request-timeout", "1")
    r = app.web.request("GET", "/fcgi/cgi-bin/hang.sh", timeout=20)
    assert r.status == 504, r
    sup.wait_until(lambda: gone(sleep_pid_of(app)), 5, "the sleep killed")
    sup.wait_until(lambda: len(sup.children(app.proc.pid)) == 2, 10,
                   "the worker replaced")
    assert app.web.request("GET", "/fcgi/cgi-bin/hello.cgi").status == 200


# ---- what may not run ---------------------------------------------------

def test_missing_not_executable_directory(gw):
    for loc, code in (("/fcgi/cgi-bin/nothing.cgi", 404),
                      ("/fcgi/cgi-bin/nothing.cgi/x", 404),
                      ("/fcgi/cgi-bin/noexec.sh", 403),
                      ("/fcgi/cgi-bin/dir.cgi", 403),
                      ("/fcgi/cgi-bin/", 403)):
        r = gw.web.request("GET", loc)
        assert r.status == code, (loc, r)
        assert r.header("content-type").startswith("text/plain")
        assert 0 < len(r.body) < 200


TRAVERSAL = [
    # (SCRIPT_NAME, PATH_INFO, expected status)
    ("/../outside/evil.sh", None, 403),
    ("/cgi-bin/../../outside/evil.sh", None, 403),
    ("/cgi-bin/%2e%2e/%2e%2e/outside/evil.sh", None, 404),
    ("/cgi-bin/..%2f..%2foutside/evil.sh", None, 404),
    ("/cgi-bin/out.cgi", None, 403),
    ("/cgi-bin/outdir/evil.sh", None, 403),
    ("/cgi-bin", "/../../outside/evil.sh", 403),
    ("/cgi-bin/dir.cgi", None, 403),
    ("/cgi-bin/hello.cgi\n/x", None, 403),
    ("/cgi-bin/hel\nlo.cgi", None, 403),
]


@pytest.mark.parametrize("name,info,code", TRAVERSAL)
def test_traversal_over_fastcgi(gw, name, info, code):
    r = fcgi_script(gw, name, info)
    assert r.status == code, r
    assert not os.path.exists(gw.marker), "a script outside the root ran"


def test_encoded_paths_when_script_name_is_empty(gw):
    """SCRIPT_NAME empty: REQUEST_URI's path, decoded; an encoded slash is
    refused."""
    base = [(k, v) for k, v in fw.cgi_params("GET", "/")
            if k not in ("SCRIPT_NAME", "REQUEST_URI")]
    for uri, code in (("/cgi-bin/hello.cgi?x=1", 200),
                      ("/cgi-bin/%68ello.cgi", 200),
                      ("/cgi-bin/%2e%2e/%2e%2e/outside/evil.sh", 403),
                      ("/cgi-bin/..%2f..%2foutside/evil.sh", 403),
                      ("/cgi-bin/hello.cgi%0a", 403)):
        r = fcgi(gw.path, base + [("SCRIPT_NAME", ""),
                                  ("REQUEST_URI", uri)])
        assert r.status == code, (uri, r)
    assert not os.path.exists(gw.marker)


@pytest.mark.parametrize("loc", [
    "/fcgi/cgi-bin/../../../outside/evil.sh",
    "/fcgi/cgi-bin/%2e%2e/%2e%2e/%2e%2e/outside/evil.sh",
    "/fcgi/cgi-bin/..%2f..%2f..%2foutside/evil.sh",
    "/fcgi/cgi-bin/%2e%2e%2f%2e%2e%2f%2e%2e%2foutside/evil.sh",
    "/fcgi/cgi-bin/out.cgi",
    "/fcgi/cgi-bin/outdir/evil.sh",
    "/fcgi/cgi-bin/dir.cgi",
    "/fcgi/cgi-bin/hello.cgi%0a",
    "/scgi/out.cgi",
    "/scgi/%2e%2e/%2e%2e/outside/evil.sh",
])
def test_traversal_through_nginx(gw, loc):
    r = gw.web.request("GET", loc)
    assert r.status in (400, 403, 404), (loc, r)
    assert not os.path.exists(gw.marker), "a script outside the root ran"


def test_symlink_inside_the_root_runs(gw):
    r = fcgi_script(gw, "/cgi-bin/alias.cgi")
    assert (r.status, r.body) == (200, b"hello\n")


# ---- without --root ---------------------------------------------------------

@pytest.fixture
def gw_noroot(servers, anycgi_bin):
    root, marker = make_root(servers.workdir)
    path = os.path.join(servers.workdir, "cgi.sock")
    proc = servers.start("anycgi", [anycgi_bin, "cgi", "--fastcgi",
                                    "unix:" + path, "--workers", "1"])
    sup.wait_until(lambda: sup.listening_in_group(proc.pgid, path), 10,
                   "the gateway to listen", proc=proc)
    app = App(proc, "unix", path=path)
    app.root, app.marker = root, marker
    return app


def test_script_filename_and_document_root(gw_noroot):
    app, root = gw_noroot, gw_noroot.root
    base = [(k, v) for k, v in fw.cgi_params("GET", "/cgi-bin/env.py/a/b")
            if k != "SCRIPT_NAME"]
    # nginx's /fcgi/ style: SCRIPT_FILENAME holds the path info too.
    r = fcgi(app.path, base + [
        ("SCRIPT_NAME", "/cgi-bin/env.py/a/b"), ("DOCUMENT_ROOT", root),
        ("SCRIPT_FILENAME", root + "/cgi-bin/env.py/a/b")])
    env = json.loads(r.body)["env"]
    assert env["SCRIPT_NAME"] == "/cgi-bin/env.py"
    assert env["PATH_INFO"] == "/a/b"
    assert env["SCRIPT_FILENAME"] == root + "/cgi-bin/env.py"
    assert env["PATH_TRANSLATED"] == root + "/a/b"
    # DOCUMENT_ROOT + SCRIPT_NAME + PATH_INFO.
    r = fcgi(app.path, base + [("SCRIPT_NAME", "/cgi-bin/env.py"),
                               ("PATH_INFO", "/a/b"),
                               ("DOCUMENT_ROOT", root)])
    env = json.loads(r.body)["env"]
    assert (env["SCRIPT_NAME"], env["PATH_INFO"]) == ("/cgi-bin/env.py",
                                                      "/a/b")
    # SCRIPT_FILENAME alone is trusted as a path, but still checked.
    r = fcgi(app.path, base + [("SCRIPT_NAME", "/x"), (
        "SCRIPT_FILENAME", root + "/cgi-bin/hello.cgi")])
    assert (r.status, r.body) == (200, b"hello\n")


@pytest.mark.parametrize("filename,code", [
    ("{outside}/evil.sh", 403),
    ("{root}/../outside/evil.sh", 403),
    ("{root}/cgi-bin/out.cgi", 403),
    ("{root}/cgi-bin/outdir/evil.sh", 403),
    ("{root}/cgi-bin/nothing", 404),
    ("{root}/cgi-bin/dir.cgi", 403),
    ("{root}x/cgi-bin/hello.cgi", 403),
])
def test_script_filename_is_confined_to_document_root(gw_noroot, filename,
                                                      code):
    app = gw_noroot
    outside = os.path.join(os.path.dirname(app.root), "outside")
    f = filename.format(root=app.root, outside=outside)
    params = fw.cgi_params("GET", "/x") + [("DOCUMENT_ROOT", app.root),
                                           ("SCRIPT_FILENAME", f)]
    r = fcgi(app.path, params)
    assert r.status == code, (f, r)
    assert not os.path.exists(app.marker)


def test_nothing_names_a_script(gw_noroot):
    r = fcgi(gw_noroot.path, fw.cgi_params("GET", "/cgi-bin/hello.cgi"))
    assert r.status == 500


def test_config_file_pool(servers, anycgi_bin):
    """`app = cgi` with `root`, `script-timeout` and the other gateway
    options in a daemon's file."""
    root, _ = make_root(servers.workdir)
    path = os.path.join(servers.workdir, "conf.sock")
    conf = os.path.join(servers.workdir, "anycgi.conf")
    with open(conf, "w") as f:
        f.write("[scripts]\nfastcgi = unix:%s\napp = cgi\nroot = %s\n"
                "script-timeout = 1\nworkers = 1\nmax-scripts = 1\n"
                "script-wait = 5\nscript-stderr = log\n" % (path, root))
    proc = servers.start("anycgi", [anycgi_bin, "daemon", "-c", conf])
    sup.wait_until(lambda: sup.listening_in_group(proc.pgid, path), 10,
                   "the daemon to listen", proc=proc)
    app = App(proc, "unix", path=path)
    r = fcgi_script(app, "/cgi-bin/hello.cgi")
    assert (r.status, r.body) == (200, b"hello\n")
    assert fcgi_script(app, "/cgi-bin/hang.sh").status == 504
