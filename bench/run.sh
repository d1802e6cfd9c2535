#!/usr/bin/env bash
# anycgi's benchmark: anycgi against Debian's libfcgi and a Go net/http
# server, all behind one nginx (one worker), measured with wrk, in one run,
# the configurations interleaved round by round. See bench/README.md.
#
# Usage, as root on Debian 12, from anywhere:  make && bench/run.sh
#
# Settings (environment):
#   BUILD=DIR            anycgi's meson build (default: <repo>/build)
#   DURATION=5 ROUNDS=5  seconds per wrk run, rounds per configuration
#   WARMUP=1             seconds of unrecorded warm-up per configuration
#   CONNS=32             wrk connections for the hello runs
#   STRACE_REQUESTS=10000  requests counted under strace -c
#   XFER_DURATION=5 XFER_CONNS=1  the 10 MiB upload/download runs
#   BASE_PORT=28470      nginx listens on 127.0.0.1:BASE_PORT..+10
#   OUT=FILE             results (default: bench/results/latest.md)
#   KEEP_TMP=1           keep the scratch folder (configs, logs, raw output)
#   QUIET_WAIT=0         on a shared machine: wait up to this many seconds
#                        for a quiet second before measuring
#
# Everything listens on 127.0.0.1 or on Unix sockets in a fresh scratch
# folder under ${TMPDIR:-/tmp}; everything started is stopped on exit.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
BUILD=${BUILD:-$root/build}
DURATION=${DURATION:-5}
ROUNDS=${ROUNDS:-5}
WARMUP=${WARMUP:-1}
CONNS=${CONNS:-32}
STRACE_REQUESTS=${STRACE_REQUESTS:-10000}
XFER_DURATION=${XFER_DURATION:-$DURATION}
XFER_CONNS=${XFER_CONNS:-1}
XFER_SIZE=10485760
BASE_PORT=${BASE_PORT:-28470}
OUT=${OUT:-$here/results/latest.md}
RAW=${OUT%.md}-raw.tsv

