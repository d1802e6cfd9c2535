"""The process manager's promises (issue 3): the control socket and
`anycgi status|reload|stop`, rolling reloads under load through nginx, a
bad deploy that keeps the old generation, crash isolation, dynamic and
ondemand pools, request timeouts, the slow log, the ping path,
FCGI_GET_VALUES of the live pool, `anycgi daemon -c FILE`, the log file,
systemd's notify socket and socket activation, and the status listener
read through nginx, in headless Chromium too."""
import concurrent.futures
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time

import pytest

import acgi_support as sup
import fcgi_wire as fw
from conftest import App

children = sup.children


@pytest.fixture
def anycgi_bin(build_dir):
    path = os.path.join(build_dir, "src", "cli", "anycgi")
    assert os.access(path, os.X_OK), path
    return path


def anycgi(binary, *args, timeout=15):
    return subprocess.run([binary] + list(args), capture_output=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)


def status(binary, addr, pool=None):
    args = ["status", "--json"] + ([pool] if pool else []) + [addr]
    r = anycgi(binary, *args)
    assert r.returncode == 0, r
    return json.loads(r.stdout)


def pool_named(st, name):
    for p in st["pools"]:
        if p["name"] == name:
            return p
    raise AssertionError("no pool %s in %s" % (name, st))


def start_master(servers, argv, path, name="anycgi", env=None):
    proc = servers.start(name, argv, sup.clean_env(env or {}))
    sup.wait_until(lambda: os.path.exists(path), 10,
                   "the master to create %s" % path, proc=proc)
    return App(proc, "unix", path=path)


def echo_master(servers, anycgi_bin, *opts, sock=None):
    path = os.path.join(servers.workdir, sock or "e%d.sock" % (servers.n + 1))
    return start_master(servers, [anycgi_bin, "echo", "--fastcgi",
                                  "unix:" + path] + list(opts), path)


def wait_workers(app, n, timeout=10):
    sup.wait_until(lambda: len(children(app.proc.pid)) == n, timeout,
                   "%d workers" % n, proc=app.proc)


