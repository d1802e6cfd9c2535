#!/usr/bin/env bash
# The CGI gateway's benchmark (issue 4): `anycgi cgi` against Debian's
# fcgiwrap with the same number of workers, behind one nginx, in one run:
# a C CGI hello (bench/peers/hello-cgi.c) and a /bin/sh CGI hello.
# Rounds are interleaved (round 1 of every configuration, then round 2...).
# Per configuration: median req/s of wrk -t1 -cCONNS, and CPU per request:
# - the whole machine's (from /proc/stat: nginx, wrk and everything else
#   too, the same for both);
# - the backend's, all of it: each backend runs in its own cpuacct cgroup
#   (cgroup v1, or v2's cpu.stat), which counts every process in it,
#   children the kernel reaped included (fcgiwrap ignores SIGCHLD, so its
#   scripts' CPU shows in no parent's cutime);
# - split into the spawn, i.e. the CGI children's own CPU (the exec, the
#   dynamic loader and the script's run: for the C hello, nearly all
#   exec), which is the cgroup's total minus the long-lived processes', and
#   the rest: the gateway's own processes (accept, FastCGI, the fork or
#   vfork call itself, the relay, the reaping). For anycgi the workers'
#   cutime+cstime gives the children's CPU a second way, as a check.
# Without a writable cgroup the split is left out for fcgiwrap.
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
	if [ -n "$cgroot" ]; then
		for g in anycgi fcgiwrap; do rmdir "$cgroot/$g" 2>/dev/null || true; done
		rmdir "$cgroot" 2>/dev/null || true
	fi
}
trap cleanup EXIT

mkdir -p "$tmp/root/cgi-bin" "$tmp/nginx/logs"
cc -O2 -o "$tmp/root/cgi-bin/hello-c" "$here/peers/hello-cgi.c"
printf '#!/bin/sh\nprintf "Content-Type: text/plain\\r\\n\\r\\nhello\\n"\n' \
	> "$tmp/root/cgi-bin/hello.sh"
chmod 755 "$tmp/root/cgi-bin/hello.sh"

# One cpuacct group per backend (made here, removed at the end), or none.
cgroot=""
for d in /sys/fs/cgroup/cpuacct /sys/fs/cgroup/unified /sys/fs/cgroup; do
	if [ -w "$d" ] && mkdir "$d/acgi-bench-$$" 2>/dev/null; then
		cgroot="$d/acgi-bench-$$"; break
	fi
done
cg_usage() { # group: its CPU in ns, or 0 without groups
	[ -n "$cgroot" ] || { echo 0; return; }
	if [ -f "$cgroot/$1/cpuacct.usage" ]; then cat "$cgroot/$1/cpuacct.usage"
	else awk '/^usage_usec/{print $2 * 1000}' "$cgroot/$1/cpu.stat"; fi
}
in_group() { # group command...: runs command in its group
	local g=$1; shift
	if [ -n "$cgroot" ]; then
		mkdir -p "$cgroot/$g"
		sh -c 'echo $$ > "$0/cgroup.procs" && exec "$@"' "$cgroot/$g" "$@"
	else
		"$@"
	fi
}
in_group anycgi "$BUILD/src/cli/anycgi" cgi --fastcgi "unix:$tmp/a.sock" \
	--root "$tmp/root" --workers "$WORKERS" --name cgibench \
	2> "$tmp/anycgi.log" &
pids+=($!); anycgi_pid=$!
in_group fcgiwrap /usr/sbin/fcgiwrap -c "$WORKERS" -s "unix:$tmp/f.sock" \
	2> "$tmp/fcgiwrap.log" &
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
	local m0 c0 g0 m1 c1 g1 out n rps
	m0=$(machine_cpu); c0=$(proc_cpu "$procs"); g0=$(cg_usage "$1")
	out=$(wrk -t1 -c"$CONNS" -d"${DURATION}s" "http://127.0.0.1:$3/cgi-bin/$4")
	m1=$(machine_cpu); c1=$(proc_cpu "$procs"); g1=$(cg_usage "$1")
	n=$(awk '/requests in/{print $1}' <<<"$out")
	rps=$(awk '/Requests\/sec/{print $2}' <<<"$out")
	read -r s0 k0 <<<"$c0"; read -r s1 k1 <<<"$c1"
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$4" "$5" "$rps" \
		"$n" "$((m1 - m0))" "$((s1 - s0))" "$((k1 - k0))" \
		"$((g1 - g0))" >> "$raw"
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
    b, s, r, rps, n, m, own, kids, group = line.split("\t")
    rows.setdefault((s, b), []).append(
        (float(rps), int(n), int(m), int(own), int(kids), int(group)))
print("# CGI gateway: anycgi cgi vs fcgiwrap\n")
print("%s workers each, behind one nginx, wrk -t1 -c%s, %s s x %s interleaved "
      "rounds (median req/s; CPU summed over the rounds). The machine is "
      "shared: compare the ratios, which come from the same run.\n"
      % (workers, conns, duration, rounds))
print("| script | backend | req/s | vs fcgiwrap | machine CPU/req | backend "
      "CPU/req, all | spawn: children's own | the rest: gateway's own | "
      "children, from cutime |")
print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
us = lambda ticks, n: "%.0f µs" % (ticks * 1e6 / hz / n) if n else "-"
ns = lambda t, n: "%.0f µs" % (t / 1e3 / n) if n else "-"
for s in ("hello-c", "hello.sh"):
    base = statistics.median(r[0] for r in rows[(s, "fcgiwrap")])
    for b in ("anycgi", "fcgiwrap"):
        v = rows[(s, b)]
        rps = statistics.median(r[0] for r in v)
        n = sum(r[1] for r in v)
        own_ns = sum(r[3] for r in v) * 1e9 / hz
        group = sum(r[5] for r in v)
        total = ns(group, n) if group else "-"
        spawn = ns(group - own_ns, n) if group else "-"
        kids = us(sum(r[4] for r in v), n) if b == "anycgi" else "(reaped by the kernel)"
        print("| %s | %s | %.0f | %.2fx | %s | %s | %s | %s | %s |" % (
            s, b, rps, rps / base, us(sum(r[2] for r in v), n), total, spawn,
            us(sum(r[3] for r in v), n), kids))
print("""
- backend CPU/req, all: the backend's cpuacct cgroup, every process in it.
- spawn: the CGI children's own CPU (the cgroup's total minus the
  gateway's long-lived processes): the exec, the dynamic loader and the
  script's run; for the C hello, nearly all of it is the exec.
- the rest: the gateway's own processes: accept, FastCGI, the fork
  (fcgiwrap) or vfork-style posix_spawn (anycgi) call itself, the relay
  and the reaping. fcgiwrap forks a copy of itself per request and its
  child then execs; anycgi's posix_spawn shares the worker's memory until
  the exec.
- children, from cutime: anycgi's workers reap their children, so their
  CPU shows in the workers' cutime+cstime too: a check on the split.""")
PY
cat "$OUT"
