#!/bin/sh
# Installs what the browser tests need from Debian's packages, only when it
# is missing: chromium (launched through playwright-core; no browser is
# ever downloaded by npm) and openssl (tls.test.mjs makes its certificate).
set -eu
missing=""
[ -x /usr/bin/chromium ] || missing="$missing chromium"
command -v openssl >/dev/null 2>&1 || missing="$missing openssl"
if [ -z "$missing" ]; then
	exit 0
fi
SUDO=""
if [ "$(id -u)" != "0" ]; then
	SUDO="sudo"
fi
$SUDO apt-get update
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y $missing
