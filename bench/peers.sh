#!/usr/bin/env bash
# anycgi and its Debian peers, in one run on one machine: a hello and an
# echo (POST a body, answer its length and FNV-1a 64 hash) for
#   libfcgi  (bench/peers/hello-libfcgi.c, upload-libfcgi.c) under spawn-fcgi
#   php-fpm  (php-fpm8.2, bench/peers/hello.php, echo.php)
#   fcgiwrap (a CGI hello: bench/peers/hello-cgi.c; hello only)
#   go       (net/http/fcgi: bench/peers/hello-go-fcgi, built here)
#   anycgi   (examples/hello under `anycgi run`, and `anycgi echo`)
# each with WORKERS processes (Go: one process, GOMAXPROCS = cores), each
# measured three ways: through nginx with wrk (a new FastCGI connection per
# request, nginx's default), and directly with `anycgi bench`, with a new
# connection per request and with kept connections. Then `anycgi bench`
# itself: against wrk through nginx, and its own CPU and system calls per
# request with one connection. Writes results/peers.md, results/peers.png
# (gnuplot) and results/peers-raw.tsv. See docs/bench.md.
#
# Usage, from the repository, after `make`:   bench/peers.sh
#         QUICK=1 bench/peers.sh       (one short round: about a minute)
# Settings (environment): BUILD=DIR DURATION=3 ROUNDS=3 WARMUP=1 CONNS=32
#   WORKERS=2 BODY_SIZE=4096 TIMEOUT=2 OVERHEAD_REQUESTS=100000
#   BASE_PORT=28700 OUT=FILE (default bench/results/peers.md) KEEP_TMP=1
#   QUIET_WAIT=0 (on a shared machine: wait up to this many seconds for a
#   quiet second before measuring)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
BUILD=${BUILD:-$root/build}
if [ "${QUICK:-0}" = 1 ]; then
	DURATION=${DURATION:-1} ROUNDS=${ROUNDS:-1} WARMUP=${WARMUP:-1}
	OVERHEAD_REQUESTS=${OVERHEAD_REQUESTS:-20000}
fi
DURATION=${DURATION:-3}
ROUNDS=${ROUNDS:-3}
WARMUP=${WARMUP:-1}
CONNS=${CONNS:-32}
WORKERS=${WORKERS:-2}
BODY_SIZE=${BODY_SIZE:-4096}
TIMEOUT=${TIMEOUT:-2}
OVERHEAD_REQUESTS=${OVERHEAD_REQUESTS:-100000}
BASE_PORT=${BASE_PORT:-28700}
OUT=${OUT:-$here/results/peers.md}
RAW=${OUT%.md}-raw.tsv
PNG=${OUT%.md}.png

t_start=$(date +%s)
log() { printf '[peers %4ds] %s\n' "$(($(date +%s) - t_start))" "$*" >&2; }
die() { log "error: $*"; exit 1; }

for p in nginx wrk spawn-fcgi php-fpm8.2 fcgiwrap go gcc gnuplot curl strace; do
	command -v "$p" >/dev/null || [ -x "/usr/sbin/$p" ] ||
		die "$p is missing (scripts/install-deps.sh installs the peers)"
done
PERF=$(command -v perf || true)
ANYCGI=$BUILD/src/cli/anycgi
HELLO=$BUILD/examples/hello
[ -x "$ANYCGI" ] && [ -x "$HELLO" ] || die "no $ANYCGI or $HELLO: run 'make' first (or set BUILD=)"
for ((i = 0; i < 12; i++)); do
	ss -Hltn "sport = :$((BASE_PORT + i))" | grep -q . &&
		die "port $((BASE_PORT + i)) is taken: set BASE_PORT to a free range"
done

