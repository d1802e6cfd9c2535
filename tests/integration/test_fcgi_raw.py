"""FastCGI straight on the socket, with the client in fcgi_wire.py: the
management records, roles, FCGI_KEEP_CONN, multiplexing, ABORT_REQUEST, and
bad input, which must end only the offending request or connection (with a
protocol-correct answer and a log line) while the app keeps serving."""
import socket
import struct
import threading
import time

import pytest

import acgi_support as sup
import fcgi_wire as fw


@pytest.fixture(params=[None, 4], ids=["loop", "threads4"])
def app(request, servers, echo_bin):
    """anycgi-echo under spawn-fcgi on a Unix socket: single-threaded, and
    with 4 handler threads."""
    return servers.app(echo_bin, "unix", threads=request.param)


@pytest.fixture
def loop_app(servers, echo_bin):
    return servers.app(echo_bin, "unix")


@pytest.fixture
def mpx_app(servers, echo_bin):
    return servers.app(echo_bin, "unix", threads=4)


class Conn:
    def __init__(self, app, timeout=10.0):
        self.sock = app.connect(timeout)
        self.rd = fw.Reader(self.sock, timeout)

    def send(self, data):
        self.sock.sendall(data)

    def send_bad(self, data):
        """Sends input the app may refuse by closing before it read all."""
        try:
            self.sock.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def request(self, rid=1, uri="/raw", method="GET", body=b"",
                flags=fw.KEEP_CONN, extra=None, timeout=10.0):
        cl = len(body) if (body or method in ("POST", "PUT")) else None
        self.send(fw.request_bytes(rid, fw.cgi_params(method, uri, cl, extra),
                                   body, flags))
        return fw.read_response(self.rd, rid, timeout)

    def close(self):
        self.sock.close()


@pytest.fixture
def conns():
    made = []

    def make(app, timeout=10.0):
        c = Conn(app, timeout)
        made.append(c)
        return c
    yield make
    for c in made:
        c.close()


def json_of(resp):
    r = resp.cgi()
    assert r.status == 200, r
    assert r.header("content-type") == "application/json", r
    return sup.HttpResponse(200, [], r.body).json()


def assert_serves(app, conns):
    """The app is alive and answers a new connection."""
    assert app.alive(), app.proc.log_tail()
    c = conns(app)
    j = json_of(c.request(uri="/alive?ok=1", method="POST", body=b"abc"))
    assert j["params"]["QUERY_STRING"] == "ok=1"
    assert j["body_bytes"] == 3


def read_until_end_or_eof(rd, rid, timeout=5.0):
    """For bad input: returns ("end", Response) when END_REQUEST for rid
    comes, ("closed", Response) when the app closes first. Fails when
    neither happens within timeout (a hang)."""
    resp = fw.Response(rid)
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        try:
            rec = rd.read(timeout=max(0.0, left))
        except socket.timeout:
            pytest.fail("neither END_REQUEST nor a close within %.0f s"
                        % timeout)
        if rec is None:
            return "closed", resp
        if rec.request_id == rid:
            resp.feed(rec)
            if resp.ended:
                return "end", resp
        elif rec.request_id != 0:
            pytest.fail("record for id %d, never used" % rec.request_id)


def assert_not_success(resp):
    """An answer to bad input may be nothing, or an error status: never a
    200 JSON document built from half-read input."""
    if resp.stdout:
        r = resp.cgi()
        assert r.status >= 400, r


def assert_logged_since(app, offset):
    sup.wait_until(lambda: app.proc.log_since(offset).strip(), 5,
                   "a log line on the app's stderr", proc=app.proc)


# ---- a plain request -----------------------------------------------------

def test_responder(app, conns):
    c = conns(app)
    body = sup.det_bytes("raw", 200000)
    resp = c.request(uri="/raw/path?a=b", method="POST", body=body,
                     extra=[("HTTP_X_TEST", "abc"), ("HTTP_X_TEST", "def")])
    assert resp.protocol_status == fw.REQUEST_COMPLETE
    assert resp.app_status == 0
    j = json_of(resp)
    assert j["role"] == "RESPONDER"
    p = j["params"]
    assert p["REQUEST_URI"] == "/raw/path?a=b"
    assert p["QUERY_STRING"] == "a=b"
    assert p["CONTENT_LENGTH"] == str(len(body))
    assert p["HTTP_X_TEST"] == "abc, def"
    assert j["body_bytes"] == len(body)
    assert j["body_fnv1a64"] == sup.fnv_hex(body)


