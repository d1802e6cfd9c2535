"""A small FastCGI and SCGI client for the end-to-end tests: encode records
and name-value pairs, read records back with a deadline, and split a CGI
response into status, headers and body. Written from the FastCGI 1.0
specification (shared/PROTOCOLS.md), independently of the C code it tests.
"""
import socket
import struct
import time

VERSION_1 = 1
HEADER_LEN = 8

BEGIN_REQUEST = 1
ABORT_REQUEST = 2
END_REQUEST = 3
PARAMS = 4
STDIN = 5
STDOUT = 6
STDERR = 7
DATA = 8
GET_VALUES = 9
GET_VALUES_RESULT = 10
UNKNOWN_TYPE = 11

RESPONDER = 1
AUTHORIZER = 2
FILTER = 3

KEEP_CONN = 1

REQUEST_COMPLETE = 0
CANT_MPX_CONN = 1
OVERLOADED = 2
UNKNOWN_ROLE = 3

MAX_CONTENT = 65535


class ProtocolError(Exception):
    """The peer sent bytes that are not FastCGI, or a test deadline passed."""


# ---- encoding ------------------------------------------------------------

def record(rtype, request_id, content=b"", padding=None, version=VERSION_1,
           content_len=None):
    """One record. padding=None pads to a multiple of 8 (section 3.3);
    content_len overrides the header's length field (to lie on purpose)."""
    if padding is None:
        padding = (-len(content)) % 8
    if content_len is None:
        content_len = len(content)
    head = struct.pack(">BBHHBB", version, rtype, request_id, content_len,
                       padding, 0)
    return head + content + b"\0" * padding


def stream(rtype, request_id, data, chunk=MAX_CONTENT):
    """A whole stream: non-empty records of at most chunk bytes, then the
    empty record that ends it."""
    out = []
    for i in range(0, len(data), chunk):
        out.append(record(rtype, request_id, data[i:i + chunk]))
    out.append(record(rtype, request_id, b""))
    return b"".join(out)


def nv_length(n):
    """Section 3.4: one byte below 128, else four with the high bit set."""
    if n < 0x80:
        return bytes([n])
    if n > 0x7FFFFFFF:
        raise ValueError("length over 31 bits")
    return struct.pack(">I", n | 0x80000000)


def _b(x):
    return x if isinstance(x, bytes) else str(x).encode()


def nv(name, value):
    name, value = _b(name), _b(value)
    return nv_length(len(name)) + nv_length(len(value)) + name + value


def nv_pairs(pairs):
    """pairs: a dict or a list of (name, value), repeats allowed."""
    items = pairs.items() if isinstance(pairs, dict) else pairs
    return b"".join(nv(k, v) for k, v in items)


def decode_nv(data):
    """The inverse of nv_pairs: a list of (name, value) byte strings."""
    out = []
    i = 0

    def length():
        nonlocal i
        if data[i] < 0x80:
            n = data[i]
            i += 1
            return n
        n = struct.unpack(">I", data[i:i + 4])[0] & 0x7FFFFFFF
        i += 4
        return n

    while i < len(data):
        nl = length()
        vl = length()
        out.append((data[i:i + nl], data[i + nl:i + nl + vl]))
        i += nl + vl
    return out


def begin(request_id, role=RESPONDER, flags=KEEP_CONN):
    return record(BEGIN_REQUEST, request_id,
                  struct.pack(">HB5x", role, flags))


def abort(request_id):
    return record(ABORT_REQUEST, request_id)


def get_values(names):
    return record(GET_VALUES, 0, nv_pairs([(n, "") for n in names]))


