#!/usr/bin/env bats
bats_require_minimum_version 1.5.0

setup() {
  load common
  common_setup
}

@test "--help documents the flags and exit codes" {
  run --separate-stderr script init-env --help
  assert_success
  assert_output --partial 'Usage: npx zx scripts/init-env.mts'
  assert_output --partial '--set KEY=VALUE'
  assert_output --partial '--check'
  assert_output --partial '3  invalid configuration'
}

@test "an unknown flag is a usage error naming it" {
  run --separate-stderr script init-env --sett DOMAIN=x
  assert_failure 2
  [[ "$stderr" == *"--sett"* ]]
  [ ! -e "$ENV_FILE" ]
}

@test "a fresh run creates a valid 0600 file with generated secrets and prints none of them" {
  run --separate-stderr script init-env --env-path "$ENV_FILE" --yes "${PERSON_FLAGS[@]}"
  assert_success
  assert_output --partial 'created (mode 0600) and valid'
  assert_output --partial 'DOMAIN = aiko.mon-ecole.fr (from --set)'
  assert_output --regexp 'POSTGRES_PASSWORD = \*+ \(secret, 32 characters, generated\)'
  [ "$(file_mode "$ENV_FILE")" = 600 ]
  [[ "$(env_value "$ENV_FILE" POSTGRES_PASSWORD)" =~ ^[A-Za-z0-9]{32}$ ]]
  [[ "$(env_value "$ENV_FILE" SECRET_KEY)" =~ ^[A-Za-z0-9]{64}$ ]]
  [ "$(env_value "$ENV_FILE" SECRET_KEY)" != "$(env_value "$ENV_FILE" JWT_SECRET_KEY)" ]
  refute_secrets_in "$output$stderr"
  [ ! -e "$DOCKER_CALLS" ]
}

@test "a second run changes nothing and says so" {
  script init-env --env-path "$ENV_FILE" --yes "${PERSON_FLAGS[@]}"
  before="$(sha256sum "$ENV_FILE")"
  run --separate-stderr script init-env --env-path "$ENV_FILE" --yes
  assert_success
  assert_output --partial 'is up to date: nothing to change'
  [ "$(sha256sum "$ENV_FILE")" = "$before" ]
  [ ! -e "$ENV_FILE.bak" ]
}

@test "a value the operator set is kept, missing ones are appended, the previous file is backed up" {
  printf '# mon fichier\nDOMAIN=deja.mon-ecole.fr\nGUNICORN_WORKERS=4\nMY_OWN=kept\n' >"$ENV_FILE"
  chmod 600 "$ENV_FILE"
  cp "$ENV_FILE" "$BATS_TEST_TMPDIR/original"
  run --separate-stderr script init-env --env-path "$ENV_FILE" --yes --set LETSENCRYPT_EMAIL=ops@mon-ecole.fr --set ADMIN_EMAIL=admin@mon-ecole.fr
  assert_success
  assert_output --partial 'values kept'
  refute_output --partial 'added DOMAIN ='
  [ "$(head -4 "$ENV_FILE")" = "$(cat "$BATS_TEST_TMPDIR/original")" ]
  [ "$(env_value "$ENV_FILE" GUNICORN_WORKERS)" = 4 ]
  grep -q '^# Ajouté par init-env le ' "$ENV_FILE"
  cmp "$ENV_FILE.bak" "$BATS_TEST_TMPDIR/original"
  [ "$(file_mode "$ENV_FILE.bak")" = 600 ]
}

@test "--set never overwrites an operator value: refused, file unchanged" {
  printf 'DOMAIN=deja.mon-ecole.fr\n' >"$ENV_FILE"
  chmod 600 "$ENV_FILE"
  run --separate-stderr script init-env --env-path "$ENV_FILE" --yes "${PERSON_FLAGS[@]}"
  assert_failure 2
  [[ "$stderr" == *"DOMAIN is already set"* ]]
  [ "$(cat "$ENV_FILE")" = 'DOMAIN=deja.mon-ecole.fr' ]
}