t_start=$(date +%s)
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
log() { printf '[bench %4ds] %s\n' "$(($(date +%s) - t_start))" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# ---------------------------------------------------------------- packages
install_packages() {
	local want="nginx spawn-fcgi libfcgi-dev libfcgi-bin wrk golang-go strace
		curl gcc libc6-dev procps iproute2"
	local missing="" p
	for p in $want; do
		dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null |
			grep -q '^install ok installed$' || missing="$missing $p"
	done
	[ -z "$missing" ] && return 0
	[ "$(id -u)" -eq 0 ] || die "missing Debian packages:$missing (run as root)"
	log "installing:$missing"
	# Keep nginx's own service (port 80) from starting on install, unless
	# the machine already has a policy of its own.
	local policy=/usr/sbin/policy-rc.d made=""
	if [ ! -e "$policy" ]; then
		printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 755 "$policy"
		made=1
	fi
	# shellcheck disable=SC2086
	if ! { DEBIAN_FRONTEND=noninteractive apt-get update -q &&
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
			--no-install-recommends $missing </dev/null; } >&2; then
		[ -n "$made" ] && rm -f "$policy"
		die "apt-get install failed"
	fi
	[ -n "$made" ] && rm -f "$policy"
	return 0
}
install_packages

HELLO=$BUILD/examples/hello
ECHO=$BUILD/src/apps/anycgi-echo
[ -x "$HELLO" ] && [ -x "$ECHO" ] ||
	die "no $HELLO or $ECHO: run 'make' in $root first (or set BUILD=)"

for ((i = 0; i <= 10; i++)); do
	if ss -Hltn "sport = :$((BASE_PORT + i))" | grep -q .; then
		die "port $((BASE_PORT + i)) is taken: set BASE_PORT to a free range"
	fi
done

# ---------------------------------------------------------------- cleanup
dir=$(mktemp -d "${TMPDIR:-/tmp}/fcgi-bench.XXXXXX")
nginx_pid="" go_pid="" strace_pid="" wrk_pid="" keepers=""
# alive PID: the process exists, is not a zombie, and is still ours (its
# command line names the scratch folder): a pid that died may have been
# handed to someone else's process since.
alive() {
	kill -0 "$1" 2>/dev/null && ! grep -q '^State:.*Z' "/proc/$1/status" 2>/dev/null &&
		tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null | grep -qF "$dir"
}
cleanup() {
	local rc=$?
	set +e
	trap - EXIT INT TERM
	[ -n "$wrk_pid" ] && kill -INT "$wrk_pid" 2>/dev/null
	[ -n "$strace_pid" ] && kill -INT "$strace_pid" 2>/dev/null
	local pids="" f p i left
	for f in "$dir"/*.pids; do
		[ -e "$f" ] && pids="$pids $(cat "$f")"
	done
	for p in $pids $nginx_pid $go_pid; do
		alive "$p" && kill -TERM "$p" 2>/dev/null
	done
	pids="$pids $nginx_pid $go_pid"
	for ((i = 0; i < 30; i++)); do
		left=""
		for p in $pids $keepers; do alive "$p" && left=1; done
		[ -z "$left" ] && break
		sleep 0.1
	done
	for p in $pids $keepers; do
		if alive "$p"; then
			log "pid $p ($(cat /proc/"$p"/comm 2>/dev/null)) is still there after SIGTERM: SIGKILL"
			kill -KILL "$p" 2>/dev/null
		fi
	done
	wait 2>/dev/null
	if [ "${KEEP_TMP:-0}" = 1 ]; then
		log "scratch folder kept: $dir"
	else
		rm -rf "$dir"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------- peers
log "scratch folder: $dir"
log "building the peers (gcc, go build offline)"
mkdir -p "$dir/bin"
gcc -O2 -Wall -o "$dir/bin/lf-hello" "$here/peers/hello-libfcgi.c" -lfcgi
gcc -O2 -Wall -o "$dir/bin/lf-upload" "$here/peers/upload-libfcgi.c" -lfcgi
# The anycgi programs run from a copy: the run measures one build even if
# the tree is rebuilt meanwhile, and whatever stops programs by their
# build path on a shared machine leaves these alone.
cp "$HELLO" "$dir/bin/ac-hello"
cp "$ECHO" "$dir/bin/ac-echo"
(cd "$here/peers/hello-go" &&
	GOCACHE=$dir/go/cache GOPATH=$dir/go/path GOTOOLCHAIN=local \
	GOPROXY=off GOFLAGS='' GO111MODULE=on \
	go build -o "$dir/bin/go-hello" .)

# spawn NAME COUNT PROGRAM: COUNT processes on unix:$dir/NAME.sock.
# spawn-fcgi binds the socket and, in the foreground (-n), execs keeper.sh,
# which starts the COUNT copies on that fd 0 and notes each one's pid and,
# should it end, its exit status (128+N: signal N): a backend that dies
# during the run is reported, with how.
cat >"$dir/keeper.sh" <<'SH'
#!/bin/sh
n=$1 name=$2
shift 2
# An asynchronous command's stdin is /dev/null in sh: hand the listening
# socket over on fd 3.
exec 3<&0
i=0
while [ "$i" -lt "$n" ]; do
	(
		"$@" 0<&3 3<&- &
		p=$!
		echo "$p" >>"$name.pids"
		wait "$p"
		echo "$p $?" >>"$name.exits"
	) &
	i=$((i + 1))
done
exec 0</dev/null 3<&-
wait
SH
chmod +x "$dir/keeper.sh"
keepers=""
spawn() {
	rm -f "$dir/$1.sock" "$dir/$1.pids"
	spawn-fcgi -n -s "$dir/$1.sock" -M 0666 -- "$dir/keeper.sh" "$2" "$dir/$1" "$3" \
		>>"$dir/$1.log" 2>&1 </dev/null &
	keepers="$keepers $!"
	local i
	for ((i = 0; i < 50; i++)); do
		[ -e "$dir/$1.pids" ] && [ "$(wc -l <"$dir/$1.pids")" -ge "$2" ] && return 0
		sleep 0.1
	done
	die "$1: $3 did not start ($(cat "$dir/$1.log"))"
}
pids_of() { cat "$dir/$1.pids"; }

log "starting the backends"
spawn lf1 1 "$dir/bin/lf-hello"
spawn lf2 2 "$dir/bin/lf-hello"
spawn lf2k 2 "$dir/bin/lf-hello"
spawn ac1 1 "$dir/bin/ac-hello"
spawn ac2 2 "$dir/bin/ac-hello"
spawn ac1k 1 "$dir/bin/ac-hello"
spawn ac2k 2 "$dir/bin/ac-hello"
spawn lfx 1 "$dir/bin/lf-upload"
spawn acx 1 "$dir/bin/ac-echo"
"$dir/bin/go-hello" -listen "unix:$dir/go.sock" >"$dir/go.log" 2>&1 &
go_pid=$!

# ---------------------------------------------------------------- nginx
# The configurations: name, port offset, backend pids (file stem), location.
# fastcgi without keepalive: a new connection per request (nginx's default).
fcgi() { printf 'include /etc/nginx/fastcgi_params; fastcgi_pass unix:%s;' "$dir/$1.sock"; }
fcgi_keep() { printf 'include /etc/nginx/fastcgi_params; fastcgi_pass %s; fastcgi_keep_conn on;' "$1"; }
CONFIGS="nginx-return200 libfcgi-x1 libfcgi-x2 libfcgi-x2-keep anycgi-x1 anycgi-x2 anycgi-x1-keep anycgi-x2-keep go-proxy"
declare -A PORT BACKEND LOC
add() { PORT[$1]=$((BASE_PORT + $2)); BACKEND[$1]=$3; LOC[$1]=$4; }
add nginx-return200 0 "" 'return 200 "Hello, world!\n";'
add libfcgi-x1 1 lf1 "$(fcgi lf1)"
add libfcgi-x2 2 lf2 "$(fcgi lf2)"
add libfcgi-x2-keep 3 lf2k "$(fcgi_keep up_lf2k)"
add anycgi-x1 4 ac1 "$(fcgi ac1)"
add anycgi-x2 5 ac2 "$(fcgi ac2)"
add anycgi-x1-keep 6 ac1k "$(fcgi_keep up_ac1k)"
add anycgi-x2-keep 7 ac2k "$(fcgi_keep up_ac2k)"
add go-proxy 8 go 'proxy_pass http://up_go; proxy_http_version 1.1; proxy_set_header Connection "";'
XFERS="libfcgi anycgi go"
add xfer-libfcgi 9 lfx "$(fcgi lfx)"
add xfer-anycgi 10 acx "$(fcgi acx)"
add xfer-go 8 go ""

mkdir -p "$dir/ngx"
{
	cat <<CONF
user root;
worker_processes 1;
pid $dir/ngx/nginx.pid;
error_log $dir/ngx/error.log error;
daemon off;
events { worker_connections 1024; }
http {
    access_log off;
    default_type text/plain;
    client_body_temp_path $dir/ngx/body;
    fastcgi_temp_path $dir/ngx/fastcgi;
    proxy_temp_path $dir/ngx/proxy;
    scgi_temp_path $dir/ngx/scgi;
    uwsgi_temp_path $dir/ngx/uwsgi;
    client_max_body_size 0;
    keepalive_requests 1000000;
    upstream up_lf2k { server unix:$dir/lf2k.sock; keepalive 32; keepalive_requests 1000000; }
    upstream up_ac1k { server unix:$dir/ac1k.sock; keepalive 32; keepalive_requests 1000000; }
    upstream up_ac2k { server unix:$dir/ac2k.sock; keepalive 32; keepalive_requests 1000000; }
    upstream up_go   { server unix:$dir/go.sock;   keepalive 32; keepalive_requests 1000000; }
CONF
	for c in $CONFIGS xfer-libfcgi xfer-anycgi; do
		printf '    server { listen 127.0.0.1:%s; error_log %s error; location / { %s } }\n' \
			"${PORT[$c]}" "$dir/ngx/error-$c.log" "${LOC[$c]}"
	done
	echo "}"
} >"$dir/ngx/nginx.conf"
nginx -t -q -p "$dir/ngx" -c "$dir/ngx/nginx.conf" -e "$dir/ngx/error.log" ||
	die "nginx -t failed: $dir/ngx/nginx.conf"
nginx -p "$dir/ngx" -c "$dir/ngx/nginx.conf" -e "$dir/ngx/error.log" &
nginx_pid=$!
for ((i = 0; i < 50; i++)); do
	worker=$(pgrep -P "$nginx_pid" | head -n1 || true)
	[ -n "$worker" ] && curl -s -o /dev/null "http://127.0.0.1:$BASE_PORT/" && break
	sleep 0.1
done
[ -n "$worker" ] || die "nginx did not start: $(cat "$dir/ngx/error.log")"

# ---------------------------------------------------------------- checks
log "checking every configuration answers correctly"
for c in $CONFIGS; do
	body=$(curl -s --max-time 5 -w '\n%{http_code}' "http://127.0.0.1:${PORT[$c]}/") ||
		die "$c: curl failed"
	[ "$body" = $'Hello, world!\n\n200' ] ||
		die "$c: unexpected answer: $(printf %q "$body")"
done
head -c "$XFER_SIZE" /dev/urandom >"$dir/body.bin"
up_ref="" dl_ref=""
for x in $XFERS; do
	p=${PORT[xfer-$x]}
	ans=$(curl -s --max-time 60 -H 'Content-Type: application/octet-stream' \
		--data-binary @"$dir/body.bin" "http://127.0.0.1:$p/upload") ||
		die "xfer-$x: upload failed"
	bytes=$(printf '%s' "$ans" | sed -n 's/.*"body_bytes": *\([0-9]*\).*/\1/p')
	hash=$(printf '%s' "$ans" | sed -n 's/.*"body_fnv1a64": *"\([0-9a-f]*\)".*/\1/p')
	[ "$bytes" = "$XFER_SIZE" ] || die "xfer-$x: upload answered: $ans"
	[ -z "$up_ref" ] && up_ref=$hash
	[ "$hash" = "$up_ref" ] || die "xfer-$x: upload hash $hash, others $up_ref"
	curl -s --max-time 60 -o "$dir/dl-$x.bin" "http://127.0.0.1:$p/download?size=$XFER_SIZE" ||
		die "xfer-$x: download failed"
	sum=$(sha256sum <"$dir/dl-$x.bin" | cut -d' ' -f1)
	[ "$(stat -c %s "$dir/dl-$x.bin")" = "$XFER_SIZE" ] &&
		[ "$(head -c 30 "$dir/dl-$x.bin")" = abcdefghijklmnopqrstuvwxyzabcd ] ||
		die "xfer-$x: download is not $XFER_SIZE bytes of the alphabet"
	[ -z "$dl_ref" ] && dl_ref=$sum
	[ "$sum" = "$dl_ref" ] || die "xfer-$x: download differs from the others"
	rm -f "$dir/dl-$x.bin"
done

# ---------------------------------------------------------------- wrk
cat >"$dir/report.lua" <<'LUA'
done = function(s, latency, requests)
  local e = s.errors
  io.write(string.format(
    "RESULT\t%d\t%d\t%.2f\t%.0f\t%.0f\t%.0f\t%.1f\t%d\t%d\t%d\t%d\t%d\t%d\n",
    s.requests, s.duration, s.requests / (s.duration / 1e6),
    latency:percentile(50), latency:percentile(99), latency.max, latency.mean,
    e.connect, e.read, e.write, e.status, e.timeout, s.bytes))
end
LUA
{
	printf 'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/octet-stream"\n'
	printf 'local f = assert(io.open("%s", "rb"))\nwrk.body = f:read("*a")\nf:close()\n' "$dir/body.bin"
	cat "$dir/report.lua"
} >"$dir/upload.lua"
{
	# After STRACE_REQUESTS answers: stop sending, and leave a mark for
	# the script to end wrk (wrk's own -d would wait out the duration).
	printf 'local n, limit, mark = 0, %d, "%s"\n' "$STRACE_REQUESTS" "$dir/stop.mark"
	printf 'response = function()\n  n = n + 1\n  if n == limit then\n'
	printf '    local f = io.open(mark, "w"); if f then f:close() end\n    wrk.thread:stop()\n  end\nend\n'
	cat "$dir/report.lua"
} >"$dir/stop.lua"

CLK_TCK=$(getconf CLK_TCK)
# ticks PID...: "utime+stime minflt" of these processes (all their threads):
# CPU clock ticks and minor page faults.
ticks() {
	local p t=0 m=0 s f
	for p in "$@"; do
		s=$(cat "/proc/$p/stat" 2>/dev/null) || continue
		read -r -a f <<<"${s##*) }"
		t=$((t + f[11] + f[12]))
		m=$((m + f[7]))
	done
	echo "$t $m"
}
be_pids() {
	case "${BACKEND[$1]}" in
	"") ;;
	go) echo "$go_pid" ;;
	*) pids_of "${BACKEND[$1]}" ;;
	esac
}

