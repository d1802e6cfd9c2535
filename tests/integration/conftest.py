"""Fixtures of the end-to-end tests: the programs under test (from the
meson build folder named by ANYCGI_BUILD), started under Debian's spawn-fcgi
or on ANYCGI_LISTEN, and real nginx in front of them with a generated config.

Rules every fixture keeps: ports come from the kernel (bind to port 0),
sockets live in a short per-test folder, every server runs in its own
process group and is stopped (then killed) at the end of its test, and a
missing peer program is a failure, never a skip.
"""
import atexit
import os
import shutil
import signal
import socket
import tempfile

import pytest

pytest.register_assert_rewrite("acgi_support", "fcgi_wire")

import acgi_support as sup  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))

DEFAULT_TIMEOUT_S = 60


def _on_sigterm(signum, frame):
    # Unwind like Ctrl-C, so that fixtures stop their servers.
    raise KeyboardInterrupt("SIGTERM")


def pytest_configure(config):
    signal.signal(signal.SIGTERM, _on_sigterm)
    # atexit runs these last registered first: kill, then remove folders.
    atexit.register(_remove_workdirs)
    atexit.register(sup.kill_leftovers)
    config.addinivalue_line(
        "markers", "timeout_s(n): fail the test when it runs over n seconds "
        "(default %d)" % DEFAULT_TIMEOUT_S)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    # Lets fixtures see in their teardown whether the test failed.
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)


def pytest_sessionfinish(session, exitstatus):
    # No server may outlive the run: any left here is a fixture bug.
    left = [(p.name, p.pid) for p in sup.LIVE]
    if left:
        sup.kill_leftovers()
        print("\nERROR: servers left running at the end, now killed: %s"
              % left)
        if session.exitstatus == 0:
            session.exitstatus = 1


class RunTimeout(Exception):
    pass


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    # A last guard against a hang: every wait in the tests has its own
    # deadline, and this one stops the test body itself (fixtures then stop
    # the servers as usual).
    m = item.get_closest_marker("timeout_s")
    limit = m.args[0] if m else DEFAULT_TIMEOUT_S

    def on_alarm(signum, frame):
        raise RunTimeout("the test ran over %s s" % limit)

    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, limit)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


# ---- what is under test --------------------------------------------------

@pytest.fixture(scope="session")
def build_dir():
    b = os.environ.get("ANYCGI_BUILD") or os.path.join(REPO, "build")
    if not os.path.isdir(b):
        pytest.fail("ANYCGI_BUILD=%s is not a folder: build first "
                    "(make check sets it)" % b)
    return os.path.abspath(b)


def _program(build_dir, rel):
    p = os.path.join(build_dir, rel)
    if not os.access(p, os.X_OK):
        pytest.fail("%s is missing: build it first" % p)
    return p


@pytest.fixture(scope="session")
def echo_bin(build_dir):
    return _program(build_dir, "src/apps/anycgi-echo")


@pytest.fixture(scope="session")
def hello_bin(build_dir):
    return _program(build_dir, "examples/hello")


# ---- per-test folder and servers ---------------------------------------

WORKDIRS = set()


def _remove_workdirs():
    for d in list(WORKDIRS):
        shutil.rmtree(d, ignore_errors=True)
        WORKDIRS.discard(d)


@pytest.fixture
def workdir():
    """A new folder for the test's sockets, configs and logs, removed at
    the end (kept when ANYCGI_TEST_KEEP is set). Short, so that Unix
    socket paths stay far below their 108-byte limit."""
    d = tempfile.mkdtemp(prefix="acgi-", dir="/tmp")
    os.chmod(d, 0o700)
    if not os.environ.get("ANYCGI_TEST_KEEP"):
        WORKDIRS.add(d)
    yield d
    if d in WORKDIRS:
        shutil.rmtree(d, ignore_errors=True)
        WORKDIRS.discard(d)


