"""`anycgi bench` (issue 6) against the echo app under `anycgi echo`, over
FastCGI (new connections, kept ones, multiplexed ones) and SCGI: its
counts agree with what the server reports through `anycgi status --json`,
-n is exact, --json parses, 4xx/5xx answers, crashes and timeouts are
counted as such, and an address nobody listens on fails clearly."""
import json
import os
import subprocess

import pytest

import acgi_support as sup
from conftest import App


@pytest.fixture
def anycgi_bin(build_dir):
    path = os.path.join(build_dir, "src", "cli", "anycgi")
    assert os.access(path, os.X_OK), path
    return path


def run(binary, *args, timeout=30):
    return subprocess.run([binary] + list(args), capture_output=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)


def bench_json(binary, *args):
    r = run(binary, "bench", "--json", *args)
    assert r.returncode == 0, r
    out = r.stdout.decode()
    assert out.count("\n") == 1, out  # one object on one line
    j = json.loads(out)
    assert j["requests"] == j["responses"] + sum(
        v for k, v in j["errors"].items()
        if k not in ("total", "status_4xx", "status_5xx")), j
    return j


def echo_pool(servers, anycgi_bin, transport="fastcgi", workers=2):
    path = os.path.join(servers.workdir, "b%d.sock" % (servers.n + 1))
    proc = servers.start("anycgi", [anycgi_bin, "echo", "--" + transport,
                                    "unix:" + path, "--workers",
                                    str(workers), "--name", "benchpool"])
    sup.wait_until(lambda: os.path.exists(path), 10,
                   "the master to create %s" % path, proc=proc)
    app = App(proc, "unix", path=path)
    sup.wait_until(lambda: len(sup.children(proc.pid)) == workers, 10,
                   "%d workers" % workers, proc=proc)
    # Until a worker has reported in, its count is null.
    sup.wait_until(lambda: served(anycgi_bin, app) is not None, 10,
                   "every worker to report a request count", proc=proc)
    return app


def served(anycgi_bin, app):
    """Requests the pool's processes say they served, or None while one
    of them has not said yet."""
    r = run(anycgi_bin, "status", "--json", app.path)
    assert r.returncode == 0, r
    counts = [p["requests"] for p in json.loads(r.stdout)["pools"][0]
              ["processes"]]
    return None if None in counts else sum(counts)


def assert_served(anycgi_bin, app, want):
    # The scoreboard is written as each request ends: give it a moment.
    sup.wait_until(lambda: (served(anycgi_bin, app) or 0) >= want, 5,
                   "the pool to report %d requests" % want, proc=app.proc)
    assert served(anycgi_bin, app) == want


@pytest.mark.parametrize("keep", [False, True])
def test_fastcgi_count_agrees_with_the_server(servers, anycgi_bin, keep):
    app = echo_pool(servers, anycgi_bin)
    before = served(anycgi_bin, app)
    j = bench_json(anycgi_bin, "--fastcgi", "unix:" + app.path,
                   "-c", "4", "-t", "2", *(["--keep-conn"] if keep else []),
                   "/bench?x=1")
    assert j["transport"] == "fastcgi" and j["keep_conn"] is keep
    assert j["connections"] == 4 and 1 <= j["threads"] <= 4
    assert j["errors"]["total"] == 0, j
    assert j["responses"] > 100, j
    assert j["status"]["2xx"] == j["responses"]
    assert 1.5 < j["duration_s"] < 10, j
    lat = j["latency_ms"]
    assert 0 < lat["min"] <= lat["p50"] <= lat["p90"] <= lat["p99"] \
        <= lat["p99.9"] <= lat["max"], lat
    assert j["bytes_read"] > j["responses"] * 100, j
    # Every request bench started was finished and served: the counts
    # agree exactly (bench finishes what it started when time is up).
    assert_served(anycgi_bin, app, before + j["responses"])


