"""The embedded HTTP/1.1 front end (`anycgi __front`, issue 5): curl and
raw sockets against it, in front of the echo app's pool or of a small
FastCGI app written here (to see the records it is sent, and to answer
what the echo app cannot: redirects, broken heads)."""
import json
import os
import re
import resource
import signal
import socket
import subprocess
import threading
import time

import pytest

import acgi_support as sup
import fcgi_wire as fw


@pytest.fixture
def anycgi_bin(build_dir):
    path = os.path.join(build_dir, "src", "cli", "anycgi")
    assert os.access(path, os.X_OK), path
    return path


class Front:
    """The front end and what it talks to."""

    def __init__(self, proc, port, app=None, workdir=None):
        self.proc = proc
        self.port = port
        self.app = app
        self.workdir = workdir

    def connect(self, timeout=10.0):
        s = socket.create_connection(("127.0.0.1", self.port),
                                     timeout=timeout)
        return s

    def request(self, method, path, headers=(), body=None, timeout=30.0):
        return sup.http_request(self.port, method, path, headers, body,
                                timeout)

    def get_json(self, path, headers=(), body=None):
        r = self.request("POST" if body is not None else "GET", path,
                         headers, body)
        assert r.status == 200, r
        return r.json()

    def url(self, path):
        return "http://127.0.0.1:%d%s" % (self.port, path)


def start_front(servers, anycgi_bin, upstream, args=()):
    """`anycgi __front --listen 127.0.0.1:PORT --upstream ADDR ARGS`."""
    for attempt in range(5):
        port = sup.free_port()
        proc = servers.start("front", [
            anycgi_bin, "__front", "--listen", "127.0.0.1:%d" % port,
            "--upstream", upstream] + list(args))
        try:
            sup.wait_until(
                lambda: sup.listening_in_group(proc.pgid, port=port), 10,
                "the front end to listen on %d" % port, proc=proc)
            return Front(proc, port, workdir=servers.workdir)
        except AssertionError:
            if attempt == 4 or proc.alive() or "in use" not in proc.log_text():
                raise
            proc.expect_exit = True
            proc.stop()


def start_http_echo(servers, anycgi_bin, workers=2, args=()):
    """The echo app's pool behind the front end: the one place that says
    how (it becomes `anycgi echo --http` once the manager starts the front
    end itself)."""
    path = os.path.join(servers.workdir, "echo%d.sock" % (servers.n + 1))
    app = servers.start("anycgi", [anycgi_bin, "echo", "--fastcgi",
                                   "unix:" + path, "--workers", str(workers)])
    sup.wait_until(lambda: os.path.exists(path), 10,
                   "the echo pool to listen", proc=app)
    sup.wait_until(lambda: len(sup.children(app.pid)) == workers, 10,
                   "%d workers" % workers, proc=app)
    f = start_front(servers, anycgi_bin, "unix:" + path,
                    ["--upstream-conns", str(workers)] + list(args))
    f.app = app
    return f


@pytest.fixture
def http(servers, anycgi_bin):
    return start_http_echo(servers, anycgi_bin)


# ---- reading HTTP responses off a raw socket --------------------------

class RawResponse:
    def __init__(self, status, reason, headers, body):
        self.status = status
        self.reason = reason
        self.headers = headers
        self.body = body

    def header(self, name):
        vals = [v for k, v in self.headers if k == name.lower()]
        return vals[0] if vals else None

    def __repr__(self):
        return "RawResponse(%d, %r, %r)" % (self.status, self.headers,
                                            self.body[:200])