def test_pairs_split_across_records_and_long_length_form(app, conns):
    c = conns(app)
    pairs = fw.nv_pairs(fw.cgi_params("GET", "/split?x=1"))
    # A small length in the 4-byte form is legal (section 3.4).
    pairs += struct.pack(">IB", 0x80000006, 3) + b"HTTP_Zabc"
    # One byte per record, with odd padding, and a 130-byte value (4-byte
    # length) in the middle of it.
    pairs += fw.nv("HTTP_LONG", "v" * 130)
    out = fw.begin(1)
    for i in range(len(pairs)):
        out += fw.record(fw.PARAMS, 1, pairs[i:i + 1], padding=i % 7)
    out += fw.record(fw.PARAMS, 1) + fw.record(fw.STDIN, 1)
    c.send(out)
    j = json_of(fw.read_response(c.rd, 1))
    assert j["params"]["QUERY_STRING"] == "x=1"
    assert j["params"]["HTTP_Z"] == "abc"
    assert j["params"]["HTTP_LONG"] == "v" * 130


def test_long_param_value_across_records(app, conns):
    # 60000 bytes: under the library's 64 KiB default for one value, and
    # cut by the record size here so that it spans two PARAMS records.
    c = conns(app)
    value = (b"0123456789" * 6000).decode()
    pairs = fw.nv_pairs(fw.cgi_params("GET", "/long", None,
                                      [("HTTP_X_LONG", value)]))
    c.send(fw.begin(1) + fw.stream(fw.PARAMS, 1, pairs, chunk=40000) +
           fw.record(fw.STDIN, 1))
    j = json_of(fw.read_response(c.rd, 1))
    assert j["params"]["HTTP_X_LONG"] == value


def test_stderr_stream(app, conns):
    c = conns(app)
    resp = c.request(uri="/e?stderr=raw-marker-5")
    assert b"raw-marker-5" in bytes(resp.stderr)
    json_of(resp)


def test_records_for_inactive_id_ignored(app, conns):
    # Section 3.3: records for an id that is not active are ignored.
    c = conns(app)
    c.send(fw.record(fw.STDIN, 7, b"stray") + fw.record(fw.PARAMS, 9,
                                                        fw.nv("A", "b")))
    j = json_of(c.request(uri="/after-stray"))
    assert j["params"]["REQUEST_URI"] == "/after-stray"


# ---- management records --------------------------------------------------

def get_values(c, names):
    c.send(fw.get_values(names))
    rec = c.rd.read()
    assert rec is not None, "closed instead of answering GET_VALUES"
    assert rec.type == fw.GET_VALUES_RESULT and rec.request_id == 0, rec
    return {k.decode(): v.decode() for k, v in fw.decode_nv(rec.content)}


def test_get_values(app, conns):
    c = conns(app)
    v = get_values(c, ["FCGI_MAX_CONNS", "FCGI_MAX_REQS", "FCGI_MPXS_CONNS",
                       "NO_SUCH_VALUE"])
    assert set(v) == {"FCGI_MAX_CONNS", "FCGI_MAX_REQS", "FCGI_MPXS_CONNS"}
    assert int(v["FCGI_MAX_CONNS"]) >= 1
    assert int(v["FCGI_MAX_REQS"]) >= 1
    assert v["FCGI_MPXS_CONNS"] in ("0", "1")
    if app.threads:
        # Handler threads serve several requests of one connection.
        assert v["FCGI_MPXS_CONNS"] == "1"
    if v["FCGI_MPXS_CONNS"] == "1":
        assert int(v["FCGI_MAX_REQS"]) >= 2
    # The connection goes on.
    json_of(c.request(uri="/after-values"))


def test_get_values_repeated_name(app, conns):
    # libfcgi 2.4.2 smashes its stack on this one (shared/PEERS.md).
    c = conns(app)
    v = get_values(c, ["FCGI_MPXS_CONNS"] * 4)
    assert "FCGI_MPXS_CONNS" in v
    assert_serves(app, conns)


