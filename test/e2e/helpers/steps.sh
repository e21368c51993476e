# Sourced by the e2e infrastructure scripts (box/box.sh, swarm/cluster.sh) after they define
# log and die: timed steps, and an EXIT trap that names the step a failure ended in.
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f s", b - a }'; }

# step "what" CMD...: says what it does, runs it, says how long it took. A failure ends the
# script (errexit stays in force inside CMD) and the EXIT trap names the step.
_STEP='' _STEP_T=''
step() {
  local what=$1 t; shift
  t=$(now)
  log "$what ..."
  _STEP=$what _STEP_T=$t
  "$@"
  _STEP=''
  log "$what: ok ($(since "$t"))"
}
on_exit() {
  local rc=$?
  if [ "$rc" -ne 0 ] && [ -n "$_STEP" ]; then log "$_STEP: FAILED, exit $rc ($(since "$_STEP_T"))"; fi
}
trap on_exit EXIT
# try_step "what" CMD...: the same, but a failure is reported and returned (a teardown goes on).
try_step() {
  local what=$1 t rc=0; shift
  t=$(now)
  log "$what ..."
  "$@" || rc=$?
  if [ "$rc" -eq 0 ]; then log "$what: ok ($(since "$t"))"; else log "$what: FAILED, exit $rc ($(since "$t"))"; fi
  return "$rc"
}

need_root() { [ "$(id -u)" -eq 0 ] || die "must run as root"; }