def test_scgi_count_agrees_with_the_server(servers, anycgi_bin):
    app = echo_pool(servers, anycgi_bin, "scgi")
    before = served(anycgi_bin, app)
    j = bench_json(anycgi_bin, "--scgi", "unix:" + app.path,
                   "-c", "3", "-t", "2", "/scgi")
    assert j["transport"] == "scgi"
    assert j["errors"]["total"] == 0 and j["responses"] > 100, j
    assert_served(anycgi_bin, app, before + j["responses"])


def test_n_is_exact_and_the_body_is_sent(servers, anycgi_bin):
    app = echo_pool(servers, anycgi_bin)
    body = os.path.join(servers.workdir, "body.bin")
    with open(body, "wb") as f:
        f.write(sup.det_bytes("bench", 100000))
    before = served(anycgi_bin, app)
    j = bench_json(anycgi_bin, "--fastcgi", "unix:" + app.path,
                   "-c", "7", "-n", "1234", "--keep-conn", "-d", "@" + body,
                   "/up?echo=body")
    assert j["requests"] == j["responses"] == 1234, j
    assert j["errors"]["total"] == 0, j
    # The echo streams the body back: at least 1234 copies of it came in,
    # and went out.
    assert j["bytes_read"] > 1234 * 100000, j
    assert j["bytes_written"] > 1234 * 100000, j
    assert_served(anycgi_bin, app, before + 1234)


def test_text_output(servers, anycgi_bin):
    app = echo_pool(servers, anycgi_bin)
    r = run(anycgi_bin, "bench", "--fastcgi", "unix:" + app.path, "-n",
            "200", "-c", "2", "/t")
    assert r.returncode == 0, r
    out = r.stdout.decode()
    # stdout is no terminal here: no progress line, only the report.
    assert "\r" not in out and "\x1b" not in out, out
    for word in ("requests   200 answered", "latency    p50", "p99.9",
                 "status     2xx 200", "errors     0"):
        assert word in out, out


def test_status_500_and_404_are_counted(servers, anycgi_bin):
    app = echo_pool(servers, anycgi_bin)
    j = bench_json(anycgi_bin, "--fastcgi", "unix:" + app.path,
                   "-n", "300", "/e?status=500")
    assert j["responses"] == 300 and j["status"]["5xx"] == 300, j
    assert j["errors"]["status_5xx"] == 300 == j["errors"]["total"], j
    j = bench_json(anycgi_bin, "--fastcgi", "unix:" + app.path,
                   "-n", "50", "--keep-conn", "/e?status=404")
    assert j["status"]["4xx"] == 50 == j["errors"]["status_4xx"], j


@pytest.mark.parametrize("transport", ["fastcgi", "scgi"])
def test_crashes_are_read_errors(servers, anycgi_bin, transport):
    app = echo_pool(servers, anycgi_bin, transport)
    j = bench_json(anycgi_bin, "--" + transport, "unix:" + app.path,
                   "-n", "20", "-c", "2", "/boom?crash=1")
    assert j["requests"] == 20 and j["responses"] == 0, j
    assert j["errors"]["read"] == 20 == j["errors"]["total"], j
    # The pool replaced its workers and serves again.
    j = bench_json(anycgi_bin, "--" + transport, "unix:" + app.path,
                   "-n", "20", "/fine")
    assert j["responses"] == 20 and j["errors"]["total"] == 0, j


def test_timeouts(servers, anycgi_bin):
    app = echo_pool(servers, anycgi_bin)
    j = bench_json(anycgi_bin, "--fastcgi", "unix:" + app.path,
                   "-n", "2", "-c", "2", "--timeout", "0.3",
                   "/slow?sleep_ms=3000")
    assert j["errors"]["timeout"] == 2 and j["responses"] == 0, j