def cgi_params(method="GET", uri="/", body_len=None, extra=None):
    """The params a web server would send for method and uri (uri may hold
    a query). CONTENT_LENGTH is sent only when body_len is not None."""
    path, _, query = uri.partition("?")
    p = [
        ("GATEWAY_INTERFACE", "CGI/1.1"),
        ("SERVER_SOFTWARE", "anycgi-tests"),
        ("SERVER_PROTOCOL", "HTTP/1.1"),
        ("SERVER_NAME", "localhost"),
        ("SERVER_PORT", "80"),
        ("REMOTE_ADDR", "127.0.0.1"),
        ("REMOTE_PORT", "40000"),
        ("REQUEST_METHOD", method),
        ("REQUEST_URI", uri),
        ("SCRIPT_NAME", path),
        ("QUERY_STRING", query),
    ]
    if body_len is not None:
        p.append(("CONTENT_LENGTH", str(body_len)))
    if extra:
        p.extend(extra.items() if isinstance(extra, dict) else extra)
    return p


def request_bytes(request_id, params, body=b"", flags=KEEP_CONN,
                  role=RESPONDER, data=None):
    """Every record of one request: BEGIN, PARAMS stream, STDIN stream and,
    when data is not None, the DATA stream of a Filter."""
    out = begin(request_id, role, flags)
    out += stream(PARAMS, request_id, nv_pairs(params))
    out += stream(STDIN, request_id, body)
    if data is not None:
        out += stream(DATA, request_id, data)
    return out


# ---- reading -------------------------------------------------------------

class Record:
    __slots__ = ("version", "type", "request_id", "content")

    def __init__(self, version, rtype, request_id, content):
        self.version = version
        self.type = rtype
        self.request_id = request_id
        self.content = content

    def __repr__(self):
        return "Record(type=%d, id=%d, %d bytes)" % (
            self.type, self.request_id, len(self.content))


