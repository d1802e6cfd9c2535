"""`anycgi request` (issue 6, part 1): one request to a FastCGI or SCGI
server from the shell. Against the echo app (params, headers, -p, bodies
from -d, @FILE and @- with their hashes, every role, -i, -v,
--get-values), against php-fpm from Debian, and every error path against
small Python servers that misbehave on purpose: the exit codes are curl's
(docs/request.md)."""
import contextlib
import hashlib
import json
import os
import shutil
import socket
import struct
import subprocess
import threading
import time

import pytest

import acgi_support as sup
import fcgi_wire as fw

# Exit codes (curl's).
OK, USAGE, CONNECT, MALFORMED, PARTIAL, HTTP, WRITE, READ, TIMEOUT, EMPTY = (
    0, 2, 7, 8, 18, 22, 23, 26, 28, 52)


@pytest.fixture
def anycgi_bin(build_dir):
    path = os.path.join(build_dir, "src", "cli", "anycgi")
    assert os.access(path, os.X_OK), path
    return path


class Result:
    def __init__(self, cp):
        self.rc = cp.returncode
        self.out = cp.stdout
        self.err = cp.stderr.decode("utf-8", "replace")

    def json(self):
        try:
            return json.loads(self.out)
        except ValueError as e:
            raise AssertionError("not JSON (%s): rc %d, %r, stderr %s" % (
                e, self.rc, self.out[:300], self.err))

    def __repr__(self):
        return "Result(rc=%d, out=%r, err=%r)" % (self.rc, self.out[:300],
                                                 self.err[-2000:])


def run(binary, *args, input=None, stdin=None, timeout=60, cwd=None):
    """anycgi request ARGS; a hang fails the test (subprocess timeout)."""
    cp = subprocess.run(
        [binary, "request"] + [str(a) for a in args], capture_output=True,
        input=input, stdin=stdin if input is None and stdin is not None
        else (None if input is not None else subprocess.DEVNULL),
        timeout=timeout, cwd=cwd)
    r = Result(cp)
    # A sanitizer report (make check-asan) fails the test.
    for mark in sup.SANITIZER_MARKS:
        assert mark not in r.err, r.err
    return r


def one_line_reason(r):
    """The failure is one line on stderr, naming the command."""
    lines = [ln for ln in r.err.splitlines() if ln.startswith("anycgi")]
    assert len(lines) == 1, r
    return lines[0]


@pytest.fixture
def echo(servers, echo_bin, transport):
    return servers.app(echo_bin, transport)


def fcgi_request(anycgi_bin, app, *args, **kw):
    return run(anycgi_bin, "--fastcgi", app.nginx_addr, *args, **kw)


# ---- params ----------------------------------------------------------------

def test_params_are_nginx_fastcgi_params(anycgi_bin, echo, workdir):
    r = fcgi_request(anycgi_bin, echo, "-H", "X-Trace: a", "-H",
                     "x-trace: b", "-H", "Cookie: c=1", "-H", "Cookie: d=2",
                     "-H", "Proxy: http://evil/", "-H", "Accept:  */* ",
                     "/dir/a%20b.php?x=1&y=%20", cwd=workdir)
    assert r.rc == OK, r
    assert r.err == "", r
    p = r.json()["params"]
    assert r.json()["role"] == "RESPONDER"
    assert p["REQUEST_METHOD"] == "GET"
    assert p["REQUEST_URI"] == "/dir/a%20b.php?x=1&y=%20"
    assert p["QUERY_STRING"] == "x=1&y=%20"
    assert p["SCRIPT_NAME"] == "/dir/a b.php"
    assert p["DOCUMENT_URI"] == "/dir/a b.php"
    # The default document root is the current folder.
    assert p["DOCUMENT_ROOT"] == workdir
    assert p["SCRIPT_FILENAME"] == workdir + "/dir/a b.php"
    assert p["GATEWAY_INTERFACE"] == "CGI/1.1"
    assert p["SERVER_PROTOCOL"] == "HTTP/1.1"
    assert p["SERVER_SOFTWARE"].startswith("anycgi/")
    assert p["SERVER_NAME"] == "localhost"
    assert p["SERVER_PORT"] == "80"
    assert p["REMOTE_ADDR"] == "127.0.0.1"
    assert p["REQUEST_SCHEME"] == "http"
    assert p["REDIRECT_STATUS"] == "200"
    assert p["HTTP_HOST"] == "localhost"
    # Repeats joined (RFC 3875, 4.1.18), "; " for cookies, values trimmed.
    assert p["HTTP_X_TRACE"] == "a, b"
    assert p["HTTP_COOKIE"] == "c=1; d=2"
    assert p["HTTP_ACCEPT"] == "*/*"
    # httpoxy: a Proxy header never becomes HTTP_PROXY.
    assert "HTTP_PROXY" not in p
    # No body: no CONTENT_LENGTH, no CONTENT_TYPE, no HTTPS.
    for name in ("CONTENT_LENGTH", "CONTENT_TYPE", "HTTPS", "PATH_INFO"):
        assert name not in p, name


