#!/usr/bin/env bats
bats_require_minimum_version 1.5.0

setup() {
  load common
  common_setup
  export AIKO_VAR_DIR="$BATS_TEST_TMPDIR/var"
  # The fake compose answers `config` with a model that holds a secret of the .env, as the
  # real one does, and no container: the stack is not running.
  cat >"$BATS_TEST_TMPDIR/bin/docker" <<FAKE
#!/usr/bin/env bash
printf '%s\n' "\$*" >>"$DOCKER_CALLS"
if [[ " \$* " == *" config "* ]]; then
  secret="\$(sed -n 's/^POSTGRES_PASSWORD=//p' "$ENV_FILE")"
  printf 'services:\n  backend:\n    environment:\n      POSTGRES_PASSWORD: %s\n  postgres:\n    image: postgres\n  grafana:\n    profiles:\n    - monitoring-ui\n' "\$secret"
fi
FAKE
  cp "$BATS_TEST_TMPDIR/bin/docker" "$BATS_TEST_TMPDIR/bin/docker-compose"
}

@test "status --help documents the JSON shape, the problems and the exit codes" {
  run --separate-stderr script status --help
  assert_success
  assert_output --partial '--json'
  assert_output --partial 'problems: [ { check:'
  assert_output --partial 'fewer than 14 days left'
  assert_output --partial '4  a precondition is not met'
}

@test "status: an unknown flag is a usage error before any docker call" {
  run --separate-stderr script status --jsn
  assert_failure 2
  [[ "$stderr" == *"--jsn"* ]]
  [ ! -e "$DOCKER_CALLS" ]
}

@test "status: a missing or invalid .env is exit 3 before any docker call" {
  run --separate-stderr script status --env-path "$ENV_FILE" --json
  assert_failure 3
  [[ "$stderr" == *"does not exist"* ]]
  printf 'DOMAIN=bad domain\n' >"$ENV_FILE"
  chmod 600 "$ENV_FILE"
  run --separate-stderr script status --env-path "$ENV_FILE" --json
  assert_failure 3
  [[ "$stderr" == *"DOMAIN must be a bare"* ]]
  [ -z "$output" ]
  [ ! -e "$DOCKER_CALLS" ]
}

@test "status --json: one JSON object on stdout, services absent, problems listed, exit 4, no secret" {
  script init-env --env-path "$ENV_FILE" --yes "${PERSON_FLAGS[@]}"
  run --separate-stderr script status --env-path "$ENV_FILE" --json --verbose
  assert_failure 4
  node -e 'JSON.parse(require("fs").readFileSync(0, "utf8"))' <<<"$output"
  [ "$(jq -r '[.schema, .ok, .domain, .nginxMode, .docker.reachable] | join(" ")' <<<"$output")" = "1 false aiko.mon-ecole.fr http true" ]
  [ "$(jq -c '[.services[] | [.name, .state, .health, .containers]]' <<<"$output")" = '[["backend","absent","none",0],["postgres","absent","none",0]]' ]
  [ "$(jq -c 'keys' <<<"$output")" = '["alerts","backup","certificate","disk","docker","domain","drift","nginxMode","offsite","ok","problems","project","release","schema","services","time","verify","warnings"]' ]
  [ "$(jq -r '.certificate.checked, .release.current, .backup' <<<"$output")" = $'false\nnull\nnull' ]
  [ "$(jq -r '.problems[].check' <<<"$output")" = $'service\nbackup' ]
  [ "$(jq -r '.warnings[].check' <<<"$output")" = 'alerts' ]
  jq -e '.problems[0].message | contains("no container for backend, postgres")' <<<"$output"
  jq -e '.disk.project.totalBytes > 0 and .disk.project.freePercent >= 0' <<<"$output"
  # --verbose echoes commands to stderr only; reading the state never changes it.
  [[ "$stderr" == *"docker ps -q -a --filter label=com.docker.compose.project="* ]]
  if grep -qE '(^| )(up|run|rm|stop|start|restart|down|cp|exec) ' "$DOCKER_CALLS"; then fail "status changed something: $(cat "$DOCKER_CALLS")"; fi
  refute_secrets_in "$output$stderr"
}

