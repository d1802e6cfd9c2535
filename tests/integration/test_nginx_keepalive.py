"""nginx's upstream keepalive with fastcgi_keep_conn on: many requests on a
few kept connections, all answered right, and the connections outlive the
requests; without it, the app closes each connection after its request."""
import pytest

import acgi_support as sup


def app_connections(app):
    """Inodes of the app's side of its accepted connections, from /proc."""
    if app.transport == "unix":
        return sup.unix_connections(app.path)
    return sup.tcp_connections(app.port)


@pytest.mark.parametrize("threads", [None, 4], ids=["loop", "threads4"])
def test_keepalive_200_requests(servers, echo_bin, transport, threads):
    app = servers.app(echo_bin, transport, threads=threads)
    web = servers.nginx(app)
    early = None
    for i in range(200):
        body = sup.det_bytes(i, i * 37)
        j = web.get_json("/keep/k?i=%d" % i, headers=[("X-Seq", str(i))],
                         body=body)
        p = j["params"]
        assert p["QUERY_STRING"] == "i=%d" % i
        assert p["HTTP_X_SEQ"] == str(i)
        assert j["body_bytes"] == len(body)
        assert j["body_fnv1a64"] == sup.fnv_hex(body)
        if i == 9:
            early = app_connections(app)
    final = app_connections(app)
    # Sequential requests need one kept connection; nginx keeps up to 8.
    assert 1 <= len(final) <= 8, final
    # A connection open after request 10 is still open after request 200:
    # the app answered the 190 requests between on kept connections.
    assert early & final, (early, final)


def test_without_keepalive_app_closes(servers, echo_bin, transport):
    app = servers.app(echo_bin, transport)
    web = servers.nginx(app)
    for i in range(20):
        j = web.get_json("/fcgi/k?i=%d" % i)
        assert j["params"]["QUERY_STRING"] == "i=%d" % i
    # nginx clears FCGI_KEEP_CONN here: the app closes after END_REQUEST.
    sup.wait_until(lambda: not app_connections(app), 5,
                   "the app to close its connections")
