"""The CGI gateway's limits and options (issue 4): --max-scripts across the
pool's workers (measured by the scripts themselves), --script-user and
--script-rlimit-* as the scripts see them, --script-stderr fastcgi into
nginx's error log, and --root inside --chroot."""
import concurrent.futures
import json
import os
import shutil
import socket
import subprocess
import time

import pytest

import acgi_support as sup
from conftest import App
from test_cgi_gateway import (PY, SH, anycgi_bin, assert_no_zombie,  # noqa
                              fcgi_script, gone, sleep_pid_of,
                              start_gateway, write_script)

# Each run appends "start NS PID" and "end NS PID" (CLOCK_MONOTONIC, the
# same clock for every process) to the file in its query string.
SPAN = PY + """import os, sys, time
log = os.environ["QUERY_STRING"]
def note(what):
    fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    os.write(fd, ("%s %d %d\\n" % (what, time.monotonic_ns(),
                                   os.getpid())).encode())
    os.close(fd)
note("start")
time.sleep(0.3)
note("end")
print("Content-Type: text/plain\\n\\nspan")
"""

WHOAMI = PY + """import json, os, resource
lim = {n: resource.getrlimit(getattr(resource, "RLIMIT_" + n))[0]
       for n in ("CPU", "AS", "NPROC", "NOFILE")}
print("Content-Type: application/json\\n")
print(json.dumps({"uid": os.getuid(), "euid": os.geteuid(),
                  "gid": os.getgid(), "groups": os.getgroups(),
                  "limits": lim}))
"""


def most_at_once(lines):
    """The most runs alive at the same moment, from their start/end
    lines."""
    events = []
    for line in lines:
        what, ns, _ = line.split()
        events.append((int(ns), 1 if what == "start" else -1))
    live = peak = 0
    for _, d in sorted(events, key=lambda e: (e[0], e[1])):
        live += d
        peak = max(peak, live)
    return peak


def test_max_scripts_holds_across_the_pool(servers, anycgi_bin):
    """20 slow scripts at once on 20 workers with --max-scripts 2: never
    more than 2 alive, as the scripts themselves saw it; all answered."""
    app = start_gateway(servers, anycgi_bin, "--workers", "20",
                        "--max-scripts", "2", "--script-wait", "60")
    write_script(os.path.join(app.root, "fcgi/cgi-bin/span.py"), SPAN)
    log = os.path.join(servers.workdir, "spans.log")
    sup.wait_until(lambda: len(sup.children(app.proc.pid)) == 20, 10,
                   "20 workers")
    with concurrent.futures.ThreadPoolExecutor(20) as ex:
        runs = [ex.submit(app.web.request, "GET",
                          "/fcgi/cgi-bin/span.py?" + log, timeout=60)
                for _ in range(20)]
        got = [f.result() for f in runs]
    assert all((r.status, r.body) == (200, b"span\n") for r in got), got
    lines = open(log).read().splitlines()
    assert len(lines) == 40
    assert most_at_once(lines) == 2, lines
    assert_no_zombie(app)


def test_max_scripts_answers_503_after_the_wait(servers, anycgi_bin):
    app = start_gateway(servers, anycgi_bin, "--workers", "3",
                        "--max-scripts", "1", "--script-wait", "0.5")
    offset = app.proc.log_size()
    s = socket.create_connection(("127.0.0.1", app.web.port), timeout=10)
    s.sendall(b"GET /fcgi/cgi-bin/hang.sh HTTP/1.1\r\nHost: x\r\n\r\n")
    sleep_pid = sleep_pid_of(app)
    r = app.web.request("GET", "/fcgi/cgi-bin/hello.cgi")
    assert r.status == 503 and b"too many" in r.body, r
    sup.wait_until(lambda: "hello.cgi: all 1 script slots busy"
                   in app.proc.log_since(offset), 5, "the 503's log line")
    # Answers that need no script still come.
    assert app.web.request("GET", "/fcgi/cgi-bin/nothing.cgi").status == 404
    # The client goes away: the script dies and its slot is free again.
    s.close()
    sup.wait_until(lambda: gone(sleep_pid), 10, "the hung script killed")
    sup.wait_until(lambda: app.web.request(
        "GET", "/fcgi/cgi-bin/hello.cgi").status == 200, 5, "a free slot")