@test "status: release log, newest backup and a readable report for people" {
  script init-env --env-path "$ENV_FILE" --yes "${PERSON_FLAGS[@]}"
  mkdir -p "$AIKO_VAR_DIR/backups"
  echo r2 >"$AIKO_VAR_DIR/current-release"
  printf '%s\n' '{"id":"r2","sha":"abc","action":"rollback","result":"ok","time":"2026-11-25T10:00:00.000Z","user":"ops","durationMs":8000,"previous":"r3"}' >"$AIKO_VAR_DIR/releases.log"
  head -c 100 /dev/zero >"$AIKO_VAR_DIR/backups/pre-r2.dump"
  touch -d '3 days ago' "$AIKO_VAR_DIR/backups/pre-r2.dump"
  head -c 300 /dev/zero >"$AIKO_VAR_DIR/backups/scheduled-20261126-030000.dump"
  touch "$AIKO_VAR_DIR/backups/newer-but-not-a-dump.txt"
  run --separate-stderr script status --env-path "$ENV_FILE" --json
  assert_failure 4
  [ "$(jq -r '[.release.current, .release.last.action, .release.last.result, .backup.name, .backup.sizeBytes] | join(" ")' <<<"$output")" = "r2 rollback ok scheduled-20261126-030000.dump 300" ]
  [ "$(jq -r '.problems[].check' <<<"$output" | paste -sd,)" = 'service,drift' ]
  run --separate-stderr script status --env-path "$ENV_FILE"
  assert_failure 4
  assert_output --partial 'release      r2'
  assert_output --partial 'last action  rollback r2 ok at 2026-11-25T10:00:00.000Z by ops in 8.0s'
  assert_output --regexp 'backend +absent +none +0'
  assert_output --partial 'backup       scheduled-20261126-030000.dump'
  assert_output --partial 'alerts       go nowhere (no ALERT_* channel in .env)'
  assert_output --partial '2 problems:'
  assert_output --partial 'warning: [alerts] alerts go nowhere'
  refute_output --partial 'grafana'
  refute_secrets_in "$output$stderr"
}

@test "status --write-metrics: each expected service's health and the heartbeat in var/metrics, silent, exit 0 with services down" {
  script init-env --env-path "$ENV_FILE" --yes "${PERSON_FLAGS[@]}"
  run --separate-stderr script status --env-path "$ENV_FILE" --write-metrics
  assert_success
  [ -z "$output" ]
  [ "$(grep -v '^#' "$AIKO_VAR_DIR/metrics/aiko_services.prom")" = $'aiko_service_healthy{service="backend"} 0\naiko_service_healthy{service="postgres"} 0' ]
  grep -Eqx 'aiko_cron_heartbeat_timestamp_seconds [0-9]{10}' "$AIKO_VAR_DIR/metrics/aiko_heartbeat.prom"
  [ "$(file_mode "$AIKO_VAR_DIR/metrics/aiko_services.prom")" = 644 ]
  refute_secrets_in "$output$stderr"
}

@test "status --install-cron writes the every-minute watch job once; modes do not combine" {
  script init-env --env-path "$ENV_FILE" --yes "${PERSON_FLAGS[@]}"
  local cron="$BATS_TEST_TMPDIR/aiko-watch"
  run --separate-stderr script status --env-path "$ENV_FILE" --install-cron --cron-file "$cron"
  assert_success
  grep -Eq "^\* \* \* \* \* root cd '.*' && npx zx scripts/status.mts --write-metrics --env-path '$ENV_FILE' >> '/var/log/aiko-watch.log' 2>&1$" "$cron"
  grep -qx "AIKO_VAR_DIR=$AIKO_VAR_DIR" "$cron"
  run --separate-stderr script status --env-path "$ENV_FILE" --install-cron --cron-file "$cron"
  assert_output --partial 'already installed: nothing to change'
  run --separate-stderr script status --env-path "$ENV_FILE" --json --test-alert
  assert_failure 2
  [[ "$stderr" == *"--json and --test-alert cannot be combined"* ]]
}