class App:
    """A program under test listening on a Unix or TCP socket."""

    def __init__(self, proc, transport, path=None, host=None, port=None,
                 threads=None):
        self.proc = proc
        self.threads = threads
        self.transport = transport
        self.path = path
        self.host = host
        self.port = port

    @property
    def nginx_addr(self):
        if self.transport == "unix":
            return "unix:" + self.path
        if ":" in self.host:
            return "[%s]:%d" % (self.host, self.port)
        return "%s:%d" % (self.host, self.port)

    @property
    def connect_arg(self):
        """The address as cgi-fcgi -connect wants it."""
        if self.transport == "unix":
            return self.path
        return "%s:%d" % (self.host, self.port)

    def connect(self, timeout=10.0):
        if self.transport == "unix":
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            target = self.path
        else:
            fam = socket.AF_INET6 if ":" in self.host else socket.AF_INET
            s = socket.socket(fam, socket.SOCK_STREAM)
            target = (self.host, self.port)
        s.settimeout(timeout)
        s.connect(target)
        return s

    def stderr_text(self):
        return self.proc.log_text()

    def alive(self):
        return self.proc.alive()


class Servers:
    """Starts programs for one test and stops all of them at its end."""

    def __init__(self, workdir):
        self.workdir = workdir
        self.procs = []
        self.n = 0

    def start(self, name, argv, env=None, cwd=None):
        self.n += 1
        log = os.path.join(self.workdir, "%s-%d.log" % (name, self.n))
        p = sup.Proc(name, argv, env if env is not None else sup.clean_env(),
                     log, cwd=cwd)
        self.procs.append(p)
        return p

    def app(self, program, transport="unix", via="spawn-fcgi", threads=None,
            env=None):
        """program under spawn-fcgi (fd 0 is the listening socket) or with
        ANYCGI_LISTEN (the program binds). transport: unix, tcp or tcp6."""
        extra = dict(env or {})
        if threads is not None:
            extra["ANYCGI_THREADS"] = str(threads)
        path = host = port = None
        name = os.path.basename(program)
        if transport == "unix":
            self.n += 1
            path = os.path.join(self.workdir, "app%d.sock" % self.n)
        else:
            host = "::1" if transport == "tcp6" else "127.0.0.1"
        # A port free when we asked may be taken by another program before
        # ours binds it: try again with another one.
        for attempt in range(5):
            if transport != "unix":
                port = sup.free_port(host)
            if via == "spawn-fcgi":
                sf = sup.peer("spawn-fcgi")
                if transport == "unix":
                    argv = [sf, "-n", "-s", path, "-M", "0666", "--", program]
                else:
                    argv = [sf, "-n", "-a", host, "-p", str(port), "--",
                            program]
            elif via == "listen":
                if transport == "unix":
                    extra["ANYCGI_LISTEN"] = "unix:" + path
                elif transport == "tcp6":
                    extra["ANYCGI_LISTEN"] = "[::1]:%d" % port
                else:
                    extra["ANYCGI_LISTEN"] = "127.0.0.1:%d" % port
                argv = [program]
            else:
                raise ValueError(via)
            proc = self.start(name, argv, sup.clean_env(extra))
            where = path or "%s port %d" % (host, port)
            try:
                sup.wait_until(
                    lambda: sup.listening_in_group(proc.pgid, path, port), 10,
                    "%s to listen on %s" % (name, where), proc=proc)
                break
            except AssertionError:
                if (transport == "unix" or attempt == 4 or proc.alive()
                        or "in use" not in proc.log_text()):
                    raise
                proc.expect_exit = True
                proc.stop()
        if transport == "tcp6":
            transport = "tcp"
        return App(proc, transport, path=path, host=host, port=port,
                   threads=threads)

    def nginx(self, app):
        """Real nginx in front of app (see acgi_support.NGINX_CONF)."""
        ng = sup.peer("nginx")
        for attempt in range(5):
            self.n += 1
            d = os.path.join(self.workdir, "nginx%d" % self.n)
            os.makedirs(d)
            port = sup.free_port()
            conf = sup.write_nginx_conf(d, port, app.nginx_addr)
            proc = self.start("nginx", [ng, "-p", d + "/", "-c", conf,
                                        "-g", "daemon off;"])
            nx = Nginx(proc, d, port)
            try:
                sup.wait_until(
                    lambda: sup.listening_in_group(proc.pgid, port=port), 10,
                    "nginx to listen on port %d" % port, proc=proc)
                break
            except AssertionError as e:
                # Another program took the port first: try another.
                if (attempt == 4 or proc.alive()
                        or "in use" not in nx.error_log_tail()):
                    raise AssertionError("%s\n%s" % (e, nx.error_log_tail()))
                proc.expect_exit = True
                proc.stop()

        def answers():
            try:
                return sup.http_request(port, "GET", "/ping",
                                        timeout=2).status == 200
            except OSError:
                return False
        try:
            sup.wait_until(answers, 10, "nginx to answer on port %d" % port,
                           interval=0.05, proc=proc)
        except AssertionError as e:
            raise AssertionError("%s\n%s" % (e, nx.error_log_tail()))
        return nx

    def stop_all(self):
        """Stops every program, last started first. Returns problems: a
        program that needed SIGKILL, or a sanitizer report in a log."""
        problems = []
        for p in reversed(self.procs):
            rc, killed = p.stop()
            if killed:
                problems.append("%s (pids %s) did not exit within 5 s of "
                                "SIGTERM" % (p.name, killed))
            if p.exited_early not in (None, 0) and not p.expect_exit:
                problems.append("%s exited during the test with status %d "
                                "(negative: killed by that signal)"
                                % (p.name, p.exited_early))
        for p in self.procs:
            text = p.log_text()
            for mark in sup.SANITIZER_MARKS:
                if mark in text:
                    problems.append("sanitizer report in %s's log:\n%s" % (
                        p.name, p.log_tail(80)))
                    break
        return problems


