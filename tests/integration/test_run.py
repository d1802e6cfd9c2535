"""anycgi run and anycgi echo, the process manager's first step: a static
pool of workers sharing the listening socket, crashed workers replaced, a
program that cannot start fails the command, fast and graceful stops."""
import glob
import os
import re
import shutil
import signal
import socket
import subprocess
import time

import pytest

import acgi_support as sup
from conftest import App


@pytest.fixture
def anycgi_bin(build_dir):
    path = os.path.join(build_dir, "src", "cli", "anycgi")
    assert os.access(path, os.X_OK), path
    return path


children = sup.children


def start_pool(servers, argv, path):
    proc = servers.start("anycgi", argv, sup.clean_env())
    sup.wait_until(lambda: os.path.exists(path), 10,
                   "the master to create %s" % path, proc=proc)
    return App(proc, "unix", path=path)


def run_pool(servers, anycgi_bin, program, workers=2):
    path = os.path.join(servers.workdir, "run%d.sock" % (servers.n + 1))
    app = start_pool(servers, [anycgi_bin, "run", "--fastcgi", "unix:" + path,
                               "--workers", str(workers), "--", program],
                     path)
    sup.wait_until(lambda: len(children(app.proc.pid)) == workers, 10,
                   "%d workers" % workers, proc=app.proc)
    return app


def echo_pool(servers, anycgi_bin, workers=2):
    path = os.path.join(servers.workdir, "echo%d.sock" % (servers.n + 1))
    app = start_pool(servers, [anycgi_bin, "echo", "--fastcgi", "unix:" + path,
                               "--workers", str(workers)], path)
    sup.wait_until(lambda: len(children(app.proc.pid)) == workers, 10,
                   "%d workers" % workers, proc=app.proc)
    return app


def test_run_serves_through_nginx(servers, anycgi_bin, hello_bin):
    app = run_pool(servers, anycgi_bin, hello_bin, workers=2)
    web = servers.nginx(app)
    for loc in ("/fcgi/a", "/keep/b", "/scgi/c"):
        for _ in range(5):
            r = web.request("GET", loc)
            assert r.status == 200, r
            assert r.body == b"Hello, world!\n"
    assert len(children(app.proc.pid)) == 2


def test_echo_pool_and_crash_isolation(servers, anycgi_bin):
    app = echo_pool(servers, anycgi_bin, workers=2)
    web = servers.nginx(app)
    j = web.get_json("/fcgi/x?a=1", body=b"hello")
    assert j["body_bytes"] == 5
    before = set(children(app.proc.pid))
    offset = app.proc.log_size()
    r = web.request("GET", "/fcgi/boom?crash=1")
    assert r.status == 502, r
    # The crashed worker is logged with its signal and replaced; the
    # other requests never notice.
    sup.wait_until(lambda: "signal 6" in app.proc.log_since(offset), 5,
                   "the crash in the master's log", proc=app.proc)
    sup.wait_until(lambda: len(children(app.proc.pid)) == 2, 5,
                   "a replacement worker", proc=app.proc)
    assert set(children(app.proc.pid)) != before
    for i in range(20):
        j = web.get_json("/fcgi/after?i=%d" % i)
        assert j["params"]["QUERY_STRING"] == "i=%d" % i


def test_program_that_cannot_start_fails_fast(anycgi_bin, workdir):
    t0 = time.monotonic()
    r = subprocess.run([anycgi_bin, "run", "--fastcgi",
                        "unix:" + workdir + "/no.sock", "--",
                        workdir + "/no-such-program"],
                       capture_output=True, timeout=10,
                       stdin=subprocess.DEVNULL)
    assert r.returncode == 1
    assert b"No such file or directory" in r.stderr, r.stderr
    assert time.monotonic() - t0 < 2
    assert not os.path.exists(workdir + "/no.sock")


def test_program_dying_at_start_fails(anycgi_bin, workdir):
    r = subprocess.run([anycgi_bin, "run", "--fastcgi",
                        "unix:" + workdir + "/f.sock", "--", "/bin/false"],
                       capture_output=True, timeout=20,
                       stdin=subprocess.DEVNULL)
    assert r.returncode == 1
    assert b"exited with status 1" in r.stderr, r.stderr
    assert b"keeps dying at start" in r.stderr, r.stderr


def test_live_socket_refused(servers, anycgi_bin, hello_bin):
    app = run_pool(servers, anycgi_bin, hello_bin, workers=1)
    r = subprocess.run([anycgi_bin, "run", "--fastcgi", "unix:" + app.path,
                        "--", hello_bin], capture_output=True, timeout=10,
                       stdin=subprocess.DEVNULL)
    assert r.returncode == 1
    assert b"in use by a live server" in r.stderr, r.stderr
    assert app.alive()


