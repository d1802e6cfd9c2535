"""50 clients at once through nginx, each sending a few requests with
bodies: every answer belongs to its request and is right."""
import threading

import pytest

import acgi_support as sup

N_CLIENTS = 50
N_REQUESTS = 4


def body_for(t, k):
    return sup.det_bytes("c%d-%d" % (t, k), (t * 7919 + k * 104729) % 65536)


@pytest.mark.timeout_s(120)
@pytest.mark.parametrize("transport,threads,prefix", [
    ("unix", None, "/fcgi/c"),
    ("tcp", 4, "/keep/c"),
    ("unix", 4, "/fcgi/c"),
    ("tcp", None, "/scgi/c"),
], ids=["unix-loop-fastcgi", "tcp-threads4-keepconn", "unix-threads4-fastcgi",
        "tcp-loop-scgi"])
def test_50_concurrent_clients(servers, echo_bin, transport, threads, prefix):
    app = servers.app(echo_bin, transport, threads=threads)
    web = servers.nginx(app)
    bodies = {(t, k): body_for(t, k) for t in range(N_CLIENTS)
              for k in range(N_REQUESTS)}
    hashes = {key: sup.fnv_hex(b) for key, b in bodies.items()}
    start = threading.Barrier(N_CLIENTS, timeout=30)
    errors = []
    done = []

    def client(t):
        try:
            start.wait()
            for k in range(N_REQUESTS):
                body = bodies[(t, k)]
                if k == N_REQUESTS - 1:
                    # The last one streams its body back.
                    r = web.request("POST", "%s?echo=body&t=%d" % (prefix, t),
                                    body=body, timeout=60)
                    assert r.status == 200, r
                    assert r.body == body, "client %d: echoed body differs" % t
                    continue
                r = web.request("POST", "%s?t=%d&k=%d" % (prefix, t, k),
                                headers=[("X-Client", str(t))], body=body,
                                timeout=60)
                assert r.status == 200, r
                j = r.json()
                p = j["params"]
                assert p["QUERY_STRING"] == "t=%d&k=%d" % (t, k), p
                assert p["HTTP_X_CLIENT"] == str(t), p
                assert p["CONTENT_LENGTH"] == str(len(body)), p
                assert j["body_bytes"] == len(body), j
                assert j["body_fnv1a64"] == hashes[(t, k)], j
            done.append(t)
        except BaseException as e:  # reported by the main thread
            errors.append("client %d: %r" % (t, e))

    threads_ = [threading.Thread(target=client, args=(t,), daemon=True)
                for t in range(N_CLIENTS)]
    for th in threads_:
        th.start()
    for th in threads_:
        th.join(90)
    assert not errors, "\n".join(errors[:10])
    assert sorted(done) == list(range(N_CLIENTS))
    assert app.alive()
