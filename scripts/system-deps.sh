#!/usr/bin/env bash
# Installs the Debian/Ubuntu packages farmwatch needs, only if they are missing.
#   scripts/system-deps.sh venv          python3-venv (to create .venv on a fresh machine)
#                                        + Pango and DejaVu fonts (WeasyPrint renders the
#                                          monthly reports' PDF; Vietnamese needs DejaVu)
#                                        + gcc and the Python headers (`make native` compiles
#                                          the analytics hot path with mypyc)
#   scripts/system-deps.sh test          + mosquitto and influxdb (the real services tests start)
#                                          and chromium (browser tests of the built-in page)
#                                          and poppler-utils (pdftoppm checks the reports' PDF)
# Needs root (or sudo) only when something is missing; otherwise it prints what to install.
set -euo pipefail

want=()
need_bin() { # binary package
  if ! command -v "$1" >/dev/null 2>&1 && [ ! -x "/usr/sbin/$1" ] && [ ! -x "/usr/bin/$1" ]; then
    want+=("$2")
  fi
}

need_lib() { # shared library (soname) from a package, in the multiarch or plain lib dir
  if ! compgen -G "/usr/lib/*/$1" >/dev/null && [ ! -e "/usr/lib/$1" ]; then want+=("$2"); fi
}

python3 -c 'import ensurepip, venv' >/dev/null 2>&1 || want+=(python3-venv)
need_lib libpango-1.0.so.0 libpango-1.0-0
need_lib libpangoft2-1.0.so.0 libpangoft2-1.0-0
[ -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || want+=(fonts-dejavu-core)
need_bin gcc gcc
python3 -c 'import os, sys, sysconfig; sys.exit(not os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")))' || want+=(python3-dev)
if [ "${1:-venv}" = "test" ]; then
  need_bin mosquitto mosquitto
  need_bin mosquitto_sub mosquitto-clients   # the ingest bench ceiling and the compose health check
  need_bin influxd influxdb
  need_bin systemd-analyze systemd   # verifies the edge's systemd unit file
  need_bin chromium chromium         # the built-in page's browser tests (driven by playwright)
  need_bin pdftoppm poppler-utils    # renders the monthly reports' PDF pages in their tests
fi

[ ${#want[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -eq 0 ]; then SUDO=""; elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then SUDO="sudo"; else
  echo "farmwatch needs these Debian/Ubuntu packages: ${want[*]}" >&2
  echo "install them with: sudo apt-get install -y ${want[*]}   then run make again" >&2
  exit 1
fi
echo "installing system packages: ${want[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${want[@]}" >/dev/null