def test_sigterm_stops_everything_within_a_second(servers, anycgi_bin,
                                                  hello_bin):
    app = run_pool(servers, anycgi_bin, hello_bin, workers=3)
    kids = children(app.proc.pid)
    app.proc.expect_exit = True
    t0 = time.monotonic()
    os.kill(app.proc.pid, signal.SIGTERM)
    sup.wait_until(lambda: not app.alive(), 2, "the master to exit")
    assert time.monotonic() - t0 < 1.0
    assert app.proc.exit_status() == 0
    assert not [k for k in kids if os.path.exists("/proc/%d" % k)]
    assert not os.path.exists(app.path)


def test_sigquit_finishes_requests_in_flight(servers, anycgi_bin):
    app = echo_pool(servers, anycgi_bin, workers=1)
    s = app.connect()
    import fcgi_wire as fw
    s.sendall(fw.request_bytes(1, fw.cgi_params("GET", "/slow?sleep_ms=800"),
                               flags=0))
    time.sleep(0.2)
    app.proc.expect_exit = True
    os.kill(app.proc.pid, signal.SIGQUIT)
    resp = fw.read_response(fw.Reader(s), 1, timeout=10)
    s.close()
    assert resp.cgi().status == 200
    sup.wait_until(lambda: not app.alive(), 5, "the master to exit")
    assert app.proc.exit_status() == 0


def test_php_cgi_under_run(servers, anycgi_bin):
    php = shutil.which("php-cgi")
    assert php, "php-cgi is missing: scripts/install-deps.sh installs it"
    app = run_pool(servers, anycgi_bin, php, workers=2)
    web = servers.nginx(app)
    os.makedirs(os.path.join(web.dir, "www"), exist_ok=True)
    with open(os.path.join(web.dir, "www", "t.php"), "w") as f:
        f.write("<?php header('Content-Type: text/plain');\n"
                "echo php_sapi_name(), ' ', $_GET['x'] ?? '-', ' ',"
                " $_SERVER['PATH_INFO'] ?? '-', ' ',"
                " strlen(file_get_contents('php://input'));\n")
    for i in range(6):
        r = web.request("POST", "/t.php/extra?x=%d" % i, body=b"abc" * i)
        assert r.status == 200, r
        assert r.body == ("cgi-fcgi %d /extra %d" % (i, 3 * i)).encode(), r
    assert len(children(app.proc.pid)) == 2


def test_libfcgi_program_under_run(servers, anycgi_bin, workdir):
    src = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
        os.path.abspath(__file__)))), "bench", "peers", "hello-libfcgi.c")
    exe = os.path.join(workdir, "hello-libfcgi")
    subprocess.run(["cc", "-O2", src, "-o", exe, "-lfcgi"], check=True,
                   timeout=60)
    path = os.path.join(servers.workdir, "lf.sock")
    # libfcgi programs finish their request on SIGUSR1 (PEERS.md).
    app = start_pool(servers, [anycgi_bin, "run", "--fastcgi", "unix:" + path,
                               "--workers", "2", "--stop-signal", "USR1",
                               "--", exe], path)
    sup.wait_until(lambda: len(children(app.proc.pid)) == 2, 10,
                   "2 workers", proc=app.proc)
    web = servers.nginx(app)
    for loc in ("/fcgi/a", "/fcgi/b", "/fcgi/c"):
        r = web.request("GET", loc)
        assert r.status == 200, r
        assert r.body == b"Hello, world!\n"


def test_socket_mode_owner_group(servers, anycgi_bin, hello_bin):
    path = os.path.join(servers.workdir, "perm.sock")
    app = start_pool(servers, [anycgi_bin, "run", "--fastcgi", "unix:" + path,
                               "--socket-mode", "0640", "--socket-owner",
                               "nobody", "--socket-group", "nogroup", "--",
                               hello_bin], path)
    import grp
    import pwd
    import stat
    st = os.stat(path)
    assert stat.S_IMODE(st.st_mode) == 0o640
    assert st.st_uid == pwd.getpwnam("nobody").pw_uid
    assert st.st_gid == grp.getgrnam("nogroup").gr_gid
    assert app.alive()


def test_bad_options_are_refused(anycgi_bin, workdir):
    for args in (["--workers", "0"], ["--socket-mode", "rw"],
                 ["--socket-owner", "no-such-user-x"], ["--bogus", "1"],
                 ["--stop-signal", "NOPE"]):
        r = subprocess.run([anycgi_bin, "run", "--fastcgi",
                            "unix:" + workdir + "/x.sock"] + args +
                           ["--", "/bin/true"], capture_output=True,
                           timeout=10, stdin=subprocess.DEVNULL)
        assert r.returncode == 2, (args, r.stderr)
        assert r.stderr.startswith(b"anycgi: "), (args, r.stderr)


