#!/usr/bin/env bash
# The HTTP front end's benchmark (issue 5), in one interleaved run:
#   http         wrk -> anycgi's --http front end -> the pool (FastCGI, kept)
#   nginx-fcgi   wrk -> nginx (worker_processes 1) -> the same pool over
#                FastCGI (fastcgi_keep_conn on, upstream keepalive 32)
#   nginx-200    wrk -> nginx `return 200` (nginx's own ceiling here)
#   nginx-go     wrk -> nginx proxy_pass (keepalive 32) -> a Go net/http
#                hello (bench/peers/hello-go)
# The pool is one `anycgi run` of examples/hello with WORKERS workers,
# listening on a Unix socket (for nginx) and on --http. Keep-alive,
# wrk -t1 -cCONNS. Per configuration: the median req/s, p50/p99 (median
# over rounds), and the front's CPU per request (the front end process,
# or nginx's worker: utime+stime from /proc/PID/stat), and the pool's.
# Then memory per idle connection: IDLE connections opened to the front
# end and to nginx, and the growth of their RSS divided by IDLE.
#
# Usage, as root on Debian 12:  make && bench/http.sh
# Settings: BUILD=DIR WORKERS=2 ROUNDS=5 DURATION=5 CONNS=32 IDLE=2000
#           BASE_PORT=28700 OUT=FILE (default bench/results/http.md)
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
BUILD=${BUILD:-$repo/build}
WORKERS=${WORKERS:-2}
ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-5}
CONNS=${CONNS:-32}
IDLE=${IDLE:-2000}
BASE_PORT=${BASE_PORT:-28700}
OUT=${OUT:-$here/results/http.md}

for p in nginx wrk go python3; do
	command -v "$p" >/dev/null || [ -x "/usr/sbin/$p" ] ||
		{ echo "bench/http.sh: $p is missing (scripts/install-deps.sh)" >&2; exit 2; }
done
ulimit -n 65536 2>/dev/null || true
tmp=$(mktemp -d "${TMPDIR:-/tmp}/acgi-httpbench.XXXXXX")
chmod 755 "$tmp" # the front end (nobody under root) reaches the pool in it
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	sleep 0.5
	rm -rf "$tmp"
}
trap cleanup EXIT
started=$(date +%s)

P_HTTP=$BASE_PORT P_FCGI=$((BASE_PORT + 1)) P_200=$((BASE_PORT + 2))
P_GO=$((BASE_PORT + 3)) P_GOBACK=$((BASE_PORT + 4))

(cd "$here/peers/hello-go" &&
	GOCACHE=$tmp/go/cache GOPATH=$tmp/go/path GOTOOLCHAIN=local \
	GOPROXY=off GOFLAGS='' GO111MODULE=on \
	go build -o "$tmp/go-hello" .)
"$tmp/go-hello" -listen "127.0.0.1:$P_GOBACK" 2> "$tmp/go.log" &
pids+=($!)

"$BUILD/src/cli/anycgi" run --name hello --workers "$WORKERS" \
	--fastcgi "unix:$tmp/hello.sock" --socket-mode 0666 \
	--http "127.0.0.1:$P_HTTP" -- "$BUILD/examples/hello" 2> "$tmp/anycgi.log" &
pids+=($!); master=$!

mkdir -p "$tmp/nginx"
cat > "$tmp/nginx/nginx.conf" <<CONF
user root;
worker_processes 1;
error_log $tmp/nginx/error.log;
pid $tmp/nginx/nginx.pid;
worker_rlimit_nofile 65536;
events { worker_connections 65536; }
http {
    access_log off;
    keepalive_requests 1000000;
    upstream pool { server unix:$tmp/hello.sock; keepalive 32; }
    upstream go { server 127.0.0.1:$P_GOBACK; keepalive 32; }
    server {
        listen 127.0.0.1:$P_FCGI;
        location / {
            include /etc/nginx/fastcgi_params;
            fastcgi_keep_conn on;
            fastcgi_pass pool;
        }
    }
    server { listen 127.0.0.1:$P_200; location / { return 200 "hello\n"; } }
    server {
        listen 127.0.0.1:$P_GO;
        location / {
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_pass http://go;
        }
    }
}
CONF
nginx -p "$tmp/nginx/" -c "$tmp/nginx/nginx.conf" -g 'daemon off;' &
pids+=($!)
for _ in $(seq 200); do
	ok=1
	for p in $P_HTTP $P_FCGI $P_200 $P_GO; do
		curl -fs "http://127.0.0.1:$p/" >/dev/null || ok=0
	done
	[ $ok = 1 ] && break
	sleep 0.1
done
[ $ok = 1 ] || { echo "bench/http.sh: the servers did not come up" >&2;
	cat "$tmp/anycgi.log" >&2; exit 1; }

# The processes whose CPU is "the front": the front end, nginx's worker.
child_with() { # parent-pid word-in-cmdline
	for f in /proc/[0-9]*/stat; do
		{ read -r -a st < "$f"; } 2>/dev/null || continue
		[ "${st[3]}" = "$1" ] || continue
		tr '\0' ' ' < "/proc/${st[0]}/cmdline" 2>/dev/null |
			grep -q -- "$2" && echo "${st[0]}"
	done
}
front_pid=$(child_with "$master" __front | head -1)
workers=$(child_with "$master" examples/hello | tr '\n' ' ')
nginx_master=$(cat "$tmp/nginx/nginx.pid")
nginx_worker=$(child_with "$nginx_master" "worker process" | head -1)
[ -n "$front_pid" ] && [ -n "$nginx_worker" ] ||
	{ echo "bench/http.sh: front end or nginx worker not found" >&2; exit 1; }

