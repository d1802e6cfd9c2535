"""examples/hello, the smallest program on anycgi.h, behind real nginx."""
import pytest


@pytest.fixture
def hello_web(servers, hello_bin, transport):
    return servers.nginx(servers.app(hello_bin, transport))


@pytest.mark.parametrize("path", ["/fcgi/hello", "/keep/hello",
                                  "/scgi/hello"])
def test_hello_through_nginx(hello_web, path):
    for _ in range(3):
        r = hello_web.request("GET", path)
        assert r.status == 200, r
        assert r.header("content-type").startswith("text/plain"), r
        assert r.body == b"Hello, world!\n"


def test_hello_post_ignored_body(hello_web):
    r = hello_web.request("POST", "/fcgi/hello", body=b"x" * 100000)
    assert r.status == 200, r
    assert r.body == b"Hello, world!\n"