def test_max_requests_recycles_without_losing_requests(servers, anycgi_bin):
    path = os.path.join(servers.workdir, "mr.sock")
    app = start_pool(servers, [anycgi_bin, "echo", "--fastcgi", "unix:" + path,
                               "--workers", "1", "--max-requests", "5"],
                     path)
    web = servers.nginx(app)
    pids = set()
    for i in range(23):
        j = web.get_json("/fcgi/r?i=%d" % i)
        assert j["params"]["QUERY_STRING"] == "i=%d" % i
        pids.update(children(app.proc.pid))
    # 23 requests with 5 per worker: at least 4 generations, each one
    # ending cleanly (status 0) and replaced at once.
    assert len(pids) >= 4, pids
    log = app.proc.log_text()
    assert "exited with status 0; starting another" in log, log
    assert "keeps dying" not in log


def test_max_lifetime_recycles(servers, anycgi_bin, hello_bin):
    path = os.path.join(servers.workdir, "ml.sock")
    app = start_pool(servers, [anycgi_bin, "run", "--fastcgi", "unix:" + path,
                               "--workers", "2", "--max-lifetime", "1", "--",
                               hello_bin], path)
    sup.wait_until(lambda: len(children(app.proc.pid)) == 2, 10, "2 workers",
                   proc=app.proc)
    first = set(children(app.proc.pid))
    web = servers.nginx(app)
    deadline = time.monotonic() + 4
    while time.monotonic() < deadline:
        r = web.request("GET", "/fcgi/x")
        assert r.status == 200, r
        time.sleep(0.02)
    assert not first & set(children(app.proc.pid))
    # The master names the replacement it started before it asks the old
    # worker to stop. (Counting processes in /proc from here cannot show
    # it: an idle worker exits microseconds after its replacement starts,
    # faster than one listing of /proc.)
    log = app.proc.log_text()
    started = re.findall(r"worker (\d+) reached its lifetime: worker (\d+) "
                         r"replaces it", log)
    assert len(started) >= 2, log
    assert "(retired)" in log, log


def test_recycling_under_load_loses_no_request(servers, anycgi_bin,
                                               hello_bin):
    # Workers recycle every ~20 requests while 8 clients keep asking, over
    # new and over kept connections: every request must be answered.
    path = os.path.join(servers.workdir, "load.sock")
    app = start_pool(servers, [anycgi_bin, "run", "--fastcgi", "unix:" + path,
                               "--workers", "2", "--max-requests", "20", "--",
                               hello_bin], path)
    web = servers.nginx(app)
    import concurrent.futures
    statuses = []

    def client(k):
        out = []
        for i in range(40):
            loc = "/fcgi/c%d" % i if k % 2 else "/keep/c%d" % i
            out.append(web.request("GET", loc).status)
        return out

    with concurrent.futures.ThreadPoolExecutor(8) as ex:
        for got in ex.map(client, range(8)):
            statuses += got
    assert statuses.count(200) == len(statuses) == 320, statuses
    assert app.proc.log_text().count("starting another") >= 10


def test_workers_stderr_in_master_log(servers, anycgi_bin, hello_bin):
    path = os.path.join(servers.workdir, "err.sock")
    script = "echo hello-from-worker-$$ >&2; exec %s" % hello_bin
    app = start_pool(servers, [anycgi_bin, "run", "--fastcgi", "unix:" + path,
                               "--workers", "2", "--name", "shpool", "--",
                               "/bin/sh", "-c", script], path)
    sup.wait_until(lambda: len(children(app.proc.pid)) == 2, 10, "2 workers",
                   proc=app.proc)
    for pid in children(app.proc.pid):
        line = "worker pool shpool pid %d: hello-from-worker-%d" % (pid, pid)
        sup.wait_until(lambda: line in app.proc.log_text(), 5,
                       "the line %r in the master's log" % line,
                       proc=app.proc)


