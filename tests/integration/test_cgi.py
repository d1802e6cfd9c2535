"""The same program behind Debian's cgi-fcgi (libfcgi's FastCGI client,
which sends its whole environment as params) and run as a plain CGI/1.1
program (RFC 3875: params from the environment, body on stdin, response on
stdout)."""
import subprocess
import threading

import pytest

import acgi_support as sup
import fcgi_wire as fw


def cgi_env(method="POST", query="", body_len=None, extra=None):
    env = sup.clean_env({
        "GATEWAY_INTERFACE": "CGI/1.1",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "SERVER_SOFTWARE": "anycgi-tests",
        "SERVER_NAME": "localhost",
        "SERVER_PORT": "8080",
        "REMOTE_ADDR": "192.0.2.7",
        "REQUEST_METHOD": method,
        "SCRIPT_NAME": "/cgi-bin/echo",
        "PATH_INFO": "/more",
        "QUERY_STRING": query,
        "HTTP_X_TEST": "abc",
    })
    if body_len is not None:
        env["CONTENT_LENGTH"] = str(body_len)
        env["CONTENT_TYPE"] = "application/octet-stream"
    env.update(extra or {})
    return env


def check_json(out, env, body):
    r = fw.parse_cgi_response(out)
    assert r.status == 200, r
    assert r.header("content-type") == "application/json", r
    j = sup.HttpResponse(200, [], r.body).json()
    p = j["params"]
    for k in ("REQUEST_METHOD", "SCRIPT_NAME", "PATH_INFO", "QUERY_STRING",
              "REMOTE_ADDR", "HTTP_X_TEST", "GATEWAY_INTERFACE"):
        assert p[k] == env[k], k
    if "CONTENT_LENGTH" in env:
        assert p["CONTENT_LENGTH"] == env["CONTENT_LENGTH"]
    assert j["role"] == "RESPONDER"
    assert j["body_bytes"] == len(body)
    assert j["body_fnv1a64"] == sup.fnv_hex(body)
    return j


# ---- cgi-fcgi ------------------------------------------------------------

def cgi_fcgi(app, env, body):
    r = subprocess.run([sup.peer("cgi-fcgi"), "-bind", "-connect",
                        app.connect_arg], env=env, input=body,
                       capture_output=True, timeout=30)
    assert r.returncode == 0, (r.returncode, r.stderr, r.stdout[:300])
    return r.stdout


def test_cgi_fcgi_post(echo_app):
    body = sup.det_bytes("cgi-fcgi", 300000)
    env = cgi_env("POST", "a=1", len(body))
    out = cgi_fcgi(echo_app, env, body)
    j = check_json(out, env, body)
    # cgi-fcgi passes its whole environment: PATH too.
    assert j["params"]["PATH"] == env["PATH"]


def test_cgi_fcgi_get(echo_app):
    env = cgi_env("GET", "x=y")
    j = check_json(cgi_fcgi(echo_app, env, b""), env, b"")
    assert "CONTENT_LENGTH" not in j["params"]


def test_cgi_fcgi_query_words(echo_app):
    env = cgi_env("GET", "status=404")
    r = fw.parse_cgi_response(cgi_fcgi(echo_app, env, b""))
    assert r.status == 404, r
    body = sup.det_bytes("cgi-fcgi-echo", 100000)
    env = cgi_env("POST", "echo=body", len(body))
    r = fw.parse_cgi_response(cgi_fcgi(echo_app, env, body))
    assert r.status == 200, r
    assert r.header("content-type") == "application/octet-stream"
    assert r.body == body


# ---- plain CGI -----------------------------------------------------------

def check_exit(returncode, stderr):
    text = stderr.decode("utf-8", "replace")
    for mark in sup.SANITIZER_MARKS:
        assert mark not in text, "sanitizer report:\n" + text[-4000:]
    assert returncode == 0, (returncode, text[-2000:])


def run_cgi(echo_bin, env, stdin_bytes, workdir):
    r = subprocess.run([echo_bin], env=env, input=stdin_bytes,
                       capture_output=True, timeout=30, cwd=workdir)
    check_exit(r.returncode, r.stderr)
    return r


def test_plain_cgi_post(echo_bin, workdir):
    body = sup.det_bytes("cgi", 1 << 20)
    env = cgi_env("POST", "", len(body))
    # RFC 3875 section 4.2: the script reads CONTENT_LENGTH bytes, no more,
    # even when more is there.
    r = run_cgi(echo_bin, env, body + b"extra bytes past the body", workdir)
    check_json(r.stdout, env, body)


def test_plain_cgi_get_does_not_wait_for_stdin(echo_bin, workdir):
    env = cgi_env("GET", "q=1")
    err = open(workdir + "/stderr", "w+b")
    p = subprocess.Popen([echo_bin], env=env, stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=err, cwd=workdir)
    out = []
    reader = threading.Thread(target=lambda: out.append(p.stdout.read()))
    reader.start()
    try:
        # stdin stays open: an app that waits for its end would hang here.
        p.wait(timeout=10)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
        pytest.fail("a GET without CONTENT_LENGTH waited for stdin to end")
    finally:
        p.stdin.close()
        reader.join(10)
        p.stdout.close()
    err.seek(0)
    check_exit(p.returncode, err.read())
    err.close()
    j = check_json(out[0], env, b"")
    assert j["params"]["QUERY_STRING"] == "q=1"


def test_plain_cgi_echo_body(echo_bin, workdir):
    body = sup.det_bytes("cgi-echo", 3 << 20)
    env = cgi_env("POST", "echo=body", len(body))
    r = fw.parse_cgi_response(run_cgi(echo_bin, env, body, workdir).stdout)
    assert r.status == 200
    assert r.header("content-type") == "application/octet-stream"
    assert r.body == body


def test_plain_cgi_status_and_size(echo_bin, workdir):
    env = cgi_env("GET", "status=418&size=1000")
    r = fw.parse_cgi_response(run_cgi(echo_bin, env, b"", workdir).stdout)
    assert r.status == 418, r
    assert r.header("content-type").startswith("text/plain")
    assert r.body == sup.alphabet_at(0, 1000)


def test_plain_cgi_stderr_word(echo_bin, workdir):
    env = cgi_env("GET", "stderr=cgi-marker-91")
    r = run_cgi(echo_bin, env, b"", workdir)
    assert b"cgi-marker-91" in r.stderr
    check_json(r.stdout, env, b"")