mkdir -p "$(dirname "$OUT")"
printf 'phase\tconfig\tround\trequests\tduration_us\trps\tp50_us\tp99_us\tmax_us\tmean_us\terr_connect\terr_read\terr_write\terr_status\terr_timeout\tbytes\tbackend_ticks\tnginx_ticks\tbackend_minflt\tconns\n' >"$dir/raw.tsv"

# check_alive CONFIG WHEN: notes (once) each backend process found gone.
declare -A GONE
check_alive() {
	local p
	for p in $(be_pids "$1"); do
		if [ -z "${GONE[$p]:-}" ] && ! alive "$p"; then
			GONE[$p]=1
			sleep 0.2
			local how
			how=$(awk -v p="$p" '$1 == p { s = $2; print (s > 128 ? "was killed by signal " (s - 128) " (" s ")" : "exited with status " s) }' \
				"$dir/${BACKEND[$1]}.exits" 2>/dev/null || true)
			echo "$1: backend process $p (${BACKEND[$1]}) ${how:-is gone, and so is the shell that waited for it (killed from outside?)} (found after $2)" >>"$dir/anomalies.txt"
			log "WARNING: $1: backend process $p ${how:-is gone, and so is the shell that waited for it (killed from outside?)} (found after $2)"
		fi
	done
}