@pytest.mark.parametrize("rtype", [12, 0x7F, 0xFF])
def test_unknown_management_type(app, conns, rtype):
    c = conns(app)
    c.send(fw.record(rtype, 0, b"hello"))
    rec = c.rd.read()
    assert rec is not None, "closed instead of answering UNKNOWN_TYPE"
    assert rec.type == fw.UNKNOWN_TYPE and rec.request_id == 0, rec
    assert rec.content == bytes([rtype]) + b"\0" * 7
    json_of(c.request(uri="/after-unknown"))


# ---- roles ---------------------------------------------------------------

def test_unknown_role(app, conns):
    c = conns(app)
    params = fw.cgi_params("GET", "/role99")
    c.send(fw.request_bytes(1, params, role=99, flags=fw.KEEP_CONN))
    resp = fw.read_response(c.rd, 1)
    assert resp.protocol_status == fw.UNKNOWN_ROLE
    assert not resp.stdout
    # The connection and the id are usable again.
    j = json_of(c.request(rid=1, uri="/after-role"))
    assert j["params"]["REQUEST_URI"] == "/after-role"


def test_authorizer_role(app, conns):
    c = conns(app)
    params = [p for p in fw.cgi_params("GET", "/auth")
              if p[0] not in ("SCRIPT_NAME",)]
    c.send(fw.request_bytes(1, params, role=fw.AUTHORIZER))
    j = json_of(fw.read_response(c.rd, 1))
    assert j["role"] == "AUTHORIZER"


def test_filter_role(app, conns):
    c = conns(app)
    body = b"stdin bytes"
    data = sup.det_bytes("filter", 100000)
    params = fw.cgi_params("POST", "/filter", len(body), [
        ("FCGI_DATA_LAST_MOD", "1700000000"),
        ("FCGI_DATA_LENGTH", str(len(data)))])
    c.send(fw.request_bytes(1, params, body, role=fw.FILTER, data=data))
    j = json_of(fw.read_response(c.rd, 1))
    assert j["role"] == "FILTER"
    assert j["body_bytes"] == len(body)
    assert j["body_fnv1a64"] == sup.fnv_hex(body)
    assert j["data_bytes"] == len(data)
    assert j["data_fnv1a64"] == sup.fnv_hex(data)


# ---- FCGI_KEEP_CONN ------------------------------------------------------

def test_keep_conn_set(app, conns):
    c = conns(app)
    for i in range(2):
        j = json_of(c.request(uri="/k%d" % i, flags=fw.KEEP_CONN))
        assert j["params"]["REQUEST_URI"] == "/k%d" % i
    assert not c.rd.wait_eof(0.3), "closed although FCGI_KEEP_CONN was set"
    assert "FCGI_MPXS_CONNS" in get_values(c, ["FCGI_MPXS_CONNS"])


def test_keep_conn_clear(app, conns):
    c = conns(app)
    json_of(c.request(uri="/once", flags=0))
    assert c.rd.wait_eof(5), "still open after END_REQUEST without KEEP_CONN"


def test_unknown_flag_bits_ignored(app, conns):
    c = conns(app)
    for i in range(2):
        j = json_of(c.request(uri="/flags%d" % i, flags=0xFE | fw.KEEP_CONN))
        assert j["params"]["REQUEST_URI"] == "/flags%d" % i
    json_of(c.request(uri="/flags-close", flags=0xFE))
    assert c.rd.wait_eof(5), "still open after END_REQUEST without KEEP_CONN"


# ---- multiplexing ----------------------------------------------------------

