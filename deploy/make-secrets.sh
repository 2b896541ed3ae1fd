#!/usr/bin/env bash
# Creates every secret the docker-compose stack needs, once, and the broker's service accounts.
#
#   deploy/make-secrets.sh                 # from the repository root, after `make venv`
#
# - deploy/secrets/<name>: random 32-character secrets (compose mounts them under /run/secrets;
#   the farmwatch services read theirs as FARMWATCH_SECRETS_DIR files, InfluxDB and Grafana
#   through their *_FILE variables). Existing files are kept, so running it again is safe.
# - deploy/state/devices.json and deploy/mosquitto/auth/{passwd,acl}: the MQTT accounts of
#   the services (`farmwatch devices add --service NAME`); nodes are added the same way later
#   (docs/security.md). Their passwords go to deploy/secrets/mqtt_<name>_password.
#
# FARMWATCH (default .venv/bin/farmwatch, else `farmwatch` on PATH) is the command used, and
# FARMWATCH_DEPLOY (default: this script's folder) where everything is written (tests use it).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
deploy="${FARMWATCH_DEPLOY:-$here}"
farmwatch="${FARMWATCH:-}"
if [ -z "$farmwatch" ]; then
  if [ -x "$here/../.venv/bin/farmwatch" ]; then farmwatch="$here/../.venv/bin/farmwatch"
  else farmwatch="farmwatch"; fi
fi

secrets="$deploy/secrets"
mkdir -p "$secrets" "$deploy/state" "$deploy/mosquitto/auth"
chmod 700 "$secrets" "$deploy/state"
umask 077

random_secret() { # 32 characters from [A-Za-z0-9_-]: no quoting trouble in any config file
  python3 -c 'import secrets; print(secrets.token_urlsafe(24))'
}

# InfluxDB 2.x: its admin (setup) password and operator token; the farmwatch services' and
# Grafana's v1-API users (deploy/influxdb/init/10-farmwatch.sh creates them).
# Grafana: its admin password.
for name in influxdb_admin_password influxdb_admin_token influx__password grafana_admin_password; do
  if [ ! -s "$secrets/$name" ]; then
    random_secret >"$secrets/$name"
    echo "created $secrets/$name"
  fi
done

# MQTT: one account per service, the password only in its secret file, the hash in the broker's.
for service in ingest analytics alerting simulator; do
  file="$secrets/mqtt_${service}_password"
  [ -s "$file" ] && continue
  output="$("$farmwatch" devices add --service "$service" --data-dir "$deploy/state" \
    --password-file "$deploy/mosquitto/auth/passwd" --acl-file "$deploy/mosquitto/auth/acl")"
  printf '%s\n' "$output" | sed -n 's/^password: //p' >"$file"
  if [ ! -s "$file" ]; then
    echo "could not read the password of farmwatch-$service from farmwatch devices add" >&2
    exit 1
  fi
  echo "created $file (MQTT account farmwatch-$service)"
done

# Secrets are read by the containers' own users (influxdb, grafana, nobody): readable files in a
# folder only this user can list.
chmod 644 "$secrets"/* "$deploy/mosquitto/auth/passwd" "$deploy/mosquitto/auth/acl"
# The same check the stack's preflight service runs before anything else starts.
FARMWATCH_SECRETS_DIR="$secrets" "$farmwatch" production check --require-secrets-dir
echo "done: docker compose up -d (docs/deploy.md)"