# wrk_run PHASE CONFIG ROUND URL SCRIPT CONNS SECONDS TIMEOUT
wrk_run() {
	local phase=$1 c=$2 round=$3 url=$4 script=$5 conns=$6 secs=$7 tmo=$8
	local bp b0 n0 b1 n1 res bf0 bf1 _x
	bp=$(be_pids "$c")
	# shellcheck disable=SC2086
	read -r b0 bf0 < <(ticks $bp); read -r n0 _x < <(ticks "$worker")
	wrk -t1 -c"$conns" -d"${secs}s" --timeout "$tmo" --latency -s "$script" "$url" \
		>"$dir/wrk-$phase-$c-$round.txt" 2>&1 || die "wrk failed: $(cat "$dir/wrk-$phase-$c-$round.txt")"
	# shellcheck disable=SC2086
	read -r b1 bf1 < <(ticks $bp); read -r n1 _x < <(ticks "$worker")
	res=$(grep '^RESULT' "$dir/wrk-$phase-$c-$round.txt" | cut -f2-) ||
		die "no result from wrk: $(cat "$dir/wrk-$phase-$c-$round.txt")"
	check_alive "$c" "$phase round $round"
	awk -F'\t' -v w="$c $phase round $round" '$8+$9+$10+$11+$12 > 0 {
		printf "%s: wrk saw %d timeouts, %d connect / %d read / %d write errors, %d non-2xx answers\n", w, $12, $8, $9, $10, $11 }' \
		<<<"$res" >>"$dir/anomalies.txt"
	[ "$round" = warmup ] && return 0
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$phase" "$c" "$round" "$res" \
		$((b1 - b0)) $((n1 - n0)) $((bf1 - bf0)) "$conns" >>"$dir/raw.tsv"
	log "$(printf '%-8s %-16s round %s: %s' "$phase" "$c" "$round" \
		"$(printf '%s' "$res" | awk -F'\t' '{printf "%9.0f req/s  p99 %7.2f ms  timeouts %d  errors %d  busy conns %.1f", $3, $5/1000, $12, $8+$9+$10+$11, $3*$7/1e6}')")"
}

