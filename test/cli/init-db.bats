#!/usr/bin/env bats
bats_require_minimum_version 1.5.0

setup() {
  load common
  common_setup
  export AIKO_VAR_DIR="$BATS_TEST_TMPDIR/var"
}

@test "init-db --help documents the steps, the flags and the exit codes" {
  run --separate-stderr script init-db --help
  assert_success
  assert_output --partial 'flask db upgrade'
  assert_output --partial '--timeout SECONDS'
  assert_output --partial '--reset-admin-password'
  assert_output --partial '--data PATH'
  assert_output --partial '--dry-run'
  assert_output --partial 'admin-initial-password'
  assert_output --partial '5  a command failed'
  [ ! -e "$DOCKER_CALLS" ]
}

@test "init-db: an unknown flag is a usage error and nothing runs" {
  run --separate-stderr script init-db --reset-admin-pasword
  assert_failure 2
  [[ "$stderr" == *"--reset-admin-pasword"* ]]
  [ ! -e "$DOCKER_CALLS" ]
}

@test "init-db: --timeout must be a whole number of seconds" {
  run --separate-stderr script init-db --timeout soon
  assert_failure 2
  [[ "$stderr" == *"--timeout soon must be a whole number of at least 1 (seconds)"* ]]
  [ ! -e "$DOCKER_CALLS" ]
}

@test "init-db: an invalid .env stops before any docker call" {
  printf 'DOMAIN=http://bad\nADMIN_PASSWORD=Tiny9pass\n' >"$ENV_FILE"
  chmod 600 "$ENV_FILE"
  run --separate-stderr script init-db --env-path "$ENV_FILE" --yes
  assert_failure 3
  [[ "$stderr" == *"DOMAIN must be a bare"* ]]
  [[ "$stderr" == *"ADMIN_PASSWORD is shorter than 12 characters"* ]]
  [[ "$stderr$output" != *"Tiny9pass"* ]]
  [ ! -e "$DOCKER_CALLS" ]
}

@test "init-db: an invalid reference data file stops before any docker call, every problem listed" {
  script init-env --env-path "$ENV_FILE" --yes "${PERSON_FLAGS[@]}"
  data="$BATS_TEST_TMPDIR/data.json"
  node -e 'const d=require(process.argv[1]); d.levels.rows.push({code:"CP",name:""}); require("fs").writeFileSync(process.argv[2], JSON.stringify(d))' "$ROOT/db/reference-data.json" "$data"
  run --separate-stderr script init-db --env-path "$ENV_FILE" --yes --data "$data"
  assert_failure 3
  [[ "$stderr" == *"code CP appears twice"* ]]
  [[ "$stderr" == *"needs a non-empty name"* ]]
  [ ! -e "$DOCKER_CALLS" ]
}

@test "init-db --reset-admin-password without a terminal needs --yes, and touches nothing" {
  script init-env --env-path "$ENV_FILE" --yes "${PERSON_FLAGS[@]}"
  run --separate-stderr script init-db --env-path "$ENV_FILE" --reset-admin-password
  assert_failure 4
  [[ "$stderr" == *"add --yes to confirm"* ]]
  [ ! -e "$DOCKER_CALLS" ]
  refute_secrets_in "$output$stderr"
}

@test "init-db: the first line names the run's log file (0600), which holds every line" {
  printf 'DOMAIN=http://bad\n' >"$ENV_FILE"
  chmod 600 "$ENV_FILE"
  run --separate-stderr script init-db --env-path "$ENV_FILE"
  assert_failure 3
  log="$(ls "$AIKO_VAR_DIR"/logs/init-db-*.log)"
  assert_line --index 0 --regexp "info +log: $log\$"
  [ "$(file_mode "$log")" = 600 ]
  run cat "$log"
  assert_line --index 0 --regexp "info +log: $log\$"
  assert_output --partial 'DOMAIN'
  assert_output --partial 'error'
}