def test_multiplexing_interleaved(mpx_app, conns):
    c = conns(mpx_app)
    uris = {1: "/m1?sleep_ms=1000", 2: "/m2", 3: "/m3"}
    bodies = {i: sup.det_bytes("mpx%d" % i, 1000 * i) for i in uris}
    streams = {}
    for i, uri in uris.items():
        streams[i] = [fw.begin(i, flags=fw.KEEP_CONN)]
        pairs = fw.nv_pairs(fw.cgi_params("POST", uri, len(bodies[i])))
        half = len(pairs) // 2
        streams[i] += [fw.record(fw.PARAMS, i, pairs[:half]),
                       fw.record(fw.PARAMS, i, pairs[half:]),
                       fw.record(fw.PARAMS, i)]
        streams[i] += [fw.record(fw.STDIN, i, bodies[i][:500]),
                       fw.record(fw.STDIN, i, bodies[i][500:]),
                       fw.record(fw.STDIN, i)]
    # Round robin, record by record: 1, 2, 3, 1, 2, 3...
    out = b""
    for k in range(len(streams[1])):
        for i in (1, 2, 3):
            out += streams[i][k]
    c.send(out)
    order = []
    resp = fw.read_responses(c.rd, [1, 2, 3], timeout=15, order=order)
    assert order[-1] == 1, "the sleeping request ended before others: %s" \
        % order
    for i in (1, 2, 3):
        j = json_of(resp[i])
        assert j["params"]["REQUEST_URI"] == uris[i]
        assert j["body_bytes"] == len(bodies[i])
        assert j["body_fnv1a64"] == sup.fnv_hex(bodies[i])


# ---- ABORT_REQUEST ---------------------------------------------------------

def test_abort_request(app, conns):
    c = conns(app)
    offset = app.proc.log_size()
    c.send(fw.request_bytes(1, fw.cgi_params("GET", "/slow?sleep_ms=20000")))
    time.sleep(0.2)
    t0 = time.monotonic()
    c.send(fw.abort(1))
    resp = fw.read_response(c.rd, 1, timeout=10)
    took = time.monotonic() - t0
    # "As soon as possible" (section 5.4): this is a no-hang check, with a
    # bound far above the expected milliseconds, and below the 20 s sleep.
    assert took < 5, "END_REQUEST came %.1f s after ABORT_REQUEST" % took
    assert resp.protocol_status == fw.REQUEST_COMPLETE
    sup.wait_until(lambda: "abort" in app.proc.log_since(offset).lower(),
                   5, "a line with 'abort' on the app's stderr")
    # The id is free again and the connection goes on.
    j = json_of(c.request(rid=1, uri="/after-abort"))
    assert j["params"]["REQUEST_URI"] == "/after-abort"
    assert_serves(app, conns)


def test_abort_unknown_id_ignored(app, conns):
    c = conns(app)
    c.send(fw.abort(5))
    json_of(c.request(uri="/after-abort5"))


# ---- full-duplex streaming -------------------------------------------------

@pytest.mark.timeout_s(90)
def test_echo_body_full_duplex(app, conns):
    # The app may answer before STDIN ends (section 6.2): send 16 MiB while
    # reading the echo at the same time, as no web server does.
    c = conns(app, timeout=30)
    n = 16 << 20
    block = sup.det_bytes("duplex", 1 << 20)
    c.send(fw.begin(1) + fw.stream(fw.PARAMS, 1, fw.nv_pairs(
        fw.cgi_params("POST", "/d?echo=body", n))))
    errors = []

    def sender():
        try:
            for _ in range(16):
                for i in range(0, len(block), 65535):
                    c.sock.sendall(fw.record(fw.STDIN, 1,
                                             block[i:i + 65535]))
            c.sock.sendall(fw.record(fw.STDIN, 1))
        except OSError as e:
            errors.append(e)

    th = threading.Thread(target=sender, daemon=True)
    th.start()
    resp = fw.read_response(c.rd, 1, timeout=60)
    th.join(10)
    assert not errors, errors
    r = resp.cgi()
    assert r.status == 200, r
    assert len(r.body) == n
    assert r.body == block * 16


# ---- bad input -------------------------------------------------------------

def test_short_body_ends_request(app, conns):
    c = conns(app)
    offset = app.proc.log_size()
    c.send(fw.begin(1) + fw.stream(fw.PARAMS, 1, fw.nv_pairs(
        fw.cgi_params("POST", "/short", 100))) + fw.stream(fw.STDIN, 1,
                                                           b"x" * 10))
    how, resp = read_until_end_or_eof(c.rd, 1, timeout=10)
    assert how == "end", "closed without END_REQUEST"
    r = resp.cgi()
    assert r.status >= 400 or b"error" in r.body.lower(), r
    assert_logged_since(app, offset)
    assert_serves(app, conns)