cpu() { # ticks of utime+stime of the pids
	local t=0
	for p in $1; do
		{ read -r -a st < "/proc/$p/stat"; } 2>/dev/null || continue
		t=$((t + st[13] + st[14]))
	done
	echo "$t"
}
raw="$tmp/raw.tsv"
run() { # name port front-pids round
	local f0 w0 f1 w1 out
	f0=$(cpu "$3"); w0=$(cpu "$workers")
	out=$(wrk -t1 -c"$CONNS" -d"${DURATION}s" --latency "http://127.0.0.1:$2/")
	f1=$(cpu "$3"); w1=$(cpu "$workers")
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$4" \
		"$(awk '/Requests\/sec/{print $2}' <<<"$out")" \
		"$(awk '/requests in/{print $1}' <<<"$out")" \
		"$(awk '$1=="50%"{print $2}' <<<"$out")" \
		"$(awk '$1=="99%"{print $2}' <<<"$out")" \
		"$((f1 - f0))" "$((w1 - w0))" >> "$raw"
}
configs=("http $P_HTTP $front_pid" "nginx-fcgi $P_FCGI $nginx_worker"
         "nginx-200 $P_200 $nginx_worker" "nginx-go $P_GO $nginx_worker")
for c in "${configs[@]}"; do # warm-up
	read -r name port _ <<<"$c"
	wrk -t1 -c"$CONNS" -d1s "http://127.0.0.1:$port/" >/dev/null
done
for round in $(seq "$ROUNDS"); do
	for c in "${configs[@]}"; do
		read -r name port fp <<<"$c"
		run "$name" "$port" "$fp" "$round"
	done
done

# Memory per idle connection: RSS before and after IDLE idle keep-alive
# connections, each having sent one request.
rss_kb() { awk '/^VmRSS/{print $2}' "/proc/$1/status"; }
idle_cost() { # pid port
	python3 - "$1" "$2" "$IDLE" <<'PY'
import socket, sys, time
pid, port, n = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
def rss():
    for line in open("/proc/%d/status" % pid):
        if line.startswith("VmRSS"):
            return int(line.split()[1])
before = rss()
conns = []
for _ in range(n):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    conns.append(s)
for s in conns:
    s.settimeout(10)
    s.recv(4096)
time.sleep(2.5)  # the front end trims its heap within a second of going quiet
after = rss()
print("%d %d %.0f" % (before, after, (after - before) * 1024 / n))
PY
}
read -r fb fa fper <<<"$(idle_cost "$front_pid" "$P_HTTP")"
read -r nb na nper <<<"$(idle_cost "$nginx_worker" "$P_200")"

mkdir -p "$(dirname "$OUT")"
cp "$raw" "${OUT%.md}-raw.tsv"
hz=$(getconf CLK_TCK)
{
cat <<EOF
# HTTP front end: anycgi --http vs nginx

Run $(date -u '+%Y-%m-%d %H:%M UTC') by \`bench/http.sh\` (anycgi $(git -C "$repo" rev-parse --short HEAD)), in $(( $(date +%s) - started ))s.

| machine | |
| --- | --- |
| cores (nproc) | $(nproc) |
| CPU | $(awk -F': ' '/model name/{print $2; exit}' /proc/cpuinfo) |
| kernel | $(uname -r) |
| load average after | $(cut -d' ' -f1-3 /proc/loadavg) |
| nginx | $(nginx -v 2>&1 | sed 's/.*: //') (worker_processes 1, access_log off) |
| wrk | $(dpkg-query -W -f='${Version}' wrk 2>/dev/null) |

The same pool (examples/hello, $WORKERS workers, \`anycgi run\`) behind both;
wrk -t1 -c$CONNS --latency, keep-alive, $DURATION s x $ROUNDS interleaved rounds.
"front CPU/req" is the front end's process or nginx's worker (utime+stime),
"pool CPU/req" the pool's workers.

EOF
python3 - "$raw" "$hz" <<'PY'
import statistics, sys
raw, hz = sys.argv[1], int(sys.argv[2])
rows = {}
for line in open(raw):
    name, rnd, rps, n, p50, p99, front, pool = line.rstrip("\n").split("\t")
    rows.setdefault(name, []).append((float(rps), int(n), p50, p99, int(front), int(pool)))
def ms(s):
    return float(s[:-2]) if s.endswith("ms") else float(s[:-2]) / 1000 if s.endswith("us") else float(s[:-1]) * 1000
med = {k: statistics.median(r[0] for r in v) for k, v in rows.items()}
print("| configuration | req/s | x nginx-fcgi | x nginx-200 | x nginx-go | p50 ms | p99 ms | front CPU µs/req | pool CPU µs/req |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
for k in ("http", "nginx-fcgi", "nginx-200", "nginx-go"):
    v = rows[k]
    n = sum(r[1] for r in v)
    us = lambda t: "%.1f" % (t * 1e6 / hz / n)
    pool = us(sum(r[5] for r in v)) if k in ("http", "nginx-fcgi") else "-"
    print("| %s | %.0f | %.2f | %.2f | %.2f | %.2f | %.2f | %s | %s |" % (
        k, med[k], med[k] / med["nginx-fcgi"], med[k] / med["nginx-200"],
        med[k] / med["nginx-go"], statistics.median(ms(r[2]) for r in v),
        statistics.median(ms(r[3]) for r in v), us(sum(r[4] for r in v)), pool))
PY
cat <<EOF

Idle keep-alive connections ($IDLE, each after one request): the front
end's RSS went from $fb to $fa KiB, **$fper bytes per connection**;
nginx's worker from $nb to $na KiB, $nper bytes per connection.
EOF
} > "$OUT"
cat "$OUT"
