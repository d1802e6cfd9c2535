#!/usr/bin/env bash
# anycgi's process-manager benchmark: the four targets of `anycgi run`, in
# one run. See bench/README.md ("The process manager").
#
#  1. the manager is not in the request path: examples/hello x2 under
#     `anycgi run --workers 2` against the same program under
#     `spawn-fcgi -F 2`, behind one nginx (keepalive to the backend),
#     wrk -t2 -c32, interleaved rounds: anycgi >= 0.97 x spawn-fcgi req/s;
#  2. rolling reloads under load: wrk -t2 -c8 --latency without reloads and
#     while RELOADS reloads run (each waits for the master's "generation N
#     ready" line before the next): p99 ratio <= 2.0, no errors;
#  3. crash replacement: SIGKILL one of 4 workers KILLS times; kill ->
#     replacement blocked in epoll_wait/accept < 50 ms;
#  4. the master's VmRSS with 16 workers after some traffic < 4 MiB.
#
# Usage, as root on Debian 12, from anywhere:  ninja -C build && bench/manager.sh
#
# Settings (environment):
#   BUILD=DIR             anycgi's meson build (default: <repo>/build)
#   ROUNDS=5 DURATION=5   target 1: rounds per configuration, seconds per round
#   WARMUP=1              target 1: seconds of unrecorded warm-up each
#   CONNS=32 THREADS=2    target 1 and 4: wrk connections and threads
#   RELOAD_PAIRS=3        target 2: (no reloads, reloads) pairs of runs
#   RELOAD_DURATION=25    target 2: seconds per run (a reload takes up to
#                         a second: 20 of them need 20 s or more)
#   RELOADS=20            target 2: reloads per run
#   RELOAD_CONNS=8        target 2: wrk connections (threads: THREADS)
#   RELOAD_POST=1         target 2: then one more run with reloads, of POST
#                         requests (nginx retries a GET on another connection
#                         when a kept one fails, never a POST); 0: skip it
#   KILLS=20 KILL_INTERVAL=1  target 3: kills, seconds between them
#   CRASH_WORKERS=4       target 3: pool size
#   RSS_WORKERS=16 RSS_DURATION=5  target 4: pool size, seconds of traffic
#   BASE_PORT=28490       nginx listens on 127.0.0.1:BASE_PORT..+2
#   OUT=FILE              results (default: bench/results/manager.md; the raw
#                         numbers go to the same name with -raw.tsv)
#   KEEP_TMP=1            keep the scratch folder (configs, logs, raw output)
#
# Everything listens on 127.0.0.1 or on Unix sockets in a fresh scratch
# folder under ${TMPDIR:-/tmp}; everything started is stopped on exit (also
# on Ctrl-C): the processes it started, by pid and start time, and then any
# process whose command line names the scratch folder.
set -eEuo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
BUILD=${BUILD:-$root/build}
ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-5}
WARMUP=${WARMUP:-1}
CONNS=${CONNS:-32}
THREADS=${THREADS:-2}
RELOAD_PAIRS=${RELOAD_PAIRS:-3}
RELOAD_DURATION=${RELOAD_DURATION:-25}
RELOADS=${RELOADS:-20}
RELOAD_CONNS=${RELOAD_CONNS:-8}
RELOAD_POST=${RELOAD_POST:-1}
KILLS=${KILLS:-20}
KILL_INTERVAL=${KILL_INTERVAL:-1}
CRASH_WORKERS=${CRASH_WORKERS:-4}
RSS_WORKERS=${RSS_WORKERS:-16}
RSS_DURATION=${RSS_DURATION:-5}
BASE_PORT=${BASE_PORT:-28490}
OUT=${OUT:-$here/results/manager.md}
RAW=${OUT%.md}-raw.tsv

