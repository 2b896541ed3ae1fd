#!/usr/bin/env bash
# Install the farmwatch edge agent on Raspberry Pi OS (Bookworm or later) as a systemd service.
#
#   sudo edge/deploy/install.sh [--dry-run] [--model pond|barn|greenhouse|field] SOURCE
#
# SOURCE is a farmwatch checkout (its core/ and edge/ members are installed) or a directory
# holding the farmwatch_core and farmwatch_edge wheels (for a Pi without git or internet
# access to the repository). Idempotent: run it again to upgrade; an existing
# /etc/farmwatch-edge/config.yaml is never overwritten. --dry-run prints every step and changes
# nothing (no root needed). See docs/edge.md, "Install on Raspberry Pi OS".
set -euo pipefail

PREFIX=/opt/farmwatch-edge
CONFIG_DIR=/etc/farmwatch-edge
# Bytecode for the agent as the unit runs it (PYTHONOPTIMIZE=2, PYTHONPYCACHEPREFIX below).
CACHE_DIR=/var/cache/farmwatch-edge
PYCACHE="$CACHE_DIR/pycache"
UNIT_DIR=/etc/systemd/system
SERVICE_USER=farmwatch
MODEL=pond
DRY_RUN=0
SOURCE=""
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

usage() {
    sed -n '2,10s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"
}

while [[ $# -gt 0 ]]; do
    case "$1" in
        --dry-run) DRY_RUN=1 ;;
        --model) MODEL="${2:?--model needs a value}"; shift ;;
        -h|--help) usage; exit 0 ;;
        -*) echo "unknown option: $1" >&2; usage >&2; exit 2 ;;
        *) SOURCE="$1" ;;
    esac
    shift
done

if [[ -z "$SOURCE" ]]; then
    echo "missing SOURCE (a farmwatch checkout or a directory of wheels)" >&2
    usage >&2
    exit 2
fi
case "$MODEL" in
    pond|barn|greenhouse|field) ;;
    *) echo "--model must be pond, barn, greenhouse or field" >&2; exit 2 ;;
esac

# Every change goes through run: printed always, executed unless --dry-run.
run() {
    printf '+ %s\n' "$*"
    if [[ "$DRY_RUN" -eq 0 ]]; then
        "$@"
    fi
}

step() {
    printf '\n== %s\n' "$*"
}

if [[ "$DRY_RUN" -eq 0 && "$(id -u)" -ne 0 ]]; then
    echo "run as root (sudo), or with --dry-run to see the steps" >&2
    exit 1
fi

# What to pip install: the two workspace members, or the wheels found in SOURCE.
PACKAGES=()
if [[ -d "$SOURCE/core" && -d "$SOURCE/edge" ]]; then
    PACKAGES=("$SOURCE/core" "$SOURCE/edge")
    EXAMPLES="$SOURCE/edge/examples"
elif compgen -G "$SOURCE/farmwatch_edge-*.whl" >/dev/null \
    && compgen -G "$SOURCE/farmwatch_core-*.whl" >/dev/null; then
    PACKAGES=("$SOURCE"/farmwatch_core-*.whl "$SOURCE"/farmwatch_edge-*.whl)
    EXAMPLES="$HERE/../examples"
else
    echo "$SOURCE is neither a farmwatch checkout (core/, edge/) nor a directory with" \
        "farmwatch_core and farmwatch_edge wheels" >&2
    exit 2
fi
SAMPLE="$EXAMPLES/$MODEL.yaml"
if [[ ! -f "$SAMPLE" ]]; then
    echo "no sample config $SAMPLE" >&2
    exit 2
fi

[[ "$DRY_RUN" -eq 1 ]] && echo "dry run: nothing is changed"

step "system packages (python3-venv; i2c-tools for i2cdetect when wiring)"
if ! dpkg-query -W -f='${Status}' python3-venv 2>/dev/null | grep -q "ok installed" \
    || ! command -v i2cdetect >/dev/null 2>&1; then
    run apt-get install -y python3-venv i2c-tools
else
    echo "already installed"
fi

step "service user $SERVICE_USER (no login, groups gpio i2c dialout)"
if id -u "$SERVICE_USER" >/dev/null 2>&1; then
    echo "user $SERVICE_USER exists"
else
    run useradd --system --user-group --home-dir /var/lib/farmwatch-edge --no-create-home \
        --shell /usr/sbin/nologin "$SERVICE_USER"
fi
for group in gpio i2c dialout; do
    if getent group "$group" >/dev/null 2>&1; then
        run usermod -a -G "$group" "$SERVICE_USER"
    else
        echo "group $group does not exist here (i2c appears once I2C is enabled in raspi-config); skipped"
    fi
done

step "virtual environment $PREFIX/venv"
if [[ -x "$PREFIX/venv/bin/python" ]]; then
    echo "venv exists: upgrading in place"
else
    run mkdir -p "$PREFIX"
    run python3 -m venv "$PREFIX/venv"
fi
run "$PREFIX/venv/bin/pip" install --upgrade "${PACKAGES[@]}"

step "bytecode for python -OO in $PYCACHE (what the unit runs; Debian compiles only without -OO)"
STDLIB="$(python3 -c 'import sysconfig; print(sysconfig.get_paths()["stdlib"])')"
run install -d -m 0750 "$CACHE_DIR"
run env PYTHONOPTIMIZE=2 PYTHONPYCACHEPREFIX="$PYCACHE" "$PREFIX/venv/bin/python" -m compileall \
    -q -j 0 -x '/(test|tests|idlelib|tkinter|turtledemo|lib2to3|ensurepip)/' "$STDLIB" "$PREFIX/venv/lib"
run chown -R "$SERVICE_USER:$SERVICE_USER" "$CACHE_DIR"

step "config $CONFIG_DIR"
run install -d -m 0755 "$CONFIG_DIR"
run install -d -m 0755 "$CONFIG_DIR/registers"
for map in "$EXAMPLES"/registers/*.yaml; do
    [[ -e "$map" ]] || continue
    if [[ ! -e "$CONFIG_DIR/registers/$(basename "$map")" ]]; then
        run install -m 0644 "$map" "$CONFIG_DIR/registers/"
    fi
done
if [[ -e "$CONFIG_DIR/config.yaml" ]]; then
    echo "$CONFIG_DIR/config.yaml exists: kept (sample for $MODEL not copied)"
else
    # Readable by the service group only: it may hold the MQTT password.
    run install -m 0640 -o root -g "$SERVICE_USER" "$SAMPLE" "$CONFIG_DIR/config.yaml"
fi

step "systemd unit"
run install -m 0644 "$HERE/farmwatch-edge.service" "$UNIT_DIR/farmwatch-edge.service"
run systemctl daemon-reload
run systemctl enable farmwatch-edge.service
run systemctl restart farmwatch-edge.service

step "done"
echo "edit $CONFIG_DIR/config.yaml (farm_id, node_id, mqtt, sensors), then:"
echo "  sudo -u $SERVICE_USER $PREFIX/venv/bin/farmwatch-edge probe --config $CONFIG_DIR/config.yaml"
echo "  sudo systemctl restart farmwatch-edge; journalctl -u farmwatch-edge -f"
