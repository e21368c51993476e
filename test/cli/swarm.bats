#!/usr/bin/env bats
bats_require_minimum_version 1.5.0

# The stack mode (DEPLOY_TARGET=swarm) as processes: what is refused, with which exit code,
# before anything changes. The fake docker answers like an engine that is not in a Swarm (or a
# manager whose stack runs two services, for status).

setup() {
  load common
  common_setup
  export AIKO_VAR_DIR="$BATS_TEST_TMPDIR/var"
  export COMPOSE_PROJECT_NAME=ai-ko
  cat >"$BATS_TEST_TMPDIR/bin/docker" <<FAKE
#!/usr/bin/env bash
printf '%s\n' "\$*" >>"$DOCKER_CALLS"
case "\$*" in
  "compose version --short") echo 2.26.1 ;;
  "info --format {{json .Swarm}}") printf '{"NodeID":"","LocalNodeState":"%s","ControlAvailable":false}\n' "\$(cat "$BATS_TEST_TMPDIR/swarm-state")" ;;
  "service ls "*) printf '%s\n' '{"ID":"1","Name":"ai-ko_backend","Mode":"replicated","Replicas":"2/2","Image":"r/aiko-backend:x","Ports":""}' '{"ID":"2","Name":"ai-ko_nginx","Mode":"replicated","Replicas":"0/1","Image":"nginx:1.27-alpine","Ports":""}' ;;
esac
FAKE
  cp "$BATS_TEST_TMPDIR/bin/docker" "$BATS_TEST_TMPDIR/bin/docker-compose"
  echo inactive >"$BATS_TEST_TMPDIR/swarm-state"
  script init-env --env-path "$ENV_FILE" --yes "${PERSON_FLAGS[@]}" >/dev/null
  rm -f "$DOCKER_CALLS"
}

set_env() {
  sed -i "s|^$1=.*|$1=$2|" "$ENV_FILE"
}

@test "swarm without REGISTRY: exit 3 naming REGISTRY and the fix, before any docker call" {
  set_env DEPLOY_TARGET swarm
  run --separate-stderr script deploy --env-path "$ENV_FILE" --yes
  assert_failure 3
  [[ "$stderr" == *"REGISTRY is missing while DEPLOY_TARGET=swarm"* ]]
  [ ! -e "$DOCKER_CALLS" ]
}

@test "deploy in stack mode on an engine outside any Swarm: exit 4, says docker swarm init, builds nothing" {
  set_env DEPLOY_TARGET swarm
  set_env REGISTRY registre.mon-ecole.fr:5000/aiko
  run --separate-stderr script deploy --env-path "$ENV_FILE" --yes
  assert_failure 4
  [[ "$stderr" == *"not in a Swarm (state inactive): run \`docker swarm init\` here first"* ]]
  ! grep -qE '^(compose .*build|push|tag|stack|service) ' "$DOCKER_CALLS"
  refute_secrets_in "$output$stderr"
}

@test "deploy --converge-only and rollback --with-db are refused in stack mode (exit 2)" {
  set_env DEPLOY_TARGET swarm
  set_env REGISTRY registre.mon-ecole.fr:5000/aiko
  run --separate-stderr script deploy --env-path "$ENV_FILE" --yes --converge-only
  assert_failure 2
  [[ "$stderr" == *"--converge-only is for DEPLOY_TARGET=compose"* ]]
  run --separate-stderr script rollback --env-path "$ENV_FILE" --yes --with-db
  assert_failure 2
  [[ "$stderr" == *"--with-db is not available with DEPLOY_TARGET=swarm yet"* ]]
}

@test "status in stack mode: the services table, exit 4 when a service lacks tasks" {
  set_env DEPLOY_TARGET swarm
  set_env REGISTRY registre.mon-ecole.fr:5000/aiko
  run --separate-stderr script status --env-path "$ENV_FILE"
  assert_failure 4
  assert_output --partial 'stack mode (DEPLOY_TARGET=swarm)'
  assert_output --regexp 'backend +replicated +2/2 +r/aiko-backend:x'
  assert_output --regexp 'nginx +replicated +0/1 +nginx:1.27-alpine  <- not all running'
  grep -q '^service ls --filter label=com.docker.stack.namespace=ai-ko --format {{json .}}$' "$DOCKER_CALLS"
}

@test "status --write-metrics in stack mode: each stack service's health from Swarm's tasks, and the heartbeat" {
  set_env DEPLOY_TARGET swarm
  set_env REGISTRY registre.mon-ecole.fr:5000/aiko
  run --separate-stderr script status --env-path "$ENV_FILE" --write-metrics
  assert_success
  assert_output ''
  grep -q '^aiko_service_healthy{service="backend"} 1$' "$AIKO_VAR_DIR/metrics/aiko_services.prom"
  grep -q '^aiko_service_healthy{service="nginx"} 0$' "$AIKO_VAR_DIR/metrics/aiko_services.prom"
  [ "$(grep -c '^aiko_service_healthy' "$AIKO_VAR_DIR/metrics/aiko_services.prom")" -eq 2 ]
  grep -q '^aiko_cron_heartbeat_timestamp_seconds ' "$AIKO_VAR_DIR/metrics/aiko_heartbeat.prom"
  [ "$(grep '^compose ' "$DOCKER_CALLS" | grep -vc '^compose version --short$')" -eq 0 ]
}

@test "backup --restore-from-offsite in stack mode is refused (exit 2) before any docker call" {
  set_env DEPLOY_TARGET swarm
  set_env REGISTRY registre.mon-ecole.fr:5000/aiko
  run --separate-stderr script backup --env-path "$ENV_FILE" --restore-from-offsite latest --yes
  assert_failure 2
  [[ "$stderr" == *"--restore-from-offsite is not available with DEPLOY_TARGET=swarm yet"* ]]
  [ ! -e "$DOCKER_CALLS" ] || [ "$(grep -vc '^compose version --short$' "$DOCKER_CALLS")" -eq 0 ]
}