def test_param_overrides_document_root_and_absolute_uri(anycgi_bin, echo):
    r = fcgi_request(anycgi_bin, echo, "-p", "SERVER_NAME=example.org",
                     "-p", "NEW_ONE=1", "-p", "NEW_ONE=2", "-p",
                     "REDIRECT_STATUS", "-p", "PATH_INFO=/extra", "-p",
                     "EMPTY=", "--document-root", "/srv/www/", "-H",
                     "Host:", "-X", "DELETE", "/app.php?q")
    assert r.rc == OK, r
    p = r.json()["params"]
    assert p["SERVER_NAME"] == "example.org"
    assert p["NEW_ONE"] == "1, 2"         # a repeated -p is a repeated pair
    assert "REDIRECT_STATUS" not in p     # -p NAME leaves it out
    assert p["PATH_INFO"] == "/extra"
    assert p["EMPTY"] == ""
    assert p["DOCUMENT_ROOT"] == "/srv/www/"
    assert p["SCRIPT_FILENAME"] == "/srv/www/app.php"
    assert p["REQUEST_METHOD"] == "DELETE"
    assert "HTTP_HOST" not in p           # 'Host:' sends none
    r = fcgi_request(anycgi_bin, echo, "--script-filename", "/x/y.php",
                     "-H", "Host: h.example", "https://example.org:8443/p?a")
    assert r.rc == OK, r
    p = r.json()["params"]
    assert p["SCRIPT_FILENAME"] == "/x/y.php"
    assert p["HTTPS"] == "on"
    assert p["REQUEST_SCHEME"] == "https"
    assert p["SERVER_NAME"] == "example.org"
    assert p["SERVER_PORT"] == "8443"
    assert p["HTTP_HOST"] == "h.example"
    assert p["REQUEST_URI"] == "/p?a"
    r = fcgi_request(anycgi_bin, echo, "http://[::1]")
    assert r.rc == OK, r
    p = r.json()["params"]
    assert (p["SERVER_NAME"], p["SERVER_PORT"], p["HTTP_HOST"],
            p["REQUEST_URI"], p["SCRIPT_NAME"]) == ("[::1]", "80", "[::1]",
                                                    "/", "/")


@pytest.mark.parametrize("args, why", [
    (["relative/path"], "must start with"),
    (["/a b"], "space"),
    (["-H", "NoColon", "/"], "no colon"),
    (["-H", "Bad Name: v", "/"], "not a token"),
    (["-X", "GE T", "/"], "method"),
    (["-p", "=v", "/"], "empty name"),
    (["/%00"], "NUL"),
])
def test_bad_request_arguments_are_usage_errors(anycgi_bin, echo_unix, args,
                                                why):
    r = fcgi_request(anycgi_bin, echo_unix, *args)
    assert r.rc == USAGE, r
    assert why in one_line_reason(r), r


@pytest.mark.parametrize("args", [
    [], ["/"], ["--fastcgi"], ["--fastcgi", "unix:/x"],
    ["--fastcgi", "unix:/x", "--bogus", "/"],
    ["--fastcgi", "unix:/x", "/", "/again"],
    ["--scgi", "unix:/x", "--get-values"],
    ["--fastcgi", "unix:/x", "--get-values", "/"],
    ["--fastcgi", "unix:/x", "--role", "boss", "/"],
    ["--fastcgi", "unix:/x", "--role", "authorizer", "-d", "x", "/"],
    ["--scgi", "unix:/x", "--role", "filter", "/"],
    ["--fastcgi", "unix:/x", "--filter-data", "x", "/"],
    ["--fastcgi", "unix:/x", "--timeout", "soon", "/"],
])
def test_usage_errors(anycgi_bin, args):
    r = run(anycgi_bin, *args)
    assert r.rc == USAGE, r
    assert "usage: anycgi request" in r.err, r
    assert r.out == b""


@pytest.mark.parametrize("addr", ["nocolon", "host:", "[::1]80", "unix:"])
def test_bad_addresses_are_usage_errors(anycgi_bin, addr):
    r = run(anycgi_bin, "--fastcgi", addr, "/")
    assert r.rc == USAGE, r
    one_line_reason(r)


def test_help(anycgi_bin):
    r = run(anycgi_bin, "--help")
    assert r.rc == OK
    assert b"--get-values" in r.out and b"Exit status" in r.out


# ---- bodies ----------------------------------------------------------------

def test_body_from_the_command_line(anycgi_bin, echo):
    r = fcgi_request(anycgi_bin, echo, "-d", "name=value&x=1", "/form")
    assert r.rc == OK, r
    j = r.json()
    assert j["params"]["REQUEST_METHOD"] == "POST"
    assert j["params"]["CONTENT_LENGTH"] == "14"
    assert j["params"]["CONTENT_TYPE"] == "application/x-www-form-urlencoded"
    assert j["body_bytes"] == 14
    assert j["body_fnv1a64"] == sup.fnv_hex(b"name=value&x=1")
    # An empty body is still a body; -H Content-Type wins; -X wins.
    r = fcgi_request(anycgi_bin, echo, "-d", "", "-X", "PUT", "-H",
                     "Content-Type: text/plain", "/")
    j = r.json()
    assert (j["params"]["CONTENT_LENGTH"], j["params"]["CONTENT_TYPE"],
            j["params"]["REQUEST_METHOD"], j["body_bytes"]) == (
                "0", "text/plain", "PUT", 0)


