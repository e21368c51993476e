#!/usr/bin/env bats
bats_require_minimum_version 1.5.0

setup() {
  load common
  common_setup
}

@test "deploy --help describes the zero-downtime flow and the exit codes" {
  run --separate-stderr script deploy --help
  assert_success
  assert_output --partial 'blue/green'
  assert_output --partial '--take-over-lock'
  assert_output --partial '6  another deploy or rollback holds the lock'
}

@test "deploy: a bad flag value is a usage error before any docker call" {
  run --separate-stderr script deploy --keep 1
  assert_failure 2
  [[ "$stderr" == *"--keep 1 must be a whole number of at least 2"* ]]
  [ ! -e "$DOCKER_CALLS" ]
}

@test "deploy: an invalid .env lists its problems and changes nothing" {
  printf 'DOMAIN=bad domain\n' >"$ENV_FILE"
  chmod 600 "$ENV_FILE"
  run --separate-stderr script deploy --env-path "$ENV_FILE" --yes
  assert_failure 3
  [[ "$stderr" == *"DOMAIN must be a bare"* ]]
  [ ! -e "$DOCKER_CALLS" ]
}

@test "rollback --help lists --list, --to and --with-db" {
  run --separate-stderr script rollback --help
  assert_success
  assert_output --partial '--list'
  assert_output --partial '--to ID'
  assert_output --partial '--with-db'
}

@test "rollback --with-db without a terminal needs --yes and changes nothing" {
  script init-env --env-path "$ENV_FILE" --yes "${PERSON_FLAGS[@]}"
  run --separate-stderr script rollback --env-path "$ENV_FILE" --with-db
  assert_failure 2
  [[ "$stderr" == *"needs a confirmation"* ]]
  [[ "$stderr" == *"every write made to the database since the dump it restores was taken is lost"* ]]
  [[ "$stderr" == *"--yes"* ]]
  ! grep -qE '^(stop|rm|exec|cp) ' "$DOCKER_CALLS"
  refute_secrets_in "$output$stderr"
}
