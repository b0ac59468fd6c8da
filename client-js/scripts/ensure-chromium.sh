#!/bin/sh
# Installs Debian's chromium for the browser tests, only when it is missing.
# The tests launch /usr/bin/chromium through playwright-core; no browser is
# ever downloaded by npm.
set -eu
if [ -x /usr/bin/chromium ]; then
	exit 0
fi
SUDO=""
if [ "$(id -u)" != "0" ]; then
	SUDO="sudo"
fi
$SUDO apt-get update
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y chromium