t_start=$(date +%s)
log() { printf '[manager %4ds] %s\n' "$(($(date +%s) - t_start))" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# ---------------------------------------------------------------- packages
install_packages() {
	local want="nginx spawn-fcgi wrk python3 curl procps iproute2"
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
# Debian's python3, not whatever a version manager puts first in PATH.
PY=/usr/bin/python3
[ -x "$PY" ] || PY=$(command -v python3)

ANYCGI=$BUILD/src/cli/anycgi
HELLO=$BUILD/examples/hello
{ [ -x "$ANYCGI" ] && [ -x "$HELLO" ]; } ||
	die "no $ANYCGI or $HELLO: run 'ninja -C build' in $root first (or set BUILD=)"

for ((i = 0; i <= 2; i++)); do
	if ss -Hltn "sport = :$((BASE_PORT + i))" | grep -q .; then
		die "port $((BASE_PORT + i)) is taken: set BASE_PORT to a free range"
	fi
done

# ---------------------------------------------------------------- cleanup
dir=$(mktemp -d "${TMPDIR:-/tmp}/acgi-mgr-bench.XXXXXX")
STARTED=$dir/started.txt # "pid starttime" of every process this started
: >"$STARTED"
CLK_TCK=$(getconf CLK_TCK)
starttime() { local s f; s=$(cat "/proc/$1/stat" 2>/dev/null) || return 1; read -r -a f <<<"${s##*) }"; echo "${f[19]}"; }
# note PID: remember a process this script started (pid + start time: a pid
# that has died may be someone else's by the time we clean up).
note() { local st; if st=$(starttime "$1"); then echo "$1 $st" >>"$STARTED"; fi; }
# ours PID STARTTIME: that process still exists, is not a zombie, and is the
# same one.
ours() {
	[ -e "/proc/$1" ] && ! grep -q '^State:.*Z' "/proc/$1/status" 2>/dev/null &&
		[ "$(starttime "$1" 2>/dev/null)" = "$2" ]
}
# Any process whose command line names the scratch folder (mktemp made the
# name unique): workers of ours that were orphaned, spawn-fcgi's children.
in_dir() {
	local f p
	for f in /proc/[0-9]*/cmdline; do
		p=${f#/proc/}; p=${p%/cmdline}
		[ "$p" = $$ ] && continue
		tr '\0' ' ' 2>/dev/null <"$f" | grep -qF "$dir/" && echo "$p"
	done
	return 0
}
masters="" nginx_pid="" bg_pid=""
cleanup() {
	local rc=$?
	set +e
	trap - EXIT INT TERM ERR
	[ -n "$bg_pid" ] && kill -TERM "$bg_pid" 2>/dev/null
	local p st i left
	# The masters stop their own workers (SIGTERM: a fast stop); nginx
	# its worker.
	while read -r p st; do
		ours "$p" "$st" && kill -TERM "$p" 2>/dev/null
	done <"$STARTED"
	for ((i = 0; i < 40; i++)); do
		left=""
		while read -r p st; do ours "$p" "$st" && left=1; done <"$STARTED"
		[ -z "$left" ] && [ -z "$(in_dir)" ] && break
		[ "$i" = 20 ] && for p in $(in_dir); do kill -TERM "$p" 2>/dev/null; done
		sleep 0.1
	done
	while read -r p st; do
		if ours "$p" "$st"; then
			log "pid $p ($(cat /proc/"$p"/comm 2>/dev/null)) is still there after SIGTERM: SIGKILL"
			kill -KILL "$p" 2>/dev/null
		fi
	done <"$STARTED"
	for p in $(in_dir); do
		log "pid $p ($(cat /proc/"$p"/comm 2>/dev/null)) is still there after SIGTERM: SIGKILL"
		kill -KILL "$p" 2>/dev/null
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
# Say where set -e stopped the run (in this shell: a failure in a command
# substitution is the caller's to judge).
trap 'if [ "$BASHPID" = $$ ]; then log "error: line $LINENO: \"$BASH_COMMAND\" failed"; fi' ERR

log "scratch folder: $dir"
mkdir -p "$dir/bin"
# The programs run from a copy: the run measures one build even if the tree
# is rebuilt meanwhile, and the copies' path names the scratch folder.
cp "$ANYCGI" "$dir/bin/anycgi"
cp "$HELLO" "$dir/bin/ac-hello"
A=$dir/bin/anycgi H=$dir/bin/ac-hello

# ---------------------------------------------------------------- helper
# The parts that need a tight loop or JSON, in Debian's python3.
cat >"$dir/helper.py" <<'PY'
import json, os, platform, re, signal, subprocess, sys, time

def children(pid):
    try:
        with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []

def exe_of(pid):
    try:
        return os.readlink("/proc/%d/exe" % pid)
    except OSError:
        return None

def start_of(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return int(f.read().rsplit(")", 1)[1].split()[19])
    except (OSError, IndexError, ValueError):
        return 1 << 62

def syscall_of(pid):
    try:
        with open("/proc/%d/syscall" % pid) as f:
            w = f.read().split()
        return int(w[0]) if w and w[0].lstrip("-").isdigit() else None
    except OSError:
        return None

def status(anycgi, addr):
    try:
        r = subprocess.run([anycgi, "status", "--json", addr], capture_output=True,
                           text=True, timeout=5)
        return json.loads(r.stdout) if r.returncode == 0 else None
    except (subprocess.SubprocessError, ValueError):
        return None

def procs(st):
    return [p for pool in (st or {}).get("pools", []) for p in pool.get("processes", [])]

def reload_run(master, logpath, n, delay, span, duration, wrk_out, tsv, wrk_cmd):
    """Runs wrk, and meanwhile n reloads (SIGHUP), the i-th sent at
    delay + i*span/n s after wrk's start or once the one before is ready,
    whichever is later; each waits for the master's "generation G ready"."""
    f = open(logpath, "rb")
    f.seek(0, 2)
    buf = b""
    rows = []
    with open(wrk_out, "wb") as wo:
        t0 = time.monotonic()
        w = subprocess.Popen(wrk_cmd, stdout=wo, stderr=subprocess.STDOUT)
        for i in range(n):
            target = t0 + delay + i * span / n
            now = time.monotonic()
            if target > now:
                time.sleep(target - now)
            if w.poll() is not None:
                break
            ts = time.monotonic()
            os.kill(master, signal.SIGHUP)
            gen, state, master_ms = None, "timeout", ""
            while time.monotonic() - ts < 15:
                buf += f.read()
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    line = line.decode("utf-8", "replace")
                    m = re.search(r"reload: starting generation (\d+)", line)
                    if m and gen is None:
                        gen = int(m.group(1))
                    m = re.search(r"reload: generation (\d+) ready in (\d+) ms", line)
                    if m and (gen is None or int(m.group(1)) == gen):
                        gen, state, master_ms = int(m.group(1)), "ready", m.group(2)
                    if "reload failed" in line:
                        state = "failed"
                if state != "timeout":
                    break
                time.sleep(0.002)
            tr = time.monotonic()
            rows.append("%d\t%s\t%s\t%s\t%.1f\t%.3f\t%d" % (
                i + 1, gen, state, master_ms, (tr - ts) * 1000, ts - t0,
                1 if tr - t0 <= duration else 0))
        rc = w.wait()
    with open(tsv, "w") as o:
        o.write("n\tgeneration\tstate\tmaster_ms\tseen_ms\tsent_at_s\twithin_run\n")
        o.write("".join(r + "\n" for r in rows))
    return rc

# The system calls a worker waits for connections in.
WAITS = {"x86_64": {232: "epoll_wait", 281: "epoll_pwait", 441: "epoll_pwait2",
                    43: "accept", 288: "accept4"},
         "aarch64": {22: "epoll_pwait", 441: "epoll_pwait2", 202: "accept",
                     242: "accept4"}}.get(platform.machine())

def waiting(pid, exe):
    """pid runs exe and is blocked where it takes connections."""
    return exe_of(pid) == exe and WAITS.get(syscall_of(pid)) is not None

def wait_procs(master, exe, n, timeout):
    """Until n children of the master run exe and wait for connections:
    from /proc only (a status request would change the master's memory)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        ready = [p for p in children(master) if waiting(p, exe)]
        if len(ready) >= n:
            print(" ".join(map(str, sorted(ready))))
            return 0
        time.sleep(0.01)
    sys.stderr.write("not %d workers waiting for connections after %ss: %s\n"
                     % (n, timeout, [(p, exe_of(p), syscall_of(p)) for p in children(master)]))
    return 1

def crash(master, exe, kills, interval, anycgi, addr, tsv, poll_s):
    """SIGKILLs the oldest worker, kills times: the time to the replacement
    existing (a new child of the master) and to it being ready (exec'd, and
    blocked in epoll_wait or accept), from /proc, polled every poll_s."""
    waits = WAITS
    out = open(tsv, "w")
    out.write("n\tkilled\treplacement\texists_ms\tready_ms\tready_in\tstatus_ready_ms\n")
    for i in range(kills):
        t_next = time.monotonic() + interval
        kids = [p for p in children(master) if exe_of(p) == exe]
        if not kids:
            sys.stderr.write("no workers\n")
            return 1
        victim = min(kids, key=start_of)
        before = set(children(master))
        t0 = time.perf_counter()
        os.kill(victim, signal.SIGKILL)
        new = None
        while new is None:
            if time.perf_counter() - t0 > 10:
                sys.stderr.write("no replacement for %d within 10 s\n" % victim)
                return 1
            for p in children(master):
                if p not in before:
                    new = p
                    break
            else:
                time.sleep(poll_s)
        t_exist = time.perf_counter() - t0
        call = None
        while True:
            if time.perf_counter() - t0 > 10:
                sys.stderr.write("replacement %d not ready within 10 s\n" % new)
                return 1
            if exe_of(new) == exe:
                call = waits.get(syscall_of(new))
                if call:
                    break
            time.sleep(poll_s)
        t_ready = time.perf_counter() - t0
        # The master's own view, for reference (a command per look: coarse).
        t_status = None
        while time.perf_counter() - t0 < 10:
            if any(p.get("pid") == new and p.get("ready") for p in procs(status(anycgi, addr))):
                t_status = time.perf_counter() - t0
                break
            time.sleep(0.005)
        out.write("%d\t%d\t%d\t%.2f\t%.2f\t%s\t%s\n" % (
            i + 1, victim, new, t_exist * 1000, t_ready * 1000, call,
            "%.1f" % (t_status * 1000) if t_status is not None else "-"))
        out.flush()
        sys.stderr.write("  kill %2d: worker %d -> %d exists after %.2f ms, in %s after %.2f ms\n"
                         % (i + 1, victim, new, t_exist * 1000, call, t_ready * 1000))
        now = time.monotonic()
        if t_next > now:
            time.sleep(t_next - now)
    return 0

cmd, args = sys.argv[1], sys.argv[2:]
if cmd == "wait-procs":
    if WAITS is None:
        sys.exit("no system call numbers for %s" % platform.machine())
    sys.exit(wait_procs(int(args[0]), args[1], int(args[2]), float(args[3])))
if cmd == "reload-run":
    sep = args.index("--")
    a = args[:sep]
    sys.exit(reload_run(int(a[0]), a[1], int(a[2]), float(a[3]), float(a[4]), float(a[5]),
                        a[6], a[7], args[sep + 1:]))
if cmd == "crash":
    sys.exit(crash(int(args[0]), args[1], int(args[2]), float(args[3]), args[4], args[5],
                   args[6], float(args[7])))
sys.exit("unknown command " + cmd)
PY

# ---------------------------------------------------------------- pools
# start_pool NAME WORKERS: `anycgi run` of hello on unix:$dir/NAME.sock,
# the master's log in $dir/NAME.log; sets MASTER[NAME]; returns once every
# worker waits for connections (seen in /proc: no status request is made,
# since one changes the master's memory, see target 4).
declare -A MASTER
start_pool() {
	local name=$1 n=$2
	"$A" run --fastcgi "unix:$dir/$name.sock" --workers "$n" -- "$H" \
		>>"$dir/$name.log" 2>&1 </dev/null &
	MASTER[$name]=$!
	note "$!"
	masters="$masters $!"
	"$PY" "$dir/helper.py" wait-procs "$!" "$H" "$n" 20 >/dev/null ||
		die "$name: $n workers not ready ($(tail -n 5 "$dir/$name.log"))"
}
# workers_of PID: its children's pids, on one line.
# shellcheck disable=SC2086
workers_of() { local k; k=$(cat "/proc/$1/task/$1/children" 2>/dev/null) || true; echo $k; }
vm() { awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/status" 2>/dev/null; }

log "starting anycgi run --workers 2 and spawn-fcgi -F 2 (both of $HELLO)"
start_pool ac 2
# spawn-fcgi -F 2 forks the two copies and exits: their pids from its output.
spawn-fcgi -s "$dir/sf.sock" -M 0666 -F 2 -- "$H" >"$dir/sf.log" 2>&1 </dev/null ||
	die "spawn-fcgi failed: $(cat "$dir/sf.log")"
SF_PIDS=$(sed -n 's/.*PID: \([0-9]*\).*/\1/p' "$dir/sf.log")
[ "$(echo "$SF_PIDS" | wc -w)" = 2 ] || die "spawn-fcgi: $(cat "$dir/sf.log")"
for p in $SF_PIDS; do note "$p"; done
AC_PIDS=$(workers_of "${MASTER[ac]}")
rss_ac_start=$(vm "${MASTER[ac]}" VmRSS)

# ---------------------------------------------------------------- nginx
mkdir -p "$dir/ngx"
cat >"$dir/ngx/nginx.conf" <<CONF
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
    keepalive_requests 1000000;
    upstream up_ac  { server unix:$dir/ac.sock;  keepalive $CONNS; keepalive_requests 1000000; }
    upstream up_sf  { server unix:$dir/sf.sock;  keepalive $CONNS; keepalive_requests 1000000; }
    upstream up_rss { server unix:$dir/rss.sock; keepalive $CONNS; keepalive_requests 1000000; }
    server { listen 127.0.0.1:$BASE_PORT; error_log $dir/ngx/error-ac.log error;
        location / { include /etc/nginx/fastcgi_params; fastcgi_pass up_ac; fastcgi_keep_conn on; } }
    server { listen 127.0.0.1:$((BASE_PORT + 1)); error_log $dir/ngx/error-sf.log error;
        location / { include /etc/nginx/fastcgi_params; fastcgi_pass up_sf; fastcgi_keep_conn on; } }
    server { listen 127.0.0.1:$((BASE_PORT + 2)); error_log $dir/ngx/error-rss.log error;
        location / { include /etc/nginx/fastcgi_params; fastcgi_pass up_rss; fastcgi_keep_conn on; } }
}
CONF
nginx -t -q -p "$dir/ngx" -c "$dir/ngx/nginx.conf" -e "$dir/ngx/error.log" ||
	die "nginx -t failed: $dir/ngx/nginx.conf"
nginx -p "$dir/ngx" -c "$dir/ngx/nginx.conf" -e "$dir/ngx/error.log" &
nginx_pid=$!
note "$nginx_pid"
worker=""
for ((i = 0; i < 50; i++)); do
	worker=$(workers_of "$nginx_pid" | awk '{print $1}')
	[ -n "$worker" ] && curl -s -o /dev/null "http://127.0.0.1:$BASE_PORT/" && break
	sleep 0.1
done
[ -n "$worker" ] || die "nginx did not start: $(cat "$dir/ngx/error.log")"
note "$worker"
PORT_AC=$BASE_PORT PORT_SF=$((BASE_PORT + 1)) PORT_RSS=$((BASE_PORT + 2))
for port in $PORT_AC $PORT_SF; do
	body=$(curl -s --max-time 5 -w '\n%{http_code}' "http://127.0.0.1:$port/") || die "curl :$port failed"
	[ "$body" = $'Hello, world!\n\n200' ] || die ":$port answered $(printf %q "$body")"
done

# ---------------------------------------------------------------- wrk
cat >"$dir/report.lua" <<'LUA'
done = function(s, latency, requests)
  local e = s.errors
  io.write(string.format(
    "RESULT\t%d\t%d\t%.2f\t%.0f\t%.0f\t%.0f\t%.1f\t%d\t%d\t%d\t%d\t%d\n",
    s.requests, s.duration, s.requests / (s.duration / 1e6),
    latency:percentile(50), latency:percentile(99), latency.max, latency.mean,
    e.connect, e.read, e.write, e.status, e.timeout))
end
LUA
# The raw numbers, one per line: phase, configuration, round, metric, value.
printf 'phase\tconfig\tround\tmetric\tvalue\n' >"$dir/raw.tsv"
rec() { printf '%s\t%s\t%s\t%s\t%s\n' "$@" >>"$dir/raw.tsv"; }
# wrk_record FILE PHASE CONFIG ROUND: wrk's RESULT line into raw.tsv.
WRK_NAMES="requests duration_us rps p50_us p99_us max_us mean_us err_connect err_read err_write err_status err_timeout"
wrk_record() {
	local res i=0 v
	res=$(grep '^RESULT' "$1" | cut -f2-) || die "no result from wrk: $(cat "$1")"
	# shellcheck disable=SC2086
	set -- "$2" "$3" "$4" $res
	local ph=$1 c=$2 r=$3
	shift 3
	for v in $WRK_NAMES; do rec "$ph" "$c" "$r" "$v" "$1"; shift; done
	LAST=$(printf '%s' "$res" | awk -F'\t' '{printf "%8.0f req/s  p50 %6.2f ms  p99 %6.2f ms  max %7.2f ms  errors %d (non-2xx %d, timeouts %d)", $3, $4/1000, $5/1000, $6/1000, $8+$9+$10+$11+$12, $11, $12}')
}
# ticks PID...: utime+stime (CPU clock ticks) of these processes.
ticks() {
	local p t=0 s f
	for p in "$@"; do
		s=$(cat "/proc/$p/stat" 2>/dev/null) || continue
		read -r -a f <<<"${s##*) }"
		t=$((t + f[11] + f[12]))
	done
	echo "$t"
}
# The machine may be shared: CPU used by processes other than this run's
# while it measured. Ours: nginx, every process naming the scratch folder
# (with the CPU of the children they reaped: the masters' workers gone by
# reload or kill), and this shell's reaped children (wrk, the helper).
machine_busy() { awk '$1 == "cpu" {print $2 + $3 + $4 + $7 + $8 + $9; exit}' /proc/stat; }
own_ticks() {
	local t=0 p s f
	for p in $(in_dir) "$worker"; do
		s=$(cat "/proc/$p/stat" 2>/dev/null) || continue
		read -r -a f <<<"${s##*) }"
		t=$((t + f[11] + f[12] + f[13] + f[14]))
	done
	times >"$dir/times.txt"
	awk -v t="$t" -v hz="$CLK_TCK" '{ for (i = 1; i <= 2; i++) { split($i, a, /[ms]/); s += a[1] * 60 + a[2] } }
		END { printf "%d\n", t + s * hz }' "$dir/times.txt"
}
errlines() { grep -c . "$dir/ngx/error-$1.log" 2>/dev/null || true; }
# spread NAME: how nginx's kept connections to unix:$dir/NAME.sock are spread
# over the processes that accepted them, largest first ("30+2"): a worker
# takes every connection it can accept, and with keep_conn the spread stays.
spread() {
	ss -xpn 2>/dev/null | awk -v s="$dir/$1.sock" '$2 == "ESTAB" && $5 == s && match($0, /pid=[0-9]+/) {
		n[substr($0, RSTART + 4, RLENGTH - 4)]++ }
		END { for (p in n) print n[p] }' | sort -rn | paste -sd+ -
}

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
own0=$(own_ticks) busy0=$(machine_busy) wall0=$(date +%s.%N)

# nginx_fresh: a new nginx worker (SIGHUP), so that the next run opens new
# connections to the backend. Which worker accepts which of nginx's
# connections is decided when they are opened (all processes wait on the
# one socket), and with keep_conn it then holds for as long as they stay
# open: a round is an independent sample only with connections of its own.
nginx_fresh() {
	local old=$worker i kids
	kill -HUP "$nginx_pid"
	for ((i = 0; i < 100; i++)); do
		kids=$(workers_of "$nginx_pid")
		if [ "$(echo "$kids" | wc -w)" = 1 ] && [ "$kids" != "$old" ]; then
			worker=$(echo "$kids" | tr -d ' ')
			note "$worker"
			return 0
		fi
		sleep 0.05
	done
	die "nginx did not replace its worker after SIGHUP: $(tail -n 3 "$dir/ngx/error.log")"
}

# ---------------------------------------------------------------- target 1
log "target 1: hello x2 through nginx (keepalive), anycgi run vs spawn-fcgi -F 2: $ROUNDS rounds x 2 x (a fresh nginx worker, ${WARMUP}s warm-up, ${DURATION}s), wrk -t$THREADS -c$CONNS"
declare -A T1PORT=([anycgi-run]=$PORT_AC [spawn-fcgi]=$PORT_SF)
declare -A T1PIDS=([anycgi-run]="$AC_PIDS" [spawn-fcgi]="$SF_PIDS")
declare -A T1SOCK=([anycgi-run]=ac [spawn-fcgi]=sf)
t1_run() { # CONFIG ROUND SECONDS
	local c=$1 r=$2 b0 b1 m0 m1 n0 n1
	# shellcheck disable=SC2086
	b0=$(ticks ${T1PIDS[$c]}) m0=$(ticks "${MASTER[ac]}") n0=$(ticks "$worker")
	wrk -t"$THREADS" -c"$CONNS" -d"${3}s" --timeout 2s --latency -s "$dir/report.lua" \
		"http://127.0.0.1:${T1PORT[$c]}/" >"$dir/wrk-t1-$c-$r.txt" 2>&1 ||
		die "wrk failed: $(cat "$dir/wrk-t1-$c-$r.txt")"
	# shellcheck disable=SC2086
	b1=$(ticks ${T1PIDS[$c]}) m1=$(ticks "${MASTER[ac]}") n1=$(ticks "$worker")
	wrk_record "$dir/wrk-t1-$c-$r.txt" hello "$c" "$r"
	rec hello "$c" "$r" worker_ticks $((b1 - b0))
	rec hello "$c" "$r" nginx_ticks $((n1 - n0))
	# The anycgi master's own CPU, whichever configuration runs.
	rec hello "$c" "$r" ac_master_ticks $((m1 - m0))
	sp=$(spread "${T1SOCK[$c]}")
	rec hello "$c" "$r" conns_split "${sp:-0}"
	log "$(printf 'hello  %-10s round %-6s %s  conns %s' "$c" "$r" "$LAST" "$sp")"
}
for ((r = 1; r <= ROUNDS; r++)); do
	# Interleaved, and the order alternates from round to round.
	if ((r % 2)); then order="anycgi-run spawn-fcgi"; else order="spawn-fcgi anycgi-run"; fi
	for c in $order; do
		nginx_fresh
		t1_run "$c" "warmup$r" "$WARMUP"
		t1_run "$c" "$r" "$DURATION"
	done
done
for p in $AC_PIDS $SF_PIDS; do
	[ -e "/proc/$p" ] || echo "target 1: backend process $p is gone after the hello rounds" >>"$dir/anomalies.txt"
done

# ---------------------------------------------------------------- target 2
log "target 2: $RELOAD_PAIRS pairs of ${RELOAD_DURATION}s wrk -t$THREADS -c$RELOAD_CONNS --latency runs on the same anycgi pool, without and with $RELOADS reloads (SIGHUP)"
rss_ac_before_reloads=$(vm "${MASTER[ac]}" VmRSS)
errlog_t2_from=$(($(errlines ac) + 1))
reload_span=$(awk -v d="$RELOAD_DURATION" 'BEGIN { s = d - 3; print (s < 1 ? 1 : s) }')
wrk_t2=(wrk -t"$THREADS" -c"$RELOAD_CONNS" -d"${RELOAD_DURATION}s" --timeout 2s --latency -s "$dir/report.lua" "http://127.0.0.1:$PORT_AC/")
for ((r = 1; r <= RELOAD_PAIRS; r++)); do
	nginx_fresh
	wrk -t"$THREADS" -c"$RELOAD_CONNS" -d"${WARMUP}s" -s "$dir/report.lua" "http://127.0.0.1:$PORT_AC/" >/dev/null 2>&1 ||
		die "wrk failed (warm-up)"
	e0=$(errlines ac)
	"${wrk_t2[@]}" >"$dir/wrk-t2-base-$r.txt" 2>&1 || die "wrk failed: $(cat "$dir/wrk-t2-base-$r.txt")"
	wrk_record "$dir/wrk-t2-base-$r.txt" reload base "$r"
	rec reload base "$r" nginx_errlog_lines $(($(errlines ac) - e0))
	sp=$(spread ac)
	rec reload base "$r" conns_split "${sp:-0}"
	log "$(printf 'reload base          pair %-2s %s  conns %s' "$r" "$LAST" "$sp")"
	e0=$(errlines ac)
	"$PY" "$dir/helper.py" reload-run "${MASTER[ac]}" "$dir/ac.log" "$RELOADS" 1 "$reload_span" \
		"$RELOAD_DURATION" "$dir/wrk-t2-reload-$r.txt" "$dir/reloads-$r.tsv" -- "${wrk_t2[@]}" &
	bg_pid=$!
	wait "$bg_pid" || die "wrk or the reloads failed: $(cat "$dir/wrk-t2-reload-$r.txt")"
	bg_pid=""
	wrk_record "$dir/wrk-t2-reload-$r.txt" reload reloads "$r"
	rec reload reloads "$r" nginx_errlog_lines $(($(errlines ac) - e0))
	sp=$(spread ac)
	rec reload reloads "$r" conns_split "${sp:-0}"
	read -r sent ready within mmed mmax < <(awk -F'\t' 'NR > 1 { n++; if ($3 == "ready") { k++; m[k] = $4; if ($7) w++ } }
		END { for (i = 2; i <= k; i++) for (j = i; j > 1 && m[j-1] > m[j]; j--) { t = m[j]; m[j] = m[j-1]; m[j-1] = t }
			printf "%d %d %d %s %s\n", n, k, w, k ? m[int((k+1)/2)] : "-", k ? m[k] : "-" }' "$dir/reloads-$r.tsv")
	rec reload reloads "$r" reloads_sent "$sent"
	rec reload reloads "$r" reloads_ready "$ready"
	rec reload reloads "$r" reloads_ready_within_run "$within"
	tail -n +2 "$dir/reloads-$r.tsv" | while IFS=$'\t' read -r n gen state mms _; do
		rec reload-each "pair$r" "$n" "gen${gen}_${state}_ready_ms" "${mms:--}"
	done
	log "$(printf 'reload %2d reloads    pair %-2s %s  conns %s' "$ready" "$r" "$LAST" "$sp")"
	log "  reloads: $sent sent, $ready ready ($within within the run), master's 'ready in' median $mmed ms, max $mmax ms"
done
# errlog_summary FROM OUT: nginx's error-log lines of the ac server from
# line FROM on, without time, pids and client, counted.
errlog_summary() {
	tail -n +"$1" "$dir/ngx/error-ac.log" |
		sed -E 's/^[0-9\/]+ [0-9:]+ \[[a-z]+\] [0-9]+#[0-9]+: (\*[0-9]+ )?//; s/, client: .*//; s|'"$dir"'|DIR|g' |
		sort | uniq -c | sort -rn >"$2"
}
errlog_summary "$errlog_t2_from" "$dir/errlog-t2.txt"
if [ "$RELOAD_POST" = 1 ]; then
	log "target 2, POST: ${RELOAD_DURATION}s of POST requests (wrk -t$THREADS -c$RELOAD_CONNS) while $RELOADS reloads run"
	{
		printf 'wrk.method = "POST"\nwrk.body = "name=value"\n'
		printf 'wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"\n'
		cat "$dir/report.lua"
	} >"$dir/post.lua"
	e0=$(errlines ac)
	"$PY" "$dir/helper.py" reload-run "${MASTER[ac]}" "$dir/ac.log" "$RELOADS" 1 "$reload_span" \
		"$RELOAD_DURATION" "$dir/wrk-t2-post.txt" "$dir/reloads-post.tsv" -- \
		wrk -t"$THREADS" -c"$RELOAD_CONNS" -d"${RELOAD_DURATION}s" --timeout 2s --latency \
		-s "$dir/post.lua" "http://127.0.0.1:$PORT_AC/" &
	bg_pid=$!
	wait "$bg_pid" || die "wrk or the reloads failed: $(cat "$dir/wrk-t2-post.txt")"
	bg_pid=""
	wrk_record "$dir/wrk-t2-post.txt" reload-post reloads 1
	rec reload-post reloads 1 nginx_errlog_lines $(($(errlines ac) - e0))
	rec reload-post reloads 1 reloads_sent "$(tail -n +2 "$dir/reloads-post.tsv" | grep -c . || true)"
	post_ready=$(awk -F'\t' 'NR > 1 && $3 == "ready"' "$dir/reloads-post.tsv" | grep -c . || true)
	rec reload-post reloads 1 reloads_ready "$post_ready"
	errlog_summary "$((e0 + 1))" "$dir/errlog-post.txt"
	log "$(printf 'reload POST, %2s reloads      %s' "$post_ready" "$LAST")"
fi
rss_ac_after=$(vm "${MASTER[ac]}" VmRSS)
gens_ac=$(grep -c 'reload: generation [0-9]* ready' "$dir/ac.log" || true)

# ---------------------------------------------------------------- target 3
log "target 3: anycgi run --workers $CRASH_WORKERS; SIGKILL the oldest worker $KILLS times, ${KILL_INTERVAL}s apart"
start_pool crash "$CRASH_WORKERS"
sleep 1.2 # every worker older than the master's start grace (1 s)
"$PY" "$dir/helper.py" crash "${MASTER[crash]}" "$H" "$KILLS" "$KILL_INTERVAL" "$A" \
	"unix:$dir/crash.sock" "$dir/crash.tsv" 0.0001 &
bg_pid=$!
wait "$bg_pid" || die "the crash measurement failed"
bg_pid=""
tail -n +2 "$dir/crash.tsv" | while IFS=$'\t' read -r n _ _ ex rd _ st; do
	rec crash kill "$n" exists_ms "$ex"
	rec crash kill "$n" ready_ms "$rd"
	rec crash kill "$n" status_ready_ms "$st"
done
crash_calls=$(tail -n +2 "$dir/crash.tsv" | cut -f6 | sort | uniq -c | awk '{printf "%s%s %d times", (NR > 1 ? ", " : ""), $2, $1}')
crash_alive=$(workers_of "${MASTER[crash]}" | wc -w)
rss_crash=$(vm "${MASTER[crash]}" VmRSS)
log "  $crash_alive workers alive after the kills; master VmRSS $rss_crash kB"
kill -TERM "${MASTER[crash]}" 2>/dev/null || true

# ---------------------------------------------------------------- target 4
log "target 4: anycgi run --workers $RSS_WORKERS, ${RSS_DURATION}s of traffic, then the master's VmRSS"
start_pool rss "$RSS_WORKERS"
rss_idle=$(vm "${MASTER[rss]}" VmRSS)
wrk -t"$THREADS" -c"$CONNS" -d"${RSS_DURATION}s" --timeout 2s --latency -s "$dir/report.lua" \
	"http://127.0.0.1:$PORT_RSS/" >"$dir/wrk-t4.txt" 2>&1 || die "wrk failed: $(cat "$dir/wrk-t4.txt")"
wrk_record "$dir/wrk-t4.txt" rss traffic 1
log "$(printf 'rss    x%-9s         %s' "$RSS_WORKERS" "$LAST")"
sleep 1.5 # a sampling tick of the master after the traffic
RSSW=$(workers_of "${MASTER[rss]}")
rss_master=$(vm "${MASTER[rss]}" VmRSS) hwm_master=$(vm "${MASTER[rss]}" VmHWM) anon_master=$(vm "${MASTER[rss]}" RssAnon)
pss_master=$(awk '$1 == "Pss:" {print $2}' "/proc/${MASTER[rss]}/smaps_rollup" 2>/dev/null || echo -)
# Then what `anycgi status` (a monitoring poll) does to it: three requests.
for ((i = 0; i < 3; i++)); do
	"$A" status --json "unix:$dir/rss.sock" >"$dir/status-rss.json" ||
		echo "target 4: anycgi status --json failed" >>"$dir/anomalies.txt"
done
rss_status=$(vm "${MASTER[rss]}" VmRSS) anon_status=$(vm "${MASTER[rss]}" RssAnon)
rss_workers=$(for p in $RSSW; do vm "$p" VmRSS; done | sort -n)
nw=$(echo "$rss_workers" | grep -c . || true)
rss_worker_med=$(echo "$rss_workers" | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}')
pss_worker_med=$(for p in $RSSW; do awk '$1 == "Pss:" {print $2}' "/proc/$p/smaps_rollup" 2>/dev/null; done |
	sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}')
rec rss master 1 VmRSS_kB "$rss_master"
rec rss master 1 VmHWM_kB "$hwm_master"
rec rss master 1 RssAnon_kB "$anon_master"
rec rss master 1 Pss_kB "$pss_master"
rec rss master 1 VmRSS_idle_kB "$rss_idle"
rec rss master 1 VmRSS_after_3_status_kB "$rss_status"
rec rss master 1 RssAnon_after_3_status_kB "$anon_status"
rec rss worker median VmRSS_kB "$rss_worker_med"
rec rss worker median Pss_kB "$pss_worker_med"
rec rss ac-master 1 VmRSS_start_kB "$rss_ac_start"
rec rss ac-master 1 VmRSS_before_reloads_kB "$rss_ac_before_reloads"
rec rss ac-master 1 VmRSS_after_reloads_kB "$rss_ac_after"
rec rss crash-master 1 VmRSS_after_kills_kB "$rss_crash"
log "  master VmRSS $rss_master kB (VmHWM $hwm_master, before the traffic $rss_idle, after 3 status requests $rss_status); $nw workers, median VmRSS $rss_worker_med kB"

own1=$(own_ticks) busy1=$(machine_busy) wall1=$(date +%s.%N)
others=$(awk -v b="$((busy1 - busy0))" -v o="$((own1 - own0))" -v w0="$wall0" -v w1="$wall1" -v hz="$CLK_TCK" -v n="$(nproc)" \
	'BEGIN { x = (b - o) / ((w1 - w0) * hz * n) * 100; printf "%.0f", x < 0 ? 0 : x }')
load_after=$(cut -d' ' -f1-3 /proc/loadavg)
log "other processes on the machine used about ${others}% of its CPU while this measured"

# ---------------------------------------------------------------- report
mkdir -p "$(dirname "$OUT")"
cp "$dir/raw.tsv" "$RAW"
# agg PHASE CONFIG METRIC FUNC: FUNC (med, max, min, sum, n) of METRIC over
# the rounds (the warm-up excluded).
agg() {
	awk -F'\t' -v ph="$1" -v c="$2" -v m="$3" -v fn="$4" '
	$1 == ph && $2 == c && $4 == m && $3 !~ /^warmup/ && $5 != "-" { n++; a[n] = $5 + 0; s += $5 }
	END {
		if (!n) { print "-"; exit }
		for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j-1] > a[j]; j--) { t = a[j]; a[j] = a[j-1]; a[j-1] = t }
		if (fn == "med") v = n % 2 ? a[(n+1)/2] : (a[n/2] + a[n/2+1]) / 2
		else if (fn == "max") v = a[n]; else if (fn == "min") v = a[1]
		else if (fn == "sum") v = s; else v = n
		print v
	}' "$dir/raw.tsv"
}
calc() { awk "BEGIN { printf \"%.${2:-2}f\", $1 }" 2>/dev/null || echo -; }
ok() { if awk "BEGIN{exit !($*)}"; then echo "**met**"; else echo "**NOT met**"; fi; }
ms() { calc "$1 / 1000" "${2:-2}"; }

# Target 1.
rps_ac=$(agg hello anycgi-run rps med) rps_sf=$(agg hello spawn-fcgi rps med)
ratio1=$(calc "$rps_ac / $rps_sf" 3)
# The same, round by round (the two runs of a round are next to each other
# in time, so they share the machine's mood): median, min and max.
read -r pr_med pr_min pr_max < <(awk -F'\t' '$1 == "hello" && $3 !~ /^warmup/ && $4 == "rps" { v[$2, $3] = $5; r[$3] = 1 }
	END { for (k in r) if (v["spawn-fcgi", k] > 0) a[++n] = v["anycgi-run", k] / v["spawn-fcgi", k]
		for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j-1] > a[j]; j--) { t = a[j]; a[j] = a[j-1]; a[j-1] = t }
		if (n) printf "%.3f %.3f %.3f\n", n % 2 ? a[(n+1)/2] : (a[n/2] + a[n/2+1]) / 2, a[1], a[n]; else print "- - -" }' "$dir/raw.tsv")
errs1() { awk -F'\t' -v c="$1" '$1 == "hello" && $2 == c && $3 !~ /^warmup/ && $4 ~ /^err_/ { s += $5 } END { print s + 0 }' "$dir/raw.tsv"; }
cpu_per_req() { # CONFIG TICKS-METRIC: µs per request over the rounds
	calc "$(agg hello "$1" "$2" sum) * 1000000 / $CLK_TCK / $(agg hello "$1" requests sum)"
}
ac_master_ms=$(calc "$(agg hello anycgi-run ac_master_ticks sum) * 1000 / $CLK_TCK" 0)
ac_secs=$((ROUNDS * DURATION))

# Target 2: per pair, the ratio of the p99s.
declare -a R2
worst2=0 worst2_pair=0 err2=0 tmo2=0 ready2=0 sent2=0 within2=0 errlog2=0
for ((r = 1; r <= RELOAD_PAIRS; r++)); do
	b=$(awk -F'\t' -v r="$r" '$1 == "reload" && $2 == "base" && $3 == r && $4 == "p99_us" {print $5}' "$dir/raw.tsv")
	x=$(awk -F'\t' -v r="$r" '$1 == "reload" && $2 == "reloads" && $3 == r && $4 == "p99_us" {print $5}' "$dir/raw.tsv")
	R2[$r]=$(calc "$x / $b" 2)
	if awk "BEGIN{exit !(${R2[$r]} > $worst2)}"; then worst2=${R2[$r]} worst2_pair=$r; fi
done
get2() { awk -F'\t' -v m="$1" -v c="${2:-reloads}" '$1 == "reload" && $2 == c && $4 == m { s += $5 } END { print s + 0 }' "$dir/raw.tsv"; }
err2=$(($(get2 err_connect) + $(get2 err_read) + $(get2 err_write) + $(get2 err_status)))
tmo2=$(get2 err_timeout)
nonok2=$(get2 err_status)
sock2=$(($(get2 err_connect) + $(get2 err_read) + $(get2 err_write)))
ready2=$(get2 reloads_ready) sent2=$(get2 reloads_sent) within2=$(get2 reloads_ready_within_run)
errlog2=$(get2 nginx_errlog_lines)
errbase2=$(($(get2 err_connect base) + $(get2 err_read base) + $(get2 err_write base) + $(get2 err_status base) + $(get2 err_timeout base)))
p99b_med=$(agg reload base p99_us med) p99x_med=$(agg reload reloads p99_us med)
ratio2_med=$(printf '%s\n' "${R2[@]}" | sort -g | awk '{a[NR] = $1} END {print NR % 2 ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}')
reload_ms=$(cat "$dir"/reloads-*.tsv | awk -F'\t' '$3 == "ready" { n++; a[n] = $4 }
	END { for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j-1] > a[j]; j--) { t = a[j]; a[j] = a[j-1]; a[j-1] = t }
		if (n) printf "median %d ms, min %d, max %d", a[int((n+1)/2)], a[1], a[n] }')
pair_cells=$(for ((r = 1; r <= RELOAD_PAIRS; r++)); do
	printf '%s%s / %s ms = %s' "$([ "$r" -gt 1 ] && echo '; ')" \
		"$(ms "$(awk -F'\t' -v r="$r" '$1 == "reload" && $2 == "reloads" && $3 == r && $4 == "p99_us" {print $5}' "$dir/raw.tsv")")" \
		"$(ms "$(awk -F'\t' -v r="$r" '$1 == "reload" && $2 == "base" && $3 == r && $4 == "p99_us" {print $5}' "$dir/raw.tsv")")" "${R2[$r]}"
done)

# Target 3.
ex_med=$(agg crash kill exists_ms med) ex_max=$(agg crash kill exists_ms max)
rd_med=$(agg crash kill ready_ms med) rd_max=$(agg crash kill ready_ms max) rd_min=$(agg crash kill ready_ms min)
st_med=$(agg crash kill status_ready_ms med) st_max=$(agg crash kill status_ready_ms max)
nk=$(agg crash kill ready_ms n)

rev=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)
git -C "$root" --no-optional-locks diff --quiet HEAD -- src include examples 2>/dev/null || rev="$rev (+ uncommitted changes)"
elapsed=$(($(date +%s) - t_start))
kib2mib() { calc "$1 / 1024" 2; }

{
	echo "# anycgi process-manager benchmark results"
	echo
	echo "Run $(date -u '+%Y-%m-%d %H:%M UTC') by \`bench/manager.sh\` (anycgi $rev), in ${elapsed}s."
	echo
	echo "| machine | |"
	echo "| --- | --- |"
	echo "| cores (nproc) | $(nproc) |"
	echo "| CPU | $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1) |"
	echo "| memory | $(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo) |"
	echo "| kernel | $(uname -sr) ($(uname -m)) |"
	echo "| OS | $(. /etc/os-release && echo "$PRETTY_NAME") |"
	echo "| load average before / after the measurements | $load_before / $load_after |"
	echo "| CPU used by other processes while this measured | about ${others}% of the $(nproc) cores (0% = a quiet machine) |"
	echo "| nginx | $(nginx -v 2>&1 | sed 's/^nginx version: //') (worker_processes 1, access_log off, \`fastcgi_keep_conn on\` to an upstream with \`keepalive $CONNS\`) |"
	echo "| wrk | $(wrk -v 2>&1 | head -n1 | awk '{print $2}') |"
	echo "| spawn-fcgi | $(dpkg-query -W -f='${Version}' spawn-fcgi) |"
	echo
	echo "## Targets"
	echo
	echo "| target | measured | peer | ratio | met? |"
	echo "| --- | --- | --- | ---: | --- |"
	echo "| 1. the manager is not in the request path: hello x2 req/s, \`anycgi run --workers 2\` ≥ 0.97 × \`spawn-fcgi -F 2\` (median of $ROUNDS rounds) | $(calc "$rps_ac" 0) req/s (p99 $(ms "$(agg hello anycgi-run p99_us med)") ms) | $(calc "$rps_sf" 0) req/s (p99 $(ms "$(agg hello spawn-fcgi p99_us med)") ms) | $ratio1 (round by round: median $pr_med, $pr_min to $pr_max) | $(ok "$rps_ac >= 0.97 * $rps_sf") |"
	echo "| 2a. reload: p99 with $RELOADS reloads per ${RELOAD_DURATION}s run ≤ 2 × p99 without (median of $RELOAD_PAIRS pairs) | p99 $(ms "$p99x_med") ms | p99 $(ms "$p99b_med") ms (no reloads) | $(calc "$ratio2_med" 2) | $(ok "$ratio2_med <= 2.0") |"
	echo "| 2b. the same, worst of the $RELOAD_PAIRS pairs | pair $worst2_pair | pairs: $pair_cells | $worst2 | $(ok "$worst2 <= 2.0") |"
	echo "| 2c. reload: no failed requests (wrk's non-2xx and socket errors, all runs with reloads) | $nonok2 non-2xx, $sock2 socket errors, $tmo2 timeouts, $errlog2 nginx error-log lines; $ready2 of $sent2 reloads ready ($within2 within the runs) | 0 | - | $(ok "$err2 + $tmo2 == 0 && $ready2 == $RELOAD_PAIRS * $RELOADS") |"
	if [ "$RELOAD_POST" = 1 ]; then
		gp() { awk -F'\t' -v m="$1" '$1 == "reload-post" && $4 == m { s += $5 } END { print s + 0 }' "$dir/raw.tsv"; }
		ep=$(($(gp err_connect) + $(gp err_read) + $(gp err_write) + $(gp err_status) + $(gp err_timeout)))
		echo "| 2d. reload: no failed requests, POST requests ($RELOADS reloads, ${RELOAD_DURATION}s) | $(gp err_status) non-2xx of $(gp requests) requests, $(($(gp err_connect) + $(gp err_read) + $(gp err_write))) socket errors, $(gp err_timeout) timeouts, $(gp nginx_errlog_lines) nginx error-log lines; $(gp reloads_ready) of $(gp reloads_sent) reloads ready | 0 | - | $(ok "$ep == 0") |"
	fi
	echo "| 3. crash: SIGKILL of a worker → replacement ready (blocked in epoll_wait/accept) < 50 ms, $nk kills | median $(calc "$rd_med" 2) ms, max $(calc "$rd_max" 2) ms (exists: median $(calc "$ex_med" 2), max $(calc "$ex_max" 2) ms) | - | - | $(ok "$rd_max < 50 && $nk == $KILLS") |"
	echo "| 4a. master VmRSS with $RSS_WORKERS workers after ${RSS_DURATION}s of traffic < 4 MiB | $(kib2mib "$rss_master") MiB ($rss_master kB; VmHWM $hwm_master kB) | none: spawn-fcgi exits after forking (one worker here: $(kib2mib "$rss_worker_med") MiB) | - | $(ok "$rss_master < 4096") |"
	echo "| 4b. the same master after 3 \`anycgi status --json\` requests < 4 MiB | $(kib2mib "$rss_status") MiB ($rss_status kB; RssAnon $anon_master → $anon_status kB) | - | - | $(ok "$rss_status < 4096") |"
	echo
	echo "## 1. Hello through nginx: \`anycgi run\` against \`spawn-fcgi\` (median of $ROUNDS rounds)"
	echo
	echo "The same binary (\`examples/hello\`, copied into a scratch folder), two processes each,"
	echo "on a Unix socket; nginx (one worker) keeps up to $CONNS FastCGI connections open to it."
	echo "\`wrk -t$THREADS -c$CONNS --latency\` for ${DURATION}s per round; rounds interleaved (round 1 of both,"
	echo "then round 2...), the order alternating from round to round. Before each round nginx gets a"
	echo "new worker (SIGHUP) and a ${WARMUP}s unrecorded warm-up, so each round opens its own connections"
	echo "to the backend (see the last column)."
	echo
	echo "| configuration | req/s (median) | min / max of rounds | p50 ms | p99 ms (median / worst round) | errors | worker CPU µs/req | nginx CPU µs/req | kept connections per worker, by round |"
	echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"
	for c in anycgi-run spawn-fcgi; do
		echo "| $c | $(calc "$(agg hello "$c" rps med)" 0) | $(calc "$(agg hello "$c" rps min)" 0) / $(calc "$(agg hello "$c" rps max)" 0) | $(ms "$(agg hello "$c" p50_us med)") | $(ms "$(agg hello "$c" p99_us med)") / $(ms "$(agg hello "$c" p99_us max)") | $(errs1 "$c") | $(cpu_per_req "$c" worker_ticks) | $(cpu_per_req "$c" nginx_ticks) | $(awk -F'\t' -v c="$c" '$1 == "hello" && $2 == c && $3 !~ /^warmup/ && $4 == "conns_split" {printf "%s%s", (n++ ? ", " : ""), $5}' "$dir/raw.tsv") |"
	done
	echo
	echo "Per round (req/s, anycgi-run / spawn-fcgi): $(for ((r = 1; r <= ROUNDS; r++)); do
		printf '%s%s / %s' "$([ "$r" -gt 1 ] && echo ', ')" \
			"$(awk -F'\t' -v r="$r" '$1 == "hello" && $2 == "anycgi-run" && $3 == r && $4 == "rps" {printf "%.0f", $5}' "$dir/raw.tsv")" \
			"$(awk -F'\t' -v r="$r" '$1 == "hello" && $2 == "spawn-fcgi" && $3 == r && $4 == "rps" {printf "%.0f", $5}' "$dir/raw.tsv")"
	done)."
	echo
	echo "The anycgi master used ${ac_master_ms} ms of CPU over the ${ac_secs}s of its timed rounds"
	echo "(utime+stime from /proc, clock ticks of 1/${CLK_TCK} s): it sampled its workers, and answered no request."
	echo "Worker CPU: utime+stime of the two backend processes before and after each round, over the requests."
	echo "Kept connections per worker: nginx's connections to the backend socket after the round, by the"
	echo "process that accepted them (\`ss -xp\`): with keep_conn a connection stays with the worker that"
	echo "accepted it, so an uneven spread leaves one worker with most of the load (and the p99)."
	echo
	echo "## 2. Rolling reloads under load"
	echo
	echo "The same \`anycgi run --workers 2\` pool behind the same nginx. Each pair: \`wrk -t$THREADS -c$RELOAD_CONNS --latency\`"
	echo "for ${RELOAD_DURATION}s without reloads (after a new nginx worker and a ${WARMUP}s warm-up), then"
	echo "${RELOAD_DURATION}s while $RELOADS reloads run: SIGHUP to the master, one"
	echo "every $(calc "$reload_span / $RELOADS" 2) s from 1 s after wrk's start, each sent only once the master has logged the"
	echo "one before as ready (\`reload: generation N ready in X ms\`). wrk keeps $RELOAD_CONNS connections busy"
	echo "(a closed loop: wrk 4.1 has no fixed rate), so p99 is the latency under full load."
	echo
	echo "| pair | run | req/s | p50 ms | p99 ms | max ms | non-2xx | socket errors | timeouts | reloads ready (of sent) | nginx error-log lines | kept connections per worker at the end | p99 ratio |"
	echo "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: |"
	for ((r = 1; r <= RELOAD_PAIRS; r++)); do
		for c in base reloads; do
			g() { awk -F'\t' -v r="$r" -v c="$c" -v m="$1" '$1 == "reload" && $2 == c && $3 == r && $4 == m {print $5}' "$dir/raw.tsv"; }
			if [ "$c" = reloads ]; then rl="$(g reloads_ready) ($(g reloads_sent))" rt=${R2[$r]}; else rl=- rt=; fi
			echo "| $r | $([ "$c" = base ] && echo "no reloads" || echo "$RELOADS reloads") | $(calc "$(g rps)" 0) | $(ms "$(g p50_us)") | $(ms "$(g p99_us)") | $(ms "$(g max_us)") | $(g err_status) | $(($(g err_connect) + $(g err_read) + $(g err_write))) | $(g err_timeout) | $rl | $(g nginx_errlog_lines) | $(g conns_split) | $rt |"
		done
	done
	echo
	echo "Time from SIGHUP to the new generation ready, as the master logs it: ${reload_ms:-none}."
	echo "The anycgi master's generations by the end: $((gens_ac + 1)) (one at the start, $gens_ac reloads ready)."
	if [ -s "$dir/errlog-t2.txt" ]; then
		echo
		echo "nginx's error log during the runs with reloads above (count, message; time, pids and client cut):"
		echo
		awk '{ n = $1; sub(/^ *[0-9]+ /, ""); gsub(/`/, ""); printf "- %d × `%s`\n", n, $0 }' "$dir/errlog-t2.txt"
	fi
	if [ "$RELOAD_POST" = 1 ]; then
		gp() { awk -F'\t' -v m="$1" '$1 == "reload-post" && $4 == m { s += $5 } END { print s + 0 }' "$dir/raw.tsv"; }
		echo
		echo "Then the same with POST requests (a small form body): ${RELOAD_DURATION}s, $(gp reloads_ready) reloads,"
		echo "$(calc "$(gp rps)" 0) req/s, p99 $(ms "$(gp p99_us)") ms, **$(gp err_status) non-2xx answers** of $(gp requests), $(gp nginx_errlog_lines) nginx error-log lines."
		echo "nginx passes a request on a kept connection; when that connection turns out to be closed (an"
		echo "old worker closing its idle connections as it drains), it tries again on another connection"
		echo "for a GET, but not for a POST (nginx does not retry a non-idempotent request it has begun to"
		echo "send), whose failure reaches the client as a 502."
		if [ -s "$dir/errlog-post.txt" ]; then
			echo
			echo "nginx's error log during the POST run:"
			echo
			awk '{ n = $1; sub(/^ *[0-9]+ /, ""); gsub(/`/, ""); printf "- %d × `%s`\n", n, $0 }' "$dir/errlog-post.txt"
		fi
	fi
	echo
	echo "## 3. Crash replacement"
	echo
	echo "\`anycgi run --workers $CRASH_WORKERS\` of hello, idle. $KILLS times, ${KILL_INTERVAL}s apart: SIGKILL the oldest worker,"
	echo "then poll (every 0.1 ms, python3) \`/proc/MASTER/task/MASTER/children\` until a new child appears"
	echo "(**exists**: forked), then \`/proc/NEW/exe\` and \`/proc/NEW/syscall\` until it runs hello and is"
	echo "blocked in epoll_wait or accept (**ready**: it takes connections; the replacements were found"
	echo "in $crash_calls). The last row, for reference, polls \`anycgi status --json\` (a command"
	echo "per look, every 5 ms) until the new pid shows \`\"ready\": true\`: the master's own view, coarser."
	echo
	echo "| | median ms | min ms | max ms |"
	echo "| --- | ---: | ---: | ---: |"
	echo "| kill → replacement exists | $(calc "$ex_med" 2) | $(calc "$(agg crash kill exists_ms min)" 2) | $(calc "$ex_max" 2) |"
	echo "| kill → replacement ready (in epoll_wait) | $(calc "$rd_med" 2) | $(calc "$rd_min" 2) | $(calc "$rd_max" 2) |"
	echo "| kill → \`status --json\` shows it ready | $(calc "$st_med" 1) | $(calc "$(agg crash kill status_ready_ms min)" 1) | $(calc "$st_max" 1) |"
	echo
	echo "Workers alive after the kills: $crash_alive of $CRASH_WORKERS."
	echo
	echo "## 4. Memory"
	echo
	echo "| process | VmRSS | notes |"
	echo "| --- | ---: | --- |"
	echo "| master, $RSS_WORKERS workers, after ${RSS_DURATION}s of wrk -c$CONNS through nginx ($(calc "$(agg rss traffic rps med)" 0) req/s) | $rss_master kB | VmHWM $hwm_master kB, RssAnon $anon_master kB, Pss $pss_master kB; before the traffic: $rss_idle kB |"
	echo "| the same master after 3 \`anycgi status --json\` requests | $rss_status kB | RssAnon $anon_status kB |"
	echo "| one of its workers (median of $nw) | $rss_worker_med kB | Pss $pss_worker_med kB |"
	echo "| master of the 2-worker pool: at start / before the reloads / after $gens_ac reloads | $rss_ac_start / $rss_ac_before_reloads / $rss_ac_after kB | |"
	echo "| master of the crash pool, after $KILLS kills (and a status request after each) | $rss_crash kB | |"
	echo
	echo "VmRSS and VmHWM from \`/proc/PID/status\`, Pss from \`/proc/PID/smaps_rollup\`. The pools were"
	echo "started and watched through /proc only (no status request) but for the crash pool's reference"
	echo "column and the 4b row."
	echo
	if [ -s "$dir/anomalies.txt" ] || [ "$errbase2" != 0 ] || grep -qi 'error\|fatal' "$dir"/{ac,crash,rss}.log 2>/dev/null; then
		echo "## Anomalies"
		echo
		[ -s "$dir/anomalies.txt" ] && sed 's/^/- /' "$dir/anomalies.txt"
		[ "$errbase2" != 0 ] && echo "- target 2: the runs without reloads had $errbase2 errors or timeouts."
		for f in ac crash rss; do
			n=$(grep -ci 'error\|fatal' "$dir/$f.log" || true)
			[ "$n" = 0 ] && continue
			echo "- the $f master logged $n error lines, the first: \`$(grep -i 'error\|fatal' "$dir/$f.log" | head -n1 | sed "s|$dir|DIR|g; s/\`//g")\`"
		done
		echo
	fi
	echo "Raw numbers (one per line: phase, configuration, round, metric, value): \`$(basename "$RAW")\` beside this file."
} >"$OUT"

log "done in ${elapsed}s; results in $OUT"
cat "$OUT"