@test "missing answers with --yes: every one is listed, nothing is written" {
  run --separate-stderr script init-env --env-path "$ENV_FILE" --yes
  assert_failure 3
  [[ "$stderr" == *"DOMAIN is missing"* ]]
  [[ "$stderr" == *"LETSENCRYPT_EMAIL is missing"* ]]
  [[ "$stderr" == *"ADMIN_EMAIL is missing"* ]]
  [[ "$stderr" == *"nothing was written"* ]]
  [ ! -e "$ENV_FILE" ]
}

@test "--check on an invalid file lists every problem and exits 3" {
  printf 'APP_ENV=production\nDOMAIN=http://bad\nHTTP_PORT=99999\nPOSTGRES_PASSWORD=changeme\nSECRET_KEY=tooshortsecret\nADMIN_EMAIL=nope\n' >"$ENV_FILE"
  chmod 600 "$ENV_FILE"
  run --separate-stderr script init-env --env-path "$ENV_FILE" --check
  assert_failure 3
  for words in 'DOMAIN must be a bare' 'HTTP_PORT must be a port' 'POSTGRES_PASSWORD still holds a placeholder' 'SECRET_KEY is too short' 'ADMIN_EMAIL must be an e-mail' 'LETSENCRYPT_EMAIL is missing' 'REDIS_PASSWORD is missing' 'JWT_SECRET_KEY is missing' 'GRAFANA_ADMIN_PASSWORD is missing'; do
    [[ "$stderr" == *"$words"* ]] || fail "missing problem: $words"
  done
  [[ "$stderr" != *tooshortsecret* ]] || fail 'a secret value was printed'
}

@test "--check on a missing file says how to create it" {
  run --separate-stderr script init-env --env-path "$ENV_FILE" --check
  assert_failure 3
  [[ "$stderr" == *"does not exist"* && "$stderr" == *"init-env.mts"* ]]
}

@test "a CRLF file is reported by --check, then converted by a run" {
  script init-env --env-path "$ENV_FILE" --yes "${PERSON_FLAGS[@]}"
  sed -i 's/$/\r/' "$ENV_FILE"
  run --separate-stderr script init-env --env-path "$ENV_FILE" --check
  assert_failure 3
  [[ "$stderr" == *"CRLF"* ]]
  run --separate-stderr script init-env --env-path "$ENV_FILE" --yes
  assert_success
  assert_output --partial 'converted Windows (CRLF) line ends to LF'
  ! grep -q $'\r' "$ENV_FILE"
  run script init-env --env-path "$ENV_FILE" --check
  assert_success
}

@test "values with \$, quotes, spaces and # are written so dotenv and compose read them unchanged" {
  password='it'"'"'s a "long" pa$$ #1 é'
  run --separate-stderr script init-env --env-path "$ENV_FILE" --yes "${PERSON_FLAGS[@]}" --set "ADMIN_PASSWORD=$password" --set 'TZ=America/Port-au-Prince'
  assert_failure 3
  [[ "$stderr" == *"ADMIN_PASSWORD cannot be written"* ]]
  [ ! -e "$ENV_FILE" ]
  password='a "long" pa$$ #1 é'
  run --separate-stderr script init-env --env-path "$ENV_FILE" --yes "${PERSON_FLAGS[@]}" --set "ADMIN_PASSWORD=$password"
  assert_success
  [ "$(env_value "$ENV_FILE" ADMIN_PASSWORD)" = "$password" ]
  grep -qxF "ADMIN_PASSWORD='$password'" "$ENV_FILE"
  refute_secrets_in "$output$stderr"
  quoted="it's fine"
  printf 'ADMIN_PASSWORD=\n' >"$ENV_FILE.2"
  run --separate-stderr script init-env --env-path "$ENV_FILE.2" --yes "${PERSON_FLAGS[@]}" --set "ADMIN_PASSWORD=$quoted long"
  assert_success
  [ "$(env_value "$ENV_FILE.2" ADMIN_PASSWORD)" = "$quoted long" ]
}

@test "a hand-written value compose would read differently is refused, naming it" {
  script init-env --env-path "$ENV_FILE" --yes "${PERSON_FLAGS[@]}"
  printf 'ADMIN_PASSWORD=abc$def-long-enough\n' >>"$ENV_FILE"
  sed -i '/^ADMIN_PASSWORD=$/d' "$ENV_FILE"
  run --separate-stderr script init-env --env-path "$ENV_FILE" --check
  assert_failure 3
  [[ "$stderr" == *"ADMIN_PASSWORD (line"*"expands \$"* ]]
  [[ "$stderr" != *"abc\$def-long-enough"* ]] || fail 'the value was printed'
}