@pytest.mark.parametrize("proto", ["fastcgi", "scgi"])
def test_body_from_a_file_and_from_stdin(anycgi_bin, echo, workdir, proto):
    data = sup.det_bytes("body", 3 * 1024 * 1024 + 17)
    path = os.path.join(workdir, "body.bin")
    with open(path, "wb") as f:
        f.write(data)
    want = sup.fnv_hex(data)
    addr = echo.nginx_addr

    def check(r):
        assert r.rc == OK, r
        j = r.json()
        assert j["body_bytes"] == len(data)
        assert j["body_fnv1a64"] == want
        assert j["params"]["CONTENT_LENGTH"] == str(len(data))

    check(run(anycgi_bin, "--" + proto, addr, "-d", "@" + path, "/up"))
    # Standard input as a pipe (spooled to a temporary file) ...
    check(run(anycgi_bin, "--" + proto, addr, "-d", "@-", "/up",
              input=data))
    # ... and as a file (sent from where it is).
    with open(path, "rb") as f:
        check(run(anycgi_bin, "--" + proto, addr, "-d", "@-", "/up",
                  stdin=f))


def test_missing_body_file_is_a_read_error(anycgi_bin, echo_unix, workdir):
    r = fcgi_request(anycgi_bin, echo_unix, "-d", "@" + workdir + "/none",
                     "/")
    assert r.rc == READ, r
    assert "No such file" in one_line_reason(r)


@pytest.mark.parametrize("proto", ["fastcgi", "scgi"])
def test_echoed_body_streams_both_ways_at_once(anycgi_bin, echo, workdir,
                                               proto):
    # The app writes the body back while it reads it: the request must
    # read the answer while it sends, or both sides block.
    data = sup.det_bytes("duplex", 8 * 1024 * 1024)
    path = os.path.join(workdir, "duplex.bin")
    with open(path, "wb") as f:
        f.write(data)
    r = run(anycgi_bin, "--" + proto, echo.nginx_addr, "-d", "@" + path,
            "/?echo=body")
    assert r.rc == OK, r
    assert len(r.out) == len(data) and r.out == data


