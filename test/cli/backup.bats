#!/usr/bin/env bats
bats_require_minimum_version 1.5.0

setup() {
  load common
  common_setup
  export AIKO_VAR_DIR="$BATS_TEST_TMPDIR/var"
  BACKUPS="$AIKO_VAR_DIR/backups"
}

# Fails when the fake docker saw a call that changes something (exec, cp, rm, up, ...).
refute_mutating_calls() {
  if [ -e "$DOCKER_CALLS" ] && grep -E '(^| )(exec|cp|rm|stop|up|down|run|restart)( |$)' "$DOCKER_CALLS"; then
    fail "a mutating docker call was made"
  fi
}

# A fake docker whose project has a running postgres container (id c0ffee).
fake_running_postgres() {
  cat >"$BATS_TEST_TMPDIR/bin/docker" <<FAKE
#!/usr/bin/env bash
printf '%s\n' "\$*" >>"$DOCKER_CALLS"
case "\$1" in
  ps) echo c0ffee ;;
  inspect) echo '[{"Id":"c0ffee","State":{"Status":"running"},"Config":{"Labels":{"com.docker.compose.service":"postgres"}}}]' ;;
esac
FAKE
}

# Backup files with the given names, each dated by the stamp after it.
seed_backups() {
  mkdir -p "$BACKUPS"
  while [ $# -gt 0 ]; do
    printf 'PGDMP' >"$BACKUPS/$1"
    touch -d "$2" "$BACKUPS/$1"
    shift 2
  done
}

@test "backup --help documents the flags and the exit codes" {
  run --separate-stderr script backup --help
  assert_success
  assert_output --partial '--keep N'
  assert_output --partial '--list'
  assert_output --partial '--restore FILE'
  assert_output --partial '--install-cron'
  assert_output --partial 'pre-restore-YYYYMMDD-HHMMSS.dump'
  assert_output --partial '4  a precondition is not met'
}

@test "backup: an unknown flag is a usage error and nothing runs" {
  run --separate-stderr script backup --kep 3
  assert_failure 2
  [[ "$stderr" == *"--kep"* ]]
  [ ! -e "$DOCKER_CALLS" ]
}

@test "backup: --keep must be a positive whole number, and the message says how to fix it" {
  run --separate-stderr script backup --keep 0
  assert_failure 2
  [[ "$stderr" == *"--keep 0 must be a whole number of at least 1"* ]]
  [[ "$stderr" == *"fix: pass a whole number, for example --keep 5"* ]]
  run --separate-stderr script backup --keep two
  assert_failure 2
  [[ "$stderr" == *"--keep two"* ]]
  [ ! -e "$DOCKER_CALLS" ]
}

@test "backup --list shows every backup newest first, with size and date, without .env or docker" {
  seed_backups scheduled-20260101-020000.dump '2026-01-01 02:00:00Z' pre-20260102-100000-abc1234.dump '2026-01-02 10:00:00Z' \
    pre-restore-20260103-090000.dump '2026-01-03 09:00:00Z' scheduled-20260104-020000.dump '2026-01-04 02:00:00Z'
  printf 'half' >"$BACKUPS/.scheduled-20260105-020000.dump.partial"
  run --separate-stderr script backup --list --env-path "$BATS_TEST_TMPDIR/missing.env"
  assert_success
  assert_equal "${#lines[@]}" 4
  assert_line --index 0 --regexp '^2026-01-04T02:00:00Z +5 B  scheduled +scheduled-20260104-020000.dump$'
  assert_line --index 1 --regexp 'pre-restore +pre-restore-20260103-090000.dump$'
  assert_line --index 2 --regexp 'release +pre-20260102-100000-abc1234.dump$'
  assert_line --index 3 --regexp 'scheduled +scheduled-20260101-020000.dump$'
  refute_output --partial 'partial'
  [ ! -e "$DOCKER_CALLS" ]
}

@test "backup --list says so when there is no backup" {
  run --separate-stderr script backup --list
  assert_success
  assert_output --partial "no backup in $BACKUPS"
}

@test "backup --restore latest without a terminal needs --yes and changes nothing" {
  script init-env --env-path "$ENV_FILE" --yes "${PERSON_FLAGS[@]}"
  seed_backups scheduled-20260101-020000.dump '2026-01-01 02:00:00Z'
  run --separate-stderr script backup --env-path "$ENV_FILE" --restore latest
  assert_failure 2
  [[ "$stderr" == *"needs a confirmation"* ]]
  [[ "$stderr" == *"every write made to the database since then is lost"* ]]
  [[ "$stderr" == *"--yes"* ]]
  refute_mutating_calls
  [ "$(ls -A "$BACKUPS")" = "scheduled-20260101-020000.dump" ]
  [ ! -e "$AIKO_VAR_DIR/deploy.lock" ]
  refute_secrets_in "$output$stderr"
}

@test "backup --restore of a missing file is a precondition error naming the path and --list" {
  script init-env --env-path "$ENV_FILE" --yes "${PERSON_FLAGS[@]}"
  run --separate-stderr script backup --env-path "$ENV_FILE" --restore var/backups/nope.dump --yes
  assert_failure 4
  [[ "$stderr" == *"no backup at $ROOT/var/backups/nope.dump"* ]]
  [[ "$stderr" == *"--list"* ]]
  refute_mutating_calls
  [ ! -e "$AIKO_VAR_DIR/deploy.lock" ]
}

@test "backup --install-cron writes the daily job once, at a fixed minute, and shows it" {
  script init-env --env-path "$ENV_FILE" --yes "${PERSON_FLAGS[@]}"
  cron="$BATS_TEST_TMPDIR/x"
  run --separate-stderr script backup --env-path "$ENV_FILE" --install-cron --cron-file "$cron"
  assert_success
  assert_output --regexp "[0-9]{1,2} 2 \* \* \* root cd .* && npx zx scripts/backup.mts --keep 14 --env-path '$ENV_FILE' >> '/var/log/aiko-db-backup.log' 2>&1"
  assert_output --partial "AIKO_VAR_DIR=$AIKO_VAR_DIR"
  [ "$(file_mode "$cron")" = 644 ]
  first="$(cat "$cron")"
  run --separate-stderr script backup --env-path "$ENV_FILE" --install-cron --cron-file "$cron"
  assert_success
  assert_output --partial 'already installed: nothing to change'
  [ "$(cat "$cron")" = "$first" ]
  [ ! -e "$DOCKER_CALLS" ]
  refute_secrets_in "$output$stderr"
}

@test "backup --install-cron into a missing folder names --cron-file and the fix, and writes nothing" {
  script init-env --env-path "$ENV_FILE" --yes "${PERSON_FLAGS[@]}"
  run --separate-stderr script backup --env-path "$ENV_FILE" --install-cron --cron-file "$BATS_TEST_TMPDIR/no-cron.d/aiko-db-backup"
  assert_failure 4
  [[ "$stderr" == *"--cron-file $BATS_TEST_TMPDIR/no-cron.d/aiko-db-backup: the folder $BATS_TEST_TMPDIR/no-cron.d does not exist"* ]]
  [[ "$stderr" == *"apt-get install cron"* ]]
  [ ! -e "$BATS_TEST_TMPDIR/no-cron.d" ]
}

@test "backup --dry-run shows the dump and the pruning, and changes nothing" {
  script init-env --env-path "$ENV_FILE" --yes "${PERSON_FLAGS[@]}"
  fake_running_postgres
  seed_backups scheduled-20260101-020000.dump '2026-01-01 02:00:00Z' pre-restore-20251201-000000.dump '2025-12-01 00:00:00Z'
  run --separate-stderr script backup --env-path "$ENV_FILE" --dry-run --keep 1
  assert_success
  assert_output --partial '[dry-run] would run: docker compose'
  assert_output --partial 'pg_dump --format=custom'
  assert_output --partial 'would prune scheduled-20260101-020000.dump'
  refute_output --partial 'pre-restore-20251201-000000.dump'
  refute_mutating_calls
  [ "$(ls -A "$BACKUPS" | sort | tr '\n' ' ')" = "pre-restore-20251201-000000.dump scheduled-20260101-020000.dump " ]
  refute_secrets_in "$output$stderr"
}

@test "backup: PostgreSQL not running is a precondition error and writes no file" {
  script init-env --env-path "$ENV_FILE" --yes "${PERSON_FLAGS[@]}"
  run --separate-stderr script backup --env-path "$ENV_FILE"
  assert_failure 4
  [[ "$stderr" == *"PostgreSQL is not running"* ]]
  refute_mutating_calls
  # The one change: the failure, written for Prometheus (BackupFailed) into var/metrics.
  grep -qx 'aiko_operation_last_run_success{operation="backup"} 0' "$AIKO_VAR_DIR/metrics/aiko_backup.prom"
  grep -qx 'aiko_operation_consecutive_failures{operation="backup"} 1' "$AIKO_VAR_DIR/metrics/aiko_backup.prom"
  [ "$(ls -A "$AIKO_VAR_DIR/metrics")" = aiko_backup.prom ]
  [ -z "$(ls -A "$BACKUPS" 2>/dev/null)" ]
}