def test_user_group_rlimits(servers, anycgi_bin, hello_bin):
    import grp
    import pwd
    path = os.path.join(servers.workdir, "priv.sock")
    # nobody must reach the program: a copy in a folder it may enter (the
    # checkout may sit in a folder only root can).
    os.chmod(servers.workdir, 0o755)
    prog = os.path.join(servers.workdir, "hello")
    shutil.copy(hello_bin, prog)
    # ASan reserves terabytes of address space at start: an address-space
    # limit is checked in the plain build only.
    sanitized = b"libasan" in subprocess.run(
        ["ldd", prog], capture_output=True, timeout=10).stdout
    as_limit = [] if sanitized else ["--rlimit-as", str(1 << 32)]
    app = start_pool(servers, [anycgi_bin, "run", "--fastcgi", "unix:" + path,
                               "--workers", "2", "--user", "nobody",
                               "--group", "nogroup", "--rlimit-files", "123"] +
                     as_limit + ["--", prog], path)
    sup.wait_until(lambda: len(children(app.proc.pid)) == 2, 10, "2 workers",
                   proc=app.proc)
    uid = pwd.getpwnam("nobody").pw_uid
    gid = grp.getgrnam("nogroup").gr_gid
    for pid in children(app.proc.pid):
        with open("/proc/%d/status" % pid) as f:
            status = dict(line.split(":", 1) for line in f if ":" in line)
        assert status["Uid"].split()[:2] == [str(uid)] * 2, status["Uid"]
        assert status["Gid"].split()[:2] == [str(gid)] * 2, status["Gid"]
        assert status["Groups"].split() == [str(gid)], status["Groups"]
        with open("/proc/%d/limits" % pid) as f:
            limits = f.read()
        assert "Max open files            123                  123" in limits
        if not sanitized:
            assert "Max address space         %d" % (1 << 32) in limits
    web = servers.nginx(app)
    r = web.request("GET", "/fcgi/x")
    assert r.status == 200 and r.body == b"Hello, world!\n", r


def test_chroot(servers, anycgi_bin, workdir):
    # A statically linked hello, alone in its new root.
    root = os.path.join(workdir, "root")
    os.makedirs(root)
    repo = os.path.dirname(os.path.dirname(os.path.dirname(
        os.path.abspath(__file__))))
    srcs = sorted(glob.glob(repo + "/src/lib/*.c") +
                  glob.glob(repo + "/src/proto/*.c"))
    subprocess.run(["cc", "-std=c11", "-D_GNU_SOURCE", "-O1", "-static",
                    "-I" + repo + "/include", "-I" + repo + "/src/proto",
                    "-I" + repo + "/src/lib", repo + "/examples/hello.c"] +
                   srcs + ["-lpthread", "-o", root + "/hello"],
                   check=True, capture_output=True, timeout=120)
    path = os.path.join(servers.workdir, "chroot.sock")
    app = start_pool(servers, [anycgi_bin, "run", "--fastcgi", "unix:" + path,
                               "--workers", "1", "--chroot", root,
                               "--user", "nobody", "--", "/hello"], path)
    sup.wait_until(lambda: len(children(app.proc.pid)) == 1, 10, "a worker",
                   proc=app.proc)
    pid = children(app.proc.pid)[0]
    # Forked, the worker shows up before it enters its new root.
    sup.wait_until(lambda: os.readlink("/proc/%d/root" % pid) == root, 5,
                   "the worker in its chroot", proc=app.proc)
    web = servers.nginx(app)
    r = web.request("GET", "/fcgi/x")
    assert r.status == 200 and r.body == b"Hello, world!\n", r


def test_several_listeners(servers, anycgi_bin, echo_bin, workdir):
    # A libanycgi worker serves every listener of its pool: the first on
    # fd 0, the others on the fds ANYCGI_LISTEN_FDS names.
    import fcgi_wire as fw
    a = os.path.join(servers.workdir, "a.sock")
    b = os.path.join(servers.workdir, "b.sock")
    port = sup.free_port()
    app = start_pool(servers, [anycgi_bin, "run", "--fastcgi", "unix:" + a,
                               "--scgi", "unix:" + b, "--fastcgi",
                               "127.0.0.1:%d" % port, "--workers", "2",
                               "--", echo_bin], a)
    sup.wait_until(lambda: len(children(app.proc.pid)) == 2, 10, "2 workers",
                   proc=app.proc)
    for target, fam in ((a, socket.AF_UNIX), (("127.0.0.1", port),
                                              socket.AF_INET)):
        s = socket.socket(fam, socket.SOCK_STREAM)
        s.settimeout(10)
        s.connect(target)
        s.sendall(fw.request_bytes(1, fw.cgi_params("POST", "/f?x=1", 3),
                                   b"abc", flags=0))
        r = fw.read_response(fw.Reader(s), 1).cgi()
        s.close()
        assert r.status == 200, r
        assert b'"body_bytes": 3' in r.body, r.body
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect(b)
    s.sendall(fw.scgi_request({"REQUEST_METHOD": "POST",
                               "REQUEST_URI": "/s"}, b"abcd"))
    out = fw.recv_all(s)
    s.close()
    r = fw.parse_cgi_response(out)
    assert r.status == 200, r
    assert b'"body_bytes": 4' in r.body, r.body
