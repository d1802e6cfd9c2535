#!/usr/bin/env bash
# The CGI gateway's benchmark (issue 4): `anycgi cgi` against Debian's
# fcgiwrap with the same number of workers, behind one nginx, in one run:
# a C CGI hello (bench/peers/hello-cgi.c) and a /bin/sh CGI hello.
# Rounds are interleaved (round 1 of every configuration, then round 2...).
# Per configuration: median req/s of wrk -t1 -cCONNS, and CPU per request:
# the whole machine's (from /proc/stat: nginx, wrk and everything else
# too, the same for both), the backend's own (its processes' utime+stime)
# and, for anycgi only, its scripts' (the workers' cutime+cstime: the exec
# and the script; fcgiwrap lets the kernel reap its children, so their
# CPU shows nowhere but in the machine's total).
#
# Usage, as root on Debian 12:  ninja -C build && bench/cgi.sh
# Settings: BUILD=DIR WORKERS=2 ROUNDS=3 DURATION=5 CONNS=8 BASE_PORT=28600
#           OUT=FILE (default bench/results/cgi.md)
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
BUILD=${BUILD:-$repo/build}
WORKERS=${WORKERS:-2}
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-5}
CONNS=${CONNS:-8}
BASE_PORT=${BASE_PORT:-28600}
OUT=${OUT:-$here/results/cgi.md}

for p in nginx wrk fcgiwrap cc; do
	command -v "$p" >/dev/null || [ -x "/usr/sbin/$p" ] ||
		{ echo "bench/cgi.sh: $p is missing (scripts/install-deps.sh)" >&2; exit 2; }
done
descendants() { # pid: it and every process below it
	local all=" $1 " grew=1
	while [ $grew = 1 ]; do
		grew=0
		for f in /proc/[0-9]*/stat; do
			{ read -r -a st < "$f"; } 2>/dev/null || continue
			case "$all" in *" ${st[3]} "*) case "$all" in *" ${st[0]} "*) ;;
				*) all+="${st[0]} "; grew=1;; esac;; esac
		done
	done
	echo "$all"
}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/acgi-cgibench.XXXXXX")
pids=()
cleanup() {
	# fcgiwrap -c N forks N children that outlive a killed parent: take
	# every descendant of what we started, by pid.
	local all=""
	for p in "${pids[@]}"; do all+=" $(descendants "$p")"; done
	for p in $all; do kill "$p" 2>/dev/null || true; done
	sleep 0.5
	rm -rf "$tmp"
}
trap cleanup EXIT

mkdir -p "$tmp/root/cgi-bin" "$tmp/nginx/logs"
cc -O2 -o "$tmp/root/cgi-bin/hello-c" "$here/peers/hello-cgi.c"
printf '#!/bin/sh\nprintf "Content-Type: text/plain\\r\\n\\r\\nhello\\n"\n' \
	> "$tmp/root/cgi-bin/hello.sh"
chmod 755 "$tmp/root/cgi-bin/hello.sh"

"$BUILD/src/cli/anycgi" cgi --fastcgi "unix:$tmp/a.sock" --root "$tmp/root" \
	--workers "$WORKERS" --name cgibench 2> "$tmp/anycgi.log" &
pids+=($!); anycgi_pid=$!
/usr/sbin/fcgiwrap -c "$WORKERS" -s "unix:$tmp/f.sock" 2> "$tmp/fcgiwrap.log" &
pids+=($!); fcgiwrap_pid=$!

server() { # port socket
	cat <<CONF
    server {
        listen 127.0.0.1:$1;
        location /cgi-bin/ {
            include /etc/nginx/fastcgi_params;
            fastcgi_param SCRIPT_FILENAME $tmp/root\$fastcgi_script_name;
            fastcgi_pass unix:$2;
        }
    }
CONF
}
cat > "$tmp/nginx/nginx.conf" <<CONF
user root;
worker_processes 1;
error_log $tmp/nginx/error.log;
pid $tmp/nginx/nginx.pid;
events { worker_connections 1024; }
http {
    access_log off;
$(server "$BASE_PORT" "$tmp/a.sock")
$(server "$((BASE_PORT + 1))" "$tmp/f.sock")
}
CONF
nginx -p "$tmp/nginx/" -c "$tmp/nginx/nginx.conf" -g 'daemon off;' &
pids+=($!)
for _ in $(seq 100); do
	[ -S "$tmp/a.sock" ] && [ -S "$tmp/f.sock" ] &&
		curl -fs "http://127.0.0.1:$BASE_PORT/cgi-bin/hello-c" >/dev/null &&
		curl -fs "http://127.0.0.1:$((BASE_PORT + 1))/cgi-bin/hello-c" >/dev/null &&
		break
	sleep 0.1