def fcgi(path, uri, method="GET", body=b"", extra=None, timeout=10.0):
    """One request straight to a FastCGI socket, no web server."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(path)
    try:
        params = fw.cgi_params(method, uri, len(body) if body else None,
                               extra)
        s.sendall(fw.request_bytes(1, params, body, flags=0))
        return fw.read_response(fw.Reader(s, timeout), 1,
                                timeout=timeout).cgi()
    finally:
        s.close()


def log_count(app, pattern):
    return len(re.findall(pattern, app.proc.log_text()))


# ---- the control socket ---------------------------------------------------

def test_status_through_every_address(servers, anycgi_bin):
    app = echo_master(servers, anycgi_bin, "--workers", "2", "--name",
                      "ctl1")
    wait_workers(app, 2)
    for i in range(5):
        assert fcgi(app.path, "/s?i=%d" % i).status == 200
    # A worker the requests did not reach may not have shown its
    # scoreboard yet on a busy machine.
    sup.wait_until(lambda: all(
        x["libanycgi"] for x in pool_named(status(anycgi_bin, app.path),
                                           "ctl1")["processes"]),
        10, "both workers' scoreboards", proc=app.proc)
    for addr in (app.path, "unix:" + app.path, app.path + ".ctl"):
        st = status(anycgi_bin, addr)
        p = pool_named(st, "ctl1")
        pids = sorted(x["pid"] for x in p["processes"])
        assert pids == sorted(children(app.proc.pid)), st
        for proc in p["processes"]:
            assert proc["libanycgi"] is True
            assert proc["state"] in ("idle", "starting"), proc
            assert isinstance(proc["requests"], int)
        # Requests are counted through the scoreboard.
        sup.wait_until(lambda: pool_named(status(anycgi_bin, addr), "ctl1")
                       ["requests"] >= 5, 5, "5 requests in status")
        assert st["master"]["pid"] == app.proc.pid
    text = anycgi(anycgi_bin, "status", app.path)
    assert text.returncode == 0 and b"pool ctl1" in text.stdout, text
    bad = anycgi(anycgi_bin, "status", "nosuchpool", app.path)
    assert bad.returncode == 1 and b"no pool" in bad.stderr, bad
    none = anycgi(anycgi_bin, "status", servers.workdir + "/nothing.sock")
    assert none.returncode == 2 and b"no master" in none.stderr, none


def test_status_finds_a_master_by_tcp_address(servers, anycgi_bin):
    port = sup.free_port()
    name = "tcp%d" % port
    proc = servers.start("anycgi", [anycgi_bin, "echo", "--fastcgi",
                                    "127.0.0.1:%d" % port, "--name", name])
    sup.wait_until(lambda: sup.listening_in_group(proc.pgid, port=port), 10,
                   "the pool to listen", proc=proc)
    st = status(anycgi_bin, "127.0.0.1:%d" % port)
    assert pool_named(st, name)["listeners"][0]["addr"] == \
        "127.0.0.1:%d" % port
    # TCP listeners report their accept queue too.
    assert pool_named(st, name)["listeners"][0]["backlog"] > 0


def test_stop_and_stop_now(servers, anycgi_bin):
    app = echo_master(servers, anycgi_bin, "--workers", "2")
    wait_workers(app, 2)
    app.proc.expect_exit = True
    r = anycgi(anycgi_bin, "stop", app.path)
    assert r.returncode == 0, r
    sup.wait_until(lambda: not app.alive(), 5, "a graceful stop")
    assert app.proc.exit_status() == 0
    assert not os.path.exists(app.path + ".ctl")

    app = echo_master(servers, anycgi_bin, "--workers", "2")
    wait_workers(app, 2)
    app.proc.expect_exit = True
    t0 = time.monotonic()
    assert anycgi(anycgi_bin, "stop", "--now", app.path).returncode == 0
    sup.wait_until(lambda: not app.alive(), 2, "a fast stop")
    assert time.monotonic() - t0 < 1.5


def test_control_socket_refuses_reload_from_other_users(servers,
                                                        anycgi_bin):
    os.chmod(servers.workdir, 0o755)
    app = echo_master(servers, anycgi_bin, "--workers", "1")
    wait_workers(app, 1)
    # nobody may read the status but not reload or stop.
    cmd = [anycgi_bin, "reload", app.path]
    r = subprocess.run(["setpriv", "--reuid=nobody", "--regid=nogroup",
                        "--clear-groups"] + cmd, capture_output=True,
                       timeout=10)
    assert r.returncode == 1 and b"needs root" in r.stderr, r
    r = subprocess.run(["setpriv", "--reuid=nobody", "--regid=nogroup",
                        "--clear-groups", anycgi_bin, "status", app.path],
                       capture_output=True, timeout=10)
    assert r.returncode == 0, r
    assert app.alive()


# ---- rolling reload -------------------------------------------------------

def reload_and_wait(app, anycgi_bin, how, generation):
    """One reload; returns once generation is ready."""
    if how == "signal":
        os.kill(app.proc.pid, signal.SIGHUP)
    elif how == "usr2":
        os.kill(app.proc.pid, signal.SIGUSR2)
    else:
        r = anycgi(anycgi_bin, "reload", app.path)
        assert r.returncode == 0, r
    sup.wait_until(lambda: "generation %d ready" % generation in
                   app.proc.log_text(), 15,
                   "generation %d to be ready" % generation, proc=app.proc)


def test_twenty_reloads_under_load_lose_nothing(servers, anycgi_bin):
    app = echo_master(servers, anycgi_bin, "--workers", "2",
                      "--drain-timeout", "10")
    wait_workers(app, 2)
    web = servers.nginx(app)
    stop = threading.Event()
    failures, counts = [], [0] * 6

    def client(k):
        i = 0
        while not stop.is_set():
            i += 1
            # GETs and POSTs, over connections nginx keeps to the workers
            # and over fresh ones. nginx would retry a GET if a kept
            # connection closed under it, never a POST: draining workers
            # hand kept connections over to the new generation instead.
            keep = k % 2 == 1
            loc = ("/keep/c%d?i=%d" if keep else "/fcgi/c%d?i=%d") % (k, i)
            body = b"x" * (i % 3000) if k >= 2 else None
            try:
                r = web.request("POST" if body else "GET", loc, body=body,
                                timeout=20)
                j = json.loads(r.body) if r.status == 200 else None
                ok = (j and j["params"]["QUERY_STRING"] == "i=%d" % i and
                      j["body_bytes"] == len(body or b""))
            except Exception as e:  # noqa: BLE001 - any failure counts
                ok, r = False, e
            if not ok:
                failures.append((loc, r))
            counts[k] += 1

    with concurrent.futures.ThreadPoolExecutor(6) as ex:
        futs = [ex.submit(client, k) for k in range(6)]
        t0 = time.monotonic()
        for g in range(2, 22):
            how = ("signal", "usr2", "control")[g % 3]
            reload_and_wait(app, anycgi_bin, how, g)
            time.sleep(0.05)
        elapsed = time.monotonic() - t0
        time.sleep(0.3)
        stop.set()
        for f in futs:
            f.result()
    assert not failures, failures[:5]
    assert sum(counts) > 200, counts
    assert "handed over" in app.proc.log_text()
    assert elapsed < 120
    st = status(anycgi_bin, app.path)
    p = st["pools"][0]
    assert p["generation"] == 21 and p["reloads"] == 20, p
    assert p["health"] == "ok"
    sup.wait_until(lambda: len(children(app.proc.pid)) == 2, 10,
                   "the old generations gone")


def test_bad_deploy_keeps_the_old_generation(servers, anycgi_bin, echo_bin,
                                             workdir):
    prog = os.path.join(workdir, "deploy.sh")
    bad = os.path.join(workdir, "BAD")
    with open(prog, "w") as f:
        f.write("#!/bin/sh\nif [ -e %s ]; then echo 'broken build' >&2; "
                "exit 3; fi\nexec %s\n" % (bad, echo_bin))
    os.chmod(prog, 0o755)
    path = os.path.join(workdir, "deploy.sock")
    app = start_master(servers, [anycgi_bin, "run", "--fastcgi",
                                 "unix:" + path, "--workers", "2", "--",
                                 prog], path)
    wait_workers(app, 2)
    old = set(children(app.proc.pid))
    open(bad, "w").close()
    os.kill(app.proc.pid, signal.SIGHUP)
    sup.wait_until(lambda: "reload failed" in app.proc.log_text(), 20,
                   "the reload to fail", proc=app.proc)
    p = status(anycgi_bin, path)["pools"][0]
    assert p["health"] == "degraded", p
    assert "generation 2" in p["reason"] and "dying" in p["reason"], p
    assert "broken build" in app.proc.log_text()
    # The old generation kept serving all along.
    sup.wait_until(lambda: set(children(app.proc.pid)) == old, 5,
                   "only the old workers", proc=app.proc)
    for i in range(10):
        r = fcgi(path, "/still?i=%d" % i)
        assert r.status == 200, r
    os.unlink(bad)
    reload_and_wait(app, anycgi_bin, "control", 3)
    p = status(anycgi_bin, path)["pools"][0]
    assert p["health"] == "ok" and p["reason"] == "", p
    assert p["generation"] == 3


# ---- crash isolation ------------------------------------------------------

def test_crashes_fail_only_the_crashing_requests(servers, anycgi_bin):
    app = echo_master(servers, anycgi_bin, "--workers", "3")
    wait_workers(app, 3)
    web = servers.nginx(app)
    stop = threading.Event()
    bad = []

    def normal(k):
        n = 0
        while not stop.is_set():
            r = web.request("GET", "/fcgi/n%d?i=%d" % (k, n))
            if r.status != 200:
                bad.append(r)
            n += 1
        return n

    with concurrent.futures.ThreadPoolExecutor(3) as ex:
        futs = [ex.submit(normal, k) for k in range(3)]
        crashed = []
        for i in range(10):
            crashed.append(web.request("GET", "/fcgi/boom?crash=1").status)
            time.sleep(0.1)
        stop.set()
        served = sum(f.result() for f in futs)
    assert not bad, bad[:3]
    assert served > 50
    assert crashed == [502] * 10, crashed
    log = app.proc.log_text()
    assert log.count("killed by signal 6") >= 10, log
    st = status(anycgi_bin, app.path)["pools"][0]
    assert st["crashes"] >= 10
    wait_workers(app, 3)


# ---- worker modes ---------------------------------------------------------

def slow_requests(path, n, ms):
    with concurrent.futures.ThreadPoolExecutor(n) as ex:
        futs = [ex.submit(fcgi, path, "/slow?sleep_ms=%d&k=%d" % (ms, k))
                for k in range(n)]
        return [f.result().status for f in futs]


def test_dynamic_pool_grows_and_shrinks(servers, anycgi_bin):
    app = echo_master(servers, anycgi_bin, "--mode", "dynamic", "--workers",
                      "1", "--min-spare", "1", "--max-spare", "2",
                      "--max-workers", "4")
    wait_workers(app, 1)
    seen = []
    done = threading.Event()

    def watch():
        while not done.is_set():
            seen.append(len(children(app.proc.pid)))
            time.sleep(0.02)

    t = threading.Thread(target=watch)
    t.start()
    try:
        # Six requests that sleep 2 s each: the pool grows to its ceiling
        # and no further; the extra requests wait in the queue.
        assert slow_requests(app.path, 6, 2000) == [200] * 6
    finally:
        done.set()
        t.join()
    assert max(seen) == 4, seen
    # Idle again: above max-spare workers leave, one per check.
    sup.wait_until(lambda: len(children(app.proc.pid)) == 2, 10,
                   "the pool back at max-spare", proc=app.proc)
    st = status(anycgi_bin, app.path)["pools"][0]
    assert st["mode"] == "dynamic" and st["max_workers"] == 4


def test_ondemand_pool_starts_on_demand_and_idles_out(servers, anycgi_bin):
    app = echo_master(servers, anycgi_bin, "--mode", "ondemand",
                      "--max-workers", "3", "--idle-timeout", "1")
    # The first worker (started to check the program) idles out.
    sup.wait_until(lambda: len(children(app.proc.pid)) == 0, 10,
                   "no worker while idle", proc=app.proc)
    t0 = time.monotonic()
    r = fcgi(app.path, "/wake")
    assert r.status == 200, r
    assert time.monotonic() - t0 < 2
    assert len(children(app.proc.pid)) >= 1
    assert slow_requests(app.path, 3, 800) == [200] * 3
    sup.wait_until(lambda: len(children(app.proc.pid)) == 0, 10,
                   "idle workers stopped", proc=app.proc)
    assert "idle timeout" in app.proc.log_text()


# ---- timeouts, slow log, ping, GET_VALUES ---------------------------------

def test_request_timeout_answers_504_and_names_the_uri(servers, anycgi_bin):
    app = echo_master(servers, anycgi_bin, "--workers", "1",
                      "--request-timeout", "1")
    wait_workers(app, 1)
    web = servers.nginx(app)
    t0 = time.monotonic()
    r = web.request("GET", "/fcgi/stuck?sleep_ms=20000")
    took = time.monotonic() - t0
    assert r.status == 504, r
    assert took < 5, took
    log = app.proc.log_text()
    assert re.search(r"request timeout: worker \d+, GET /fcgi/stuck\?"
                     r"sleep_ms=20000", log), log
    # A replacement serves the next request; no zombie is left.
    assert web.request("GET", "/fcgi/after").status == 200
    wait_workers(app, 1)
    st = status(anycgi_bin, app.path)["pools"][0]
    assert st["timeouts"] == 1


def test_slow_log_names_the_request_and_the_stack(servers, anycgi_bin):
    app = echo_master(servers, anycgi_bin, "--workers", "1", "--slow-log",
                      "0.3")
    wait_workers(app, 1)
    r = fcgi(app.path, "/lazy?sleep_ms=1000")
    assert r.status == 200
    sup.wait_until(lambda: "slow request" in app.proc.log_text(), 5,
                   "the slow log line", proc=app.proc)
    line = [x for x in app.proc.log_text().splitlines()
            if "slow request" in x][0]
    assert "GET /lazy?sleep_ms=1000" in line, line
    assert "kernel stack: " in line and "not readable" not in line, line
    assert status(anycgi_bin, app.path)["pools"][0]["slow"] == 1


def test_ping_path(servers, anycgi_bin):
    app = echo_master(servers, anycgi_bin, "--workers", "1", "--ping-path",
                      "/health")
    wait_workers(app, 1)
    r = fcgi(app.path, "/health")
    assert r.status == 200 and r.body == b"pong\n", r
    r = fcgi(app.path, "/other")
    assert r.status == 200 and r.header("Content-Type") == \
        "application/json", r


def get_values(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect(path)
    s.sendall(fw.get_values(["FCGI_MAX_CONNS", "FCGI_MAX_REQS"]))
    rec = fw.Reader(s).read()
    s.close()
    return {k.decode(): int(v) for k, v in fw.decode_nv(rec.content)}


def test_get_values_reflect_the_live_pool(servers, anycgi_bin):
    one = echo_master(servers, anycgi_bin, "--workers", "1")
    three = echo_master(servers, anycgi_bin, "--workers", "3")
    wait_workers(one, 1)
    wait_workers(three, 3)
    # The master tells workers the pool's size at its next check.
    sup.wait_until(lambda: get_values(three.path)["FCGI_MAX_CONNS"] ==
                   3 * get_values(one.path)["FCGI_MAX_CONNS"], 5,
                   "GET_VALUES of 3 workers")
    assert get_values(three.path)["FCGI_MAX_REQS"] == \
        3 * get_values(one.path)["FCGI_MAX_REQS"]


# ---- anycgi daemon ---------------------------------------------------------

def write_config(path, text):
    with open(path, "w") as f:
        f.write(text)


def test_daemon_pools_per_pool_reload_and_bad_files(servers, anycgi_bin,
                                                    hello_bin, workdir):
    conf = os.path.join(workdir, "anycgi.ini")
    a, b = os.path.join(workdir, "a.sock"), os.path.join(workdir, "b.sock")
    ctl = os.path.join(workdir, "d.ctl")
    base = ("[global]\ncontrol = %s\n\n[alpha]\nfastcgi = unix:%s\n"
            "app = echo\nworkers = 2\n\n[beta]\nfastcgi = unix:%s\n"
            "program = %s\nworkers = %%d\n" % (ctl, a, b, hello_bin))
    write_config(conf, base % 1)
    app = start_master(servers, [anycgi_bin, "daemon", "-c", conf], ctl)
    sup.wait_until(lambda: len(children(app.proc.pid)) == 3, 10,
                   "3 workers")
    st = status(anycgi_bin, ctl)
    assert [p["name"] for p in st["pools"]] == ["alpha", "beta"]
    assert fcgi(a, "/a").status == 200
    assert fcgi(b, "/b").body == b"Hello, world!\n"

    def pids(pool):
        return {p["pid"] for p in pool_named(status(anycgi_bin, ctl), pool)
                ["processes"]}

    beta = pids("beta")
    assert anycgi(anycgi_bin, "reload", "alpha", ctl).returncode == 0
    sup.wait_until(lambda: pool_named(status(anycgi_bin, ctl), "alpha")
                   ["generation"] == 2, 10, "alpha reloaded")
    assert pids("beta") == beta
    assert pool_named(status(anycgi_bin, ctl), "beta")["generation"] == 1

    # A bad file: the line is named and every pool keeps serving.
    write_config(conf, base % 1 + "wrokers = 3\n")
    os.kill(app.proc.pid, signal.SIGHUP)
    sup.wait_until(lambda: "anycgi.ini:13: wrokers: unknown key" in
                   app.proc.log_text(), 5, "the bad line in the log",
                   proc=app.proc)
    assert fcgi(a, "/a").status == 200 and fcgi(b, "/b").status == 200
    r = anycgi(anycgi_bin, "reload", ctl)
    assert r.returncode == 1 and b"anycgi.ini:13" in r.stderr, r

    # beta grows to 2 workers; then goes away with its socket.
    write_config(conf, base % 2)
    os.kill(app.proc.pid, signal.SIGHUP)
    sup.wait_until(lambda: len(pids("beta")) == 2 and
                   pool_named(status(anycgi_bin, ctl), "beta")
                   ["generation"] == 2, 10, "beta with 2 workers")
    write_config(conf, base.split("[beta]")[0])
    os.kill(app.proc.pid, signal.SIGHUP)
    sup.wait_until(lambda: [p["name"] for p in
                            status(anycgi_bin, ctl)["pools"]] == ["alpha"],
                   10, "beta gone")
    assert not os.path.exists(b)
    assert fcgi(a, "/a").status == 200


def test_daemon_refuses_a_bad_file_at_start(anycgi_bin, workdir):
    conf = os.path.join(workdir, "bad.ini")
    write_config(conf, "[p]\nfastcgi = unix:%s/p.sock\nworkers = many\n"
                 "app = echo\n" % workdir)
    r = anycgi(anycgi_bin, "daemon", "-c", conf)
    assert r.returncode == 2, r
    assert b"bad.ini:3: workers: many" in r.stderr, r


# ---- logs and systemd -----------------------------------------------------

def test_log_file_reopened_on_sigusr1(servers, anycgi_bin, workdir):
    logf = os.path.join(workdir, "master.log")
    app = echo_master(servers, anycgi_bin, "--workers", "1", "--log", logf)
    wait_workers(app, 1)
    # A reload makes the worker say something on its stderr.
    os.kill(app.proc.pid, signal.SIGHUP)
    sup.wait_until(lambda: re.search(r"worker pool echo pid \d+: .*stopping",
                                     open(logf).read()), 10,
                   "the worker's line in the file")
    first = open(logf).read()
    assert re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3} anycgi\[", first)
    os.rename(logf, logf + ".1")
    os.kill(app.proc.pid, signal.SIGUSR1)
    sup.wait_until(lambda: os.path.exists(logf) and
                   "log reopened" in open(logf).read(), 5, "a new log file")
    os.kill(app.proc.pid, signal.SIGHUP)
    sup.wait_until(lambda: "generation 3 ready" in open(logf).read(), 10,
                   "new lines in the new file")
    assert "generation 3" not in open(logf + ".1").read()
    # Nothing on stderr but what came before the file was open.
    assert "generation" not in app.proc.log_text()


def test_systemd_notify(servers, anycgi_bin, workdir):
    path = os.path.join(workdir, "notify")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(path)
    s.settimeout(10)
    sock = os.path.join(workdir, "n.sock")
    app = start_master(servers, [anycgi_bin, "echo", "--fastcgi",
                                 "unix:" + sock], sock,
                       env={"NOTIFY_SOCKET": path})

    def expect(word):
        while True:
            msg = s.recv(4096).decode()
            if word in msg.split("\n"):
                return msg

    assert "STATUS=serving" in expect("READY=1")
    os.kill(app.proc.pid, signal.SIGHUP)
    expect("RELOADING=1")
    expect("READY=1")
    app.proc.expect_exit = True
    os.kill(app.proc.pid, signal.SIGTERM)
    expect("STOPPING=1")
    s.close()


def spawn_activated(argv, fd, log):
    """argv as systemd would start it: the socket on fd 3, LISTEN_FDS=1,
    LISTEN_PID its own pid. Returns the pid."""
    pid = os.fork()
    if pid == 0:
        try:
            os.setsid()
            os.dup2(fd, 3)
            out = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
            os.dup2(out, 1)
            os.dup2(out, 2)
            env = sup.clean_env({"LISTEN_FDS": "1",
                                 "LISTEN_PID": str(os.getpid())})
            os.execve(argv[0], argv, env)
        finally:
            os._exit(127)
    return pid


def test_systemd_socket_activation(anycgi_bin, hello_bin, workdir):
    path = os.path.join(workdir, "act.sock")
    ls = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    ls.bind(path)
    ls.listen(16)
    log = os.path.join(workdir, "act.log")
    for listen in ([], ["--fastcgi", "unix:" + path]):
        pid = spawn_activated([anycgi_bin, "run"] + listen +
                              ["--", hello_bin], ls.fileno(), log)
        try:
            sup.wait_until(lambda: len(children(pid)) == 1, 10,
                           "a worker on the inherited socket")
            for _ in range(3):
                assert fcgi(path, "/act").body == b"Hello, world!\n"
            os.kill(pid, signal.SIGTERM)
            _, st = os.waitpid(pid, 0)
            pid = None
            assert os.WIFEXITED(st) and os.WEXITSTATUS(st) == 0, \
                open(log).read()
        finally:
            if pid:
                os.killpg(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
        assert "in use" not in open(log).read()
        # systemd's socket stays: the master never unlinks it.
        assert os.path.exists(path)
    ls.close()


# ---- the status listener --------------------------------------------------

def test_status_listener_through_nginx_and_chromium(servers, anycgi_bin,
                                                    build_dir):
    # The status app runs as nobody and must reach the control socket.
    os.chmod(servers.workdir, 0o755)
    st_path = os.path.join(servers.workdir, "status.sock")
    app = echo_master(servers, anycgi_bin, "--workers", "2", "--name",
                      "shop", "--status", "unix:" + st_path)
    sup.wait_until(lambda: os.path.exists(st_path), 10, "the status socket")
    for i in range(3):
        fcgi(app.path, "/buy?i=%d" % i)
    web = servers.nginx(App(app.proc, "unix", path=st_path))
    j = web.get_json("/fcgi/status?json")
    shop = pool_named(j, "shop")
    assert len(shop["processes"]) == 2
    assert pool_named(j, "anycgi-status")
    r = web.request("GET", "/fcgi/status?prometheus")
    assert r.status == 200, r
    text = r.body.decode()
    assert text.count("# TYPE anycgi_pool_requests_total counter") == 1
    assert re.search(r'anycgi_pool_requests_total\{pool="shop"\} [3-9]',
                     text), text
    r = web.request("GET", "/fcgi/status?json&pool=nope")
    assert r.status == 404, r
    r = web.request("GET", "/fcgi/status")
    assert r.status == 200 and b"<html" in r.body.lower(), r
    assert b"shop" in r.body
    chromium = shutil.which("chromium")
    assert chromium, "chromium is missing: scripts/install-deps.sh installs it"
    out_dir = os.path.join(build_dir, "artifacts")
    os.makedirs(out_dir, exist_ok=True)
    png = os.path.join(out_dir, "status-page.png")
    if os.path.exists(png):
        os.unlink(png)
    subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu",
                    "--user-data-dir=" + os.path.join(servers.workdir, "chr"),
                    "--window-size=1280,900", "--screenshot=" + png,
                    web.url("/fcgi/status")], capture_output=True,
                   timeout=90, stdin=subprocess.DEVNULL)
    assert os.path.getsize(png) > 20000, png


# ---- foreign programs: what /proc shows -------------------------------------

def test_php_cgi_status_and_request_timeout(servers, anycgi_bin):
    php = shutil.which("php-cgi")
    assert php, "php-cgi is missing: scripts/install-deps.sh installs it"
    path = os.path.join(servers.workdir, "php.sock")
    app = start_master(servers, [anycgi_bin, "run", "--fastcgi",
                                 "unix:" + path, "--workers", "2",
                                 "--request-timeout", "1", "--", php], path)
    wait_workers(app, 2)
    web = servers.nginx(app)
    os.makedirs(os.path.join(web.dir, "www"), exist_ok=True)
    with open(os.path.join(web.dir, "www", "nap.php"), "w") as f:
        f.write("<?php sleep((int)($_GET['s'] ?? 0)); echo 'awake';\n")
    assert web.request("GET", "/nap.php").body == b"awake"
    # php-cgi writes no scoreboard: /proc shows it waiting in accept.
    sup.wait_until(lambda: all(
        p["state"] == "idle" and p["requests"] is None and
        p["libanycgi"] is False
        for p in status(anycgi_bin, path)["pools"][0]["processes"]), 5,
        "php-cgi workers idle in accept")
    # A request past the timeout: the worker gets SIGTERM (php-cgi cuts
    # its sleep short and ends the request; another program would die and
    # nginx answer 502), then SIGKILL if need be, and is replaced; the log
    # says so. Either way the client is not kept waiting 30 s.
    t0 = time.monotonic()
    web.request("GET", "/nap.php?s=30")
    assert time.monotonic() - t0 < 6
    assert re.search(r"request timeout: worker \d+, \(a foreign program",
                     app.proc.log_text()), app.proc.log_text()
    wait_workers(app, 2)
    assert web.request("GET", "/nap.php").body == b"awake"


def test_ipv6_listener_and_status_by_address(servers, anycgi_bin):
    host = sup.ipv6_loopback()
    assert host, "no IPv6 loopback on this machine"
    port = sup.free_port("::1")
    name = "six%d" % port
    proc = servers.start("anycgi", [anycgi_bin, "echo", "--fastcgi",
                                    "[::1]:%d" % port, "--name", name,
                                    "--workers", "2"])
    sup.wait_until(lambda: sup.listening_in_group(proc.pgid, port=port), 10,
                   "the pool to listen on [::1]", proc=proc)
    s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect(("::1", port))
    s.sendall(fw.request_bytes(1, fw.cgi_params("GET", "/v6"), flags=0))
    r = fw.read_response(fw.Reader(s), 1).cgi()
    s.close()
    assert r.status == 200, r
    st = status(anycgi_bin, "[::1]:%d" % port)
    assert pool_named(st, name)["listeners"][0]["addr"] == "[::1]:%d" % port


def test_daemon_pool_added_broken_is_degraded_not_fatal(servers, anycgi_bin,
                                                        hello_bin, workdir):
    conf = os.path.join(workdir, "two.ini")
    good = os.path.join(workdir, "good.sock")
    ctl = os.path.join(workdir, "two.ctl")
    base = ("[global]\ncontrol = %s\n\n[good]\nfastcgi = unix:%s\n"
            "program = %s\n" % (ctl, good, hello_bin))
    write_config(conf, base)
    app = start_master(servers, [anycgi_bin, "daemon", "-c", conf], ctl)
    wait_workers(app, 1)
    write_config(conf, base + "\n[bad]\nfastcgi = unix:%s/bad.sock\n"
                 "program = /bin/false\n" % workdir)
    os.kill(app.proc.pid, signal.SIGHUP)
    sup.wait_until(lambda: pool_named(status(anycgi_bin, ctl), "bad")
                   ["health"] == "degraded", 20, "the new pool degraded",
                   proc=app.proc)
    assert app.alive()
    assert fcgi(good, "/g").body == b"Hello, world!\n"
    assert pool_named(status(anycgi_bin, ctl), "good")["health"] == "ok"


def test_daemon_pool_renamed_keeps_its_socket(servers, anycgi_bin, workdir):
    conf = os.path.join(workdir, "ren.ini")
    sock = os.path.join(workdir, "ren.sock")
    text = ("[%%s]\nfastcgi = unix:%s\napp = echo\nworkers = 2\n"
            "drain-timeout = 5\n" % sock)
    write_config(conf, text % "before")
    app = start_master(servers, [anycgi_bin, "daemon", "-c", conf],
                       sock + ".ctl")
    wait_workers(app, 2)
    write_config(conf, text % "after")
    os.kill(app.proc.pid, signal.SIGHUP)
    sup.wait_until(lambda: [p["name"] for p in
                            status(anycgi_bin, sock)["pools"]] == ["after"],
                   10, "only the renamed pool", proc=app.proc)
    assert "in use" not in app.proc.log_text()
    for i in range(5):
        assert fcgi(sock, "/r?i=%d" % i).status == 200