# ---------------------------------------------------------------- cleanup
dir=$(mktemp -d "${TMPDIR:-/tmp}/acgi-peers.XXXXXX")
chmod 755 "$dir"
started=()
# descendants PID: it and every process below it, by their parent links.
descendants() {
	local all=" $1 " grew=1 f
	while [ $grew = 1 ]; do
		grew=0
		for f in /proc/[0-9]*/stat; do
			{ read -r -a st <"$f"; } 2>/dev/null || continue
			case "$all" in *" ${st[3]} "*) case "$all" in *" ${st[0]} "*) ;;
				*) all+="${st[0]} "; grew=1 ;; esac ;; esac
		done
	done
	echo "$all"
}
cleanup() {
	local rc=$? all="" p
	set +e
	trap - EXIT INT TERM
	for p in "${started[@]}"; do all+=" $(descendants "$p")"; done
	for p in $all; do kill -TERM "$p" 2>/dev/null; done
	sleep 0.5
	for p in $all; do kill -KILL "$p" 2>/dev/null; done
	wait 2>/dev/null
	if [ "${KEEP_TMP:-0}" = 1 ]; then log "scratch folder kept: $dir"; else rm -rf "$dir"; fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------- builds
log "scratch folder $dir; building the peers"
mkdir -p "$dir/bin" "$dir/www" "$dir/ngx" "$dir/logs"
gcc -O2 -Wall -o "$dir/bin/lf-hello" "$here/peers/hello-libfcgi.c" -lfcgi
gcc -O2 -Wall -o "$dir/bin/lf-echo" "$here/peers/upload-libfcgi.c" -lfcgi
gcc -O2 -Wall -o "$dir/www/hello-cgi" "$here/peers/hello-cgi.c"
cp "$here/peers/hello.php" "$here/peers/echo.php" "$dir/www/"
(cd "$here/peers/hello-go-fcgi" &&
	GOCACHE=$dir/go/cache GOPATH=$dir/go/path GOTOOLCHAIN=local GOPROXY=off \
	GOFLAGS='' GO111MODULE=on go build -o "$dir/bin/go-fcgi" .)
# One build measured from start to end, even if the tree is rebuilt.
cp "$ANYCGI" "$dir/bin/anycgi"
cp "$HELLO" "$dir/bin/ac-hello"
gcc -O2 -Wall -I"$root/include" -o "$dir/bin/ac-upload" "$here/peers/upload-anycgi.c" \
	"$BUILD/src/lib/libanycgi.a" -pthread
BENCH=$dir/bin/anycgi
head -c "$BODY_SIZE" /dev/urandom >"$dir/body.bin"

# ---------------------------------------------------------------- backends
start() { # NAME COMMAND...: in the background, logged, remembered
	local name=$1
	shift
	"$@" >"$dir/logs/$name.log" 2>&1 </dev/null &
	started+=($!)
}
# libfcgi: spawn-fcgi binds the socket and execs a shell that starts
# WORKERS copies on it (an asynchronous command's stdin is /dev/null in
# sh: the socket goes over on fd 3).
spawn_n() { # NAME PROGRAM
	start "$1" spawn-fcgi -n -s "$dir/$1.sock" -M 0666 -- /bin/sh -c \
		'exec 3<&0; i=0; while [ $i -lt '"$WORKERS"' ]; do "$0" 0<&3 3<&- & i=$((i+1)); done; exec 3<&- 0</dev/null; wait' "$2"
}
spawn_n lf "$dir/bin/lf-hello"
spawn_n lfe "$dir/bin/lf-echo"
cat >"$dir/php-fpm.conf" <<CONF
[global]
error_log = $dir/logs/php-fpm-error.log
pid = $dir/php-fpm.pid
daemonize = no
[www]
listen = $dir/php.sock
listen.mode = 0666
user = nobody
group = nogroup
pm = static
pm.max_children = $WORKERS
pm.max_requests = 0
CONF
start php php-fpm8.2 -F -R -y "$dir/php-fpm.conf" -p "$dir"
start fcgiwrap /usr/sbin/fcgiwrap -c "$WORKERS" -s "unix:$dir/fw.sock"
start go "$dir/bin/go-fcgi" -listen "unix:$dir/go.sock"
start anycgi "$BENCH" run --fastcgi "unix:$dir/ac.sock" --workers "$WORKERS" \
	--name peers-hello -- "$dir/bin/ac-hello"
start anycgi-echo "$BENCH" echo --fastcgi "unix:$dir/ace.sock" --workers "$WORKERS" \
	--name peers-echo
start anycgi-hash "$BENCH" run --fastcgi "unix:$dir/acu.sock" --workers "$WORKERS" \
	--name peers-hash -- "$dir/bin/ac-upload"
for s in lf lfe php fw go ac ace acu; do
	for ((i = 0; i < 100; i++)); do [ -S "$dir/$s.sock" ] && break; sleep 0.1; done
	[ -S "$dir/$s.sock" ] || die "no $dir/$s.sock: $(tail -n 5 "$dir"/logs/*.log)"
done
chmod 666 "$dir"/fw.sock "$dir"/go.sock

# The configurations: workload, backend, socket, URI, SCRIPT_FILENAME.
CONFIGS="hello/libfcgi hello/php-fpm hello/fcgiwrap hello/go hello/anycgi
	echo/libfcgi echo/php-fpm echo/go echo/anycgi echo/anycgi-hash"
declare -A SOCK URI FILE PORT
conf() { SOCK[$1]=$2; URI[$1]=$3; FILE[$1]=$4; }
conf hello/libfcgi lf / ""
conf hello/php-fpm php /hello.php "$dir/www/hello.php"
conf hello/fcgiwrap fw /hello-cgi "$dir/www/hello-cgi"
conf hello/go go / ""
conf hello/anycgi ac / ""
conf echo/libfcgi lfe /echo ""
conf echo/php-fpm php /echo.php "$dir/www/echo.php"
conf echo/go go /echo ""
conf echo/anycgi ace /echo ""
conf echo/anycgi-hash acu /echo ""

# ---------------------------------------------------------------- nginx
n=0
{
	cat <<CONF
user root;
worker_processes 1;
pid $dir/ngx/nginx.pid;
error_log $dir/ngx/error.log error;
daemon off;
events { worker_connections 4096; }
http {
    access_log off;
    default_type text/plain;
    client_body_temp_path $dir/ngx/body;
    fastcgi_temp_path $dir/ngx/fastcgi;
    proxy_temp_path $dir/ngx/proxy;
    scgi_temp_path $dir/ngx/scgi;
    uwsgi_temp_path $dir/ngx/uwsgi;
    keepalive_requests 1000000;
CONF
	for c in $CONFIGS; do
		PORT[$c]=$((BASE_PORT + n))
		n=$((n + 1))
		f=${FILE[$c]}
		printf '    server { listen 127.0.0.1:%s; location / { include /etc/nginx/fastcgi_params; %s fastcgi_pass unix:%s; } }\n' \
			"${PORT[$c]}" "${f:+fastcgi_param SCRIPT_FILENAME $f;}" "$dir/${SOCK[$c]}.sock"
	done
	echo "}"
} >"$dir/ngx/nginx.conf"
start nginx nginx -p "$dir/ngx" -c "$dir/ngx/nginx.conf" -e "$dir/ngx/error.log"
for ((i = 0; i < 50; i++)); do
	curl -s -o /dev/null "http://127.0.0.1:$BASE_PORT/" && break
	sleep 0.1
done

# ---------------------------------------------------------------- checks
# Each configuration answers right, through nginx and directly, before
# anything is timed: the hellos say hello, the echoes agree on the hash.
bench_args() { # CONFIG: anycgi bench's arguments but the mode
	local c=$1 f=${FILE[$1]}
	printf '%s\n' --fastcgi "unix:$dir/${SOCK[$c]}.sock" --timeout "$TIMEOUT"
	[ -n "$f" ] && printf '%s\n' -p "SCRIPT_FILENAME=$f"
	case $c in echo/*) printf '%s\n' -d "@$dir/body.bin" -H 'Content-Type: application/octet-stream' ;; esac
	printf '%s\n' "${URI[$c]}"
}
want_hash=$(python3 -c '
import sys
h = 0xcbf29ce484222325
for b in open(sys.argv[1], "rb").read():
    h = ((h ^ b) * 0x100000001b3) & 0xffffffffffffffff
print("%016x" % h)' "$dir/body.bin")
log "checking the answers (body hash $want_hash)"
for c in $CONFIGS; do
	case $c in
	hello/*) ans=$(curl -s --max-time 5 "http://127.0.0.1:${PORT[$c]}${URI[$c]}") || true
		case $ans in *[Hh]ello*) ;; *) die "$c: nginx answered: $ans ($(tail -n 3 "$dir/ngx/error.log"))" ;; esac ;;
	echo/*) ans=$(curl -s --max-time 5 -H 'Content-Type: application/octet-stream' \
		--data-binary @"$dir/body.bin" "http://127.0.0.1:${PORT[$c]}${URI[$c]}") || true
		case $ans in *"\"body_bytes\": $BODY_SIZE"*"$want_hash"*) ;;
		*) die "$c: nginx answered: $ans" ;; esac ;;
	esac
	mapfile -t args < <(bench_args "$c")
	j=$("$BENCH" bench --json -n 20 -c 2 "${args[@]}") || die "$c: anycgi bench failed"
	case $j in *'"2xx": 20,'*) ;; *) die "$c: anycgi bench got: $j" ;; esac
done

# ---------------------------------------------------------------- runs
cat >"$dir/report.lua" <<'LUA'
done = function(s, latency, requests)
  local e = s.errors
  io.write(string.format("RESULT\t%.1f\t%.3f\t%.3f\t%d\n",
    s.requests / (s.duration / 1e6), latency:percentile(50) / 1000,
    latency:percentile(99) / 1000,
    e.connect + e.read + e.write + e.status + e.timeout))
end
LUA
{
	printf 'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/octet-stream"\n'
	printf 'local f = assert(io.open("%s", "rb"))\nwrk.body = f:read("*a")\nf:close()\n' "$dir/body.bin"
	cat "$dir/report.lua"
} >"$dir/post.lua"

printf 'round\tworkload\tbackend\tmode\trps\tp50_ms\tp99_ms\terrors\n' >"$dir/raw.tsv"
# measure ROUND CONFIG MODE SECONDS: one timed run, a line in raw.tsv.
measure() {
	local round=$1 c=$2 mode=$3 secs=$4 res script
	case $mode in
	nginx)
		script=$dir/report.lua
		case $c in echo/*) script=$dir/post.lua ;; esac
		res=$(wrk -t1 -c"$CONNS" -d"${secs}s" --timeout "${TIMEOUT}s" --latency -s "$script" \
			"http://127.0.0.1:${PORT[$c]}${URI[$c]}" | grep '^RESULT' | cut -f2-) ||
			die "$c: wrk failed" ;;
	bench | bench-keep)
		mapfile -t args < <(bench_args "$c")
		[ "$mode" = bench-keep ] && args=(--keep-conn "${args[@]}")
		res=$("$BENCH" bench --json -c "$CONNS" -t "$secs" "${args[@]}" | python3 -c '
import json, sys
j = json.load(sys.stdin)
l = j["latency_ms"]
print("%.1f\t%.3f\t%.3f\t%d" % (j["requests_per_s"], l["p50"], l["p99"], j["errors"]["total"]))') ||
			die "$c: anycgi bench failed" ;;
	esac
	[ "$round" = warmup ] && return 0
	printf '%s\t%s\t%s\t%s\t%s\n' "$round" "${c%%/*}" "${c#*/}" "$mode" "$res" >>"$dir/raw.tsv"
	log "$(printf 'round %s %-16s %-10s %s' "$round" "$c" "$mode" "$(awk -F'\t' '{printf "%9.0f req/s  p50 %6.2f  p99 %7.2f ms  errors %d", $1, $2, $3, $4}' <<<"$res")")"
}

CLK_TCK=$(getconf CLK_TCK)
machine_busy() { awk '$1 == "cpu" {print $2 + $3 + $4 + $7 + $8 + $9; exit}' /proc/stat; }
# tree_ticks: CPU ticks of everything this script started (live ones) and
# of its reaped children (wrk, anycgi bench: bash's `times`).
tree_ticks() {
	local all="" p t=0 s
	for p in "${started[@]}"; do all+=" $(descendants "$p")"; done
	for p in $all; do
		s=$(cat "/proc/$p/stat" 2>/dev/null) || continue
		read -r -a f <<<"${s##*) }"
		t=$((t + f[11] + f[12] + f[13] + f[14]))
	done
	times >"$dir/times.txt"
	awk -v t="$t" -v hz="$CLK_TCK" 'NR == 2 { for (i = 1; i <= 2; i++) { split($i, a, /[ms]/); s += a[1] * 60 + a[2] } }
		END { printf "%d\n", t + s * hz }' "$dir/times.txt"
}

MODES="nginx bench bench-keep"
if [ "${QUIET_WAIT:-0}" -gt 0 ]; then
	# A shared machine: wait (up to QUIET_WAIT s) for a second in which it
	# is at least 90% idle.
	log "waiting up to ${QUIET_WAIT}s for a quiet machine"
	quiet_end=$(($(date +%s) + QUIET_WAIT))
	while [ "$(date +%s)" -lt "$quiet_end" ]; do
		b0=$(machine_busy); sleep 1; b1=$(machine_busy)
		[ $((b1 - b0)) -le $((CLK_TCK * $(nproc) / 10)) ] && { log "quiet"; break; }
	done
fi
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
own0=$(tree_ticks) busy0=$(machine_busy) wall0=$(date +%s.%N)
log "warm-up ${WARMUP}s each, then $ROUNDS rounds x $(echo $CONFIGS | wc -w) configurations x 3 modes x ${DURATION}s, $CONNS connections"
for c in $CONFIGS; do for m in $MODES; do measure warmup "$c" "$m" "$WARMUP"; done; done
for ((r = 1; r <= ROUNDS; r++)); do
	for c in $CONFIGS; do for m in $MODES; do measure "$r" "$c" "$m" "$DURATION"; done; done
done
own1=$(tree_ticks) busy1=$(machine_busy) wall1=$(date +%s.%N)
load_after=$(cut -d' ' -f1-3 /proc/loadavg)
others=$(awk -v b=$((busy1 - busy0)) -v o=$((own1 - own0)) -v w0="$wall0" -v w1="$wall1" \
	-v hz="$CLK_TCK" -v n="$(nproc)" 'BEGIN { x = (b - o) / ((w1 - w0) * hz * n) * 100; if (x < 0) x = 0; printf "%.0f", x }')

# ---------------------------------------------------------------- overhead
# anycgi bench's own cost with one connection to anycgi's hello: its CPU
# time (perf stat's task-clock, else /proc) and system calls per request.
log "anycgi bench's own overhead: $OVERHEAD_REQUESTS requests on one connection"
printf 'mode\trequests\tseconds\tcpu_ms\tsyscalls\tsyscall_requests\ttop\n' >"$dir/overhead.tsv"
ov_args() { # MODE N: anycgi bench's arguments for N requests on one connection
	[ "$1" = keep ] && echo --keep-conn
	printf '%s\n' --fastcgi "unix:$dir/ac.sock" -c 1 --threads 1 -n "$2" --json /
}
# cpu_ms OUT ARGS...: runs anycgi bench, stdout to OUT; prints its CPU ms.
cpu_ms() {
	local out=$1
	shift
	if [ -n "$PERF" ] && "$PERF" stat -x, -e task-clock -o "$dir/perf.txt" -- \
		"$BENCH" bench "$@" >"$out" 2>/dev/null; then
		awk -F, '/task-clock/ {print $1}' "$dir/perf.txt"
		return
	fi
	# No perf here: the process's utime+stime, from the kernel's rusage
	# (the same numbers as /proc/PID/stat).
	python3 -c '
import resource, subprocess, sys
with open(sys.argv[1], "w") as out:
    subprocess.run(sys.argv[2:], stdout=out, check=True)
r = resource.getrusage(resource.RUSAGE_CHILDREN)
print("%.3f" % ((r.ru_utime + r.ru_stime) * 1000))' "$out" "$BENCH" bench "$@"
}
OV_HOW="perf stat -e task-clock"
[ -n "$PERF" ] && "$PERF" stat -e task-clock -o /dev/null true 2>/dev/null || OV_HOW="getrusage (perf unavailable)"
for mode in keep new; do
	mapfile -t args < <(ov_args "$mode" "$OVERHEAD_REQUESTS")
	cpu=$(cpu_ms "$dir/ov-$mode.json" "${args[@]}")
	secs=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["duration_s"])' "$dir/ov-$mode.json")
	n_sys=$((OVERHEAD_REQUESTS / 10))
	mapfile -t args < <(ov_args "$mode" "$n_sys")
	strace -f -c -o "$dir/strace-$mode.txt" "$BENCH" bench "${args[@]}" >/dev/null 2>&1 || true
	# strace -c: % time, seconds, usecs/call, calls, [errors], syscall.
	calls=$(awk '$NF == "total" {print $4}' "$dir/strace-$mode.txt")
	top=$(awk 'NR > 2 && $1 ~ /^[0-9.]+$/ && $NF != "total" {print $4, $NF}' "$dir/strace-$mode.txt" |
		sort -rn | head -n 6 | awk -v n="$n_sys" '{printf "%s%s %.2f", sep, $2, $1 / n; sep = ", "}')
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$mode" "$OVERHEAD_REQUESTS" "$secs" "$cpu" "$calls" "$n_sys" "$top" >>"$dir/overhead.tsv"
	log "overhead ($mode): $cpu ms CPU for $OVERHEAD_REQUESTS requests in ${secs}s; $calls system calls for $n_sys requests"
