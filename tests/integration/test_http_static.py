"""--document-root in the standalone front end (`anycgi __front`, issue 5
item 6): files that are not scripts are served by the front end itself
(sendfile, ETag/Last-Modified, Range, HEAD), never from outside the root,
with scripts and everything else going to the app."""
import hashlib
import json
import os
import pwd
import shutil
import stat
import tempfile

import pytest

import acgi_support as sup
from test_http import anycgi_bin, raw, req, start_http_echo  # noqa: F401

BIG = 100 << 20


def make_site(root):
    os.makedirs(os.path.join(root, "sub"))
    files = {
        "hello.txt": b"hello, static\n",
        "style.css": b"body { color: red }\n",
        "app.php": b"not run here: the echo app answers\n",
        "sub/index.html": b"<p>sub</p>\n",
        "range.bin": sup.alphabet_at(0, 65536),
    }
    for name, data in files.items():
        with open(os.path.join(root, name), "wb") as f:
            f.write(data)
    return files


@pytest.fixture
def site(servers, anycgi_bin):  # noqa: F811
    root = os.path.join(servers.workdir, "site")
    files = make_site(root)
    log = os.path.join(servers.workdir, "access.log")
    f = start_http_echo(servers, anycgi_bin, args=[
        "--document-root", root, "--access-log", log])
    f.root, f.files, f.log = root, files, log
    return f


def test_static_get_and_script_to_app(site):
    r = site.request("GET", "/hello.txt")
    assert r.status == 200
    assert r.body == site.files["hello.txt"]
    assert r.header("content-type").startswith("text/plain")
    assert r.header("accept-ranges") == "bytes"
    # A script goes to the app, with its name and what follows it.
    p = site.get_json("/app.php/x/y?q=1")["params"]
    assert p["SCRIPT_NAME"] == "/app.php"
    assert p["PATH_INFO"] == "/x/y"
    assert p["SCRIPT_FILENAME"] == site.root + "/app.php"
    assert p["PATH_TRANSLATED"] == site.root + "/x/y"
    assert p["DOCUMENT_ROOT"] == site.root
    assert p["QUERY_STRING"] == "q=1"
    p = site.get_json("/app.php")["params"]
    assert "PATH_INFO" not in p and "PATH_TRANSLATED" not in p
    # Folders, missing files.
    assert site.request("GET", "/sub/").body == b"<p>sub</p>\n"
    r = site.request("GET", "/sub?a=1")
    assert r.status == 301 and r.header("location") == "/sub/?a=1"
    assert site.request("GET", "/nothing.txt").status == 404
    # The access log has the static answers too.
    with open(site.log) as f:
        log = f.read()
    assert '"GET /hello.txt HTTP/1.1" 200 %d' % len(site.files["hello.txt"]) \
        in log
    assert '"GET /nothing.txt HTTP/1.1" 404' in log


def test_big_file_by_sendfile(site):
    data = os.urandom(1 << 20) * (BIG >> 20)
    with open(os.path.join(site.root, "big.bin"), "wb") as f:
        f.write(data)
    want = hashlib.sha256(data).hexdigest()
    c = raw(site, req("/big.bin"))
    r = c.response(timeout=60)
    assert r.status == 200
    assert int(r.header("content-length")) == BIG
    assert hashlib.sha256(r.body).hexdigest() == want
    # The connection is kept: a second request on it.
    c.send(req("/hello.txt"))
    assert c.response().body == b"hello, static\n"
    c.close()


def test_range(site):
    r = site.request("GET", "/range.bin", [("Range", "bytes=100-199")])
    assert r.status == 206
    assert r.header("content-range") == "bytes 100-199/65536"
    assert r.body == sup.alphabet_at(100, 100)
    r = site.request("GET", "/range.bin", [("Range", "bytes=-10")])
    assert r.status == 206 and r.body == sup.alphabet_at(65526, 10)
    r = site.request("GET", "/range.bin", [("Range", "bytes=70000-")])
    assert r.status == 416
    assert r.header("content-range") == "bytes */65536"
    # If-Range with another version: the whole file.
    r = site.request("GET", "/range.bin", [("Range", "bytes=0-9"),
                                           ("If-Range", '"other"')])
    assert r.status == 200 and len(r.body) == 65536


def test_not_modified(site):
    r = site.request("GET", "/style.css")
    etag, modified = r.header("etag"), r.header("last-modified")
    assert etag and modified
    r = site.request("GET", "/style.css", [("If-None-Match", etag)])
    assert r.status == 304 and r.body == b""
    assert r.header("etag") == etag
    r = site.request("GET", "/style.css", [("If-Modified-Since", modified)])
    assert r.status == 304
    r = site.request("GET", "/style.css", [("If-None-Match", '"x"')])
    assert r.status == 200 and r.body == site.files["style.css"]


def test_head(site):
    c = raw(site, req("/range.bin", method="HEAD") + req("/hello.txt"))
    r = c.response(head=True)
    assert r.status == 200
    assert r.header("content-length") == "65536"
    # Nothing after the head: the next answer follows at once.
    r = c.response()
    assert r.status == 200 and r.body == b"hello, static\n"
    c.close()


