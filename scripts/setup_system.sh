#!/usr/bin/env bash
# Installs the Debian packages vigil needs (idempotent). Prints a clear message and exits non-zero on failure.
set -u
PKGS="ffmpeg python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-rtsp gstreamer1.0-tools \
gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly \
gstreamer1.0-libav chromium fonts-noto-cjk poppler-utils"
# node/npm build the web app (web/, `make web`); Debian's only when no node is on the PATH already
command -v node >/dev/null 2>&1 || PKGS="$PKGS nodejs npm"
missing=""
for p in $PKGS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -z "$missing" ]; then
  echo "system packages: all present"
  exit 0
fi
echo "system packages: installing$missing"
SUDO=""
if [ "$(id -u)" != "0" ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo -n"; else
    echo "ERROR: need root (or sudo) to install:$missing" >&2; exit 1; fi
fi
export DEBIAN_FRONTEND=noninteractive
if ! { $SUDO apt-get update -qq && $SUDO apt-get install -y -qq --no-install-recommends $missing >/tmp/vigil-apt.log 2>&1; }; then
  echo "ERROR: apt-get could not install:$missing (log: /tmp/vigil-apt.log). Install them by hand and rerun." >&2
  tail -n 20 /tmp/vigil-apt.log >&2
  exit 1
fi
echo "system packages: installed"
