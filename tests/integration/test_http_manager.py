"""--http under the process manager (issue 5): a pool's HTTP listeners get a
pool of their own, NAME-http, whose worker is the front end, unprivileged,
connected to the app pool through a private socket; it shows in status, is
restarted when it dies, rolls with a reload without losing a request, and
with --document-root makes `anycgi run --http ... -- php-cgi` a PHP
development server that serves the folder's other files itself."""
import concurrent.futures
import grp
import json
import os
import pwd
import re
import signal
import socket
import subprocess
import threading
import time

import pytest

import acgi_support as sup

children = sup.children


@pytest.fixture
def anycgi_bin(build_dir):
    path = os.path.join(build_dir, "src", "cli", "anycgi")
    assert os.access(path, os.X_OK), path
    return path


def run(binary, *args, timeout=15):
    return subprocess.run([binary] + list(args), capture_output=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)


def status(binary, addr):
    r = run(binary, "status", "--json", addr)
    assert r.returncode == 0, r
    return json.loads(r.stdout)


def pool_named(st, name):
    for p in st["pools"]:
        if p["name"] == name:
            return p
    raise AssertionError("no pool %s in %s" % (name, st))


def get(port, path="/", **kw):
    return sup.http_request(port, "GET", path, **kw)


def start_http(servers, argv, port, name="anycgi"):
    """Starts a master with --http 127.0.0.1:port and waits for an
    answer through it."""
    proc = servers.start(name, argv, sup.clean_env())

    def up():
        try:
            return get(port, "/", timeout=2).status > 0
        except OSError:
            return False
    sup.wait_until(up, 15, "an HTTP answer on port %d" % port, proc=proc)
    return proc


def front_pid(master):
    for pid in children(master.pid):
        try:
            with open("/proc/%d/cmdline" % pid, "rb") as f:
                if b"__front" in f.read():
                    return pid
        except OSError:
            pass
    return None


def front_pids(master):
    return [p for p in children(master.pid) if _cmd_has(p, b"__front")]


