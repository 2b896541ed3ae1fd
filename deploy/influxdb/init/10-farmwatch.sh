#!/bin/bash
# Run once by the influxdb:2.x image on its first start (DOCKER_INFLUXDB_INIT_MODE=setup), from
# /docker-entrypoint-initdb.d, after `influx setup` created the org, the admin user and the
# bucket; the influx CLI is already configured with the admin token. It gives farmwatch what it
# needs to talk InfluxQL through the v1-compatible API (docs/deploy.md):
#
# 1. DBRP mappings: database "farmwatch" -> the raw bucket (retention policy "autogen",
#    default) and -> the hourly bucket (retention policy "hourly"), so InfluxQL's
#    "farmwatch"."hourly"."telemetry" reads the downsampled data.
# 2. A v1 user for the farmwatch services (read and write the raw bucket), its password from
#    the compose secret influx__password, and a read-only token for Grafana, written to the
#    volume Grafana mounts (InfluxDB creates tokens; they cannot be chosen).
# 3. Downsampling: a bucket kept for FARMWATCH_HOURLY_RETENTION (default forever) and a task
#    writing hourly means of every numeric field into it.
set -euo pipefail

db="${FARMWATCH_INFLUX_DATABASE:-farmwatch}"
org="${DOCKER_INFLUXDB_INIT_ORG}"
raw_id="${DOCKER_INFLUXDB_INIT_BUCKET_ID}"
raw="${DOCKER_INFLUXDB_INIT_BUCKET}"
hourly="${raw}_hourly"
secrets="${FARMWATCH_SECRETS_DIR:-/run/secrets}"
token_dir="${FARMWATCH_GRAFANA_TOKEN_DIR:-/var/lib/farmwatch-grafana}"

echo "farmwatch: hourly bucket ${hourly} (retention ${FARMWATCH_HOURLY_RETENTION:-0 = forever})"
influx bucket create --org "${org}" --name "${hourly}" \
  --retention "${FARMWATCH_HOURLY_RETENTION:-0}"
hourly_id="$(influx bucket list --org "${org}" --name "${hourly}" --hide-headers | cut -f 1)"

echo "farmwatch: DBRP ${db}/autogen -> ${raw}, ${db}/hourly -> ${hourly}"
influx v1 dbrp create --org "${org}" --db "${db}" --rp autogen --bucket-id "${raw_id}" --default
influx v1 dbrp create --org "${org}" --db "${db}" --rp hourly --bucket-id "${hourly_id}"

echo "farmwatch: v1 user farmwatch (read/write ${raw}, read ${hourly})"
influx v1 auth create --org "${org}" --username farmwatch \
  --password "$(cat "${secrets}/influx__password")" \
  --read-bucket "${raw_id}" --write-bucket "${raw_id}" --read-bucket "${hourly_id}" \
  --description "farmwatch services"

echo "farmwatch: read-only token for Grafana in ${token_dir}/token"
mkdir -p "${token_dir}"
influx auth create --org "${org}" --read-bucket "${raw_id}" --read-bucket "${hourly_id}" \
  --description "grafana (read only)" --json |
  sed -n 's/.*"token": *"\([^"]*\)".*/\1/p' >"${token_dir}/token"
test -s "${token_dir}/token"
chmod 644 "${token_dir}/token"

echo "farmwatch: task hourly means ${raw} -> ${hourly}"
influx task create --org "${org}" --file /dev/stdin <<FLUX
option task = {name: "farmwatch-hourly-means", every: 1h, offset: 5m}

from(bucket: "${raw}")
    |> range(start: -task.every)
    |> filter(fn: (r) => r._measurement == "telemetry")
    |> filter(fn: (r) => r._field != "seq" and r._field != "synced")
    |> aggregateWindow(every: 1h, fn: mean, createEmpty: false)
    |> to(bucket: "${hourly}", org: "${org}")
FLUX
