"""Start-up without spawn-fcgi: the program binds ANYCGI_LISTEN itself
(unix:/path, 127.0.0.1:PORT, [::1]:PORT) and serves FastCGI and SCGI there;
FCGI_WEB_SERVER_ADDRS; and a prompt exit on SIGTERM."""
import signal
import time

import pytest

import acgi_support as sup
import fcgi_wire as fw


def fcgi_roundtrip(app, uri="/l?x=1", body=b"hey"):
    s = app.connect()
    try:
        s.sendall(fw.request_bytes(1, fw.cgi_params("POST", uri, len(body)),
                                   body, flags=0))
        resp = fw.read_response(fw.Reader(s), 1)
    finally:
        s.close()
    r = resp.cgi()
    assert r.status == 200, r
    return sup.HttpResponse(200, [], r.body).json()


def scgi_roundtrip(app, body=b"hey"):
    s = app.connect()
    try:
        s.sendall(fw.scgi_request({"REQUEST_METHOD": "POST",
                                   "REQUEST_URI": "/s"}, body))
        out = fw.recv_all(s)
    finally:
        s.close()
    r = fw.parse_cgi_response(out)
    assert r.status == 200, r
    return sup.HttpResponse(200, [], r.body).json()


def test_anycgi_listen(servers, listen_app):
    j = fcgi_roundtrip(listen_app)
    assert j["params"]["QUERY_STRING"] == "x=1"
    assert j["body_bytes"] == 3
    j = scgi_roundtrip(listen_app)
    assert j["params"]["SCGI"] == "1"
    assert j["body_bytes"] == 3
    web = servers.nginx(listen_app)
    for loc in ("/fcgi/n", "/keep/n", "/scgi/n"):
        j = web.get_json(loc + "?via=nginx", body=b"abc")
        assert j["params"]["QUERY_STRING"] == "via=nginx"
        assert j["body_fnv1a64"] == sup.fnv_hex(b"abc")


@pytest.mark.parametrize("kind", ["unix", "tcp"])
def test_anycgi_listen_threads(servers, echo_bin, kind):
    app = servers.app(echo_bin, kind, via="listen", threads=2)
    assert fcgi_roundtrip(app)["body_bytes"] == 3
    assert scgi_roundtrip(app)["body_bytes"] == 3


@pytest.mark.parametrize("via", ["spawn-fcgi", "listen"])
@pytest.mark.parametrize("threads", [None, 4], ids=["loop", "threads4"])
def test_sigterm_exits_promptly(servers, echo_bin, via, threads):
    app = servers.app(echo_bin, "unix", via=via, threads=threads)
    fcgi_roundtrip(app)
    app.proc.expect_exit = True
    # An idle connection must not hold the exit back.
    idle = app.connect()
    try:
        t0 = time.monotonic()
        app.proc.popen.send_signal(signal.SIGTERM)
        try:
            app.proc.popen.wait(timeout=5)
        except Exception:
            pytest.fail("no exit within 5 s of SIGTERM")
        took = time.monotonic() - t0
    finally:
        idle.close()
    # DESIGN.md: every long-running process reacts within a second (the
    # bound leaves room for a sanitizer's exit-time leak check).
    assert took < 2, "exit took %.2f s" % took


@pytest.mark.parametrize("sig", ["SIGQUIT", "SIGUSR1"])
@pytest.mark.parametrize("threads", [None, 4], ids=["loop", "threads4"])
def test_graceful_stop_finishes_request(servers, echo_bin, sig, threads):
    # DESIGN.md: SIGQUIT asks a libanycgi worker to finish and exit (and
    # SIGUSR1, what libfcgi programs want): the request in progress is
    # answered, then the process exits with status 0.
    app = servers.app(echo_bin, "unix", threads=threads)
    app.proc.expect_exit = True
    s = app.connect()
    try:
        s.sendall(fw.request_bytes(1, fw.cgi_params(
            "GET", "/g?sleep_ms=700"), flags=0))
        time.sleep(0.2)
        app.proc.popen.send_signal(getattr(signal, sig))
        resp = fw.read_response(fw.Reader(s), 1, timeout=10)
    finally:
        s.close()
    r = resp.cgi()
    assert r.status == 200, r
    try:
        app.proc.popen.wait(timeout=5)
    except Exception:
        pytest.fail("no exit within 5 s of %s and the end of the request"
                    % sig)
    assert app.proc.popen.returncode == 0, app.proc.popen.returncode


def test_web_server_addrs(servers, echo_bin):
    # Not on the list: the app closes the connection without an answer.
    app = servers.app(echo_bin, "tcp",
                      env={"FCGI_WEB_SERVER_ADDRS": "127.0.0.2,192.0.2.1"})
    s = app.connect()
    try:
        s.sendall(fw.request_bytes(1, fw.cgi_params("GET", "/x")))
        rd = fw.Reader(s)
        assert rd.wait_eof(5), "a peer off the list was not closed"
    finally:
        s.close()
    assert app.alive()
    app2 = servers.app(echo_bin, "tcp",
                       env={"FCGI_WEB_SERVER_ADDRS": "127.0.0.2,127.0.0.1"})
    assert fcgi_roundtrip(app2)["body_bytes"] == 3
