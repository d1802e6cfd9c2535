#!/bin/sh
# Installs the Debian packages that anycgi's build, tests and CI need:
# the toolchain, cmocka, libinih and libsystemd, and the peers the
# end-to-end tests start (nginx, spawn-fcgi, cgi-fcgi, php-cgi, php-fpm, curl,
# wrk, headless chromium for the status page), libhttp-parser for the HTTP
# front end, and Go and gnuplot for the peer benchmark. Idempotent, non-interactive, and quick
# when everything is there already (no apt-get update then). Run as root.
set -eu

PACKAGES="build-essential meson ninja-build pkg-config clang libcmocka-dev
libinih-dev libsystemd-dev libhttp-parser-dev
nginx spawn-fcgi libfcgi-bin libfcgi-dev php-cgi php-fpm python3-pytest curl wrk
fcgiwrap chromium util-linux golang-go gnuplot-nox"

missing=""
for p in $PACKAGES; do
	if ! dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null |
		grep -q '^install ok installed$'; then
		missing="$missing $p"
	fi
done

if [ -z "$missing" ]; then
	echo "install-deps: all packages present"
	exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
	echo "install-deps: missing:$missing; run this script as root" >&2
	exit 1
fi

echo "install-deps: installing:$missing"
export DEBIAN_FRONTEND=noninteractive
# Keep the packages' own services (nginx on port 80) from starting: the
# tests start their own. Only when the machine has no policy of its own.
policy=/usr/sbin/policy-rc.d
made_policy=""
if [ ! -e "$policy" ]; then
	printf '#!/bin/sh\nexit 101\n' >"$policy"
	chmod 755 "$policy"
	made_policy=1
fi
cleanup() { if [ -n "$made_policy" ]; then rm -f "$policy"; fi; }
trap cleanup EXIT

apt-get update -q
# shellcheck disable=SC2086
apt-get install -y -q --no-install-recommends $missing </dev/null
echo "install-deps: done"