class Conn:
    """A raw client connection that reads responses one by one."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = bytearray()
        self.eof = False

    def send(self, data):
        self.sock.sendall(data)

    def _fill(self, timeout):
        self.sock.settimeout(timeout)
        try:
            d = self.sock.recv(1 << 16)
        except ConnectionResetError:
            d = b""
        if not d:
            self.eof = True
            return False
        self.buf += d
        return True

    def _line(self, timeout):
        while b"\r\n" not in self.buf:
            if not self._fill(timeout):
                raise EOFError("closed in a line: %r" % self.buf)
        i = self.buf.index(b"\r\n")
        line = bytes(self.buf[:i])
        del self.buf[:i + 2]
        return line

    def _take(self, n, timeout):
        while len(self.buf) < n:
            if not self._fill(timeout):
                raise EOFError("closed in a body")
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def response(self, head=False, timeout=10.0):
        line = self._line(timeout)
        ver, status, reason = line.decode().split(" ", 2)
        assert ver == "HTTP/1.1", line
        headers = []
        while True:
            h = self._line(timeout)
            if not h:
                break
            k, _, v = h.decode("latin-1").partition(":")
            headers.append((k.lower(), v.strip()))
        r = RawResponse(int(status), reason, headers, b"")
        if head or r.status in (100, 204, 304):
            return r
        if r.header("content-length") is not None:
            r.body = self._take(int(r.header("content-length")), timeout)
        elif r.header("transfer-encoding") == "chunked":
            body = bytearray()
            while True:
                n = int(self._line(timeout).split(b";")[0], 16)
                if n == 0:
                    assert self._line(timeout) == b""
                    break
                body += self._take(n, timeout)
                assert self._take(2, timeout) == b"\r\n"
            r.body = bytes(body)
        else:
            while self._fill(timeout):
                pass
            r.body, self.buf = bytes(self.buf), bytearray()
        return r

    def closed(self, timeout=5.0):
        """True when the server closes within timeout."""
        deadline = time.monotonic() + timeout
        while not self.eof and time.monotonic() < deadline:
            try:
                self._fill(max(0.01, deadline - time.monotonic()))
            except socket.timeout:
                return False
        return self.eof

    def close(self):
        self.sock.close()


def raw(front, data, timeout=10.0):
    c = Conn(front.connect())
    c.send(data)
    return c


def req(path="/", method="GET", headers=(), body=b"", host="x"):
    h = "%s %s HTTP/1.1\r\nHost: %s\r\n" % (method, path, host)
    for k, v in headers:
        h += "%s: %s\r\n" % (k, v)
    return h.encode() + b"\r\n" + body


# ---- basics ----------------------------------------------------------

def curl(*args):
    r = subprocess.run([sup.peer("curl"), "-sS", "--max-time", "20"] +
                       list(args), capture_output=True, timeout=30)
    assert r.returncode == 0, r.stderr
    return r.stdout


def test_curl_get_post_head(http):
    j = json.loads(curl(http.url("/a/b?x=1&y=2")))
    assert j["params"]["REQUEST_METHOD"] == "GET"
    assert j["params"]["QUERY_STRING"] == "x=1&y=2"
    assert j["params"]["SCRIPT_NAME"] == "/a/b"
    j = json.loads(curl("--data-binary", "hello", http.url("/post")))
    assert j["body_bytes"] == 5
    assert j["body_fnv1a64"] == sup.fnv_hex(b"hello")
    assert j["params"]["CONTENT_LENGTH"] == "5"
    head = curl("-I", http.url("/h?size=100"))
    assert head.startswith(b"HTTP/1.1 200 OK\r\n"), head
    assert b"Content-Length: 100\r\n" in head
    out = curl("-i", http.url("/s?status=418"))
    assert out.startswith(b"HTTP/1.1 418 "), out[:100]


def test_keepalive_and_pipelining(http):
    c = raw(http, req("/one?size=3") + req("/two") + req("/three?size=5"))
    r1, r2, r3 = c.response(), c.response(), c.response()
    assert (r1.status, r1.body) == (200, b"abc")
    assert json.loads(r2.body)["params"]["REQUEST_URI"] == "/two"
    assert r3.body == b"abcde"
    # The same connection goes on: one more, after a pause.
    time.sleep(0.2)
    c.send(req("/four?size=2"))
    assert c.response().body == b"ab"
    # HTTP/1.0 keep-alive, when asked for.
    c.send(b"GET /five?size=1 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
    r = c.response()
    assert r.body == b"a" and r.header("connection") == "keep-alive"
    c.send(b"GET /six?size=1 HTTP/1.0\r\n\r\n")
    assert c.response().body == b"a"
    assert c.closed()


def test_head_has_no_body(http):
    c = raw(http, req("/x?size=10", method="HEAD") + req("/y?size=2"))
    r = c.response(head=True)
    assert r.status == 200 and r.header("content-length") == "10"
    assert c.response().body == b"ab"


def test_chunked_upload(http):
    data = sup.det_bytes("chunked", 300000)
    body = b""
    for i in range(0, len(data), 70000):
        piece = data[i:i + 70000]
        body += b"%x;ext=1\r\n" % len(piece) + piece + b"\r\n"
    body += b"0\r\nTrailer-X: 1\r\n\r\n"
    c = raw(http, req("/up", "POST", [("Transfer-Encoding", "chunked")], body))
    r = c.response()
    j = json.loads(r.body)
    assert j["body_bytes"] == len(data)
    assert j["body_fnv1a64"] == sup.fnv_hex(data)
    # The app reads to the end of STDIN: no CONTENT_LENGTH to go by.
    assert "CONTENT_LENGTH" not in j["params"]
    assert "HTTP_TRANSFER_ENCODING" not in j["params"]
    c.send(req("/after?size=1"))
    assert c.response().body == b"a"


def test_expect_100_continue(http):
    c = raw(http, req("/e", "POST", [("Content-Length", "5"),
                                     ("Expect", "100-continue")]))
    r = c.response()
    assert r.status == 100
    c.send(b"hello")
    j = json.loads(c.response().body)
    assert j["body_bytes"] == 5
    # Refused before the body: 413 and no 100.
    c = raw(http, req("/e", "POST", [("Content-Length", str(1 << 40)),
                                     ("Expect", "100-continue")]))
    assert c.response().status == 413
    # curl waits for the 100 too.
    out = curl("-H", "Expect: 100-continue", "--data-binary", "x" * 2000,
               http.url("/curl"))
    assert json.loads(out)["body_bytes"] == 2000


def test_echo_body_streams(http):
    data = sup.det_bytes("echo", 1 << 20)
    r = http.request("POST", "/x?echo=body", body=data)
    assert r.status == 200 and r.body == data


# ---- malformed requests and smuggling ---------------------------------

BAD = [
    # (what, bytes, status)
    ("space before colon", b"GET / HTTP/1.1\r\nHost: x\r\nX-A : 1\r\n\r\n", 400),
    ("obs-fold", b"GET / HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n 2\r\n\r\n", 400),
    ("space first field", b"GET / HTTP/1.1\r\n Host: x\r\n\r\n", 400),
    ("CL and TE", b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
     b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
    ("duplicate CL", b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n"
     b"Content-Length: 1\r\n\r\na", 400),
    ("CL list", b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1, 1\r\n"
     b"\r\na", 400),
    ("CL sign", b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: +1\r\n\r\na",
     400),
    ("CL hex", b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0x1\r\n\r\na",
     400),
    ("TE gzip", b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n"
     b"\r\n", 400),
    ("TE chunked, gzip", b"POST / HTTP/1.1\r\nHost: x\r\n"
     b"Transfer-Encoding: chunked, gzip\r\n\r\n", 400),
    ("TE gzip, chunked", b"POST / HTTP/1.1\r\nHost: x\r\n"
     b"Transfer-Encoding: gzip, chunked\r\n\r\n", 400),
    ("TE twice", b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked"
     b"\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
    ("TE xchunked", b"POST / HTTP/1.1\r\nHost: x\r\n"
     b"Transfer-Encoding: xchunked\r\n\r\n", 400),
    ("TE in 1.0", b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"
     b"0\r\n\r\n", 400),
    ("bad chunk size", b"POST / HTTP/1.1\r\nHost: x\r\n"
     b"Transfer-Encoding: chunked\r\n\r\nzz\r\n", 400),
    ("chunk size bare LF", b"POST / HTTP/1.1\r\nHost: x\r\n"
     b"Transfer-Encoding: chunked\r\n\r\n1\na\r\n0\r\n\r\n", 400),
    ("chunk size overflow", b"POST / HTTP/1.1\r\nHost: x\r\n"
     b"Transfer-Encoding: chunked\r\n\r\n" + b"f" * 17 + b"\r\n", 400),
    ("no Host", b"GET / HTTP/1.1\r\n\r\n", 400),
    ("two Hosts", b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
    ("bad Host", b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400),
    ("bare CR", b"GET / HTTP/1.1\r\nHost: x\r\nX: a\rb\r\n\r\n", 400),
    ("NUL", b"GET / HTTP/1.1\r\nHost: x\r\nX: a\0b\r\n\r\n", 400),
    ("CTL in value", b"GET / HTTP/1.1\r\nHost: x\r\nX: a\x01b\r\n\r\n", 400),
    ("name not token", b"GET / HTTP/1.1\r\nHost: x\r\nX(: a\r\n\r\n", 400),
    ("no colon", b"GET / HTTP/1.1\r\nHost: x\r\nNoColon\r\n\r\n", 400),
    ("two spaces", b"GET  / HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    ("tab separator", b"GET\t/ HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    ("lower version", b"GET / http/1.1\r\nHost: x\r\n\r\n", 400),
    ("no version", b"GET /\r\n\r\n", 400),
    ("fragment", b"GET /a#b HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    ("dot-dot", b"GET /../etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n", 400, "keep"),
    ("encoded NUL", b"GET /a%00b HTTP/1.1\r\nHost: x\r\n\r\n", 400, "keep"),
    ("bad percent", b"GET /a%zz HTTP/1.1\r\nHost: x\r\n\r\n", 400, "keep"),
    ("HTTP/2.0", b"GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505),
    ("HTTP/0.9 style", b"GET / HTTP/0.9\r\nHost: x\r\n\r\n", 505),
    ("h2 preface", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505),
    ("unknown method", b"BREW / HTTP/1.1\r\nHost: x\r\n\r\n", 501),
    ("CONNECT", b"CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n", 501),
    ("Expect other", b"POST / HTTP/1.1\r\nHost: x\r\nExpect: 200-ok\r\n"
     b"Content-Length: 0\r\n\r\n", 417),
    ("bad scheme", b"GET ftp://a/b HTTP/1.1\r\nHost: a\r\n\r\n", 400),
]


@pytest.mark.parametrize("bad", BAD, ids=[b[0] for b in BAD])
def test_malformed(http, bad):
    """Framing errors end the connection; a bad path in a well-framed
    request ends only the request."""
    what, data, status = bad[:3]
    c = raw(http, data)
    r = c.response()
    assert r.status == status, (what, r)
    assert r.body.startswith(b"%d " % status)
    if bad[3:] == ("keep",):
        c.send(req("/?size=1"))
        assert c.response().body == b"a"
    else:
        assert r.header("connection") == "close", r
        assert c.closed()


def test_lenient_where_rfc_allows(http):
    # Bare LF line ends (RFC 9112, section 2.2), empty lines before the
    # request line, an absolute-form target, HTTP/1.2 as 1.1.
    c = raw(http, b"\r\nGET /lf?size=2 HTTP/1.1\nHost: x\n\n")
    assert c.response().body == b"ab"
    c.send(b"GET http://h.example:81/abs?q=1 HTTP/1.1\r\nHost: x\r\n\r\n")
    p = json.loads(c.response().body)["params"]
    assert p["REQUEST_URI"] == "/abs?q=1" and p["SERVER_NAME"] == "h.example"
    c.send(b"GET /v?size=1 HTTP/1.2\r\nHost: x\r\n\r\n")
    assert c.response().body == b"a"


# ---- limits ----------------------------------------------------------

@pytest.fixture
def small(servers, anycgi_bin):
    return start_http_echo(servers, anycgi_bin, args=[
        "--max-header-bytes", "2048", "--max-headers", "10",
        "--max-body", "1000"])


def test_limits(small):
    many = [("X-%d" % i, "v") for i in range(12)]
    assert raw(small, req("/", headers=many)).response().status == 431
    big = [("X-Big", "v" * 3000)]
    assert raw(small, req("/", headers=big)).response().status == 431
    assert raw(small, req("/" + "a" * 3000)).response().status == 414
    r = raw(small, req("/", "POST", [("Content-Length", "1001")],
                       b"x" * 1001)).response()
    assert r.status == 413
    body = b"200\r\n" + b"x" * 512 + b"\r\n"
    c = raw(small, req("/", "POST", [("Transfer-Encoding", "chunked")],
                       body * 2 + b"0\r\n\r\n"))
    assert c.response().status == 413
    assert c.closed()
    # At the limits, all is well.
    ok = [("X-%d" % i, "v") for i in range(9)]
    assert raw(small, req("/?size=1", headers=ok)).response().body == b"a"
    j = json.loads(raw(small, req("/", "POST", [("Content-Length", "1000")],
                                  b"x" * 1000)).response().body)
    assert j["body_bytes"] == 1000


def test_max_conns(servers, anycgi_bin):
    f = start_http_echo(servers, anycgi_bin, args=["--max-conns", "3"])
    held = [Conn(f.connect()) for _ in range(3)]
    for c in held:
        c.send(req("/?size=1"))
        assert c.response().body == b"a"
    extra = Conn(f.connect(timeout=2))
    extra.send(req("/?size=1"))
    with pytest.raises(socket.timeout):
        extra.response(timeout=0.5)
    held[0].close()
    assert extra.response().body == b"a"


# ---- timeouts --------------------------------------------------------

def test_slowloris_and_idle_closed(servers, anycgi_bin):
    f = start_http_echo(servers, anycgi_bin, args=[
        "--header-timeout", "1", "--keepalive-timeout", "1",
        "--body-timeout", "1"])
    # A head that never ends: 408, then the end of the connection,
    # however steadily its bytes come.
    c = raw(f, b"GET / HTTP/1.1\r\n")
    t0 = time.monotonic()
    for i in range(8):
        try:
            c.send(b"X-%d: y\r\n" % i)
        except OSError:
            break
        time.sleep(0.25)
    r = c.response()
    assert r.status == 408
    assert c.closed()
    assert time.monotonic() - t0 < 5
    # A connection that says nothing is closed too.
    assert raw(f, b"").closed(timeout=5)
    # An idle keep-alive connection goes after the keep-alive timeout.
    c = raw(f, req("/?size=1"))
    assert c.response().body == b"a"
    assert c.closed(timeout=5)
    # A body that stops coming: 408.
    c = raw(f, req("/", "POST", [("Content-Length", "10")], b"abc"))
    assert c.response().status == 408
    assert c.closed()


def test_client_that_does_not_read_is_closed(servers, anycgi_bin):
    f = start_http_echo(servers, anycgi_bin, args=["--send-timeout", "1"])
    s = f.connect()
    s.sendall(req("/big?size=%d" % (1 << 30)))
    sup.wait_until(lambda: sup.tcp_connections(f.port), 5, "the connection")
    # Its buffers fill, nothing moves for a second: the front end lets
    # go (its socket leaves ESTABLISHED), and the app's request ends.
    sup.wait_until(lambda: not sup.tcp_connections(f.port), 10,
                   "the front end to close the connection")
    s.close()
    assert f.request("GET", "/?size=3").body == b"abc"
    assert f.request("GET", "/?size=3").body == b"abc"


# ---- errors upstream -------------------------------------------------

def test_502_when_the_worker_crashes(http):
    r = http.request("GET", "/x?crash=1")
    assert r.status == 502
    assert http.get_json("/after")["params"]["REQUEST_URI"] == "/after"


def test_502_when_nothing_listens(servers, anycgi_bin):
    f = start_front(servers, anycgi_bin,
                    "unix:" + os.path.join(servers.workdir, "none.sock"))
    assert f.request("GET", "/").status == 502


def test_504_at_the_request_timeout(servers, anycgi_bin):
    f = start_http_echo(servers, anycgi_bin, args=["--request-timeout", "0.5"])
    c = raw(f, req("/slow?sleep_ms=3000"))
    r = c.response()
    assert r.status == 504
    # The connection goes on, and the app still answers.
    c.send(req("/next?size=2"))
    assert c.response(timeout=15).body == b"ab"


def test_503_when_saturated(servers, anycgi_bin):
    f = start_http_echo(servers, anycgi_bin, workers=1, args=[
        "--upstream-conns", "1", "--queue-timeout", "0.3"])
    busy = raw(f, req("/busy?sleep_ms=2000"))
    time.sleep(0.2)
    r = raw(f, req("/queued")).response()
    assert r.status == 503
    assert busy.response().status == 200
    # Queued within the deadline: served.
    f2 = start_http_echo(servers, anycgi_bin, workers=1, args=[
        "--upstream-conns", "1", "--queue-timeout", "10"])
    busy = raw(f2, req("/busy?sleep_ms=500"))
    time.sleep(0.1)
    assert raw(f2, req("/q?size=1")).response().body == b"a"
    assert busy.response().status == 200


# ---- a FastCGI app written here --------------------------------------

class FakeApp:
    """A FastCGI app on a Unix socket that records every record it gets.
    answer(params, stdin) returns the STDOUT bytes, or None to wait until
    the request is aborted."""

    def __init__(self, path, answer):
        self.path = path
        self.answer = answer
        self.records = []
        self.requests = []
        self.conns = 0
        self.aborted = threading.Event()
        self.lock = threading.Lock()
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(path)
        self.sock.listen(16)
        self.stop = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.stop:
            try:
                s, _ = self.sock.accept()
            except OSError:
                return
            self.conns += 1
            threading.Thread(target=self._serve, args=(s,),
                             daemon=True).start()

    def _serve(self, s):
        rd = fw.Reader(s, timeout=30)
        try:
            while True:
                params, stdin = b"", b""
                while True:
                    rec = rd.read()
                    if rec is None:
                        return
                    with self.lock:
                        self.records.append(rec.type)
                    if rec.type == fw.PARAMS:
                        params += rec.content
                    elif rec.type == fw.STDIN:
                        stdin += rec.content
                        if not rec.content:
                            break
                p = dict((k.decode(), v.decode()) for k, v in
                         fw.decode_nv(params))
                self.requests.append(p)
                out = self.answer(p, stdin)
                if out is None:
                    rec = rd.read()
                    if rec is not None:
                        with self.lock:
                            self.records.append(rec.type)
                        if rec.type == fw.ABORT_REQUEST:
                            self.aborted.set()
                    out = b"Status: 500\r\n\r\n"
                s.sendall(fw.stream(fw.STDOUT, 1, out) +
                          fw.record(fw.END_REQUEST, 1, b"\0" * 8))
        except OSError:
            return
        finally:
            s.close()

    def close(self):
        self.stop = True
        self.sock.close()


def fake_front(servers, anycgi_bin, answer, args=()):
    path = os.path.join(servers.workdir, "fake.sock")
    app = FakeApp(path, answer)
    f = start_front(servers, anycgi_bin, "unix:" + path, args)
    f.app = app
    return f


def test_responses_from_cgi_heads(servers, anycgi_bin):
    def answer(p, stdin):
        uri = p["REQUEST_URI"]
        if uri == "/local":
            return b"Location: /target?x=1\r\n\r\n"
        if uri == "/loop":
            return b"Location: /loop\r\n\r\n"
        if uri == "/client":
            return b"Location: http://example.com/\r\n\r\n"
        if uri == "/bad":
            return b"no colon here\r\n\r\n"
        if uri == "/nohead":
            return b""
        if uri == "/status":
            return b"Status: 201 Made\r\nX-A: 1\r\n\r\nbody"
        if uri == "/short":
            return b"Content-Length: 10\r\n\r\nabc"
        body = json.dumps({"uri": uri, "method": p["REQUEST_METHOD"],
                           "cl": p.get("CONTENT_LENGTH")}).encode()
        return b"Content-Type: application/json\r\n\r\n" + body
    f = fake_front(servers, anycgi_bin, answer)
    r = f.request("POST", "/local", body=b"data")
    assert r.status == 200, r
    assert r.json() == {"uri": "/target?x=1", "method": "GET", "cl": ""}
    assert f.request("GET", "/loop").status == 502
    r = f.request("GET", "/client")
    assert r.status == 302 and r.header("location") == "http://example.com/"
    assert f.request("GET", "/bad").status == 502
    assert f.request("GET", "/nohead").status == 502
    r = f.request("GET", "/status")
    assert (r.status, r.body, r.header("x-a")) == (201, b"body", "1")
    c = raw(f, req("/short"))
    with pytest.raises(EOFError):
        c.response()
    # Kept upstream connections: one per request at a time, reused.
    assert f.app.conns <= 2, f.app.conns


def test_client_going_away_aborts_upstream(servers, anycgi_bin):
    f = fake_front(servers, anycgi_bin,
                   lambda p, stdin: None if p["REQUEST_URI"] == "/hang"
                   else b"Content-Type: text/plain\r\n\r\nok")
    c = raw(f, req("/hang"))
    sup.wait_until(lambda: f.app.requests, 10, "the request at the app")
    c.close()
    assert f.app.aborted.wait(10), f.app.records
    # The app's connection is kept and used again. (The front end may
    # still be reading the aborted request's END_REQUEST when the next
    # request comes, and open a second connection for it: no more.)
    for _ in range(4):
        assert f.request("GET", "/next").body == b"ok"
    assert f.app.conns <= 2


def test_app_stderr_is_logged(http):
    r = http.request("GET", "/x?stderr=hello-from-app")
    assert r.status == 200
    sup.wait_until(lambda: "hello-from-app" in http.proc.log_text() or
                   "hello-from-app" in http.app.log_text(), 5,
                   "the app's stderr in a log")


# ---- big bodies ------------------------------------------------------

@pytest.mark.timeout_s(180)
def test_100mib_upload_and_download(http):
    n = 100 << 20
    block = sup.det_bytes("big", 1 << 20)
    h = sup.FNV64_OFFSET
    s = http.connect(timeout=60)
    s.sendall(req("/up", "POST", [("Content-Length", str(n))]))
    for i in range(100):
        s.sendall(block)
    c = Conn(s)
    j = json.loads(c.response(timeout=60).body)
    assert j["body_bytes"] == n
    expect = sup.FNV64_OFFSET
    for i in range(100):
        expect = sup.fnv1a64(block, expect)
    assert j["body_fnv1a64"] == "%016x" % expect
    # Download: size=N streams the alphabet, chunked.
    c.send(req("/down?size=%d" % n))
    r = c.response(timeout=60)
    assert len(r.body) == n
    assert r.body[:26] == sup.ALPHABET and r.body[-5:] == \
        sup.alphabet_at(n - 5, 5)
    assert r.body == sup.alphabet_at(0, n)


# ---- params ----------------------------------------------------------

def test_params(servers, anycgi_bin, workdir):
    root = os.path.join(workdir, "site")
    os.makedirs(root)
    f = start_http_echo(servers, anycgi_bin, args=[
        "--document-root", root, "--script-pattern", "*",
        "--server-name", "example.test"])
    c = raw(f, b"POST /dir/x.php?a=1&b=%20 HTTP/1.1\r\nHost: h:8\r\n"
            b"Content-Type: text/plain\r\nContent-Length: 3\r\n"
            b"X-Dup: 1\r\nx-dup: 2\r\nCookie: a=1\r\nCookie: b=2\r\n"
            b"X_Under: no\r\nProxy: http://evil/\r\nAccept: */*\r\n\r\nabc")
    p = json.loads(c.response().body)["params"]
    port = str(f.port)
    want = {
        "GATEWAY_INTERFACE": "CGI/1.1",
        "REQUEST_METHOD": "POST",
        "REQUEST_URI": "/dir/x.php?a=1&b=%20",
        "QUERY_STRING": "a=1&b=%20",
        "SCRIPT_NAME": "/dir/x.php",
        "PATH_INFO": "",
        "DOCUMENT_ROOT": root,
        "SCRIPT_FILENAME": root + "/dir/x.php",
        "SERVER_NAME": "example.test",
        "SERVER_PORT": port,
        "SERVER_ADDR": "127.0.0.1",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "CONTENT_TYPE": "text/plain",
        "CONTENT_LENGTH": "3",
        "REDIRECT_STATUS": "200",
        "HTTP_HOST": "h:8",
        "HTTP_X_DUP": "1, 2",
        "HTTP_COOKIE": "a=1; b=2",
        "HTTP_ACCEPT": "*/*",
    }
    for k, v in want.items():
        assert p.get(k) == v, (k, p.get(k))
    assert p["SERVER_SOFTWARE"].startswith("anycgi/")
    assert p["REMOTE_PORT"].isdigit()
    assert "HTTP_X_UNDER" not in p and "HTTP_PROXY" not in p
    assert "HTTPS" not in p
    # Without --server-name, the Host's name; a decoded, normalized path.
    c.send(b"GET /a//b/./c/../d%41 HTTP/1.1\r\nHost: name.test:99\r\n\r\n")
    p = json.loads(c.response().body)["params"]
    assert p["SERVER_NAME"] == "example.test"
    assert p["SCRIPT_NAME"] == "/a/b/dA"
    assert p["CONTENT_LENGTH"] == ""


def test_script_prefix_and_underscores(servers, anycgi_bin):
    f = start_http_echo(servers, anycgi_bin, args=[
        "--script-prefix", "/app/", "--underscores-in-headers"])
    j = f.get_json("/app/x/y?q", headers=[("X_Under", "yes")])
    p = j["params"]
    assert (p["SCRIPT_NAME"], p["PATH_INFO"]) == ("/app", "/x/y")
    assert p["HTTP_X_UNDER"] == "yes"
    assert p["SERVER_NAME"] == "127.0.0.1"
    assert f.request("GET", "/other").status == 404
    assert f.get_json("/app")["params"]["PATH_INFO"] == ""


@pytest.mark.parametrize("value,passed", [("on", True), ("off", False)])
def test_underscores_in_headers_value(servers, anycgi_bin, value, passed):
    # The manager passes the option with a value.
    f = start_http_echo(servers, anycgi_bin, args=[
        "--underscores-in-headers", value, "--server-name", "s"])
    p = f.get_json("/", headers=[("X_Under", "yes")])["params"]
    assert ("HTTP_X_UNDER" in p) == passed
    assert p["SERVER_NAME"] == "s"


# ---- access log ------------------------------------------------------

@pytest.mark.parametrize("fmt", ["clf", "json"])
def test_access_log(servers, anycgi_bin, workdir, fmt):
    log = os.path.join(workdir, "access.log")
    f = start_http_echo(servers, anycgi_bin, args=[
        "--access-log", log, "--access-log-format", fmt])
    f.request("GET", "/logged?size=7", headers=[("User-Agent", "t/1")])
    f.request("GET", "/gone?status=404")
    sup.wait_until(lambda: os.path.exists(log) and
                   len(open(log).read().splitlines()) == 2, 5, "2 lines")
    lines = open(log).read().splitlines()
    if fmt == "json":
        a, b = [json.loads(x) for x in lines]
        assert (a["method"], a["uri"], a["status"], a["bytes"]) == \
            ("GET", "/logged?size=7", 200, 7)
        assert a["user_agent"] == "t/1" and a["remote_addr"] == "127.0.0.1"
        assert b["status"] == 404
    else:
        assert re.match(r'^127\.0\.0\.1 - - \[[^]]+\] "GET /logged\?size=7 '
                        r'HTTP/1\.1" 200 7$', lines[0]), lines[0]
        assert '" 404 ' in lines[1]


# ---- signals ---------------------------------------------------------

def test_sigquit_finishes_requests_in_flight(http):
    busy = raw(http, req("/slow?sleep_ms=800&size=4"))
    idle = raw(http, req("/x?size=1"))
    assert idle.response().body == b"a"
    time.sleep(0.2)
    os.kill(http.proc.pid, signal.SIGQUIT)
    assert idle.closed()
    r = busy.response()
    assert r.status == 200 and r.body == b"abcd"
    assert r.header("connection") == "close"
    sup.wait_until(lambda: http.proc.exit_status() is not None, 5,
                   "the front end to exit")
    assert http.proc.exit_status() == 0
    http.proc.expect_exit = True


def test_sigterm_exits_within_a_second(http):
    busy = raw(http, req("/slow?sleep_ms=5000"))
    time.sleep(0.2)
    t0 = time.monotonic()
    os.kill(http.proc.pid, signal.SIGTERM)
    sup.wait_until(lambda: http.proc.exit_status() is not None, 1,
                   "the front end to exit")
    assert time.monotonic() - t0 < 1
    http.proc.expect_exit = True
    busy.close()


# ---- many idle connections -------------------------------------------

def _rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


@pytest.mark.timeout_s(120)
def test_10000_idle_connections(servers, anycgi_bin):
    n = 10000
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < n + 200:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, n + 1000),
                                                    hard))
    f = start_http_echo(servers, anycgi_bin, args=["--max-conns", str(n + 10)])
    assert f.request("GET", "/?size=1").body == b"a"
    before = _rss_kib(f.proc.pid)
    socks = []
    try:
        for i in range(n):
            s = socket.create_connection(("127.0.0.1", f.port), timeout=10)
            socks.append(s)
        # Each one sends a request and stays idle, kept alive.
        for s in socks[:200]:
            s.sendall(req("/?size=1"))
        for s in socks[:200]:
            assert Conn(s).response().body == b"a"
        sup.wait_until(lambda: len(sup.tcp_connections(f.port)) >= n, 30,
                       "%d connections at the front end" % n)
        after = _rss_kib(f.proc.pid)
        print("\nfront end RSS: %d KiB before, %d KiB with %d idle "
              "connections: %.0f bytes each" % (
                  before, after, n, (after - before) * 1024.0 / n))
        # Every one is still served.
        for s in socks[-50:]:
            s.sendall(req("/?size=2"))
            assert Conn(s).response().body == b"ab"
    finally:
        for s in socks:
            s.close()


# ---- side by side with nginx -----------------------------------------

# Params that differ between nginx and the front end, and why: the
# software's name, the ports of two different listeners, nginx's
# configured server_name against the request's host, and nginx passing
# a Proxy: field on as HTTP_PROXY (httpoxy; the front end drops it), and
# PATH_INFO, which nginx's fastcgi_params leave out and the front end
# sends empty, and REMOTE_USER, which nginx sends empty and the front end
# leaves out (no one was authenticated: RFC 3875, section 4.1.11).
DIFFERENT = {"SERVER_SOFTWARE", "SERVER_PORT", "REMOTE_PORT", "SERVER_NAME",
             "HTTP_HOST", "HTTP_PROXY", "PATH_INFO", "REMOTE_USER"}


def test_params_match_nginx(servers, anycgi_bin):
    from conftest import App
    f = start_http_echo(servers, anycgi_bin)
    sock = f.app.argv[3][len("unix:"):]
    web = servers.nginx(App(f.app, "unix", path=sock))
    www = os.path.join(web.dir, "www")
    f2 = start_front(servers, anycgi_bin, "unix:" + sock,
                     ["--document-root", www, "--script-pattern", "*"])
    cases = [
        ("GET", "/fcgi/a/b.txt?x=1&y=%20z", [], None),
        ("POST", "/fcgi/form", [("Content-Type", "application/x-www-form-"
                                 "urlencoded")], b"a=1&b=2"),
        ("GET", "/fcgi/h", [("X-Dup", "1"), ("X-Dup", "2"),
                            ("Cookie", "a=1"), ("Cookie", "b=2"),
                            ("Accept-Language", "en"), ("X_Under", "u"),
                            ("Proxy", "http://evil/")], None),
        ("PUT", "/fcgi/empty", [("Content-Length", "0")], None),
    ]
    for method, path, headers, body in cases:
        via_nginx = web.request(method, path, headers, body)
        via_front = f2.request(method, path, headers, body)
        assert via_nginx.status == via_front.status == 200
        a = via_nginx.json()["params"]
        b = via_front.json()["params"]
        diff = [(k, a.get(k), b.get(k)) for k in sorted(set(a) | set(b))
                if k not in DIFFERENT and a.get(k) != b.get(k)]
        assert not diff, (path, diff)
        assert a["HTTP_PROXY"] == "http://evil/" if "Proxy" in dict(
            headers) else True
        assert "HTTP_PROXY" not in b
        assert "PATH_INFO" not in a and b["PATH_INFO"] == ""
        assert a["REMOTE_USER"] == "" and "REMOTE_USER" not in b