class Reader:
    """Reads records from a connected socket. Every read has a deadline: a
    peer that says nothing raises socket.timeout, never hangs the test."""

    def __init__(self, sock, timeout=10.0):
        self.sock = sock
        self.timeout = timeout
        self.buf = bytearray()
        self.eof = False

    def _fill(self, need, deadline):
        while len(self.buf) < need:
            left = deadline - time.monotonic()
            if left <= 0:
                raise socket.timeout("no FastCGI record within the deadline")
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(1 << 16)
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                self.eof = True
                return False
            self.buf += chunk
        return True

    def read(self, timeout=None):
        """The next record, or None at end of stream (a close before a
        whole record is also None: partial bytes are kept in self.buf)."""
        deadline = time.monotonic() + (self.timeout if timeout is None
                                       else timeout)
        if not self._fill(HEADER_LEN, deadline):
            return None
        version, rtype, rid, clen, plen, _ = struct.unpack(
            ">BBHHBB", bytes(self.buf[:HEADER_LEN]))
        if version != VERSION_1:
            raise ProtocolError("record with version %d" % version)
        total = HEADER_LEN + clen + plen
        if not self._fill(total, deadline):
            return None
        content = bytes(self.buf[HEADER_LEN:HEADER_LEN + clen])
        del self.buf[:total]
        return Record(version, rtype, rid, content)

    def wait_eof(self, timeout=5.0):
        """True when the peer closes within timeout (any bytes before the
        close are discarded), False when it is still open then."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(1 << 16)
            except socket.timeout:
                return False
            except ConnectionResetError:
                return True
            if not chunk:
                self.eof = True
                return True


class Response:
    """What the app sent for one request id."""

    def __init__(self, request_id):
        self.request_id = request_id
        self.stdout = bytearray()
        self.stderr = bytearray()
        self.stdout_closed = False
        self.stderr_closed = False
        self.app_status = None
        self.protocol_status = None
        self.ended = False

    def feed(self, rec):
        if rec.type == STDOUT:
            assert not self.stdout_closed, "STDOUT record after its end"
            if rec.content:
                self.stdout += rec.content
            else:
                self.stdout_closed = True
        elif rec.type == STDERR:
            assert not self.stderr_closed, "STDERR record after its end"
            if rec.content:
                self.stderr += rec.content
            else:
                self.stderr_closed = True
        elif rec.type == END_REQUEST:
            assert len(rec.content) == 8, "END_REQUEST body of %d bytes" % (
                len(rec.content))
            self.app_status, self.protocol_status = struct.unpack(
                ">IB3x", rec.content)
            self.ended = True
        else:
            raise ProtocolError("unexpected record type %d for id %d" % (
                rec.type, rec.request_id))

    def cgi(self):
        return parse_cgi_response(bytes(self.stdout))


def read_responses(reader, ids, timeout=10.0, order=None):
    """Reads until every id in ids has its END_REQUEST. Returns a dict of
    id -> Response; order (a list) receives the ids in the order their
    END_REQUEST came. Raises on EOF before that or after timeout."""
    deadline = time.monotonic() + timeout
    resp = {i: Response(i) for i in ids}
    while not all(r.ended for r in resp.values()):
        rec = reader.read(timeout=max(0.0, deadline - time.monotonic()))
        if rec is None:
            raise ProtocolError("connection closed before END_REQUEST of %s"
                                % [i for i, r in resp.items() if not r.ended])
        if rec.request_id not in resp:
            raise ProtocolError("record %r for an id not asked" % (rec,))
        resp[rec.request_id].feed(rec)
        if rec.type == END_REQUEST and order is not None:
            order.append(rec.request_id)
    return resp


def read_response(reader, request_id=1, timeout=10.0):
    return read_responses(reader, [request_id], timeout)[request_id]


# ---- the CGI response ----------------------------------------------------

class CgiResponse:
    def __init__(self, status, reason, headers, body):
        self.status = status
        self.reason = reason
        self.headers = headers  # list of (lower-case name, value)
        self.body = body

    def header(self, name):
        vals = [v for k, v in self.headers if k == name.lower()]
        return vals[0] if vals else None

    def __repr__(self):
        return "CgiResponse(%d, %r, %d body bytes)" % (
            self.status, self.headers, len(self.body))


def parse_cgi_response(data):
    """RFC 3875 section 6: header lines ending in LF or CRLF, a blank
    line, the body. The status comes from Status: (default 200, or 302 for
    a lone Location)."""
    if isinstance(data, bytearray):
        data = bytes(data)
    cut_crlf = data.find(b"\r\n\r\n")
    cut_lf = data.find(b"\n\n")
    cuts = [(c, n) for c, n in ((cut_crlf, 4), (cut_lf, 2)) if c >= 0]
    if not cuts:
        raise ProtocolError("no end of the CGI header block in %r"
                            % data[:200])
    cut, sep = min(cuts)
    head, body = data[:cut], data[cut + sep:]
    headers = []
    for line in head.split(b"\n"):
        line = line.rstrip(b"\r")
        if not line:
            continue
        name, colon, value = line.partition(b":")
        if not colon:
            raise ProtocolError("CGI header line without a colon: %r" % line)
        headers.append((name.strip().decode("latin-1").lower(),
                        value.strip().decode("latin-1")))
    status, reason = 200, ""
    st = [v for k, v in headers if k == "status"]
    if st:
        code, _, reason = st[0].partition(" ")
        status = int(code)
    elif any(k == "location" for k, _ in headers):
        status = 302
    return CgiResponse(status, reason, headers, body)


# ---- SCGI ----------------------------------------------------------------

def scgi_request(pairs, body=b""):
    """A netstring header block (CONTENT_LENGTH first, then SCGI=1, then
    pairs) followed by the body."""
    block = b"CONTENT_LENGTH\0" + str(len(body)).encode() + b"\0SCGI\x001\0"
    items = pairs.items() if isinstance(pairs, dict) else pairs
    for k, v in items:
        block += _b(k) + b"\0" + _b(v) + b"\0"
    return str(len(block)).encode() + b":" + block + b"," + body


def recv_all(sock, timeout=10.0, limit=1 << 30):
    """Everything the peer sends until it closes. Raises socket.timeout
    when it neither closes nor sends within timeout."""
    deadline = time.monotonic() + timeout
    out = bytearray()
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise socket.timeout("peer did not close within %.1f s" % timeout)
        sock.settimeout(left)
        try:
            chunk = sock.recv(1 << 16)
        except ConnectionResetError:
            return bytes(out)
        if not chunk:
            return bytes(out)
        out += chunk
        if len(out) > limit:
            raise ProtocolError("more than %d bytes" % limit)
