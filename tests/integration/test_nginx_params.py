"""What the echo app receives from real nginx, over FastCGI (with and
without kept connections) and SCGI, on a Unix socket and on TCP: the CGI
meta-variables, request headers, and the query words of DESIGN.md."""
import pytest

import acgi_support as sup

# (name, script path prefix) of the nginx locations in acgi_support.
GATEWAYS = [
    pytest.param("/fcgi/script", id="fastcgi"),
    pytest.param("/keep/script", id="fastcgi-keepconn"),
    pytest.param("/scgi/script", id="scgi"),
]


@pytest.fixture(params=GATEWAYS)
def script(request):
    return request.param


def test_get_meta_variables(web, script):
    j = web.get_json(script + "?a=1&b=two%20words")
    p = j["params"]
    assert j["role"] == "RESPONDER"
    assert p["REQUEST_METHOD"] == "GET"
    assert p["QUERY_STRING"] == "a=1&b=two%20words"
    assert p["REQUEST_URI"] == script + "?a=1&b=two%20words"
    assert p["SCRIPT_NAME"] == script
    assert p["SERVER_PROTOCOL"] == "HTTP/1.1"
    assert p["REMOTE_ADDR"] == "127.0.0.1"
    assert p["SERVER_PORT"] == str(web.port)
    # Debian's params files send $host, the Host header without its port.
    assert p["HTTP_HOST"] == "127.0.0.1"
    if script.startswith("/scgi/"):
        assert p["SCGI"] == "1"
        assert p["CONTENT_LENGTH"] == "0"
    else:
        assert p["GATEWAY_INTERFACE"] == "CGI/1.1"
        # fastcgi_params sends it empty for a request without a body.
        assert p.get("CONTENT_LENGTH", "") == ""
        assert p["SCRIPT_FILENAME"] == web.dir + "/www" + script
    assert j["body_bytes"] == 0
    assert j["body_fnv1a64"] == sup.fnv_hex(b"")


def test_post_body_and_content_length(web, script):
    body = b"name=anycgi&lang=C\n" * 3
    j = web.get_json(script, headers=[
        ("Content-Type", "application/x-www-form-urlencoded")], body=body)
    p = j["params"]
    assert p["REQUEST_METHOD"] == "POST"
    assert p["CONTENT_LENGTH"] == str(len(body))
    assert p["CONTENT_TYPE"] == "application/x-www-form-urlencoded"
    assert p["QUERY_STRING"] == ""
    assert j["body_bytes"] == len(body)
    assert j["body_fnv1a64"] == sup.fnv_hex(body)


def test_put_method_passed_verbatim(web, script):
    j = web.get_json(script, method="PUT", body=b"x")
    assert j["params"]["REQUEST_METHOD"] == "PUT"
    assert j["body_bytes"] == 1


def test_http_headers(web, script):
    j = web.get_json(script, headers=[
        ("X-Test", "abc"),
        ("X-Multi", "one"),
        ("X-Multi", "two"),
        ("Cookie", "a=1"),
        ("Cookie", "b=2"),
        ("User-Agent", "anycgi-tests/1"),
    ])
    p = j["params"]
    assert p["HTTP_X_TEST"] == "abc"
    assert p["HTTP_USER_AGENT"] == "anycgi-tests/1"
    # nginx 1.22 sends a repeated header as repeated pairs; the app joins
    # them with ", ", and cookies with "; ".
    assert p["HTTP_X_MULTI"] == "one, two"
    assert p["HTTP_COOKIE"] == "a=1; b=2"


def test_header_bytes_not_utf8(web, script):
    # http.client sends str headers as Latin-1: "\xff" is one byte 0xFF,
    # not valid UTF-8, which the app writes as \u00ff. "\xc3\xa9" is é in
    # UTF-8 and stays é.
    j = web.get_json(script, headers=[("X-Bin", "a\xffb"),
                                      ("X-Utf8", "caf\xc3\xa9")])
    assert j["params"]["HTTP_X_BIN"] == "a\u00ffb"
    assert j["params"]["HTTP_X_UTF8"] == "caf\u00e9"


def test_path_info_fastcgi_split(web):
    j = web.get_json("/app.php/extra/path?x=1")
    p = j["params"]
    assert p["SCRIPT_NAME"] == "/app.php"
    assert p["PATH_INFO"] == "/extra/path"
    assert p["SCRIPT_FILENAME"] == web.dir + "/www/app.php"
    assert p["QUERY_STRING"] == "x=1"
    assert p["REQUEST_URI"] == "/app.php/extra/path?x=1"


def test_path_info_scgi(web):
    j = web.get_json("/scgi/app/extra/path?x=1")
    p = j["params"]
    assert p["SCRIPT_NAME"] == "/scgi/app"
    assert p["PATH_INFO"] == "/extra/path"
    assert p["QUERY_STRING"] == "x=1"


def test_status_word(web, script):
    r = web.request("GET", script + "?status=404")
    assert r.status == 404, r
    r = web.request("GET", script + "?status=503")
    assert r.status == 503, r


def test_size_word(web, script):
    r = web.request("GET", script + "?size=100000")
    assert r.status == 200, r
    assert r.header("content-type").startswith("text/plain"), r
    assert r.body == sup.alphabet_at(0, 100000)


def test_echo_body_word(web, script):
    # Small enough to fit the socket buffers: nginx sends the whole body
    # before it reads any answer (shared/PEERS.md), so a bigger echo would
    # block both sides.
    body = sup.det_bytes("echo", 50000)
    r = web.request("POST", script + "?echo=body", body=body)
    assert r.status == 200, r
    assert r.header("content-type") == "application/octet-stream", r
    assert r.body == body


def test_stderr_word_reaches_nginx_log(web):
    # Over FastCGI the text travels in FCGI_STDERR records, which nginx
    # writes to its error log.
    j = web.get_json("/fcgi/script?stderr=marker-7f3a")
    assert j["params"]["QUERY_STRING"] == "stderr=marker-7f3a"
    sup.wait_until(lambda: "marker-7f3a" in web.error_log_tail(200), 5,
                   "the stderr text in nginx's error log")


def test_sleep_word(web):
    import time
    t0 = time.monotonic()
    j = web.get_json("/fcgi/script?sleep_ms=300")
    assert time.monotonic() - t0 >= 0.3
    assert j["params"]["QUERY_STRING"] == "sleep_ms=300"
