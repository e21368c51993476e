#!/usr/bin/env bash
# Installs (from Debian's archive) and starts a Docker engine plus the host tools the
# test suites need. Idempotent: a warm run (everything installed, dockerd answering)
# takes about a second. Runs as root, with no stdin (CI=true). Never leaves a process
# attached to the caller's stdout/stderr: dockerd is started detached, logging to a file.
set -euo pipefail

DOCKERD_LOG=${DOCKERD_LOG:-/var/log/dockerd.log}
DOCKER_WAIT_SECONDS=${DOCKER_WAIT_SECONDS:-60}
DOCKERD_PIDFILE=${DOCKERD_PIDFILE:-/var/run/docker.pid}
DOCKERD_PID=
DOCKERD_LOG_OFFSET=0
export DEBIAN_FRONTEND=noninteractive

log() { printf '[setup-docker] %s\n' "$*"; }
die() { printf '[setup-docker] ERROR: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "must run as root (installs packages, starts dockerd)"

# --- 1. packages --------------------------------------------------------------------
# docker.io brings dockerd, containerd, runc and iptables; docker-compose is compose 1.29,
# kept for AIKO_COMPOSE=v1 (compose v2 is installed in step 1b).
PACKAGES=(docker.io docker-compose debootstrap curl openssl jq ca-certificates iproute2 procps testssl.sh bsdextrautils restic openssh-client zstd util-linux iptables)

missing=()
for p in "${PACKAGES[@]}"; do
  status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
  [ "$status" = installed ] || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
  log "installing: ${missing[*]}"
  t0=$SECONDS
  # A failing third-party source must not stop us: Debian's archive is what we need.
  apt-get update -qq </dev/null || log "apt-get update reported errors (continuing)"
  # policy-rc.d 101 keeps the package scripts from starting dockerd themselves: we start
  # it below, detached and logging to a file.
  policy=/usr/sbin/policy-rc.d
  created_policy=0
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy"; chmod 755 "$policy"; created_policy=1
  fi
  rc=0
  apt-get install -y -qq --no-install-recommends "${missing[@]}" </dev/null >/tmp/setup-docker-apt.log 2>&1 || rc=$?
  [ "$created_policy" = 1 ] && rm -f "$policy"
  if [ "$rc" -ne 0 ]; then
    tail -n 30 /tmp/setup-docker-apt.log >&2
    die "apt-get install failed (exit $rc); full log in /tmp/setup-docker-apt.log"
  fi
  log "packages installed in $((SECONDS - t0)) s"
else
  log "packages already installed"
fi

# --- 1b. Docker Compose v2 --------------------------------------------------------------
# What a VPS runs, and what the tests run by default (AIKO_COMPOSE=v1 forces 1.29). Debian 12
# has no compose v2 package; Debian 13's docker-compose (2.26, one Go binary needing only
# libc >= 2.34) works here against the 20.10 engine. It is downloaded with a trixie source
# list and package lists kept in a folder of their own (the machine's apt sources stay as
# they are), and only its plugin is installed, where the docker client looks for plugins
# (/usr/local/lib/docker/cli-plugins: searched by Debian's 20.10 client and by newer ones,
# and no package owns it). Skipped when a compose v2 plugin already answers.
COMPOSE_PLUGIN_DIR=${COMPOSE_PLUGIN_DIR:-/usr/local/lib/docker/cli-plugins}
COMPOSE_V2_CACHE=${COMPOSE_V2_CACHE:-/var/cache/aiko-compose-v2}
COMPOSE_V2_SUITE=${COMPOSE_V2_SUITE:-trixie}
compose_plugin=$COMPOSE_PLUGIN_DIR/docker-compose

compose_v2_ok() { "$1" version --short 2>/dev/null | grep -qE '^v?2\.'; }

# The machine's own Debian mirror (its apt sources name it), unless DEBIAN_MIRROR says another.
debian_mirror() {
  if [ -n "${DEBIAN_MIRROR:-}" ]; then echo "$DEBIAN_MIRROR"; return; fi
  apt-get indextargets --format '$(SITE) $(ORIGIN) $(LABEL)' 'Created-By: Packages' 2>/dev/null \
    | awk '$2 == "Debian" && $3 == "Debian" { print $1; exit }'
}

install_compose_v2() {
  local mirror deb t0=$SECONDS
  mirror=$(debian_mirror)
  [ -n "$mirror" ] || die "no Debian mirror in this machine's apt sources: set DEBIAN_MIRROR to one (its URL, ending in /debian)"
  mkdir -p "$COMPOSE_V2_CACHE/lists/partial" "$COMPOSE_V2_CACHE/cache/archives/partial" "$COMPOSE_V2_CACHE/debs"
  printf 'deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] %s %s main\n' "$mirror" "$COMPOSE_V2_SUITE" >"$COMPOSE_V2_CACHE/sources.list"
  local apt_opts=(-o "Dir::Etc::SourceList=$COMPOSE_V2_CACHE/sources.list" -o Dir::Etc::SourceParts=/dev/null
    -o "Dir::State::Lists=$COMPOSE_V2_CACHE/lists" -o "Dir::Cache=$COMPOSE_V2_CACHE/cache" -o APT::Sandbox::User=root)
  deb=$(ls "$COMPOSE_V2_CACHE"/debs/docker-compose_2.*.deb 2>/dev/null | tail -n 1 || true)
  if [ -z "$deb" ]; then
    log "downloading docker-compose (v2) from Debian $COMPOSE_V2_SUITE"
    apt-get "${apt_opts[@]}" update -qq </dev/null >/tmp/setup-docker-compose-v2.log 2>&1 \
      || { tail -n 20 /tmp/setup-docker-compose-v2.log >&2; die "apt-get update ($COMPOSE_V2_SUITE lists) failed; log in /tmp/setup-docker-compose-v2.log"; }
    (cd "$COMPOSE_V2_CACHE/debs" && apt-get "${apt_opts[@]}" download docker-compose </dev/null >>/tmp/setup-docker-compose-v2.log 2>&1) \
      || { tail -n 20 /tmp/setup-docker-compose-v2.log >&2; die "apt-get download docker-compose ($COMPOSE_V2_SUITE) failed; log in /tmp/setup-docker-compose-v2.log"; }
    deb=$(ls "$COMPOSE_V2_CACHE"/debs/docker-compose_2.*.deb 2>/dev/null | tail -n 1 || true)
    [ -n "$deb" ] || die "the $COMPOSE_V2_SUITE docker-compose package is not compose v2 (see $COMPOSE_V2_CACHE/debs)"
  fi
  rm -rf "$COMPOSE_V2_CACHE/x"
  dpkg-deb -x "$deb" "$COMPOSE_V2_CACHE/x"
  mkdir -p "$COMPOSE_PLUGIN_DIR"
  # Copied beside, then renamed: a docker client never runs a half-written plugin.
  install -m 0755 "$COMPOSE_V2_CACHE/x/usr/libexec/docker/cli-plugins/docker-compose" "$compose_plugin.tmp"
  rm -rf "$COMPOSE_V2_CACHE/x"
  compose_v2_ok "$compose_plugin.tmp" || die "$(basename "$deb") does not run here: $("$compose_plugin.tmp" version 2>&1 | head -n 3)"
  mv -f "$compose_plugin.tmp" "$compose_plugin"
  log "compose v2 plugin installed in $((SECONDS - t0)) s: $compose_plugin ($(basename "$deb"))"
}

if compose_v2_ok "$compose_plugin"; then
  log "compose v2 plugin already installed ($compose_plugin)"
else
  install_compose_v2
fi

# Debian's client is /usr/bin/docker; a machine may also have another docker client
# earlier on PATH. Either talks to the daemon below.
command -v dockerd >/dev/null || die "dockerd not found after install"

# --- 2. the daemon ------------------------------------------------------------------
docker_ok() { timeout 10 docker info >/dev/null 2>&1; }

start_dockerd() {
  # $@: extra dockerd flags. setsid + redirects: the daemon holds none of our fds.
  log "starting dockerd $* (log: $DOCKERD_LOG)"
  DOCKERD_LOG_OFFSET=$(stat -c %s "$DOCKERD_LOG" 2>/dev/null || echo 0)
  setsid dockerd "$@" >>"$DOCKERD_LOG" 2>&1 </dev/null &
  DOCKERD_PID=$!
  local pid=$DOCKERD_PID waited=0
  while ! docker_ok; do
    if ! kill -0 "$pid" 2>/dev/null; then
      log "dockerd exited early; log tail:"; tail -n 20 "$DOCKERD_LOG" >&2 || true
      return 1
    fi
    if [ "$waited" -ge "$DOCKER_WAIT_SECONDS" ]; then
      log "dockerd did not answer within ${DOCKER_WAIT_SECONDS} s; log tail:"
      tail -n 20 "$DOCKERD_LOG" >&2 || true
      return 1
    fi
    sleep 1; waited=$((waited + 1))
  done
  log "dockerd answered after ${waited} s"
}

overlay_supported() {
  grep -qw overlay /proc/filesystems 2>/dev/null || modprobe overlay 2>/dev/null
}

# Another dockerd already running (a pid file naming a live process) must never get a
# second one beside it: a second daemon would take over its sockets and pid file.
running_dockerd_pid() {
  local pid
  pid=$(cat "$DOCKERD_PIDFILE" 2>/dev/null || true)
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = dockerd ]; then
    echo "$pid"
  fi
}