def test_a_killed_worker_gives_its_slot_back(servers, anycgi_bin):
    app = start_gateway(servers, anycgi_bin, "--workers", "3",
                        "--max-scripts", "1", "--script-wait", "0.5")
    s = socket.create_connection(("127.0.0.1", app.web.port), timeout=10)
    s.sendall(b"GET /fcgi/cgi-bin/hang.sh HTTP/1.1\r\nHost: x\r\n\r\n")
    sleep_pid = sleep_pid_of(app)
    assert app.web.request("GET", "/fcgi/cgi-bin/hello.cgi").status == 503
    # The worker that holds the slot is the hung script's grandparent.
    worker = next(w for w in sup.children(app.proc.pid)
                  if any(sleep_pid in sup.children(c)
                         for c in sup.children(w)))
    os.kill(worker, 9)
    s.close()
    sup.wait_until(lambda: app.web.request(
        "GET", "/fcgi/cgi-bin/hello.cgi").status == 200, 10, "a free slot")
    os.kill(sleep_pid, 9)


def test_script_user_and_rlimits(servers, anycgi_bin):
    """The workers stay root; each script runs as nobody:nogroup with only
    that group, under its own limits."""
    import grp
    import pwd
    nobody = pwd.getpwnam("nobody")
    nogroup = grp.getgrnam("nogroup")
    app = start_gateway(
        servers, anycgi_bin, "--script-user", "nobody",
        "--script-group", "nogroup", "--script-rlimit-cpu", "7",
        "--script-rlimit-as", str(900 << 20), "--script-rlimit-nproc", "55",
        "--script-rlimit-files", "64")
    write_script(os.path.join(app.root, "fcgi/cgi-bin/whoami.py"), WHOAMI)
    # Python opens its script by its absolute path: nobody must be able to
    # search every folder above it (the test's folders are 0700).
    d = app.root
    while d not in ("/tmp", "/"):
        os.chmod(d, os.stat(d).st_mode | 0o011)
        d = os.path.dirname(d)
    write_script(os.path.join(app.root, "fcgi/cgi-bin/id.sh"),
                 SH + "printf 'Content-Type: text/plain\\n\\n'\n"
                      "id -u; ulimit -t; ulimit -v\n")
    r = app.web.request("GET", "/fcgi/cgi-bin/whoami.py")
    assert r.status == 200, (r, app.web.error_log_tail(), app.proc.log_tail())
    j = r.json()
    assert (j["uid"], j["euid"]) == (nobody.pw_uid, nobody.pw_uid)
    assert j["gid"] == nogroup.gr_gid and j["groups"] == [nogroup.gr_gid]
    assert j["limits"] == {"CPU": 7, "AS": 900 << 20, "NPROC": 55,
                           "NOFILE": 64}
    r = app.web.request("GET", "/fcgi/cgi-bin/id.sh")
    assert r.body.decode().split() == [str(nobody.pw_uid), "7",
                                       str(900 << 10)], r
    for w in sup.children(app.proc.pid):
        with open("/proc/%d/status" % w) as f:
            assert "\nUid:\t0\t0\t0\t0\n" in f.read()
    # A folder the script's user may not enter: the script may not run.
    private = os.path.join(app.root, "fcgi/private")
    write_script(os.path.join(private, "hello.cgi"),
                 SH + "printf 'Content-Type: text/plain\\n\\nran\\n'\n")
    os.chmod(private, 0o700)
    offset = app.proc.log_size()
    r = app.web.request("GET", "/fcgi/private/hello.cgi")
    assert r.status == 403 and b"ran" not in r.body, r
    sup.wait_until(lambda: "the script's folder failed" in
                   app.proc.log_since(offset), 5, "the log line")
    assert_no_zombie(app)


def test_rlimit_cpu_stops_a_spinning_script(servers, anycgi_bin):
    app = start_gateway(servers, anycgi_bin, "--script-rlimit-cpu", "1")
    write_script(os.path.join(app.root, "fcgi/cgi-bin/spin.sh"),
                 SH + "while :; do :; done\n")
    offset = app.proc.log_size()
    r = app.web.request("GET", "/fcgi/cgi-bin/spin.sh", timeout=30)
    assert r.status == 502, r
    sup.wait_until(lambda: "spin.sh: killed by signal" in
                   app.proc.log_since(offset), 5, "the signal logged")


