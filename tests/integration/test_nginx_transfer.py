"""Big bodies through real nginx: a 100 MiB upload that the app hashes and a
100 MiB download checked byte by byte, over FastCGI on a Unix socket (one
transport only, to keep CI quick), and smaller ones over SCGI."""
import subprocess
import threading

import pytest

import acgi_support as sup

MIB = 1 << 20


def write_data_file(path, n_mib, seed):
    """n_mib MiB of deterministic bytes: one pseudo-random MiB, rotated by
    a different amount for each MiB so that no two MiB are alike."""
    block = sup.det_bytes(seed, MIB)
    with open(path, "wb") as f:
        for i in range(n_mib):
            r = (i * 7919) % MIB
            f.write(block[r:] + block[:r])


def file_fnv(path, out):
    h = sup.FNV64_OFFSET
    with open(path, "rb") as f:
        while True:
            chunk = f.read(MIB)
            if not chunk:
                break
            h = sup.fnv1a64(chunk, h)
    out.append("%016x" % h)


def upload_with_curl(url, path, size, timeout):
    """POSTs the file with curl, streamed from disk (-T), while this
    process hashes the same file. Returns (curl result, expected hash)."""
    expected = []
    hasher = threading.Thread(target=file_fnv, args=(path, expected))
    hasher.start()
    try:
        r = subprocess.run(
            [sup.peer("curl"), "-sS", "--fail-with-body", "--max-time",
             str(timeout), "-X", "POST", "-T", path,
             "-H", "Content-Type: application/octet-stream",
             "-H", "Expect:", url],
            capture_output=True, timeout=timeout + 10)
    finally:
        hasher.join()
    return r, expected[0]


def check_download(resp, n, chunk=MIB):
    """Reads an http.client response body in pieces and compares each with
    the echo app's alphabet at its offset. Returns the bytes read."""
    got = 0
    while True:
        data = resp.read(chunk)
        if not data:
            break
        if data != sup.alphabet_at(got, len(data)):
            bad = next(i for i in range(len(data))
                       if data[i] != sup.alphabet_at(got + i, 1)[0])
            raise AssertionError("wrong byte at offset %d" % (got + bad))
        got += len(data)
        assert got <= n, "more bytes than asked for"
    return got


def assert_memory_bounded(app, limit_mib=24):
    """The body streamed: the app's peak resident memory stays far below
    the 100 MiB that went through it. Sanitizer builds keep freed memory
    in quarantine, so there only the transfer itself is checked."""
    with open("/proc/%d/maps" % app.proc.pid) as f:
        if "libasan" in f.read():
            return
    with open("/proc/%d/status" % app.proc.pid) as f:
        hwm = next(int(line.split()[1]) for line in f
                   if line.startswith("VmHWM:"))
    assert hwm < limit_mib * 1024, "peak RSS %d KiB" % hwm


@pytest.mark.timeout_s(150)
def test_upload_100mib_fastcgi(web_unix, echo_unix, workdir):
    n = 100
    path = workdir + "/upload.bin"
    write_data_file(path, n, "upload-100")
    r, expected = upload_with_curl(web_unix.url("/fcgi/upload"), path,
                                   n * MIB, 120)
    assert r.returncode == 0, (r.returncode, r.stderr, r.stdout[:500])
    j = sup.HttpResponse(200, [], r.stdout).json()
    assert j["params"]["CONTENT_LENGTH"] == str(n * MIB)
    assert j["body_bytes"] == n * MIB
    assert j["body_fnv1a64"] == expected
    assert_memory_bounded(echo_unix)


@pytest.mark.timeout_s(150)
def test_download_100mib_fastcgi(web_unix, echo_unix):
    import http.client
    n = 100 * MIB
    conn = http.client.HTTPConnection("127.0.0.1", web_unix.port, timeout=60)
    try:
        conn.request("GET", "/stream/download?size=%d" % n)
        resp = conn.getresponse()
        assert resp.status == 200
        assert resp.getheader("Content-Type").startswith("text/plain")
        assert check_download(resp, n) == n
    finally:
        conn.close()
    assert_memory_bounded(echo_unix)


def test_upload_8mib_scgi(web_unix, workdir):
    n = 8
    path = workdir + "/upload.bin"
    write_data_file(path, n, "upload-scgi")
    r, expected = upload_with_curl(web_unix.url("/scgi/upload"), path,
                                   n * MIB, 60)
    assert r.returncode == 0, (r.returncode, r.stderr, r.stdout[:500])
    j = sup.HttpResponse(200, [], r.stdout).json()
    assert j["params"]["CONTENT_LENGTH"] == str(n * MIB)
    assert j["body_bytes"] == n * MIB
    assert j["body_fnv1a64"] == expected


def test_download_8mib_scgi(web_unix):
    import http.client
    n = 8 * MIB + 7
    conn = http.client.HTTPConnection("127.0.0.1", web_unix.port, timeout=60)
    try:
        conn.request("GET", "/scgi/download?size=%d" % n)
        resp = conn.getresponse()
        assert resp.status == 200
        assert check_download(resp, n) == n
    finally:
        conn.close()


def test_download_buffered_fastcgi(web_unix):
    # The default fastcgi_buffering on: nginx reads as fast as the app
    # writes, into memory and a temp file.
    r = web_unix.request("GET", "/fcgi/download?size=%d" % (3 * MIB + 5))
    assert r.status == 200
    assert r.body == sup.alphabet_at(0, 3 * MIB + 5)