done

proc_cpu() { # fields 14+15 (self) and 16+17 (reaped children) of pids
	local self=0 kids=0
	for p in $1; do
		{ read -r -a st < "/proc/$p/stat"; } 2>/dev/null || continue
		self=$((self + st[13] + st[14])); kids=$((kids + st[15] + st[16]))
	done
	echo "$self $kids"
}
machine_cpu() { awk '/^cpu /{print $2+$3+$4+$7+$8; exit}' /proc/stat; }

hz=$(getconf CLK_TCK)
raw="$tmp/raw.tsv"
run() { # backend pid port script round
	local procs; procs=$(descendants "$2")
	local m0 c0 m1 c1 out n rps
	m0=$(machine_cpu); c0=$(proc_cpu "$procs")
	out=$(wrk -t1 -c"$CONNS" -d"${DURATION}s" "http://127.0.0.1:$3/cgi-bin/$4")
	m1=$(machine_cpu); c1=$(proc_cpu "$procs")
	n=$(awk '/requests in/{print $1}' <<<"$out")
	rps=$(awk '/Requests\/sec/{print $2}' <<<"$out")
	read -r s0 k0 <<<"$c0"; read -r s1 k1 <<<"$c1"
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$4" "$5" "$rps" "$n" \
		"$((m1 - m0))" "$((s1 - s0))" "$((k1 - k0))" >> "$raw"
}
for script in hello-c hello.sh; do # warm-up
	wrk -t1 -c"$CONNS" -d1s "http://127.0.0.1:$BASE_PORT/cgi-bin/$script" >/dev/null
	wrk -t1 -c"$CONNS" -d1s "http://127.0.0.1:$((BASE_PORT + 1))/cgi-bin/$script" >/dev/null
done
for round in $(seq "$ROUNDS"); do
	for script in hello-c hello.sh; do
		run anycgi "$anycgi_pid" "$BASE_PORT" "$script" "$round"
		run fcgiwrap "$fcgiwrap_pid" "$((BASE_PORT + 1))" "$script" "$round"
	done
done

mkdir -p "$(dirname "$OUT")"
cp "$raw" "${OUT%.md}-raw.tsv"
python3 - "$raw" "$hz" "$WORKERS" "$CONNS" "$DURATION" "$ROUNDS" > "$OUT" <<'PY'
import statistics, sys
raw, hz, workers, conns, duration, rounds = sys.argv[1:]
hz = int(hz)
rows = {}
for line in open(raw):
    b, s, r, rps, n, m, own, kids = line.split("\t")
    rows.setdefault((s, b), []).append((float(rps), int(n), int(m), int(own), int(kids)))
print("# CGI gateway: anycgi cgi vs fcgiwrap\n")
print("%s workers each, behind one nginx, wrk -t1 -c%s, %s s x %s interleaved "
      "rounds (median req/s; CPU summed over the rounds).\n" % (workers, conns, duration, rounds))
print("| script | backend | req/s | vs fcgiwrap | machine CPU/req | backend's own CPU/req | scripts' CPU/req (exec + run) |")
print("|---|---|---:|---:|---:|---:|---:|")
us = lambda ticks, n: "%.0f µs" % (ticks * 1e6 / hz / n) if n else "-"
for s in ("hello-c", "hello.sh"):
    base = statistics.median(r[0] for r in rows[(s, "fcgiwrap")])
    for b in ("anycgi", "fcgiwrap"):
        v = rows[(s, b)]
        rps = statistics.median(r[0] for r in v)
        n = sum(r[1] for r in v)
        kids = us(sum(r[4] for r in v), n) if b == "anycgi" else "(not measurable)"
        print("| %s | %s | %.0f | %.2fx | %s | %s | %s |" % (
            s, b, rps, rps / base, us(sum(r[2] for r in v), n),
            us(sum(r[3] for r in v), n), kids))
PY
cat "$OUT"