class Nginx:
    def __init__(self, proc, d, port):
        self.proc = proc
        self.dir = d
        self.port = port

    def request(self, method, path, headers=(), body=None, timeout=30.0):
        return sup.http_request(self.port, method, path, headers, body,
                                timeout)

    def get_json(self, path, headers=(), body=None, method=None):
        r = self.request(method or ("POST" if body is not None else "GET"),
                         path, headers, body)
        assert r.status == 200, r
        assert r.header("content-type") == "application/json", r
        return r.json()

    def url(self, path):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def error_log_tail(self, n=30):
        p = os.path.join(self.dir, "error.log")
        try:
            with open(p, "rb") as f:
                lines = f.read().decode("utf-8", "replace").splitlines()
        except FileNotFoundError:
            return "(no %s)" % p
        return "--- nginx error.log, last lines ---\n" + "\n".join(
            lines[-n:])


@pytest.fixture
def servers(request, workdir):
    s = Servers(workdir)
    yield s
    problems = s.stop_all()
    failed = any(getattr(request.node, "rep_" + w, None) is not None
                 and getattr(request.node, "rep_" + w).failed
                 for w in ("setup", "call"))
    if failed or problems:
        for p in s.procs:
            print(p.log_tail())
            if p.name == "nginx":
                ng = Nginx(p, os.path.dirname(p.argv[4]), 0)
                print(ng.error_log_tail())
    if problems:
        pytest.fail("\n".join(problems))


# ---- the usual set-ups ---------------------------------------------------

@pytest.fixture(params=["unix", "tcp"])
def transport(request):
    return request.param


@pytest.fixture
def echo_app(servers, echo_bin, transport):
    """anycgi-echo under spawn-fcgi, single-threaded, on each transport."""
    return servers.app(echo_bin, transport)


@pytest.fixture
def web(servers, echo_app):
    """nginx in front of echo_app."""
    return servers.nginx(echo_app)


@pytest.fixture(params=["unix", "tcp", "tcp6"])
def listen_app(request, servers, echo_bin):
    """anycgi-echo binding ANYCGI_LISTEN itself: unix:PATH, 127.0.0.1:PORT
    and [::1]:PORT."""
    if request.param == "tcp6" and not sup.ipv6_loopback():
        pytest.skip("this machine has no IPv6 loopback address")
    return servers.app(echo_bin, request.param, via="listen")


@pytest.fixture
def echo_unix(servers, echo_bin):
    return servers.app(echo_bin, "unix")


@pytest.fixture
def web_unix(servers, echo_unix):
    return servers.nginx(echo_unix)