def test_bad_version_closes_only_that_connection(app, conns):
    a = conns(app)
    json_of(a.request(uri="/a1"))
    b = conns(app)
    json_of(b.request(uri="/b1"))
    offset = app.proc.log_size()
    # On a connection that already speaks FastCGI, so that framing (not
    # the protocol guess from the first byte) refuses it.
    b.send_bad(fw.record(fw.BEGIN_REQUEST, 2, struct.pack(">HB5x", 1, 1),
                         version=2))
    assert b.rd.wait_eof(5), "a record with version 2 did not close"
    assert_logged_since(app, offset)
    j = json_of(a.request(uri="/a2"))
    assert j["params"]["REQUEST_URI"] == "/a2"
    assert_serves(app, conns)


def test_first_byte_neither_fastcgi_nor_scgi(app, conns):
    b = conns(app)
    b.send_bad(fw.record(fw.BEGIN_REQUEST, 1, struct.pack(">HB5x", 1, 1),
                         version=2))
    assert b.rd.wait_eof(5), "a first byte of 2 did not close"
    assert_serves(app, conns)


def test_garbage_closes_only_that_connection(app, conns):
    b = conns(app)
    # A header announcing 65535 content bytes that never come: the app may
    # wait for them; closing must free the connection.
    b.send_bad(b"\x01" + b"\xff" * 64)
    b.rd.wait_eof(0.3)
    b.close()
    b = conns(app)
    b.send_bad(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert b.rd.wait_eof(5), "HTTP sent to the FastCGI socket did not close"
    assert_serves(app, conns)


def test_begin_request_wrong_length(app, conns):
    c = conns(app)
    offset = app.proc.log_size()
    c.send_bad(fw.record(fw.BEGIN_REQUEST, 1, b"\0\x01\x01\0\0\0\0") +
               fw.stream(fw.PARAMS, 1, fw.nv_pairs(
                   fw.cgi_params("GET", "/b7"))) +
               fw.record(fw.STDIN, 1))
    how, resp = read_until_end_or_eof(c.rd, 1)
    assert_not_success(resp)
    assert_logged_since(app, offset)
    assert_serves(app, conns)


@pytest.mark.parametrize("which", ["name", "value"])
def test_param_length_31_bits(app, conns, which):
    # A 4-byte length of 0x7fffffff: the libfcgi CVE-2025-23016 class.
    c = conns(app)
    offset = app.proc.log_size()
    if which == "name":
        evil = b"\xff\xff\xff\xff\x01" + b"A" * 64
    else:
        evil = b"\x04\xff\xff\xff\xffNAME" + b"v" * 64
    pairs = fw.nv_pairs(fw.cgi_params("GET", "/evil")) + evil
    c.send_bad(fw.begin(1) + fw.record(fw.PARAMS, 1, pairs) +
               fw.record(fw.PARAMS, 1) + fw.record(fw.STDIN, 1))
    how, resp = read_until_end_or_eof(c.rd, 1)
    # The request ends with an error status; the connection may go on.
    assert how == "end", "closed instead of refusing the request"
    assert resp.stdout, "END_REQUEST without an error answer"
    assert resp.cgi().status >= 400, resp.cgi()
    assert_logged_since(app, offset)
    assert_serves(app, conns)


def test_too_many_params(app, conns):
    c = conns(app)
    offset = app.proc.log_size()
    extra = [("HTTP_X_P%04d" % i, "value%d" % i) for i in range(2000)]
    c.send_bad(fw.request_bytes(1, fw.cgi_params("GET", "/many", None,
                                                 extra)))
    how, resp = read_until_end_or_eof(c.rd, 1)
    assert how == "end", "closed instead of refusing the request"
    assert resp.stdout, "END_REQUEST without an error answer"
    assert resp.cgi().status >= 400, resp.cgi()
    assert_logged_since(app, offset)
    assert_serves(app, conns)


def test_application_record_with_id_zero(app, conns):
    c = conns(app)
    c.send_bad(fw.record(fw.STDIN, 0, b"x"))
    c.rd.wait_eof(1)
    assert_serves(app, conns)


def test_half_record_then_close(app, conns):
    for cut in (3, 8, 12):
        c = conns(app)
        c.send(fw.request_bytes(1, fw.cgi_params("GET", "/cut"))[:cut])
        c.close()
    assert_serves(app, conns)