def test_pipelined_static_and_app(site):
    data = (req("/range.bin") + req("/app.php/one") + req("/hello.txt") +
            req("/sub") + req("/app.php/two") + req("/style.css"))
    c = raw(site, data)
    assert c.response().body == sup.alphabet_at(0, 65536)
    assert json.loads(c.response().body)["params"]["PATH_INFO"] == "/one"
    assert c.response().body == b"hello, static\n"
    assert c.response().status == 301
    assert json.loads(c.response().body)["params"]["PATH_INFO"] == "/two"
    assert c.response().body == site.files["style.css"]
    assert not c.closed(0.2)
    c.close()


def test_post_to_static_file_is_405(site):
    r = site.request("POST", "/hello.txt", body=b"a=b")
    assert r.status == 405
    assert r.header("allow") == "GET, HEAD"
    # A script takes POST.
    j = site.get_json("/app.php", body=b"a=b")
    assert j["body_bytes"] == 3


def test_symlink_out_of_root_is_403(site, servers):
    secret = os.path.join(servers.workdir, "secret.txt")
    with open(secret, "w") as f:
        f.write("outside\n")
    os.symlink(secret, os.path.join(site.root, "link.txt"))
    os.symlink("../secret.txt", os.path.join(site.root, "rel.txt"))
    for path in ("/link.txt", "/rel.txt"):
        r = site.request("GET", path)
        assert r.status == 403, (path, r)
        assert b"outside" not in r.body
    for path in ("/../secret.txt", "/%2e%2e/secret.txt",
                 "/sub/..%2f..%2fsecret.txt"):
        r = site.request("GET", path)
        assert r.status in (400, 403, 404), (path, r)
        assert b"outside" not in r.body


def test_unreadable_file_is_403(servers, anycgi_bin):  # noqa: F811
    # The front end as root would read anything: it runs as nobody then,
    # in a folder nobody may enter.
    top = tempfile.mkdtemp(prefix="acgi-static-")
    try:
        os.chmod(top, 0o755)
        root = os.path.join(top, "site")
        make_site(root)
        for dirpath, dirs, files in os.walk(top):
            for d in dirs:
                os.chmod(os.path.join(dirpath, d), 0o755)
            for fn in files:
                os.chmod(os.path.join(dirpath, fn), 0o644)
        os.chmod(os.path.join(root, "hello.txt"), 0o000)
        prefix = []
        if os.geteuid() == 0:
            pw = pwd.getpwnam("nobody")
            prefix = [shutil.which("setpriv"), "--reuid=%d" % pw.pw_uid,
                      "--regid=%d" % pw.pw_gid, "--clear-groups", "--"]
        f = _front_as(servers, prefix + [anycgi_bin], root)
        r = f.request("GET", "/hello.txt")
        assert r.status == 403
        assert r.body == b"403 Forbidden\n"
        assert f.request("GET", "/style.css").status == 200
    finally:
        shutil.rmtree(top)


def _front_as(servers, argv, root):
    """The front end with argv[0..] as its command (a wrapper to change
    its user); no app behind it (only static answers are asked for)."""
    from test_http import Front
    port = sup.free_port()
    proc = servers.start("front", argv + [
        "__front", "--listen", "127.0.0.1:%d" % port, "--upstream",
        "unix:" + os.path.join(servers.workdir, "none.sock"),
        "--document-root", root])
    sup.wait_until(lambda: sup.listening_in_group(proc.pgid, port=port), 10,
                   "the front end to listen on %d" % port, proc=proc)
    return Front(proc, port, workdir=servers.workdir)


def test_script_pattern_star_sends_all_to_app(servers, anycgi_bin):  # noqa
    root = os.path.join(servers.workdir, "site")
    make_site(root)
    f = start_http_echo(servers, anycgi_bin, args=[
        "--document-root", root, "--script-pattern", "*"])
    for path in ("/hello.txt", "/nothing", "/sub"):
        p = f.get_json(path)["params"]
        assert p["SCRIPT_NAME"] == path
        assert p["SCRIPT_FILENAME"] == root + path
        assert p["DOCUMENT_ROOT"] == root


def test_other_script_pattern(servers, anycgi_bin):  # noqa: F811
    root = os.path.join(servers.workdir, "site")
    make_site(root)
    f = start_http_echo(servers, anycgi_bin, args=[
        "--document-root", root, "--script-pattern", "*.css"])
    p = f.get_json("/style.css/more")["params"]
    assert p["SCRIPT_NAME"] == "/style.css" and p["PATH_INFO"] == "/more"
    # .php is now a plain file.
    r = f.request("GET", "/app.php")
    assert r.status == 200 and r.body == b"not run here: the echo app " \
                                         b"answers\n"
    assert stat.S_ISREG(os.stat(os.path.join(root, "app.php")).st_mode)


def test_head_of_errors_has_no_body(site):
    c = raw(site, req("/nothing", method="HEAD") +
            req("/hello.txt", method="HEAD") + req("/sub", method="HEAD") +
            req("/hello.txt"))
    r = c.response(head=True)
    assert r.status == 404 and r.header("content-length") == "14"
    r = c.response(head=True)
    assert r.status == 200 and r.header("content-length") == "14"
    r = c.response(head=True)
    assert r.status == 301
    r = c.response()
    assert r.status == 200 and r.body == b"hello, static\n"
    c.close()