@test "a file readable by others fails --check; a run makes it 0600" {
  script init-env --env-path "$ENV_FILE" --yes "${PERSON_FLAGS[@]}"
  chmod 644 "$ENV_FILE"
  run --separate-stderr script init-env --env-path "$ENV_FILE" --check
  assert_failure 3
  [[ "$stderr" == *"chmod 600"* ]]
  run script init-env --env-path "$ENV_FILE" --yes
  assert_success
  [ "$(file_mode "$ENV_FILE")" = 600 ]
}

@test "--dry-run shows what would change, secrets masked, and writes nothing" {
  run --separate-stderr script init-env --env-path "$ENV_FILE" --yes --dry-run "${PERSON_FLAGS[@]}" --set ADMIN_PASSWORD=Dry-Run-Secret-Value
  assert_success
  assert_output --partial 'would add DOMAIN = aiko.mon-ecole.fr'
  assert_output --regexp 'would add SECRET_KEY = \*+ \(secret, 64 characters, generated\)'
  assert_output --partial 'not written'
  refute_output --partial 'Dry-Run-Secret-Value'
  [ ! -e "$ENV_FILE" ]
}

@test "no secret reaches stdout or stderr in any mode" {
  script init-env --env-path "$ENV_FILE" --yes "${PERSON_FLAGS[@]}" --set ADMIN_PASSWORD=Operator-Chosen-Pass
  all=""
  for flags in "--check" "--yes --verbose" "--yes --dry-run" "--yes --set ADMIN_PASSWORD=other-value-xyz"; do
    # shellcheck disable=SC2086
    run --separate-stderr script init-env --env-path "$ENV_FILE" $flags
    all+="$output$stderr"
  done
  [[ "$all" == *"ADMIN_PASSWORD is already set"* ]]
  refute_secrets_in "$all"
}

@test "at a terminal it asks where alerts go; the SMTP password is typed without echo and never printed" {
  local answers='["aiko.mon-ecole.fr","ops@mon-ecole.fr","admin@mon-ecole.fr","email","smtp.mon-fournisseur.fr","","","alertes","Typed-Pw-4fA9","alertes@mon-ecole.fr","ops@mon-ecole.fr"]'
  run env ANSWER_PROMPTS_TIMEOUT=60 python3 test/e2e/helpers/answer-prompts.py '>' "$answers" -- npx zx scripts/init-env.mts --env-path "$ENV_FILE"
  assert_success
  assert_output --partial 'email, webhook, les-deux ou aucun [aucun]'
  assert_output --partial 'Mot de passe SMTP'
  assert_output --regexp 'ALERT_SMTP_PASSWORD = \*+ \(secret, 13 characters, from your answer\)'
  refute_output --partial 'Typed-Pw-4fA9'
  [ "$(env_value "$ENV_FILE" ALERT_SMTP_PASSWORD)" = Typed-Pw-4fA9 ]
  [ "$(env_value "$ENV_FILE" ALERT_SMTP_PORT)" = 587 ]
  [ "$(env_value "$ENV_FILE" ALERT_EMAIL_TO)" = ops@mon-ecole.fr ]
  # A channel is set: the next run at a terminal asks nothing more (no answer left: exit 97).
  run env ANSWER_PROMPTS_TIMEOUT=60 python3 test/e2e/helpers/answer-prompts.py '>' '[]' -- npx zx scripts/init-env.mts --env-path "$ENV_FILE"
  assert_success
  assert_output --partial 'is up to date: nothing to change'
}

@test "--yes asks nothing about alerts: no channel stays empty" {
  run --separate-stderr script init-env --env-path "$ENV_FILE" --yes "${PERSON_FLAGS[@]}"
  assert_success
  [ "$(env_value "$ENV_FILE" ALERT_SMTP_HOST)" = '' ]
  [ "$(env_value "$ENV_FILE" ALERT_WEBHOOK_URL)" = '' ]
}