def test_multiplexing(servers, anycgi_bin, echo_bin):
    # anycgi echo's workers are single-threaded and say FCGI_MPXS_CONNS=0:
    # --mpx is refused with the reason.
    pool = echo_pool(servers, anycgi_bin)
    r = run(anycgi_bin, "bench", "--fastcgi", "unix:" + pool.path,
            "--mpx", "4", "-n", "10", "/")
    assert r.returncode == 1, r
    assert b"does not multiplex (FCGI_MPXS_CONNS=0)" in r.stderr, r
    assert r.stdout == b""
    # A threaded echo multiplexes: 8 requests at once on each connection.
    app = servers.app(echo_bin, "unix", threads=4)
    j = bench_json(anycgi_bin, "--fastcgi", "unix:" + app.path,
                   "--mpx", "8", "-c", "3", "-n", "3000", "/m?x=1")
    assert j["mpx"] == 8 and j["keep_conn"] is True, j
    assert j["responses"] == 3000 and j["errors"]["total"] == 0, j


def test_refused_address(servers, anycgi_bin):
    nothing = os.path.join(servers.workdir, "nothing.sock")
    r = run(anycgi_bin, "bench", "--fastcgi", "unix:" + nothing, "-t", "1",
            "/")
    assert r.returncode == 7, r
    assert r.stderr.decode() == (
        "anycgi bench: cannot connect to unix:%s: No such file or "
        "directory\n" % nothing), r
    port = sup.free_port()
    r = run(anycgi_bin, "bench", "--scgi", "127.0.0.1:%d" % port, "-n", "5",
            "/")
    assert r.returncode == 7, r
    assert b"cannot connect to 127.0.0.1:%d: Connection refused" % port \
        in r.stderr, r


@pytest.mark.parametrize("args,why", [
    ([], b"--fastcgi ADDR or --scgi ADDR is needed"),
    (["--fastcgi", "unix:/x"], b"no URI"),
    (["--fastcgi", "unix:/x", "-t", "1", "-n", "5", "/"], b"-t or -n"),
    (["--fastcgi", "unix:/x", "-c", "0", "/"], b"-c 0"),
    (["--scgi", "unix:/x", "--keep-conn", "/"], b"SCGI has one request"),
    (["--fastcgi", "nohostport", "/"], b"want unix:/path"),
    (["--fastcgi", "unix:/x", "--bogus", "1", "/"], b"unknown option"),
    (["--fastcgi", "unix:/x", "relative"], b"must start with / or http"),
    (["--fastcgi", "unix:/x", "-H", "no colon", "/"], b"no colon"),
    (["--fastcgi", "unix:/x", "-p", "=v", "/"], b"want NAME=VALUE"),
])
def test_usage_errors(anycgi_bin, args, why):
    r = run(anycgi_bin, "bench", *args)
    assert r.returncode == 2, r
    assert why in r.stderr, r


def test_progress_line_on_a_terminal(servers, anycgi_bin):
    """With stdout on a terminal, a progress line is rewritten about once
    a second (carriage return, erase), and erased before the report."""
    import pty
    app = echo_pool(servers, anycgi_bin)
    master, slave = pty.openpty()
    try:
        p = subprocess.Popen([anycgi_bin, "bench", "--fastcgi",
                              "unix:" + app.path, "-c", "2", "-t", "2.5",
                              "/p"], stdout=slave, stderr=subprocess.PIPE,
                             stdin=subprocess.DEVNULL)
        os.close(slave)
        slave = -1
        out = b""
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the other side is closed
                break
            if not chunk:
                break
            out += chunk
        assert p.wait(timeout=20) == 0, p.stderr.read()
    finally:
        os.close(master)
        if slave >= 0:
            os.close(slave)
    text = out.decode()
    lines = [x for x in text.split("\r\x1b[K") if "req/s" in x]
    # About one a second over the 2.5 s (how many exactly is up to the
    # scheduler on a busy machine).
    assert 1 <= len(lines) <= 3, repr(text)
    assert "answered" in lines[0] and "errors" in lines[0], repr(text)
    assert "requests   " in text and "errors     0" in text, repr(text)