@pytest.mark.parametrize("opts,why", [
    (["--script-user", "nobody", "--user", "nobody"],
     "script-user needs the workers to stay root"),
    (["--script-group", "nogroup"], "script-group needs script-user"),
    (["--script-user", "no-such-user-here"], "no such user"),
    (["--script-stderr", "syslog"], "log or fastcgi"),
    (["--max-scripts", "0"], "at least 1"),
])
def test_bad_script_options_are_refused(anycgi_bin, workdir, opts, why):
    p = subprocess.run([anycgi_bin, "cgi", "--fastcgi",
                        "unix:" + os.path.join(workdir, "x.sock"),
                        "--root", workdir] + opts,
                       capture_output=True, text=True, timeout=20)
    assert p.returncode == 2 and why in p.stderr, p


def test_stderr_to_fastcgi_lands_in_nginx_error_log(servers, anycgi_bin):
    # One worker: its log lines arrive in the order it wrote them.
    app = start_gateway(servers, anycgi_bin, "--script-stderr", "fastcgi",
                        "--workers", "1")
    offset = app.proc.log_size()
    r = app.web.request("GET", "/fcgi/cgi-bin/stderr.sh")
    assert (r.status, r.body) == (200, b"ok\n"), r
    err = os.path.join(app.web.dir, "error.log")
    sup.wait_until(lambda: 'FastCGI sent in stderr: "something odd happened'
                   in open(err, errors="replace").read(), 5,
                   "the line in nginx's error log")
    # A line the worker logs after it: once it is in, the stderr line
    # would be too, had it gone to the log.
    assert app.web.request("GET", "/fcgi/cgi-bin/noexec.sh").status == 403
    sup.wait_until(lambda: "noexec.sh is not executable" in
                   app.proc.log_since(offset), 5, "a later log line")
    assert "something odd" not in app.proc.log_since(offset)


def copy_into(chroot, path):
    dest = chroot + path
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    shutil.copy2(path, dest)


def test_root_inside_chroot(servers, anycgi_bin, workdir):
    """--root is looked up inside --chroot, where the workers see it."""
    chroot = os.path.join(workdir, "jail")
    # The anycgi binary and what it links, at the same paths inside.
    out = subprocess.run(["ldd", anycgi_bin], capture_output=True,
                         text=True, check=True).stdout
    libs = [w for w in out.split() if w.startswith("/")]
    for path in [anycgi_bin] + libs:
        copy_into(chroot, os.path.realpath(path))
        if os.path.realpath(path) != path:
            copy_into(chroot, path)
    src = os.path.join(workdir, "hello.c")
    with open(src, "w") as f:
        f.write('#include <stdio.h>\n#include <unistd.h>\nint main(void) {'
                ' char d[256]; printf("Content-Type: text/plain\\n\\n%s\\n",'
                ' getcwd(d, sizeof(d))); return 0; }\n')
    os.makedirs(chroot + "/srv/cgi-bin")
    subprocess.run(["cc", "-static", "-O1", src, "-o",
                    chroot + "/srv/cgi-bin/hello"], check=True, timeout=60)
    path = os.path.join(servers.workdir, "jail.sock")
    proc = servers.start("anycgi", [
        anycgi_bin, "cgi", "--fastcgi", "unix:" + path, "--chroot", chroot,
        "--root", "/srv", "--workers", "1"])
    sup.wait_until(lambda: sup.listening_in_group(proc.pgid, path), 10,
                   "the gateway to listen", proc=proc)
    app = App(proc, "unix", path=path)
    r = fcgi_script(app, "/cgi-bin/hello")
    assert (r.status, r.body) == (200, b"/srv/cgi-bin\n"), (r,
                                                          proc.log_tail())
    # A root that exists only outside the chroot is refused at start.
    p = subprocess.run([anycgi_bin, "cgi", "--fastcgi",
                        "unix:" + os.path.join(workdir, "y.sock"),
                        "--chroot", chroot, "--root", workdir],
                       capture_output=True, text=True, timeout=20)
    assert p.returncode == 2 and "inside the chroot" in p.stderr, p
