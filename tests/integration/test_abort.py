"""A client that goes away mid-request: nginx closes its connection to the
app, the library logs a line with "abort" on stderr, and the app goes on
serving."""
import socket
import time

import pytest

import acgi_support as sup


def wait_abort_logged(app, offset, timeout=10):
    sup.wait_until(lambda: "abort" in app.proc.log_since(offset).lower(),
                   timeout, "a line with 'abort' in the app's stderr",
                   interval=0.05, proc=app.proc)


def still_serves(app, web):
    assert app.alive(), app.proc.log_tail()
    for loc in ("/fcgi/after", "/keep/after", "/scgi/after"):
        j = web.get_json(loc + "?n=1", body=b"12345")
        assert j["body_bytes"] == 5


@pytest.mark.parametrize("threads", [None, 4], ids=["loop", "threads4"])
def test_disconnect_mid_response(servers, echo_bin, transport, threads):
    app = servers.app(echo_bin, transport, threads=threads)
    web = servers.nginx(app)
    offset = app.proc.log_size()
    s = socket.create_connection(("127.0.0.1", web.port), timeout=10)
    try:
        s.sendall(b"GET /stream/big?size=500000000 HTTP/1.1\r\n"
                  b"Host: localhost\r\n\r\n")
        got = 0
        while got < 512 * 1024:
            chunk = s.recv(1 << 16)
            assert chunk, "nginx closed before sending 512 KiB"
            got += len(chunk)
    finally:
        s.close()
    wait_abort_logged(app, offset)
    still_serves(app, web)


@pytest.mark.parametrize("threads", [None, 4], ids=["loop", "threads4"])
def test_disconnect_while_app_sleeps(servers, echo_bin, transport, threads):
    app = servers.app(echo_bin, transport, threads=threads)
    web = servers.nginx(app)
    offset = app.proc.log_size()
    s = socket.create_connection(("127.0.0.1", web.port), timeout=10)
    s.sendall(b"GET /fcgi/slow?sleep_ms=1500&size=100000 HTTP/1.1\r\n"
              b"Host: localhost\r\n\r\n")
    time.sleep(0.3)
    s.close()
    wait_abort_logged(app, offset)
    still_serves(app, web)
