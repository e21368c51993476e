#!/usr/bin/env bats
bats_require_minimum_version 1.5.0

setup() {
  load common
  common_setup
  export AIKO_VAR_DIR="$BATS_TEST_TMPDIR/var"
}

@test "init-ssl --help documents renew, cron and exit codes" {
  run --separate-stderr script init-ssl --help
  assert_success
  assert_output --partial '--renew'
  assert_output --partial '--install-cron'
  assert_output --partial '--staging'
  assert_output --partial '4  a precondition is not met'
}

@test "init-ssl: an unknown flag is a usage error and nothing runs" {
  run --separate-stderr script init-ssl --renw
  assert_failure 2
  [[ "$stderr" == *"--renw"* ]]
  [ ! -e "$DOCKER_CALLS" ]
}

@test "init-ssl: an invalid .env stops before any docker call" {
  printf 'DOMAIN=http://bad\n' >"$ENV_FILE"
  chmod 600 "$ENV_FILE"
  run --separate-stderr script init-ssl --env-path "$ENV_FILE" --renew --yes
  assert_failure 3
  [[ "$stderr" == *"DOMAIN must be a bare"* ]]
  [ ! -e "$DOCKER_CALLS" ]
}

@test "init-ssl --install-cron writes the job once, at a fixed minute, and shows it" {
  script init-env --env-path "$ENV_FILE" --yes "${PERSON_FLAGS[@]}"
  cron="$BATS_TEST_TMPDIR/aiko-ssl-renew"
  run --separate-stderr script init-ssl --env-path "$ENV_FILE" --install-cron --cron-file "$cron"
  assert_success
  assert_output --regexp '[0-9]{1,2} 3,15 \* \* \* root cd .* npx zx scripts/init-ssl.mts --renew --yes'
  first="$(cat "$cron")"
  run --separate-stderr script init-ssl --env-path "$ENV_FILE" --install-cron --cron-file "$cron"
  assert_success
  assert_output --partial 'already installed: nothing to change'
  [ "$(cat "$cron")" = "$first" ]
  refute_secrets_in "$output$stderr"
}