def proc_uid(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("Uid:"):
                return int(line.split()[1])
    raise AssertionError("no Uid for %d" % pid)


def upstream_of(pid):
    with open("/proc/%d/cmdline" % pid, "rb") as f:
        argv = f.read().split(b"\0")
    return argv[argv.index(b"--upstream") + 1].decode()


def test_echo_over_http_alone(servers, anycgi_bin):
    port = sup.free_port()
    m = start_http(servers, [anycgi_bin, "echo", "--http",
                             "127.0.0.1:%d" % port, "--workers", "2"], port)
    r = get(port, "/hello?x=1", headers=[("X-Test", "yes")])
    assert r.status == 200, r
    params = r.json()["params"]
    assert params["REQUEST_URI"] == "/hello?x=1"
    assert params["QUERY_STRING"] == "x=1"
    assert params["HTTP_X_TEST"] == "yes"
    # Two pools: the app and its front end, found by the HTTP address.
    st = status(anycgi_bin, "127.0.0.1:%d" % port)
    app, front = pool_named(st, "echo"), pool_named(st, "echo-http")
    assert len(app["processes"]) == 2
    assert len(front["processes"]) == 1
    assert [l["protocol"] for l in front["listeners"]] == ["http"]
    assert front["listeners"][0]["addr"] == "127.0.0.1:%d" % port
    # The front end is unprivileged and alone may use the private socket.
    fp = front_pid(m)
    assert fp and front["processes"][0]["pid"] == fp
    nobody = pwd.getpwnam("nobody").pw_uid
    assert proc_uid(fp) == (nobody if os.geteuid() == 0 else os.geteuid())
    up = upstream_of(fp)
    assert up.startswith("unix:") and up.endswith("/echo.sock"), up
    path = up[5:]
    st_sock = os.stat(path)
    assert st_sock.st_mode & 0o777 == 0o600
    if os.geteuid() == 0:
        assert st_sock.st_uid == nobody
    assert app["listeners"][0]["addr"] == up
    # A graceful stop removes the private folder.
    m.popen.send_signal(signal.SIGQUIT)
    assert m.popen.wait(timeout=20) == 0
    m.expect_exit = True
    assert not os.path.exists(os.path.dirname(path))


def test_front_end_restarts_after_a_crash(servers, anycgi_bin):
    port = sup.free_port()
    m = start_http(servers, [anycgi_bin, "echo", "--http",
                             "127.0.0.1:%d" % port], port)
    fp = front_pid(m)
    os.kill(fp, signal.SIGKILL)

    def back():
        pid = front_pid(m)
        if pid in (None, fp):
            return False
        try:
            return get(port, "/again", timeout=2).status == 200
        except OSError:
            return False
    sup.wait_until(back, 15, "a new front end answering", proc=m)
    assert "echo-http" in m.log_text()


def _hammer(port, stop, counts, errors):
    """Requests until stop: a kept connection and fresh ones, GET and
    POST, each answer checked."""
    import http.client
    kept = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    i = 0
    while not stop.is_set():
        i += 1
        body = b"x" * (i % 300)
        try:
            if i % 2:
                kept.request("POST", "/k?i=%d" % i, body=body)
                r = kept.getresponse()
                data = r.read()
            else:
                r2 = sup.http_request(port, "POST", "/f?i=%d" % i, body=body,
                                      timeout=10)
                r, data = r2, r2.body
            j = json.loads(data)
            if r.status != 200 or j["body_bytes"] != len(body):
                errors.append("bad answer %d %r" % (r.status, data[:200]))
            counts[0] += 1
        except Exception as e:  # noqa: BLE001 (any failure counts)
            errors.append("%s: %r" % (type(e).__name__, e))
            kept.close()
            kept = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    kept.close()


@pytest.mark.timeout_s(120)
def test_reload_under_load_loses_nothing(servers, anycgi_bin):
    port = sup.free_port()
    m = start_http(servers, [anycgi_bin, "echo", "--http",
                             "127.0.0.1:%d" % port, "--workers", "2",
                             "--drain-timeout", "10"], port)
    stop, errors = threading.Event(), []
    counts = [[0] for _ in range(3)]
    with concurrent.futures.ThreadPoolExecutor(3) as ex:
        futs = [ex.submit(_hammer, port, stop, c, errors) for c in counts]
        fronts = set(front_pids(m))
        for _ in range(5):
            time.sleep(0.5)
            r = run(anycgi_bin, "reload", "127.0.0.1:%d" % port)
            assert r.returncode == 0, r
            sup.wait_until(lambda: "reload" not in json.dumps(
                [p["health"] for p in status(anycgi_bin, "127.0.0.1:%d" %
                                             port)["pools"]]),
                30, "the reload to finish", proc=m)
            fronts |= set(front_pids(m))
        time.sleep(0.5)
        stop.set()
        for f in futs:
            f.result()
    assert errors == [], errors[:5]
    assert sum(c[0] for c in counts) > 100
    # The front end rolled with the pool: a new process each time, and
    # the old one passed its kept connections on instead of closing them.
    assert len(fronts) >= 6, fronts
    assert re.search(r"pool echo-http: worker \d+ handed over \d+ kept",
                     m.log_text()), m.log_text()[-2000:]


def test_unreachable_upstream_is_refused_at_start(servers, anycgi_bin,
                                                  hello_bin, workdir):
    if os.geteuid() != 0:
        pytest.fail("this test needs root (the front end runs as nobody)")
    port = sup.free_port()
    os.chmod(workdir, 0o755)  # the front end (nobody) must reach the socket
    sock = os.path.join(workdir, "h.sock")
    r = run(anycgi_bin, "run", "--fastcgi", "unix:" + sock, "--http",
            "127.0.0.1:%d" % port, "--", hello_bin)
    assert r.returncode != 0
    assert b"cannot connect to unix:" in r.stderr, r.stderr
    assert b"--socket-mode" in r.stderr
    # With a socket the front end may use, the same pool serves both.
    m = start_http(servers, [anycgi_bin, "run", "--fastcgi", "unix:" + sock,
                             "--socket-mode", "0666", "--http",
                             "127.0.0.1:%d" % port, "--", hello_bin], port)
    assert get(port, "/").body.startswith(b"Hello")
    assert upstream_of(front_pid(m)) == "unix:" + sock


def test_daemon_http_pool_and_its_options(servers, anycgi_bin, workdir):
    port = sup.free_port()
    log = os.path.join(workdir, "access.log")
    conf = os.path.join(workdir, "a.conf")
    with open(conf, "w") as f:
        f.write("[global]\ncontrol = %s/d.ctl\n\n[web]\napp = echo\n"
                "http = 127.0.0.1:%d\nworkers = 2\nserver-name = example.test\n"
                "access-log = %s\n" % (workdir, port, log))
    os.chmod(workdir, 0o777)  # the front end (nobody) writes its log here
    m = start_http(servers, [anycgi_bin, "daemon", "-c", conf], port)
    r = get(port, "/d?q=1")
    assert r.status == 200
    assert r.json()["params"]["SERVER_NAME"] == "example.test"
    sup.wait_until(lambda: os.path.exists(log) and b"/d?q=1" in
                   open(log, "rb").read(), 5, "the access log line", proc=m)
    # logrotate: the file moved, SIGUSR1 to the master reaches the front
    # end, which writes a new file.
    os.rename(log, log + ".1")
    # The master signals only a front end past its start (the default
    # action of SIGUSR1 would kill one that has not set up its handling).
    ctl = os.path.join(workdir, "d.ctl")
    sup.wait_until(lambda: all(
        x["state"] != "starting" for x in
        pool_named(status(anycgi_bin, ctl), "web-http")["processes"]),
        10, "the front end past its start", proc=m)
    m.popen.send_signal(signal.SIGUSR1)
    sup.wait_until(lambda: os.path.exists(log), 5, "a new access log",
                   proc=m)
    assert get(port, "/rotated").status == 200
    sup.wait_until(lambda: b"/rotated" in open(log, "rb").read(), 5,
                   "the line in the new access log", proc=m)
    assert b"/rotated" not in open(log + ".1", "rb").read()
    # A reload of the pool by name reloads its front end too.
    old = front_pid(m)
    r = run(anycgi_bin, "reload", "web", workdir + "/d.ctl")
    assert r.returncode == 0, r
    sup.wait_until(lambda: front_pid(m) not in (None, old), 20,
                   "a new front end", proc=m)
    assert get(port, "/after").status == 200


# ---- --document-root: a PHP development server ----------------------------

SITE = {
    "index.php": "<?php header('Content-Type: text/plain'); echo 'index ', "
                 "$_SERVER['SCRIPT_NAME'], ' [', $_SERVER['PATH_INFO'] ?? '', "
                 "'] ', $_SERVER['SCRIPT_FILENAME'], ' ', $_GET['a'] ?? '';",
    "info.php": "<?php header('Content-Type: text/plain'); echo "
                "$_SERVER['REQUEST_METHOD'], ' ', $_SERVER['DOCUMENT_ROOT'], ' ',"
                " $_SERVER['PATH_INFO'] ?? '-', ' ', file_get_contents("
                "'php://input');",
    "style.css": "body { color: red }\n",
    "big.bin": None,  # 1 MiB of the alphabet pattern
    ".env": "SECRET=1\n",
    "sub/index.html": "<p>sub</p>\n",
}


@pytest.fixture
def php_site(servers, anycgi_bin, workdir):
    site = os.path.join(workdir, "site")
    for name, text in SITE.items():
        path = os.path.join(site, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(sup.alphabet_at(0, 1 << 20) if text is None
                    else text.encode())
    os.chmod(workdir, 0o755)
    for d, _, files in os.walk(site):
        os.chmod(d, 0o755)
        for n in files:
            os.chmod(os.path.join(d, n), 0o644)
    port = sup.free_port()
    m = start_http(servers, [anycgi_bin, "run", "--http",
                             "127.0.0.1:%d" % port, "--document-root", site,
                             "--workers", "2", "--env", "PHP_FCGI_CHILDREN=0",
                             "--", sup.peer("php-cgi")], port)
    return site, port, m


def test_php_scripts_run(php_site):
    site, port, _ = php_site
    r = get(port, "/info.php/extra")
    assert r.status == 200, r
    assert r.body.decode() == "GET %s /extra " % site
    r = sup.http_request(port, "POST", "/info.php", body=b"a=b")
    assert r.body.decode() == "POST %s - a=b" % site
    r = get(port, "/?a=7")
    assert r.body.decode() == "index /index.php [] %s/index.php 7" % site
    # Nothing there: the index script gets the path (php -S).
    r = get(port, "/blog/2024/post")
    assert r.status == 200
    assert r.body.decode() == "index /index.php [/blog/2024/post] " \
                              "%s/index.php " % site


def test_static_files_served_directly(php_site):
    site, port, _ = php_site
    r = get(port, "/style.css")
    assert r.status == 200
    assert r.body == SITE["style.css"].encode()
    assert r.header("content-type").startswith("text/css")
    etag, modified = r.header("etag"), r.header("last-modified")
    assert etag and modified
    assert get(port, "/style.css", headers=[("If-None-Match", etag)]) \
        .status == 304
    assert get(port, "/style.css", headers=[("If-Modified-Since",
                                             modified)]).status == 304
    r = get(port, "/big.bin", headers=[("Range", "bytes=1000-1999")])
    assert r.status == 206
    assert r.header("content-range") == "bytes 1000-1999/%d" % (1 << 20)
    assert r.body == sup.alphabet_at(1000, 1000)
    r = get(port, "/big.bin")
    assert r.status == 200 and r.body == sup.alphabet_at(0, 1 << 20)
    assert get(port, "/big.bin", headers=[("Range", "bytes=2000000-")]) \
        .status == 416
    r = sup.http_request(port, "HEAD", "/big.bin")
    assert r.status == 200 and r.body == b""
    assert r.header("content-length") == str(1 << 20)
    r = get(port, "/sub/")
    assert r.body == b"<p>sub</p>\n"
    r = get(port, "/sub")
    assert r.status == 301 and r.header("location").endswith("/sub/")


def test_document_root_confines(php_site, workdir):
    site, port, _ = php_site
    with open(os.path.join(workdir, "secret.txt"), "w") as f:
        f.write("outside\n")
    os.symlink(os.path.join(workdir, "secret.txt"),
               os.path.join(site, "link.txt"))
    assert get(port, "/.env").status == 403
    assert get(port, "/link.txt").status == 403
    for path in ("/../secret.txt", "/%2e%2e/secret.txt",
                 "/sub/..%2f..%2fsecret.txt"):
        r = get(port, path)
        assert r.status in (400, 403, 404), (path, r)
        assert b"outside" not in r.body


def test_status_page_over_http(servers, anycgi_bin):
    port, sport = sup.free_port(), sup.free_port()
    m = start_http(servers, [anycgi_bin, "echo", "--http",
                             "127.0.0.1:%d" % port, "--status",
                             "http://127.0.0.1:%d" % sport], port)
    sup.wait_until(lambda: _answers(sport), 15, "the status page", proc=m)
    r = get(sport, "/?json")
    assert r.status == 200, r
    names = {p["name"] for p in r.json()["pools"]}
    assert {"echo", "echo-http"} <= names, names
    html = get(sport, "/")
    assert html.header("content-type").startswith("text/html")
    assert b"echo-http" in html.body
    # Its front end is unprivileged too, and not privileged on the
    # control socket.
    if os.geteuid() == 0:
        nobody = pwd.getpwnam("nobody").pw_uid
        fronts = [p for p in children(m.pid) if _cmd_has(p, b"__front")]
        assert len(fronts) == 2
        assert all(proc_uid(p) == nobody for p in fronts)


def _answers(port):
    try:
        return get(port, "/?text", timeout=2).status == 200
    except OSError:
        return False


def _cmd_has(pid, word):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return word in f.read()
    except OSError:
        return False


def _three_free_ports():
    for _ in range(50):
        p = sup.free_port()
        ok = True
        for q in (p + 1, p + 2):
            s = socket.socket()
            try:
                s.bind(("127.0.0.1", q))
            except OSError:
                ok = False
            finally:
                s.close()
        if ok and p + 2 < 65536:
            return p
    raise AssertionError("no three free ports in a row")


def test_readme_demo(servers, build_dir):
    """The README's first command ends in scripts/demo.sh: the echo app,
    a CGI folder and the status page, on --http, with no web server."""
    port = _three_free_ports()
    script = os.path.join(os.path.dirname(__file__), "..", "..", "scripts",
                          "demo.sh")
    proc = servers.start("demo", ["bash", script, build_dir],
                         sup.clean_env({"ANYCGI_DEMO_PORT": str(port)}))
    sup.wait_until(lambda: "Ctrl-C stops it" in proc.log_text(), 20,
                   "the demo to start", proc=proc)
    r = get(port, "/hello?x=1")
    assert r.json()["params"]["QUERY_STRING"] == "x=1"
    r = get(port + 1, "/hello.sh/extra?q=1")
    assert r.status == 200, r
    assert r.body.startswith(b"Hello from a CGI script: GET /hello.sh, "
                             b"PATH_INFO=/extra, QUERY_STRING=q=1"), r.body
    r = get(port + 2, "/?json")
    assert {"echo", "cgi", "echo-http", "cgi-http"} <= \
        {p["name"] for p in r.json()["pools"]}