if docker_ok; then
  log "docker engine already running"
else
  case "${DOCKER_HOST:-unix:///var/run/docker.sock}" in
    unix:///var/run/docker.sock|unix:///run/docker.sock) ;;
    *) die "DOCKER_HOST=$DOCKER_HOST does not answer; not starting a local dockerd for it" ;;
  esac
  existing=$(running_dockerd_pid)
  if [ -n "$existing" ]; then
    # Probably still starting: wait for it, never start another one.
    log "dockerd (pid $existing) is running but not answering yet; waiting"
    waited=0
    until docker_ok; do
      [ "$waited" -ge "$DOCKER_WAIT_SECONDS" ] && die "dockerd (pid $existing) does not answer after ${DOCKER_WAIT_SECONDS} s; see $DOCKERD_LOG"
      sleep 1; waited=$((waited + 1))
    done
    log "dockerd answered after ${waited} s"
  else
    # A pid file left by a daemon that died would stop a new one from starting.
    rm -f "$DOCKERD_PIDFILE"
    mkdir -p "$(dirname "$DOCKERD_LOG")"
    if overlay_supported; then
      if ! start_dockerd; then
        # Only retry when our own daemon is gone and no other one took its place.
        if [ -n "${DOCKERD_PID:-}" ] && kill -0 "$DOCKERD_PID" 2>/dev/null; then
          kill "$DOCKERD_PID" 2>/dev/null || true   # the one we started, by its pid
          for _ in $(seq 1 40); do kill -0 "$DOCKERD_PID" 2>/dev/null || break; sleep 0.5; done
        fi
        [ -z "$(running_dockerd_pid)" ] || die "another dockerd is running; see $DOCKERD_LOG"
        # vfs only when this attempt's own log blames the storage driver
        if tail -c +"$((DOCKERD_LOG_OFFSET + 1))" "$DOCKERD_LOG" 2>/dev/null \
             | grep -qiE 'error initializing graphdriver|driver not supported|overlay.*(not supported|fail|invalid)'; then
          log "overlay2 does not work here: retrying with storage driver vfs (slow, but works everywhere)"
          start_dockerd --storage-driver=vfs || die "dockerd would not start; see $DOCKERD_LOG"
        else
          die "dockerd would not start; see $DOCKERD_LOG"
        fi
      fi
    else
      log "overlay filesystem not available in this kernel: using storage driver vfs (slow)"
      start_dockerd --storage-driver=vfs || die "dockerd would not start; see $DOCKERD_LOG"
    fi
  fi
fi

driver=$(docker info --format '{{.Driver}}' 2>/dev/null || echo unknown)
if [ "$driver" = overlay2 ]; then
  log "storage driver: overlay2"
else
  log "WARNING: storage driver is '$driver', not overlay2 (works, but image builds are slower)"
fi
log "docker $(docker version --format '{{.Server.Version}}' 2>/dev/null || echo '?')"
v2_version=$(docker compose version --short 2>/dev/null) \
  || die "docker compose does not answer although the plugin is $compose_plugin: $(command -v docker) looks for plugins elsewhere (or in \$DOCKER_CONFIG/cli-plugins)"
log "docker compose $v2_version"
log "docker-compose $(docker-compose version --short 2>/dev/null || echo 'MISSING')"
