"""SCGI straight on the socket: the protocol's own example, and malformed
netstrings, which close only their connection."""
import pytest

import acgi_support as sup
import fcgi_wire as fw

# The example of shared/PROTOCOLS.md (SCGI protocol.txt): a 70-byte header
# block and a 27-byte body.
EXAMPLE_BLOCK = (b"CONTENT_LENGTH\x0027\x00SCGI\x001\x00REQUEST_METHOD\x00POST"
                 b"\x00REQUEST_URI\x00/deepthought\x00")
EXAMPLE_BODY = b"What is the answer to life?"


def netstring(block):
    return str(len(block)).encode() + b":" + block + b","


@pytest.fixture(params=[None, 4], ids=["loop", "threads4"])
def app(request, servers, echo_bin, transport):
    return servers.app(echo_bin, transport, threads=request.param)


def exchange(app, data, timeout=10):
    s = app.connect(timeout)
    try:
        s.sendall(data)
        return fw.recv_all(s, timeout)
    finally:
        s.close()


def assert_serves(app):
    assert app.alive(), app.proc.log_tail()
    out = exchange(app, fw.scgi_request(
        {"REQUEST_METHOD": "POST", "REQUEST_URI": "/ok"}, b"12345"))
    r = fw.parse_cgi_response(out)
    assert r.status == 200, r
    assert sup.HttpResponse(200, [], r.body).json()["body_bytes"] == 5


def test_protocol_example(app):
    assert len(EXAMPLE_BLOCK) == 70 and len(EXAMPLE_BODY) == 27
    out = exchange(app, b"70:" + EXAMPLE_BLOCK + b"," + EXAMPLE_BODY)
    # The app answers a CGI response and closes (recv_all saw the close).
    r = fw.parse_cgi_response(out)
    assert r.status == 200, r
    assert r.header("content-type") == "application/json"
    j = sup.HttpResponse(200, [], r.body).json()
    assert j["role"] == "RESPONDER"
    assert j["params"]["CONTENT_LENGTH"] == "27"
    assert j["params"]["SCGI"] == "1"
    assert j["params"]["REQUEST_METHOD"] == "POST"
    assert j["params"]["REQUEST_URI"] == "/deepthought"
    assert j["body_bytes"] == 27
    assert j["body_fnv1a64"] == sup.fnv_hex(EXAMPLE_BODY)


def test_example_one_byte_at_a_time(app):
    data = b"70:" + EXAMPLE_BLOCK + b"," + EXAMPLE_BODY
    s = app.connect()
    try:
        for i in range(len(data)):
            s.sendall(data[i:i + 1])
        out = fw.recv_all(s)
    finally:
        s.close()
    j = sup.HttpResponse(200, [], fw.parse_cgi_response(out).body).json()
    assert j["body_fnv1a64"] == sup.fnv_hex(EXAMPLE_BODY)


def test_repeated_and_empty_values(app):
    out = exchange(app, fw.scgi_request([
        ("REQUEST_METHOD", "GET"), ("HTTP_X_MULTI", "one"),
        ("HTTP_X_MULTI", "two"), ("HTTP_X_EMPTY", "")]))
    j = sup.HttpResponse(200, [], fw.parse_cgi_response(out).body).json()
    assert j["params"]["HTTP_X_MULTI"] == "one, two"
    assert j["params"]["HTTP_X_EMPTY"] == ""


@pytest.mark.parametrize("bad", [
    pytest.param(b"70:" + EXAMPLE_BLOCK + b"X" + EXAMPLE_BODY,
                 id="no-comma"),
    pytest.param(b"070:" + EXAMPLE_BLOCK + b"," + EXAMPLE_BODY,
                 id="leading-zero"),
    pytest.param(b":" + EXAMPLE_BLOCK + b",", id="no-digits"),
    pytest.param(b"70;" + EXAMPLE_BLOCK + b",", id="no-colon"),
    pytest.param(b"99999999999999999999:", id="huge-length"),
    pytest.param(netstring(b"SCGI\x001\x00CONTENT_LENGTH\x000\x00"),
                 id="content-length-not-first"),
    pytest.param(netstring(b"CONTENT_LENGTH\x00abc\x00SCGI\x001\x00"),
                 id="content-length-not-a-number"),
    pytest.param(netstring(b"CONTENT_LENGTH\x000\x00SCGI\x001"),
                 id="pair-without-nul"),
])
def test_malformed_closes_that_connection(app, bad):
    offset = app.proc.log_size()
    s = app.connect()
    try:
        try:
            s.sendall(bad)
        except (BrokenPipeError, ConnectionResetError):
            pass  # refused before it read all: fine
        out = fw.recv_all(s, timeout=5)
    finally:
        s.close()
    if out:
        r = fw.parse_cgi_response(out)
        assert r.status >= 400, r
    sup.wait_until(lambda: app.proc.log_since(offset).strip(), 5,
                   "a log line on the app's stderr", proc=app.proc)
    assert_serves(app)


def test_short_body_does_not_hang(app):
    s = app.connect()
    try:
        s.sendall(b"70:" + EXAMPLE_BLOCK + b"," + EXAMPLE_BODY[:10])
        s.shutdown(1)  # no more bytes: 17 of the 27 never come
        out = fw.recv_all(s, timeout=5)
    finally:
        s.close()
    if out:
        r = fw.parse_cgi_response(out)
        assert r.status >= 400 or b"error" in r.body.lower(), r
    assert_serves(app)