@pytest.mark.timeout_s(240)
def test_100_mib_streams_with_bounded_memory(anycgi_bin, echo_unix, workdir):
    size = 100 * 1024 * 1024
    path = os.path.join(workdir, "big.bin")
    sent = hashlib.sha256()
    block = os.urandom(1 << 20)
    with open(path, "wb") as f:
        for i in range(100):
            chunk = block[i:] + block[:i]
            sent.update(chunk)
            f.write(chunk)
    p = subprocess.Popen([anycgi_bin, "request", "--fastcgi",
                          echo_unix.nginx_addr, "-d", "@" + path,
                          "/?echo=body"], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    # The peak resident size of the program itself (VmHWM), sampled while
    # it runs: wait4's ru_maxrss would count the forked pytest too.
    peak = [0]

    def sample():
        while p.poll() is None:
            try:
                with open("/proc/%d/status" % p.pid) as f:
                    for line in f:
                        if line.startswith("VmHWM:"):
                            peak[0] = max(peak[0], int(line.split()[1]))
            except (OSError, ValueError):
                pass
            time.sleep(0.02)
    watcher = threading.Thread(target=sample, daemon=True)
    watcher.start()
    got = hashlib.sha256()
    n = 0
    while True:
        chunk = p.stdout.read(1 << 20)
        if not chunk:
            break
        got.update(chunk)
        n += len(chunk)
    err = p.stderr.read()
    assert p.wait(timeout=60) == OK, err
    watcher.join(10)
    assert n == size and got.hexdigest() == sent.hexdigest()
    # In KiB: a few MiB (about 23 under ASan, its shadow memory
    # included), far below the 100 MiB that went through.
    assert 0 < peak[0] < 48 * 1024, peak[0]


# ---- roles -----------------------------------------------------------------

def test_authorizer_gets_no_body(anycgi_bin, echo):
    r = fcgi_request(anycgi_bin, echo, "--role", "authorizer", "/private")
    assert r.rc == OK, r
    j = r.json()
    assert j["role"] == "AUTHORIZER"
    assert j["body_bytes"] == 0
    # FastCGI 1.0, section 6.3: no CONTENT_LENGTH, SCRIPT_NAME, PATH_*.
    for name in ("CONTENT_LENGTH", "SCRIPT_NAME", "PATH_INFO"):
        assert name not in j["params"], name
    assert j["params"]["REQUEST_URI"] == "/private"


def test_filter_sends_its_data_stream(anycgi_bin, echo, workdir):
    data = sup.det_bytes("filter", 300000)
    path = os.path.join(workdir, "page.html")
    with open(path, "wb") as f:
        f.write(data)
    os.utime(path, (1700000000, 1700000000))
    r = fcgi_request(anycgi_bin, echo, "--role", "filter", "--filter-data",
                     "@" + path, "-d", "stdin bytes", "/page.html")
    assert r.rc == OK, r
    j = r.json()
    assert j["role"] == "FILTER"
    assert j["data_bytes"] == len(data)
    assert j["data_fnv1a64"] == sup.fnv_hex(data)
    assert j["body_bytes"] == 11
    assert j["body_fnv1a64"] == sup.fnv_hex(b"stdin bytes")
    assert j["params"]["FCGI_DATA_LENGTH"] == str(len(data))
    assert j["params"]["FCGI_DATA_LAST_MOD"] == "1700000000"
    # Without a body, the data still flows; a literal works too.
    r = fcgi_request(anycgi_bin, echo, "--role", "filter", "--filter-data",
                     "abc", "/")
    j = r.json()
    assert (j["body_bytes"], j["data_bytes"]) == (0, 3), r


# ---- output: -i, -v, status, stderr ----------------------------------------

def test_include_shows_the_head_as_http(anycgi_bin, echo):
    r = fcgi_request(anycgi_bin, echo, "-i", "/?size=30")
    assert r.rc == OK, r
    head, _, body = r.out.partition(b"\r\n\r\n")
    assert head.split(b"\r\n")[0] == b"HTTP/1.1 200 OK"
    assert b"Content-Type: text/plain" in head.split(b"\r\n")
    assert body == sup.alphabet_at(0, 30)
    # Without -i only the body.
    r = fcgi_request(anycgi_bin, echo, "/?size=30")
    assert r.out == sup.alphabet_at(0, 30)


@pytest.mark.parametrize("status", [404, 500, 503])
def test_error_status_exits_22(anycgi_bin, echo, status):
    r = fcgi_request(anycgi_bin, echo, "-i", "/?status=%d" % status)
    assert r.rc == HTTP, r
    assert r.out.startswith(b"HTTP/1.1 %d " % status)
    assert str(status) in one_line_reason(r)
    # The body is still printed, as a browser would show it.
    assert b'"role": "RESPONDER"' in r.out


@pytest.mark.parametrize("status", [201, 302, 304])
def test_success_and_redirect_statuses_exit_0(anycgi_bin, echo, status):
    r = fcgi_request(anycgi_bin, echo, "-i", "/?status=%d" % status)
    assert r.rc == OK, r
    assert r.out.startswith(b"HTTP/1.1 %d " % status)


def test_verbose_shows_the_records(anycgi_bin, echo):
    r = fcgi_request(anycgi_bin, echo, "-v", "-d", "hello", "/v?size=5")
    assert r.rc == OK, r
    assert r.out == b"abcde"
    lines = r.err.splitlines()
    assert lines[0].startswith("* connected to " + echo.nginx_addr)
    assert "> BEGIN_REQUEST id=1 role=RESPONDER flags=0" in lines
    assert any(ln.startswith("> PARAMS id=1") for ln in lines), r
    assert ">   REQUEST_URI=/v?size=5" in lines
    assert ">   CONTENT_LENGTH=5" in lines
    assert "> STDIN id=1 len=5" in lines
    assert "> STDIN id=1 len=0" in lines
    assert any(ln.startswith("< STDOUT id=1 len=") for ln in lines), r
    assert "< STDOUT id=1 len=0" in lines
    assert "< HTTP/1.1 200 OK" in lines
    assert "< Content-Type: text/plain" in lines
    assert ("< END_REQUEST id=1 app_status=0 protocol_status="
            "REQUEST_COMPLETE") in lines
    # SCGI shows its header block.
    r = run(anycgi_bin, "--scgi", echo.nginx_addr, "-v", "/s")
    assert r.rc == OK, r
    assert any(ln.startswith("> SCGI header block") for ln in
               r.err.splitlines()), r
    assert ">   REQUEST_URI=/s" in r.err.splitlines()


def test_app_stderr_goes_to_stderr(anycgi_bin, echo):
    r = fcgi_request(anycgi_bin, echo, "/?stderr=the%20app%20says")
    assert r.rc == OK, r
    assert "the app says" in r.err
    assert b"the app says" not in r.out


def test_closed_output_is_a_write_error(anycgi_bin, echo_unix):
    p = subprocess.Popen([anycgi_bin, "request", "--fastcgi",
                          echo_unix.nginx_addr, "/?size=20000000"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         stdin=subprocess.DEVNULL)
    assert p.stdout.read(10) == b"abcdefghij"
    p.stdout.close()
    try:
        err = p.stderr.read()
        assert p.wait(timeout=30) == WRITE, err
    finally:
        p.kill()
        p.wait()
    assert b"cannot write the output" in err


# ---- --get-values ----------------------------------------------------------

def get_values(anycgi_bin, addr):
    r = run(anycgi_bin, "--get-values", "--fastcgi", addr)
    assert r.rc == OK, r
    lines = r.out.decode().splitlines()
    return dict(ln.split("=", 1) for ln in lines)


def test_get_values_of_a_live_pool(servers, anycgi_bin):
    paths = []
    for n in (1, 3):
        path = os.path.join(servers.workdir, "gv%d.sock" % n)
        proc = servers.start("anycgi", [anycgi_bin, "echo", "--fastcgi",
                                        "unix:" + path, "--workers", str(n)])
        sup.wait_until(lambda: os.path.exists(path), 10, "the master",
                       proc=proc)
        paths.append("unix:" + path)
    one = get_values(anycgi_bin, paths[0])
    assert set(one) == {"FCGI_MAX_CONNS", "FCGI_MAX_REQS", "FCGI_MPXS_CONNS"}
    assert one["FCGI_MPXS_CONNS"] == "0"
    assert int(one["FCGI_MAX_CONNS"]) > 0
    # The master tells its workers the pool's size: three times one's.
    sup.wait_until(lambda: int(get_values(anycgi_bin, paths[1])
                               ["FCGI_MAX_CONNS"]) ==
                   3 * int(one["FCGI_MAX_CONNS"]), 10,
                   "GET_VALUES of 3 workers")


# ---- php-fpm ---------------------------------------------------------------

PHP_ECHO = r"""<?php
$in = file_get_contents('php://input');
if (isset($_GET['status'])) http_response_code((int)$_GET['status']);
header('Content-Type: application/json');
echo json_encode([
    'method' => $_SERVER['REQUEST_METHOD'],
    'query' => $_SERVER['QUERY_STRING'],
    'get' => $_GET,
    'script' => $_SERVER['SCRIPT_FILENAME'],
    'header' => $_SERVER['HTTP_X_TEST'] ?? null,
    'len' => strlen($in),
    'md5' => md5($in),
]);
"""

FPM_CONF = """\
[global]
pid = {dir}/fpm.pid
error_log = {dir}/fpm.log
daemonize = no
[echo]
user = root
group = root
listen = {sock}
listen.mode = 0666
pm = static
pm.max_children = 2
php_admin_value[post_max_size] = 16M
catch_workers_output = yes
"""


def php_fpm_binary():
    p = shutil.which("php-fpm8.2") or shutil.which("php-fpm")
    if not p:
        for c in ("/usr/sbin/php-fpm8.2", "/usr/sbin/php-fpm"):
            if os.access(c, os.X_OK):
                p = c
    if not p:
        pytest.fail("php-fpm is missing: scripts/install-deps.sh installs "
                    "php-fpm")
    return p


@pytest.fixture
def fpm(servers):
    d = os.path.join(servers.workdir, "fpm")
    os.makedirs(os.path.join(d, "www"))
    with open(os.path.join(d, "www", "echo.php"), "w") as f:
        f.write(PHP_ECHO)
    sock = os.path.join(d, "fpm.sock")
    conf = os.path.join(d, "php-fpm.conf")
    with open(conf, "w") as f:
        f.write(FPM_CONF.format(dir=d, sock=sock))
    # As root it needs -R (shared/PEERS.md).
    proc = servers.start("php-fpm", [php_fpm_binary(), "-F", "-R", "-y",
                                     conf, "-p", d])
    sup.wait_until(lambda: sup.listening_in_group(proc.pgid, sock), 15,
                   "php-fpm to listen", proc=proc)
    return "unix:" + sock, os.path.join(d, "www")


def test_php_fpm_echoes_method_query_and_body(anycgi_bin, fpm):
    addr, www = fpm
    r = run(anycgi_bin, "--fastcgi", addr, "--document-root", www, "-i",
            "-H", "X-Test: yes", "/echo.php?a=1&b=two")
    assert r.rc == OK, r
    assert r.out.startswith(b"HTTP/1.1 200 OK\r\n"), r
    body = r.out.partition(b"\r\n\r\n")[2]
    j = json.loads(body)
    assert j["method"] == "GET"
    assert j["query"] == "a=1&b=two"
    assert j["get"] == {"a": "1", "b": "two"}
    assert j["script"] == www + "/echo.php"
    assert j["header"] == "yes"
    assert j["len"] == 0
    data = sup.det_bytes("php", 1024 * 1024 + 3)
    r = run(anycgi_bin, "--fastcgi", addr, "--document-root", www, "-H",
            "Content-Type: application/octet-stream", "-d", "@-",
            "/echo.php", input=data)
    assert r.rc == OK, r
    j = r.json()
    assert j["method"] == "POST"
    assert j["len"] == len(data)
    assert j["md5"] == hashlib.md5(data).hexdigest()
    # The script's own status; a missing script is php-fpm's 404.
    r = run(anycgi_bin, "--fastcgi", addr, "--document-root", www,
            "/echo.php?status=500")
    assert r.rc == HTTP, r
    assert "500" in one_line_reason(r)
    r = run(anycgi_bin, "--fastcgi", addr, "--document-root", www,
            "/missing.php")
    assert r.rc == HTTP, r
    assert "404" in one_line_reason(r)
    # cwd as the document root, as a user in the site's folder would.
    r = run(anycgi_bin, "--fastcgi", addr, "/echo.php", cwd=www)
    assert r.rc == OK and r.json()["script"] == www + "/echo.php", r


def test_php_fpm_get_values(anycgi_bin, fpm):
    # php-fpm 8.2 answers FCGI_MPXS_CONNS only (it leaves out the names
    # it does not set, as section 4.1 allows): only what came is printed.
    assert get_values(anycgi_bin, fpm[0]) == {"FCGI_MPXS_CONNS": "0"}


# ---- a libfcgi program -----------------------------------------------------

@pytest.fixture
def libfcgi_hello(servers, build_dir):
    """bench/peers/hello-libfcgi.c, built against Debian's libfcgi, under
    spawn-fcgi."""
    src = os.path.join(os.path.dirname(os.path.dirname(
        os.path.dirname(os.path.abspath(__file__)))), "bench", "peers",
        "hello-libfcgi.c")
    exe = os.path.join(servers.workdir, "lf-hello")
    cc = subprocess.run(["cc", "-O2", "-o", exe, src, "-lfcgi"],
                        capture_output=True, timeout=120)
    assert cc.returncode == 0, cc.stderr
    sock = os.path.join(servers.workdir, "lf.sock")
    proc = servers.start("lf-hello", [sup.peer("spawn-fcgi"), "-n", "-s",
                                      sock, "-M", "0666", "--", exe])
    sup.wait_until(lambda: sup.listening_in_group(proc.pgid, sock), 10,
                   "libfcgi hello to listen", proc=proc)
    return "unix:" + sock


def test_libfcgi_program(anycgi_bin, libfcgi_hello, workdir):
    r = run(anycgi_bin, "--fastcgi", libfcgi_hello, "-i", "/")
    assert r.rc == OK, r
    assert r.out == (b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n"
                     b"Hello, world!\n")
    # A body it never reads, and the Authorizer role (an empty STDIN).
    path = os.path.join(workdir, "unread")
    with open(path, "wb") as f:
        f.write(b"z" * (1024 * 1024))
    for args in (["-d", "@" + path], ["--role", "authorizer"]):
        r = run(anycgi_bin, "--fastcgi", libfcgi_hello, "--timeout", "10",
                *args, "/")
        assert r.rc == OK and r.out == b"Hello, world!\n", (args, r)
    # libfcgi answers GET_VALUES only once it sees the byte after the
    # record: the request pads it, so that this does not wait for ever.
    assert get_values(anycgi_bin, libfcgi_hello) == {
        "FCGI_MAX_CONNS": "1", "FCGI_MAX_REQS": "1", "FCGI_MPXS_CONNS": "0"}


# ---- servers that misbehave ------------------------------------------------

class BadServer:
    """A listening Unix socket whose connections go to handler(conn) on a
    thread. Every socket call has a deadline; closed at the end."""

    def __init__(self, path, handler, backlog=8, accept=True):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(path)
        self.sock.listen(backlog)
        self.handler = handler
        self.errors = []
        self.stop = threading.Event()
        self.conns = []
        self.thread = None
        if accept:
            self.thread = threading.Thread(target=self.loop, daemon=True)
            self.thread.start()

    @property
    def addr(self):
        return "unix:" + self.path

    def loop(self):
        self.sock.settimeout(0.1)
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            conn.settimeout(10)
            self.conns.append(conn)
            try:
                self.handler(conn, self)
            except Exception as e:  # reported by close()
                self.errors.append(repr(e))

    def close(self):
        self.stop.set()
        if self.thread:
            self.thread.join(10)
        for c in self.conns:
            c.close()
        self.sock.close()


@contextlib.contextmanager
def bad_server(workdir, handler, **kw):
    s = BadServer(os.path.join(workdir, "bad%d.sock" % time.monotonic_ns()),
                  handler, **kw)
    try:
        yield s
    finally:
        s.close()


def read_request(conn):
    """Reads BEGIN and PARAMS (the whole params stream)."""
    rd = fw.Reader(conn, 10)
    while True:
        rec = rd.read()
        assert rec is not None, "the client closed early"
        if rec.type == fw.PARAMS and not rec.content:
            return rd


def stdout(data):
    return fw.record(fw.STDOUT, 1, data)


def end(protocol_status=fw.REQUEST_COMPLETE):
    return fw.record(fw.END_REQUEST, 1, struct.pack(">IB3x", 0,
                                                    protocol_status))


def test_refused_and_missing_sockets_exit_7(anycgi_bin, workdir):
    r = run(anycgi_bin, "--fastcgi", "unix:" + workdir + "/none.sock", "/")
    assert r.rc == CONNECT, r
    assert "No such file" in one_line_reason(r)
    # A Unix path with nobody listening.
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(workdir + "/dead.sock")
    s.close()
    r = run(anycgi_bin, "--fastcgi", "unix:" + workdir + "/dead.sock", "/")
    assert r.rc == CONNECT, r
    assert "refused" in one_line_reason(r)
    port = sup.free_port()
    for addr in ("127.0.0.1:%d" % port, "[::1]:%d" % port):
        if addr.startswith("[") and not sup.ipv6_loopback():
            continue
        r = run(anycgi_bin, "--scgi", addr, "/")
        assert r.rc == CONNECT, r
        assert "refused" in one_line_reason(r)


def test_server_that_never_accepts_times_out(anycgi_bin, workdir):
    # A Unix listener with a full backlog: connect waits, then gives up.
    with bad_server(workdir, None, backlog=0, accept=False) as s:
        filler = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        filler.setblocking(False)
        fillers = [filler]
        try:
            filler.connect(s.path)
            while True:  # fill the queue, whatever its exact depth
                f = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                f.setblocking(False)
                fillers.append(f)
                f.connect(s.path)
        except BlockingIOError:
            pass
        try:
            r = run(anycgi_bin, "--fastcgi", s.addr, "--connect-timeout",
                    "1", "/", timeout=20)
        finally:
            for f in fillers:
                f.close()
    assert r.rc == TIMEOUT, r
    assert "accepts no connection" in one_line_reason(r)


def test_tcp_server_that_never_accepts_times_out(anycgi_bin):
    # A TCP listener whose accept queue is full drops further SYNs: the
    # handshake never completes.
    lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(0)
    addr = "127.0.0.1:%d" % lsock.getsockname()[1]
    fillers = []
    try:
        for _ in range(4):
            f = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            f.setblocking(False)
            fillers.append(f)
            try:
                f.connect(lsock.getsockname())
            except BlockingIOError:
                pass
        time.sleep(0.2)
        r = run(anycgi_bin, "--fastcgi", addr, "--connect-timeout", "1",
                "--timeout", "1", "/", timeout=20)
    finally:
        for f in fillers:
            f.close()
        lsock.close()
    assert r.rc == TIMEOUT, r
    one_line_reason(r)


def test_ipv6_address(anycgi_bin, servers, echo_bin):
    # [IPv6]:PORT where the machine has ::1 (IPv4 otherwise, never a skip).
    transport = "tcp6" if sup.ipv6_loopback() else "tcp"
    app = servers.app(echo_bin, transport)
    r = fcgi_request(anycgi_bin, app, "/six")
    assert r.rc == OK, r
    assert r.json()["params"]["REQUEST_URI"] == "/six"
    r = run(anycgi_bin, "--scgi", app.nginx_addr, "-d", "6", "/six")
    assert r.rc == OK and r.json()["body_bytes"] == 1, r


def test_server_that_never_answers_times_out(anycgi_bin, workdir):
    # Accepts, reads, says nothing.
    def silent(conn, srv):
        read_request(conn)
        srv.stop.wait(30)
    with bad_server(workdir, silent) as s:
        r = run(anycgi_bin, "--fastcgi", s.addr, "--timeout", "1", "/",
                timeout=20)
    assert r.rc == TIMEOUT, r
    assert "--timeout" in one_line_reason(r)


def test_response_that_never_ends_times_out(anycgi_bin, workdir):
    def endless(conn, srv):
        read_request(conn)
        conn.sendall(stdout(b"Content-Type: text/plain\r\n\r\nsome bytes"))
        srv.stop.wait(30)
    with bad_server(workdir, endless) as s:
        r = run(anycgi_bin, "--fastcgi", s.addr, "--timeout", "1", "/",
                timeout=20)
    assert r.rc == TIMEOUT, r
    # What came before the stall was printed.
    assert r.out == b"some bytes"
    one_line_reason(r)


def test_trickling_response_stops_at_max_time(anycgi_bin, workdir):
    def trickle(conn, srv):
        read_request(conn)
        conn.sendall(stdout(b"Content-Type: text/plain\r\n\r\n"))
        while not srv.stop.wait(0.2):
            conn.sendall(stdout(b"."))
    with bad_server(workdir, trickle) as s:
        r = run(anycgi_bin, "--fastcgi", s.addr, "--timeout", "5",
                "--max-time", "1", "/", timeout=20)
    assert r.rc == TIMEOUT, r
    assert "--max-time" in one_line_reason(r)


def test_close_without_an_answer_exits_52(anycgi_bin, workdir):
    def hang_up(conn, srv):
        read_request(conn)
        conn.close()
    with bad_server(workdir, hang_up) as s:
        r = run(anycgi_bin, "--fastcgi", s.addr, "/")
    assert r.rc == EMPTY, r
    assert "without answering" in one_line_reason(r)

    def hang_up_at_once(conn, srv):
        conn.close()
    for proto in ("fastcgi", "scgi"):
        with bad_server(workdir, hang_up_at_once) as s:
            r = run(anycgi_bin, "--" + proto, s.addr, "-d", "x" * 100000,
                    "/")
        assert r.rc == EMPTY, r
        one_line_reason(r)


def test_close_in_the_middle_exits_18(anycgi_bin, workdir):
    def half(conn, srv):
        read_request(conn)
        conn.sendall(stdout(b"Content-Type: text/plain\r\n\r\nhalf"))
        conn.close()
    with bad_server(workdir, half) as s:
        r = run(anycgi_bin, "--fastcgi", s.addr, "/")
    assert r.rc == PARTIAL, r
    assert r.out == b"half"
    assert "before the end" in one_line_reason(r)

    # SCGI ends with the connection: a short body shows only against
    # its Content-Length.
    def scgi_short(conn, srv):
        conn.recv(65536)
        conn.sendall(b"Status: 200 OK\r\nContent-Length: 10\r\n\r\nabc")
        conn.close()
    with bad_server(workdir, scgi_short) as s:
        r = run(anycgi_bin, "--scgi", s.addr, "/")
    assert r.rc == PARTIAL, r
    assert r.out == b"abc"


@pytest.mark.parametrize("answer, why", [
    (b"HTTP/1.1 200 OK\r\n\r\n", "malformed FastCGI answer"),
    (fw.record(fw.STDOUT, 7, b"x"), "another request id"),
    (fw.record(fw.BEGIN_REQUEST, 1, b"\0" * 8), "type"),
    (stdout(b"no colon here\r\n\r\n") + stdout(b"") + end(),
     "malformed response head"),
    (stdout(b"Status: 2000 Nope\r\n\r\n"), "malformed response head"),
    (stdout(b"") + end(), "empty"),
    (stdout(b"Content-Type: text/plain\r\n") + stdout(b"") + end(),
     "no header block"),
])
def test_malformed_fastcgi_answers_exit_8(anycgi_bin, workdir, answer, why):
    def bad(conn, srv):
        read_request(conn)
        conn.sendall(answer)
        srv.stop.wait(30)
    with bad_server(workdir, bad) as s:
        r = run(anycgi_bin, "--fastcgi", s.addr, "--timeout", "10", "/",
                timeout=20)
    assert r.rc == MALFORMED, r
    assert why in one_line_reason(r), r


@pytest.mark.parametrize("answer", [
    b"garbage without a head",
    b"HTTP/1.1 2000 x\r\n\r\n",
    b"Content-Type: a\r\nContent-Type: b\r\n\r\n",
])
def test_malformed_scgi_answers_exit_8(anycgi_bin, workdir, answer):
    def bad(conn, srv):
        conn.recv(65536)
        conn.sendall(answer)
        conn.close()
    with bad_server(workdir, bad) as s:
        r = run(anycgi_bin, "--scgi", s.addr, "/")
    assert r.rc == MALFORMED, r
    one_line_reason(r)


def test_scgi_status_line_and_status_header(anycgi_bin, workdir):
    def answer(conn, srv):
        head = conn.recv(65536)
        srv.seen = head
        conn.sendall(b"HTTP/1.1 404 Gone Fishing\r\nX-A: 1\r\n\r\nbody")
        conn.close()
    with bad_server(workdir, answer) as s:
        r = run(anycgi_bin, "--scgi", s.addr, "-i", "-p", "CONTENT_LENGTH=9",
                "/x")
        seen = s.seen
    assert r.rc == HTTP, r
    assert r.out == b"HTTP/1.1 404 Gone Fishing\r\nX-A: 1\r\n\r\nbody"
    # The netstring starts with CONTENT_LENGTH (the real one) and SCGI=1.
    length, _, rest = seen.partition(b":")
    assert rest.startswith(b"CONTENT_LENGTH\x000\x00SCGI\x001\x00"), seen
    assert int(length) == len(rest) - 1 and rest.endswith(b","), seen


def test_refused_request_exits_22(anycgi_bin, workdir):
    def refuse(conn, srv):
        read_request(conn)
        conn.sendall(end(fw.OVERLOADED))
        srv.stop.wait(30)
    with bad_server(workdir, refuse) as s:
        r = run(anycgi_bin, "--fastcgi", s.addr, "/")
    assert r.rc == HTTP, r
    assert "OVERLOADED" in one_line_reason(r)


def test_answer_before_the_body_is_read(anycgi_bin, workdir):
    # The app answers after the params and closes without reading the 4 MiB
    # body: the answer counts, whatever happens to the rest of the send.
    def early(conn, srv):
        read_request(conn)
        conn.sendall(stdout(b"Status: 413 Too Big\r\n\r\nno") + stdout(b"")
                     + end())
        conn.close()
    path = os.path.join(workdir, "body")
    with open(path, "wb") as f:
        f.write(b"y" * (4 * 1024 * 1024))
    with bad_server(workdir, early) as s:
        r = run(anycgi_bin, "--fastcgi", s.addr, "-d", "@" + path, "-i",
                "/")
    assert r.rc == HTTP, r
    assert r.out == b"HTTP/1.1 413 Too Big\r\n\r\nno"
    assert "413" in one_line_reason(r)


def test_get_values_against_a_server_that_does_not_know_it(anycgi_bin,
                                                          workdir):
    def unknown(conn, srv):
        fw.Reader(conn, 10).read()
        conn.sendall(fw.record(fw.UNKNOWN_TYPE, 0,
                               bytes([fw.GET_VALUES]) + b"\0" * 7))
        srv.stop.wait(30)
    with bad_server(workdir, unknown) as s:
        r = run(anycgi_bin, "--get-values", "--fastcgi", s.addr)
    assert r.rc == MALFORMED, r
    assert "does not know record type 9" in one_line_reason(r)


def test_answers_to_what_was_not_asked(anycgi_bin, workdir):
    # A GET_VALUES_RESULT in the middle of a response neither ends it nor
    # shows in the body.
    def stray(conn, srv):
        read_request(conn)
        conn.sendall(stdout(b"Content-Type: text/plain\r\n\r\none ") +
                     fw.record(fw.GET_VALUES_RESULT, 0,
                               fw.nv_pairs([("FCGI_MAX_CONNS", "1")])) +
                     stdout(b"two") + stdout(b"") + end())
        srv.stop.wait(30)
    with bad_server(workdir, stray) as s:
        r = run(anycgi_bin, "--fastcgi", s.addr, "/")
    assert r.rc == OK, r
    assert r.out == b"one two"

    # A response to a GET_VALUES is not a GET_VALUES_RESULT.
    def wrong(conn, srv):
        fw.Reader(conn, 10).read()
        conn.sendall(stdout(b"Content-Type: text/plain\r\n\r\nhi"))
        srv.stop.wait(30)
    with bad_server(workdir, wrong) as s:
        r = run(anycgi_bin, "--get-values", "--fastcgi", s.addr)
    assert r.rc == MALFORMED, r
    assert r.out == b""
    assert "never sent" in one_line_reason(r)