for c in $CONFIGS xfer-libfcgi xfer-anycgi; do check_alive "$c" "the answer checks"; done
n_configs=$(echo "$CONFIGS" | wc -w)
# The machine may be shared: how much CPU went to processes other than this
# benchmark's (backends, nginx, wrk, this script and its helpers) while it
# measured. /proc/stat and /proc/PID/stat count in clock ticks; bash's
# `times` gives this script's and its reaped children's (wrk, ...) CPU.
machine_busy() { awk '$1 == "cpu" {print $2 + $3 + $4 + $7 + $8 + $9; exit}' /proc/stat; }
own_ticks() {
	local all t _m
	all="$worker $nginx_pid $go_pid"
	for f in "$dir"/*.pids; do all="$all $(cat "$f")"; done
	# shellcheck disable=SC2086
	read -r t _m < <(ticks $all)
	times >"$dir/times.txt" # in this shell, not a subshell
	OWN=$(awk -v t="$t" -v hz="$CLK_TCK" '{ for (i = 1; i <= 2; i++) { split($i, a, /[ms]/); s += a[1] * 60 + a[2] } }
		END { printf "%d\n", t + s * hz }' "$dir/times.txt")
}
if [ "${QUIET_WAIT:-0}" -gt 0 ]; then
	# Everything of ours is idle here: wait (up to QUIET_WAIT s) for a
	# second in which the machine is at least 90% idle.
	log "waiting up to ${QUIET_WAIT}s for a quiet machine"
	quiet_end=$(($(date +%s) + QUIET_WAIT))
	while [ "$(date +%s)" -lt "$quiet_end" ]; do
		b0=$(machine_busy); sleep 1; b1=$(machine_busy)
		[ $((b1 - b0)) -le $((CLK_TCK * $(nproc) / 10)) ] && { log "quiet"; break; }
	done
fi
own_ticks; own0=$OWN busy0=$(machine_busy) wall0=$(date +%s.%N)
log "hello: warm-up ${WARMUP}s each, then $ROUNDS rounds x $n_configs configurations x ${DURATION}s, wrk -t1 -c$CONNS"
for c in $CONFIGS; do
	wrk_run hello "$c" warmup "http://127.0.0.1:${PORT[$c]}/" "$dir/report.lua" "$CONNS" "$WARMUP" 2s
done
for ((r = 1; r <= ROUNDS; r++)); do
	for c in $CONFIGS; do
		wrk_run hello "$c" "$r" "http://127.0.0.1:${PORT[$c]}/" "$dir/report.lua" "$CONNS" "$DURATION" 2s
	done
done

log "10 MiB upload and download: $ROUNDS rounds x 3 backends x 2 directions x ${XFER_DURATION}s, wrk -t1 -c$XFER_CONNS"
for ((r = 1; r <= ROUNDS; r++)); do
	for x in $XFERS; do
		p=${PORT[xfer-$x]}
		wrk_run upload "xfer-$x" "$r" "http://127.0.0.1:$p/upload" "$dir/upload.lua" "$XFER_CONNS" "$XFER_DURATION" 30s
		wrk_run download "xfer-$x" "$r" "http://127.0.0.1:$p/download?size=$XFER_SIZE" "$dir/report.lua" "$XFER_CONNS" "$XFER_DURATION" 30s
	done
done

own_ticks; own1=$OWN busy1=$(machine_busy) wall1=$(date +%s.%N)
others=$(awk -v b="$((busy1 - busy0))" -v o="$((own1 - own0))" -v w0="$wall0" -v w1="$wall1" -v hz="$CLK_TCK" -v n="$(nproc)" \
	'BEGIN { x = (b - o) / ((w1 - w0) * hz * n) * 100; printf "%.0f", x < 0 ? 0 : x }')
load_after=$(cut -d' ' -f1-3 /proc/loadavg)
log "other processes on the machine used about ${others}% of its CPU while this measured"

# ---------------------------------------------------------------- strace
STRACED="libfcgi-x1 anycgi-x1 anycgi-x1-keep go-proxy"
log "system calls: strace -c -f on the backend for $STRACE_REQUESTS requests each ($STRACED)"
printf 'config\trequests\tsyscalls\ttop\n' >"$dir/strace.tsv"
for c in $STRACED; do
	args=()
	for p in $(be_pids "$c"); do args+=(-p "$p"); done
	strace -c -f -qq -o "$dir/strace-$c.txt" "${args[@]}" &
	strace_pid=$!
	sleep 1
	rm -f "$dir/stop.mark"
	wrk -t1 -c"$CONNS" -d300s --timeout 10s -s "$dir/stop.lua" "http://127.0.0.1:${PORT[$c]}/" \
		>"$dir/wrk-strace-$c.txt" 2>&1 &
	wrk_pid=$!
	while [ ! -e "$dir/stop.mark" ] && kill -0 "$wrk_pid" 2>/dev/null; do sleep 0.05; done
	kill -INT "$wrk_pid" 2>/dev/null || true
	wait "$wrk_pid" || die "wrk failed: $(cat "$dir/wrk-strace-$c.txt")"
	wrk_pid=""
	sleep 0.5
	kill -INT "$strace_pid" 2>/dev/null || true
	wait "$strace_pid" || true
	strace_pid=""
	reqs=$(grep '^RESULT' "$dir/wrk-strace-$c.txt" | cut -f2 || echo 0)
	calls=$(awk '$NF == "total" {print $4}' "$dir/strace-$c.txt" 2>/dev/null || true)
	calls=${calls:-0}
	grep '^RESULT' "$dir/wrk-strace-$c.txt" | cut -f2- | awk -F'\t' -v w="$c strace run" '$8+$9+$10+$11+$12 > 0 {
		printf "%s: wrk saw %d timeouts, %d connect / %d read / %d write errors, %d non-2xx answers\n", w, $12, $8, $9, $10, $11 }' \
		>>"$dir/anomalies.txt" || true
	check_alive "$c" "the strace run"
	top=$(awk -v n="$reqs" '$1 ~ /^[0-9.]+$/ && $NF != "total" && NF >= 5 {printf "%s %.2f\n", $NF, $4 / n}' "$dir/strace-$c.txt" |
		sort -k2,2gr | head -n 6 | awk '{printf "%s%s %s", (NR > 1 ? ", " : ""), $1, $2}')
	printf '%s\t%s\t%s\t%s\n' "$c" "$reqs" "$calls" "$top" >>"$dir/strace.tsv"
	log "$(printf 'strace   %-16s %s requests, %s syscalls: %s' "$c" "$reqs" "$calls" "$top")"
done

# ---------------------------------------------------------------- report
cp "$dir/raw.tsv" "$RAW"

# summary PHASE CONFIG: rps_med p50_med p99_med p99_max timeouts errors
#   requests backend_us_per_req nginx_us_per_req rounds MiB/s_med
#   busy_conns_med minflt_per_req
# busy conns = req/s x mean latency (Little's law): how many of wrk's
# connections had a request being answered, on average. wrk counts no
# timeout for a request that never finishes, so this is what shows
# connections starved by a backend.
summary() {
	awk -F'\t' -v ph="$1" -v c="$2" -v hz="$CLK_TCK" -v size="$XFER_SIZE" '
	function med(a, n,   i, j, t) {
		for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j-1] > a[j]; j--) { t = a[j]; a[j] = a[j-1]; a[j-1] = t }
		return n % 2 ? a[(n+1)/2] : (a[n/2] + a[n/2+1]) / 2
	}
	$1 == ph && $2 == c {
		n++; rps[n] = $6; p50[n] = $7; p99[n] = $8; if ($8 > p99max) p99max = $8
		mib[n] = $4 * size / 1048576 / ($5 / 1e6); busy[n] = $6 * $10 / 1e6
		tmo += $15; err += $11 + $12 + $13 + $14; req += $4; bt += $17; nt += $18; mf += $19
	}
	END {
		if (!n) { print "0 0 0 0 0 0 0 0 0 0 0 0 0"; exit }
		printf "%.2f %.0f %.0f %.0f %d %d %d %.2f %.2f %d %.2f %.1f %.2f\n", med(rps, n), med(p50, n), med(p99, n), p99max,
			tmo, err, req, req ? bt * 1e6 / hz / req : 0, req ? nt * 1e6 / hz / req : 0, n, med(mib, n),
			med(busy, n), req ? mf / req : 0
	}' "$dir/raw.tsv"
}
calc() { awk "BEGIN { printf \"%.2f\", $* }" 2>/dev/null || echo -; }
declare -A RPS P50 P99 P99MAX TMO ERR BEUS NGUS MIB ERRLOG BUSY MINFLT STARVED
for c in $CONFIGS; do
	# shellcheck disable=SC2086
	read -r RPS[$c] P50[$c] P99[$c] P99MAX[$c] TMO[$c] ERR[$c] _ BEUS[$c] NGUS[$c] _ _ BUSY[$c] MINFLT[$c] < <(summary hello "$c")
	# Starved: fewer than half of wrk's connections being served.
	STARVED[$c]=$(awk "BEGIN{print (${BUSY[$c]} < $CONNS / 2) ? 1 : 0}")
done
for c in $CONFIGS xfer-libfcgi xfer-anycgi; do
	ERRLOG[$c]=$(grep -c . "$dir/ngx/error-$c.log" 2>/dev/null || true)
done
for x in $XFERS; do
	for ph in upload download; do
		read -r r _ _ p99max tmo err _ beus _ _ mib _ _ < <(summary "$ph" "xfer-$x")
		RPS[$ph-$x]=$r; P99MAX[$ph-$x]=$p99max; TMO[$ph-$x]=$tmo; ERR[$ph-$x]=$err; BEUS[$ph-$x]=$beus; MIB[$ph-$x]=$mib
	done
done

# best CONFIG...: the one with the highest median req/s among those with no
# timeouts, no errors and no starved connections (or among all, if none is).
best() {
	local c b="" bc=""
	for c in "$@"; do
		if [ "${TMO[$c]}" = 0 ] && [ "${ERR[$c]}" = 0 ] && [ "${STARVED[$c]}" = 0 ]; then
			{ [ -z "$bc" ] || awk "BEGIN{exit !(${RPS[$c]} > ${RPS[$bc]})}"; } && bc=$c
		fi
		{ [ -z "$b" ] || awk "BEGIN{exit !(${RPS[$c]} > ${RPS[$b]})}"; } && b=$c
	done
	echo "${bc:-$b}"
}
ok() { if awk "BEGIN{exit !($*)}"; then echo "**met**"; else echo "**NOT met**"; fi; }
ms() { calc "$1 / 1000"; }

lf1=$(best libfcgi-x1) lf2=$(best libfcgi-x2 libfcgi-x2-keep)
ac1=$(best anycgi-x1 anycgi-x1-keep) ac2=$(best anycgi-x2 anycgi-x2-keep)
acbest=$(best anycgi-x1 anycgi-x1-keep anycgi-x2 anycgi-x2-keep)
ngx=${RPS[nginx-return200]}
rev=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)
git -C "$root" --no-optional-locks diff --quiet HEAD -- src include examples 2>/dev/null || rev="$rev (+ uncommitted changes)"
elapsed=$(($(date +%s) - t_start))

# p99cell CONFIG: the p99 (median of rounds / worst round), or what it
# really is when connections were starved.
p99cell() {
	if [ "${STARVED[$1]}" = 1 ]; then
		echo "**> ${DURATION} s**: $(awk "BEGIN{printf \"%.0f\", $CONNS - ${BUSY[$1]}}") of $CONNS connections never answered (of the finished: $(ms "${P99[$1]}"))"
	else
		echo "$(ms "${P99[$1]}") / $(ms "${P99MAX[$1]}")"
	fi
}
sc_per() { awk -F'\t' -v c="$1" '$1 == c && $2 > 0 {printf "%.2f", $3 / $2}' "$dir/strace.tsv"; }
k=anycgi-x2-keep

{
	echo "# anycgi benchmark results"
	echo
	echo "Run $(date -u '+%Y-%m-%d %H:%M UTC') by \`bench/run.sh\` (anycgi $rev), in ${elapsed}s."
	echo
	echo "| machine | |"
	echo "| --- | --- |"
	echo "| cores (nproc) | $(nproc) |"
	echo "| CPU | $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1) |"
	echo "| memory | $(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo) |"
	echo "| kernel | $(uname -sr) |"
	echo "| OS | $(. /etc/os-release && echo "$PRETTY_NAME") |"
	echo "| load average before / after the measurements | $load_before / $load_after |"
	echo "| CPU used by other processes while this measured | about ${others}% of the $(nproc) cores (0% = a quiet machine) |"
	echo "| nginx | $(nginx -v 2>&1 | sed 's/^nginx version: //') (worker_processes 1, access_log off) |"
	echo "| wrk | $(wrk -v 2>&1 | head -n1 | awk '{print $2}') |"
	echo "| libfcgi | $(dpkg-query -W -f='${Version}' libfcgi-dev) (Debian libfcgi-dev) |"
	echo "| spawn-fcgi | $(dpkg-query -W -f='${Version}' spawn-fcgi) |"
	echo "| Go | $(go version | awk '{print $3}') (GOMAXPROCS default: $(nproc)) |"
	echo
	echo "Settings: ROUNDS=$ROUNDS rounds of DURATION=${DURATION}s per configuration, interleaved"
	echo "(round 1 of every configuration, then round 2, ...), after a ${WARMUP}s warm-up each;"
	echo "\`wrk -t1 -c$CONNS --latency\`, keep-alive, timeout 2 s, against nginx on 127.0.0.1."
	echo "Backends on Unix sockets. *-keep: \`fastcgi_keep_conn on\` to an upstream with \`keepalive 32\`;"
	echo "the others open a new FastCGI connection per request. go-proxy: \`proxy_pass\` with keepalive 32."
	echo
	echo "## Hello, world (median of $ROUNDS rounds)"
	echo
	echo "| configuration | req/s | ×nginx alone | p50 ms | p99 ms (median / worst round) | timeouts | other errors | busy conns of $CONNS | backend CPU µs/req | backend page faults/req | nginx CPU µs/req |"
	echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
	for c in $CONFIGS; do
		if [ -n "${BACKEND[$c]}" ]; then be="${BEUS[$c]} | ${MINFLT[$c]}"; else be="- | -"; fi
		printf '| %s | %.0f | %s | %s | %s | %s | %s | %s | %s | %s |\n' "$c" "${RPS[$c]}" \
			"$(calc "${RPS[$c]} / $ngx")" "$(ms "${P50[$c]}")" "$(p99cell "$c")" \
			"${TMO[$c]}" "${ERR[$c]}" "${BUSY[$c]}" "$be" "${NGUS[$c]}"
	done
	echo
	echo "- busy conns: req/s × mean latency (Little's law), the number of wrk's connections"
	echo "  that had a request being answered, on average. wrk 4.1 counts a timeout only for a"
	echo "  request that finishes late, never for one that is not answered at all before the run"
	echo "  ends, and its percentiles cover finished requests only: a backend that leaves most"
	echo "  connections waiting still shows a fine req/s, p99 and no timeouts. A configuration"
	echo "  with fewer than half of its connections busy is marked as starved and its p99 as"
	echo "  longer than the run."
	echo "- backend CPU and page faults: utime+stime and minflt of the backend processes (all"
	echo "  threads) from /proc/PID/stat before and after each timed run, summed over the rounds,"
	echo "  divided by the requests (clock ticks of 1/${CLK_TCK} s). nginx CPU: its worker, the same way."
	echo "  wrk, nginx and the backends share the same $(nproc) cores."
	errlines=$(for c in $CONFIGS xfer-libfcgi xfer-anycgi; do [ "${ERRLOG[$c]:-0}" = 0 ] || printf '%s: %s; ' "$c" "${ERRLOG[$c]}"; done)
	echo "- nginx error-log lines (level error) over the whole run: ${errlines:-none}."
	echo
	echo "## Ratios (of median req/s)"
	echo
	echo "| comparison | ratio |"
	echo "| --- | ---: |"
	seen=" "
	for pair in "anycgi-x1 libfcgi-x1" "anycgi-x2 libfcgi-x2" "anycgi-x1-keep libfcgi-x1" \
		"anycgi-x2-keep libfcgi-x2" "anycgi-x2-keep libfcgi-x2-keep" "$ac1 $lf1" "$ac2 $lf2" \
		"anycgi-x1 go-proxy" "anycgi-x2 go-proxy" "anycgi-x1-keep go-proxy" "anycgi-x2-keep go-proxy" \
		"$lf1 go-proxy" "$lf2 go-proxy"; do
		case "$seen" in *" $pair,"*) continue ;; esac
		seen="$seen $pair,"
		# shellcheck disable=SC2086
		set -- $pair
		note=""
		[ "${STARVED[$2]}" = 1 ] && note=" ($2 starved $(awk "BEGIN{printf \"%.0f\", $CONNS - ${BUSY[$2]}}") of $CONNS connections)"
		echo "| $1 / $2 | $(calc "${RPS[$1]} / ${RPS[$2]}")$note |"
	done
	echo
	echo "Best configuration of each (highest median req/s with no timeouts, errors or starved"
	echo "connections), same process count: x1: anycgi \`$ac1\`, libfcgi \`$lf1\`;"
	echo "x2: anycgi \`$ac2\`, libfcgi \`$lf2\`."
	echo
	echo "## System calls per request (strace -c -f on the backend, $STRACE_REQUESTS requests, wrk -c$CONNS)"
	echo
	echo "| configuration | requests | system calls | per request | most frequent, per request |"
	echo "| --- | ---: | ---: | ---: | --- |"
	tail -n +2 "$dir/strace.tsv" | while IFS=$'\t' read -r c reqs calls top; do
		echo "| $c | $reqs | $calls | $(awk -v c="$calls" -v r="$reqs" 'BEGIN { if (r > 0) printf "%.2f", c / r; else print "-" }') | $top |"
	done
	echo
	echo "Counted over all the backend's processes and threads while wrk sent the requests;"
	echo "requests = what wrk saw answered (a few in flight at the ends blur the count)."
	echo
	echo "## 10 MiB upload and download through nginx (wrk -t1 -c$XFER_CONNS, ${XFER_DURATION}s, median of $ROUNDS rounds)"
	echo
	echo "| backend | upload MiB/s | upload req/s | download MiB/s | download req/s | worst p99 ms (up / down) | timeouts+errors | backend CPU ms per upload / download |"
	echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
	for x in $XFERS; do
		printf '| %s | %.1f | %.2f | %.1f | %.2f | %s / %s | %d | %s / %s |\n' "$x" "${MIB[upload-$x]}" "${RPS[upload-$x]}" \
			"${MIB[download-$x]}" "${RPS[download-$x]}" "$(ms "${P99MAX[upload-$x]}")" "$(ms "${P99MAX[download-$x]}")" \
			$((TMO[upload-$x] + ERR[upload-$x] + TMO[download-$x] + ERR[download-$x])) \
			"$(calc "${BEUS[upload-$x]} / 1000")" "$(calc "${BEUS[download-$x]} / 1000")"
	done
	echo
	echo "| ratio | upload | download |"
	echo "| --- | ---: | ---: |"
	echo "| anycgi / libfcgi | $(calc "${MIB[upload-anycgi]} / ${MIB[upload-libfcgi]}") | $(calc "${MIB[download-anycgi]} / ${MIB[download-libfcgi]}") |"
	echo "| anycgi / go | $(calc "${MIB[upload-anycgi]} / ${MIB[upload-go]}") | $(calc "${MIB[download-anycgi]} / ${MIB[download-go]}") |"
	echo
	echo "libfcgi: bench/peers/upload-libfcgi.c (x1); anycgi: anycgi-echo (x1); go: bench/peers/hello-go"
	echo "(proxy_pass keepalive). The FastCGI ones get a new connection per request. All three hash"
	echo "the upload (FNV-1a 64, the same work) and write the download 64 KiB at a time; their answers"
	echo "were checked against each other before the runs. nginx buffers both ways (the request body"
	echo "and the response spill to temporary files: its defaults)."
	echo
	echo "## Targets"
	echo
	echo "| target | measured | |"
	echo "| --- | --- | --- |"
	echo "| x1: anycgi ≥ 1.5 × libfcgi req/s (best configurations) | $(calc "${RPS[$ac1]} / ${RPS[$lf1]}")× ($ac1 vs $lf1) | $(ok "${RPS[$ac1]} >= 1.5 * ${RPS[$lf1]}") |"
	echo "| x2: anycgi ≥ 1.5 × libfcgi req/s (best configurations) | $(calc "${RPS[$ac2]} / ${RPS[$lf2]}")× ($ac2 vs $lf2) | $(ok "${RPS[$ac2]} >= 1.5 * ${RPS[$lf2]}") |"
	echo "| keep_conn, $CONNS conns, x2: no timeouts, p99 < 5 ms (median of rounds) | ${TMO[$k]} timeouts, ${ERR[$k]} errors, ${BUSY[$k]} of $CONNS conns busy, p99 $(ms "${P99[$k]}") ms (worst round $(ms "${P99MAX[$k]}")) | $(ok "${TMO[$k]} == 0 && ${ERR[$k]} == 0 && ${STARVED[$k]} == 0 && ${P99[$k]} < 5000") |"
	echo "| backend CPU per request below libfcgi's (x1, same config) | ${BEUS[anycgi-x1]} vs ${BEUS[libfcgi-x1]} µs (anycgi keep_conn: ${BEUS[anycgi-x1-keep]}) | $(ok "${BEUS[anycgi-x1]} < ${BEUS[libfcgi-x1]}") |"
	sc_lf=$(sc_per libfcgi-x1) sc_ac=$(sc_per anycgi-x1) sc_ack=$(sc_per anycgi-x1-keep)
	echo "| system calls per request below libfcgi's (x1, same config) | $sc_ac vs $sc_lf (anycgi keep_conn: $sc_ack) | $(ok "$sc_ac < $sc_lf") |"
	echo "| 10 MiB upload at least as fast as libfcgi's and Go's | ${MIB[upload-anycgi]} vs ${MIB[upload-libfcgi]} and ${MIB[upload-go]} MiB/s | $(ok "${MIB[upload-anycgi]} >= ${MIB[upload-libfcgi]} && ${MIB[upload-anycgi]} >= ${MIB[upload-go]} && ${TMO[upload-anycgi]} + ${ERR[upload-anycgi]} == 0")$( [ $((TMO[upload-anycgi] + ERR[upload-anycgi])) = 0 ] || echo " (anycgi had $((TMO[upload-anycgi] + ERR[upload-anycgi])) failed requests)") |"
	echo "| 10 MiB download at least as fast as libfcgi's and Go's | ${MIB[download-anycgi]} vs ${MIB[download-libfcgi]} and ${MIB[download-go]} MiB/s | $(ok "${MIB[download-anycgi]} >= ${MIB[download-libfcgi]} && ${MIB[download-anycgi]} >= ${MIB[download-go]} && ${TMO[download-anycgi]} + ${ERR[download-anycgi]} == 0")$( [ $((TMO[download-anycgi] + ERR[download-anycgi])) = 0 ] || echo " (anycgi had $((TMO[download-anycgi] + ERR[download-anycgi])) failed requests)") |"
	echo "| (reported) anycgi best / nginx proxy_pass to Go | $(calc "${RPS[$acbest]} / ${RPS[go-proxy]}")× ($acbest) | |"
	echo
	if [ -s "$dir/anomalies.txt" ] || [ -n "$errlines" ]; then
		echo "## Anomalies"
		echo
		[ -s "$dir/anomalies.txt" ] && sed 's/^/- /' "$dir/anomalies.txt"
		for c in $CONFIGS xfer-libfcgi xfer-anycgi; do
			[ "${ERRLOG[$c]:-0}" = 0 ] && continue
			echo "- nginx error log of $c, ${ERRLOG[$c]} lines, the first: \`$(head -n1 "$dir/ngx/error-$c.log" | sed "s|$dir|DIR|g; s/\`//g")\`"
		done
		echo
	fi
	echo "Raw per-round numbers: \`$(basename "$RAW")\` beside this file."
} >"$OUT"

log "done in ${elapsed}s; results in $OUT"
cat "$OUT"
