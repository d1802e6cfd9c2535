#!/usr/bin/env bash
# The README's first command ends here: anycgi with no web server at all.
# One master runs three pools on the embedded HTTP front end:
#   http://127.0.0.1:8080/  the echo app (what would a web server send?)
#   http://127.0.0.1:8081/  a folder of CGI scripts through the CGI gateway
#   http://127.0.0.1:8082/  the status page (HTML; ?json, ?prometheus)
# in the foreground. Ctrl-C stops it. ANYCGI_DEMO_PORT moves the three.
set -euo pipefail
build=${1:-build}
port=${ANYCGI_DEMO_PORT:-8080}
dir=$(mktemp -d /tmp/anycgi-demo.XXXXXX)
chmod 755 "$dir"
mkdir -p "$dir/cgi-bin"
cat >"$dir/cgi-bin/hello.sh" <<'SH'
#!/bin/sh
printf 'Content-Type: text/plain\r\n\r\n'
echo "Hello from a CGI script: $REQUEST_METHOD $SCRIPT_NAME, PATH_INFO=$PATH_INFO, QUERY_STRING=$QUERY_STRING"
SH
chmod 755 "$dir/cgi-bin/hello.sh"

cat >"$dir/demo.ini" <<INI
[global]
control = $dir/demo.ctl
status = http://127.0.0.1:$((port + 2))

[echo]
app = echo
http = 127.0.0.1:$port
workers = 2

[cgi]
app = cgi
root = $dir/cgi-bin
http = 127.0.0.1:$((port + 1))
workers = 2
INI

cleanup() {
    trap - INT TERM EXIT
    kill "${master:-}" 2>/dev/null || true
    wait 2>/dev/null || true
    rm -rf "$dir"
}
trap cleanup INT TERM EXIT

"$build/src/cli/anycgi" daemon -c "$dir/demo.ini" &
master=$!
for _ in $(seq 50); do
    curl -fs -o /dev/null "http://127.0.0.1:$port/" && break
    sleep 0.1
done

cat <<TEXT

anycgi is serving, with no web server installed:

  curl 'http://127.0.0.1:$port/hello?x=1'          # the echo app: JSON of what it got
  curl -d 'some body' 'http://127.0.0.1:$port/post'
  curl 'http://127.0.0.1:$((port + 1))/hello.sh/extra?q=1' # a CGI script ($dir/cgi-bin)
  curl 'http://127.0.0.1:$((port + 2))/?text'             # the status (or open it in a browser)
  $build/src/cli/anycgi status $dir/demo.ctl        # the same, from the shell

Ctrl-C stops it.
TEXT
wait "$master"
