#!/usr/bin/env bash
# The README's first command ends here: the echo app in the foreground,
# behind a private nginx on 127.0.0.1:8080 (until anycgi has its own HTTP
# front end). Ctrl-C stops both.
set -euo pipefail
build=${1:-build}
port=${ANYCGI_DEMO_PORT:-8080}
dir=$(mktemp -d /tmp/anycgi-demo.XXXXXX)
sock=$dir/echo.sock

cat >"$dir/nginx.conf" <<CONF
user root;
worker_processes 1;
pid $dir/nginx.pid;
error_log $dir/error.log;
daemon off;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $dir/body;
    fastcgi_temp_path $dir/fastcgi;
    proxy_temp_path $dir/proxy;
    scgi_temp_path $dir/scgi;
    uwsgi_temp_path $dir/uwsgi;
    client_max_body_size 0;
    server {
        listen 127.0.0.1:$port;
        location / {
            include /etc/nginx/fastcgi_params;
            fastcgi_param SCRIPT_FILENAME \$document_root\$fastcgi_script_name;
            fastcgi_pass unix:$sock;
        }
    }
}
CONF

cleanup() {
    trap - INT TERM EXIT
    kill "${echo_pid:-}" "${nginx_pid:-}" 2>/dev/null || true
    wait 2>/dev/null || true
    rm -rf "$dir"
}
trap cleanup INT TERM EXIT

ANYCGI_LISTEN=unix:$sock "$build/src/apps/anycgi-echo" &
echo_pid=$!
nginx -p "$dir" -c "$dir/nginx.conf" -e "$dir/error.log" &
nginx_pid=$!
sleep 0.5

cat <<TEXT
anycgi-echo is serving FastCGI on unix:$sock,
with nginx in front of it on http://127.0.0.1:$port/. Try:

  curl 'http://127.0.0.1:$port/hello?x=1'
  curl -d 'some body' 'http://127.0.0.1:$port/post'
  curl 'http://127.0.0.1:$port/?size=100'

or talk FastCGI to it directly (Debian's libfcgi-bin):

  REQUEST_METHOD=GET SCRIPT_NAME=/ QUERY_STRING=a=b \\
    cgi-fcgi -bind -connect $sock

Ctrl-C stops it.
TEXT
wait -n "$echo_pid" "$nginx_pid"