done

# ---------------------------------------------------------------- results
cp "$dir/raw.tsv" "$RAW"
rev=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)
git -C "$root" --no-optional-locks diff --quiet HEAD -- src include examples 2>/dev/null || rev="$rev (+ uncommitted changes)"
elapsed=$(($(date +%s) - t_start))
{
	echo "# anycgi and its peers: hello and echo, through nginx and direct"
	echo
	echo "Run $(date -u '+%Y-%m-%d %H:%M UTC') by \`bench/peers.sh\` (anycgi $rev), in ${elapsed}s."
	echo
	echo "| machine | |"
	echo "| --- | --- |"
	echo "| cores (nproc) | $(nproc) |"
	echo "| CPU | $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1) |"
	echo "| memory | $(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo) |"
	echo "| kernel | $(uname -sr) |"
	echo "| OS | $(. /etc/os-release && echo "$PRETTY_NAME") |"
	echo "| load average before / after | $load_before / $load_after |"
	echo "| CPU used by other processes while this measured | about ${others}% of the $(nproc) cores (0% = a quiet machine) |"
	echo "| nginx | $(nginx -v 2>&1 | sed 's/^nginx version: //') (worker_processes 1, access_log off) |"
	echo "| wrk | $(dpkg-query -W -f='${Version}' wrk 2>/dev/null) |"
	echo "| libfcgi / spawn-fcgi | $(dpkg-query -W -f='${Version}' libfcgi-dev 2>/dev/null) / $(dpkg-query -W -f='${Version}' spawn-fcgi 2>/dev/null) |"
	echo "| php-fpm | $(php-fpm8.2 -v | head -n1 | awk '{print $1, $2}') (pm static, opcache as Debian ships it) |"
	echo "| fcgiwrap | $(dpkg-query -W -f='${Version}' fcgiwrap 2>/dev/null) |"
	echo "| Go | $(go version | awk '{print $3}') net/http/fcgi (GOMAXPROCS default: $(nproc)) |"
	echo
	echo "Settings: ROUNDS=$ROUNDS rounds of DURATION=${DURATION}s per configuration and mode, interleaved, after a"
	echo "${WARMUP}s warm-up; $CONNS connections; WORKERS=$WORKERS processes per backend (Go: one process);"
	echo "echo: a POST of BODY_SIZE=$BODY_SIZE random bytes, answered with its length and FNV-1a 64 hash."
	echo "Backends on Unix sockets. **nginx**: \`wrk -t1 -c$CONNS\` through nginx (one worker), which opens"
	echo "a new FastCGI connection per request (its default). **bench**: \`anycgi bench -c $CONNS\` straight"
	echo "to the socket, a new connection per request too. **bench-keep**: \`anycgi bench -c $CONNS --keep-conn\`"
	echo "(FCGI_KEEP_CONN, as nginx's \`fastcgi_keep_conn on\`). Timeout ${TIMEOUT}s. Median of the rounds."
	echo "The echoes do not answer the same bytes: \`anycgi echo\` (the **anycgi** row) writes back every"
	echo "parameter it got, as JSON (about 600 bytes), the others only the body's length and hash (about 60);"
	echo "**anycgi-hash** is that smaller echo on libanycgi (bench/peers/upload-anycgi.c under \`anycgi run\`)."
	echo "An **errors** count in a --keep-conn cell means starved connections: a backend that serves"
	echo "one connection per process at a time leaves the others waiting until bench's timeout."
	echo
	python3 - "$dir/raw.tsv" "$dir/overhead.tsv" "$dir/chart.dat" "\`$OV_HOW\`" <<'PY'
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
med = {}
for key in {(r["workload"], r["backend"], r["mode"]) for r in rows}:
    rs = [r for r in rows if (r["workload"], r["backend"], r["mode"]) == key]
    med[key] = {f: statistics.median(float(r[f]) for r in rs)
                for f in ("rps", "p50_ms", "p99_ms")}
    med[key]["errors"] = sum(int(r["errors"]) for r in rs)
modes = ["nginx", "bench", "bench-keep"]
order = ["libfcgi", "php-fpm", "fcgiwrap", "go", "anycgi", "anycgi-hash"]
chart = open(sys.argv[3], "w")
chart.write("# backend\t" + "\t".join("%s-%s" % (w, m) for w in ("hello", "echo")
                                     for m in modes) + "\n")
for b in order:
    chart.write(b + "".join("\t%.0f" % med[(w, b, m)]["rps"] if (w, b, m) in med
                            else "\tNaN" for w in ("hello", "echo") for m in modes) + "\n")
for w in ("hello", "echo"):
    print("## %s: requests per second (p50 / p99 ms, errors)\n" % w)
    print("| backend | through nginx (wrk) | anycgi bench | anycgi bench --keep-conn | bench / nginx |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for b in order:
        if (w, b, "nginx") not in med:
            continue
        cells = []
        for m in modes:
            x = med[(w, b, m)]
            err = " **%d errors**" % x["errors"] if x["errors"] else ""
            cells.append("%.0f (%.2f / %.2f)%s" % (x["rps"], x["p50_ms"], x["p99_ms"], err))
        ratio = med[(w, b, "bench")]["rps"] / max(med[(w, b, "nginx")]["rps"], 1)
        print("| %s | %s | %.2f× |" % (b, " | ".join(cells), ratio))
    print()
    for a in ("anycgi", "anycgi-hash"):
        if (w, a, "nginx") not in med:
            continue
        print("%s against the others, same mode (ratio of req/s):\n" % a)
        print("| %s / | " % a + " | ".join(modes) + " |")
        print("| --- |" + " ---: |" * len(modes))
        for b in order:
            if b.startswith("anycgi") or (w, b, "nginx") not in med:
                continue
            print("| %s | %s |" % (b, " | ".join(
                "%.2f×" % (med[(w, a, m)]["rps"] / max(med[(w, b, m)]["rps"], 1))
                for m in modes)))
        print()
n = med[("hello", "anycgi", "nginx")]["rps"]
b = med[("hello", "anycgi", "bench")]["rps"]
k = med[("hello", "anycgi", "bench-keep")]["rps"]
print("## anycgi bench against wrk through nginx\n")
print("On anycgi's hello (examples/hello, %s): wrk through nginx %.0f req/s; `anycgi bench` %.0f req/s "
      "with a new connection per request (**%.2f×**), %.0f with kept connections (**%.2f×**). "
      "Target: at least 1.5×: **%s**.\n" % ("same processes", n, b, b / n, k, k / n,
                                            "met" if b >= 1.5 * n else "NOT met"))
ov = list(csv.reader(open(sys.argv[2]), delimiter="\t"))[1:]
print("## anycgi bench's own overhead (one connection, one thread, anycgi hello)\n")
print("| connections | requests | seconds | bench CPU µs/request | system calls/request | most frequent, per request |")
print("| --- | ---: | ---: | ---: | ---: | --- |")
for mode, reqs, secs, cpu, calls, n_sys, top in ov:
    cpu_us = float(cpu) * 1000 / int(reqs) if cpu else float("nan")
    per = int(calls) / int(n_sys) if calls else float("nan")
    print("| %s | %s | %.2f | %.2f | %.2f | %s |" % (
        "kept (--keep-conn)" if mode == "keep" else "new per request",
        reqs, float(secs), cpu_us, per, top))
print()
print("CPU: %s over the whole" % sys.argv[4] + " `anycgi bench` process (start-up included), divided by"
      " the requests; system calls: `strace -f -c` over a tenth as many requests (strace slows it down,"
      " so only the counts are used).")
PY
	echo
	echo "![requests per second]($(basename "$PNG"))"
	echo
	echo "Raw per-round numbers: \`$(basename "$RAW")\` beside this file."
} >"$OUT"

gnuplot <<GP
set terminal pngcairo size 1200,560 font "sans,10"
set output "$PNG"
set datafile separator "\t"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set grid ytics
set ylabel "requests/s (median, log scale)"
set logscale y
set yrange [10:*]
set key below horizontal maxrows 1 width 2
set multiplot layout 1,2 title "anycgi and its peers, $(nproc) cores, $CONNS connections, $WORKERS workers ($(date -u '+%Y-%m-%d'))"
set title "hello"
plot "$dir/chart.dat" using 2:xtic(1) title "through nginx (wrk)" lc rgb "#8c8c8c", \
     "" using 3 title "anycgi bench" lc rgb "#3b75af", \
     "" using 4 title "anycgi bench --keep-conn" lc rgb "#e1812c"
set title "echo (POST $BODY_SIZE bytes)"
plot "$dir/chart.dat" using 5:xtic(1) title "through nginx (wrk)" lc rgb "#8c8c8c", \
     "" using 6 title "anycgi bench" lc rgb "#3b75af", \
     "" using 7 title "anycgi bench --keep-conn" lc rgb "#e1812c"
unset multiplot
GP

log "done in ${elapsed}s: $OUT, $PNG"
cat "$OUT"
