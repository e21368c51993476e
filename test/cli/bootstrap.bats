#!/usr/bin/env bats
bats_require_minimum_version 1.5.0

# bootstrap-vps.sh refuses bad input and other systems before it changes anything; the whole
# run on a fresh Debian 13 is proven in test/e2e/12-guide-in-box.e2e.test.ts (bootstrap, then again: nothing left to do).

setup() {
  SCRIPT="$BATS_TEST_DIRNAME/../../scripts/bootstrap-vps.sh"
}

@test "bootstrap-vps --help lists the options and the steps" {
  run bash "$SCRIPT" --help
  [ "$status" -eq 0 ]
  [[ "$output" == *"--timezone Europe/Paris"* ]]
  [[ "$output" == *"a swap file when the"* ]]
}

@test "bootstrap-vps: an unknown option, a bad time zone, swap size or port is exit 2 naming it, nothing installed" {
  run bash "$SCRIPT" --bogus
  [ "$status" -eq 2 ]
  [[ "$output" == *"unknown option: --bogus"* ]]
  run bash "$SCRIPT" --timezone 'Paris; rm -rf /'
  [ "$status" -eq 2 ]
  [[ "$output" == *"is not a time zone name"* ]]
  run bash "$SCRIPT" --swap-size 2GB
  [ "$status" -eq 2 ]
  [[ "$output" == *"--swap-size 2GB is not a size"* && "$output" == *"fix: give a size such as 2G"* ]]
  run bash "$SCRIPT" --ssh-port 70000
  [ "$status" -eq 2 ]
  [[ "$output" == *"--ssh-port 70000 is not a port"* ]]
}

@test "bootstrap-vps refuses a system that is not Debian 13 or later, before any change" {
  . /etc/os-release
  if [ "$ID" = debian ] && [ "${VERSION_ID:-0}" -ge 13 ]; then skip "this machine is Debian $VERSION_ID"; fi
  run bash "$SCRIPT"
  [ "$status" -eq 3 ]
  [[ "$output" == *"the script is for Debian 13 (trixie) or later"* ]]
}
