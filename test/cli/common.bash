# Shared setup for every bats file: assertions, project root, a fake docker that records its calls.

ROOT="$(cd "$BATS_TEST_DIRNAME/../.." && pwd)"
load "$ROOT/node_modules/bats-support/load"
load "$ROOT/node_modules/bats-assert/load"

common_setup() {
  ENV_FILE="$BATS_TEST_TMPDIR/.env"
  DOCKER_CALLS="$BATS_TEST_TMPDIR/docker-calls.log"
  mkdir -p "$BATS_TEST_TMPDIR/bin"
  cat >"$BATS_TEST_TMPDIR/bin/docker" <<FAKE
#!/usr/bin/env bash
printf '%s\n' "\$*" >>"$DOCKER_CALLS"
FAKE
  chmod +x "$BATS_TEST_TMPDIR/bin/docker"
  cp "$BATS_TEST_TMPDIR/bin/docker" "$BATS_TEST_TMPDIR/bin/docker-compose"
  export PATH="$BATS_TEST_TMPDIR/bin:$PATH"
  export NO_COLOR=1
  cd "$ROOT"
}

# Runs a toolkit script the way operators do: `npx zx scripts/NAME.mts ARGS...`, stdin closed.
script() {
  local name="$1"
  shift
  npx zx "scripts/$name.mts" "$@" </dev/null
}

# A complete set of the values only a person knows.
PERSON_FLAGS=(--set DOMAIN=aiko.mon-ecole.fr --set LETSENCRYPT_EMAIL=ops@mon-ecole.fr --set ADMIN_EMAIL=admin@mon-ecole.fr)

# Reads one value of a .env file with the dotenv package, the toolkit's reader.
env_value() {
  node -e 'const d=require("dotenv");const fs=require("fs");process.stdout.write(d.parse(fs.readFileSync(process.argv[1]))[process.argv[2]] ?? "<unset>")' "$1" "$2"
}

file_mode() {
  stat -c '%a' "$1"
}

# Fails when any secret value of the .env file appears in the given text.
refute_secrets_in() {
  local text="$1" name value
  for name in POSTGRES_PASSWORD REDIS_PASSWORD SECRET_KEY JWT_SECRET_KEY GRAFANA_ADMIN_PASSWORD ADMIN_PASSWORD; do
    value="$(env_value "$ENV_FILE" "$name")"
    if [[ "$value" != "<unset>" && -n "$value" && "$text" == *"$value"* ]]; then
      fail "the value of $name appears in the output"
    fi
  done
}
