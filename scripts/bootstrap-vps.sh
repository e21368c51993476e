#!/usr/bin/env bash
# Prepares a fresh Debian 13 (trixie) VPS for the AI-KO toolkit, from Debian's archive only.
# Run as root, once or again: every step says what it does, and is skipped when already done.
#
#   bash scripts/bootstrap-vps.sh [--timezone Europe/Paris] [--swap-size 2G] [--ssh-port N]
#                                 [--no-firewall] [--no-swap]
#
# Steps: packages (docker.io, docker-cli, docker-compose v2, nodejs >= 20, npm, git, curl,
# bind9-dnsutils, cron, ufw, restic, logrotate, unattended-upgrades), Docker's log limits,
# the time zone (cron's "2 h" is then the same hour as the containers'), a swap file when the
# server has less than 4 GiB of memory, automatic security updates, log rotation for the
# toolkit's logs, and the firewall (SSH's real port, 80 and 443). Exit code 0 when the server
# is ready; non-zero with the step and the fix otherwise.
set -euo pipefail

TIMEZONE=Europe/Paris
SWAP_SIZE=
SSH_PORT=
FIREWALL=1
SWAP=1
ROOT=${BOOTSTRAP_ROOT:-}   # tests only: files are written under this prefix (never set on a server)

say() { printf '[bootstrap] %s\n' "$*"; }
skip() { printf '[bootstrap] ok    %s (already done)\n' "$*"; }
die() { printf '[bootstrap] ERROR: %s\n' "$1" >&2; [ -n "${2:-}" ] && printf '[bootstrap] fix: %s\n' "$2" >&2; exit "${3:-1}"; }

usage() { sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; }
# write_file PATH CONTENT: the folder made, the file replaced in one rename (never half-written).
write_file() { mkdir -p "$(dirname "$1")"; printf '%s' "$2" >"$1.tmp"; mv "$1.tmp" "$1"; }

while [ $# -gt 0 ]; do
  case "$1" in
    --timezone) TIMEZONE=${2:?--timezone needs a value such as Europe/Paris}; shift 2 ;;
    --swap-size) SWAP_SIZE=${2:?--swap-size needs a size such as 2G}; shift 2 ;;
    --ssh-port) SSH_PORT=${2:?--ssh-port needs a port number}; shift 2 ;;
    --no-firewall) FIREWALL=0; shift ;;
    --no-swap) SWAP=0; shift ;;
    -h|--help) usage; exit 0 ;;
    *) die "unknown option: $1" 'run with --help to see the options' 2 ;;
  esac
done

# --- checks before any change ------------------------------------------------------------
[ "$(id -u)" -eq 0 ] || die 'this script must run as root' 'run it with sudo, or as root: sudo bash scripts/bootstrap-vps.sh' 2
[[ "$TIMEZONE" =~ ^(UTC|[A-Za-z_]+(/[A-Za-z0-9_+-]+)+)$ ]] || die "--timezone $TIMEZONE is not a time zone name" 'use a name such as Europe/Paris or UTC' 2
[ -f "$ROOT/usr/share/zoneinfo/$TIMEZONE" ] || [ ! -d "$ROOT/usr/share/zoneinfo" ] || die "--timezone $TIMEZONE is not a time zone of this system" 'use a name such as Europe/Paris or UTC (see: ls /usr/share/zoneinfo)' 2
[[ -z "$SWAP_SIZE" || "$SWAP_SIZE" =~ ^[1-9][0-9]*[MG]$ ]] || die "--swap-size $SWAP_SIZE is not a size" 'give a size such as 2G or 1536M' 2
[[ -z "$SSH_PORT" || ( "$SSH_PORT" =~ ^[0-9]+$ && "$SSH_PORT" -ge 1 && "$SSH_PORT" -le 65535 ) ]] || die "--ssh-port $SSH_PORT is not a port" 'give the port sshd listens on (ss -ltnp | grep sshd)' 2
. /etc/os-release
if [ "${ID:-}" != debian ] || [ "${VERSION_ID:-0}" -lt 13 ] 2>/dev/null; then
  die "this is ${PRETTY_NAME:-an unknown system}: the script is for Debian 13 (trixie) or later" 'on Ubuntu 24.04 follow the guide section "Ubuntu 24.04" step by step' 3
fi
export DEBIAN_FRONTEND=noninteractive
has_systemd() { [ -d /run/systemd/system ]; }
started=$SECONDS

# --- 1. packages --------------------------------------------------------------------------
PACKAGES=(ca-certificates tzdata curl git docker.io docker-cli docker-compose nodejs npm bind9-dnsutils cron ufw restic logrotate unattended-upgrades)
missing=()
for package in "${PACKAGES[@]}"; do
  [ "$(dpkg-query -W -f='${db:Status-Status}' "$package" 2>/dev/null || true)" = installed ] || missing+=("$package")
done
if [ ${#missing[@]} -eq 0 ]; then
  skip 'packages'
else
  say "installing from Debian's archive: ${missing[*]}"
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
node_major=$(node --version | sed -E 's/^v([0-9]+).*/\1/')
[ "$node_major" -ge 20 ] || die "Node.js $(node --version) is too old (20 or later is needed)" 'this Debian release ships an older one: see the guide, section 1, for another source' 3
docker compose version >/dev/null 2>&1 || die "'docker compose' does not answer" 'apt-get install docker-compose (Debian 13 packages Compose v2 as the docker CLI plugin)' 3
say "ok    node $(node --version), $(docker compose version --short 2>/dev/null | sed 's/^/compose /'), $(restic version | cut -d' ' -f1-2)"

# --- 2. Docker's logs: bounded ------------------------------------------------------------
daemon_json="$ROOT/etc/docker/daemon.json"
if [ -f "$daemon_json" ] && grep -q '"max-size"' "$daemon_json"; then
  skip "Docker log limits ($daemon_json)"
elif [ -f "$daemon_json" ]; then
  say "WARN  $daemon_json exists without log limits: add \"log-opts\": {\"max-size\": \"10m\", \"max-file\": \"3\"} to it yourself (not overwritten)"
else
  say "Docker keeps at most 3 x 10 MB of logs per container ($daemon_json)"
  write_file "$daemon_json" $'{\n  "log-driver": "json-file",\n  "log-opts": { "max-size": "10m", "max-file": "3" }\n}\n'
  if has_systemd; then systemctl restart docker; else say 'no systemd here: the limits apply when dockerd next starts'; fi
fi
if has_systemd; then
  systemctl enable --now docker >/dev/null 2>&1 || die 'Docker did not start' 'journalctl -u docker -n 50' 1
  systemctl enable --now cron >/dev/null 2>&1 || true
fi

# --- 3. time zone ---------------------------------------------------------------------------
if [ "$(cat "$ROOT/etc/timezone" 2>/dev/null || true)" = "$TIMEZONE" ] && [ "$(readlink "$ROOT/etc/localtime" || true)" = "/usr/share/zoneinfo/$TIMEZONE" ]; then
  skip "time zone $TIMEZONE"
else
  say "time zone: $TIMEZONE (cron's hours are then the containers' hours)"
  ln -sfn "/usr/share/zoneinfo/$TIMEZONE" "$ROOT/etc/localtime"
  write_file "$ROOT/etc/timezone" "$TIMEZONE"$'\n'
  if has_systemd; then systemctl restart cron >/dev/null 2>&1 || true; fi
fi

# --- 4. swap when memory is short -----------------------------------------------------------
mem_kb=$(awk '/^MemTotal:/ { print $2 }' /proc/meminfo)
swapfile="$ROOT/swapfile"
if [ "$SWAP" = 0 ]; then
  skip 'swap (--no-swap)'
elif grep -q '^/swapfile ' "$ROOT/etc/fstab" 2>/dev/null; then
  skip 'swap file /swapfile'
elif [ "$mem_kb" -ge $((4 * 1024 * 1024)) ] && [ -z "$SWAP_SIZE" ]; then
  skip "swap: $((mem_kb / 1024)) MiB of memory, 4 GiB or more needs none"
else
  size=${SWAP_SIZE:-2G}
  say "swap file /swapfile of $size (the build and a blue/green switch need more than $((mem_kb / 1024)) MiB), swappiness 10"
  case $size in *G) megabytes=$(( ${size%G} * 1024 )) ;; *) megabytes=${size%M} ;; esac
  fallocate -l "$size" "$swapfile" 2>/dev/null || dd if=/dev/zero of="$swapfile" bs=1M count="$megabytes" status=none
  chmod 600 "$swapfile"
  mkswap "$swapfile" >/dev/null
  if [ -z "$ROOT" ]; then swapon "$swapfile" || say 'WARN  swapon refused (a container or a chroot?): the swap file is used after the next reboot'; fi
  printf '/swapfile none swap sw 0 0\n' >>"$ROOT/etc/fstab"
  write_file "$ROOT/etc/sysctl.d/60-aiko-swap.conf" $'vm.swappiness = 10\n'
  [ -n "$ROOT" ] || sysctl -q -p "$ROOT/etc/sysctl.d/60-aiko-swap.conf" || true
fi

# --- 5. automatic security updates ----------------------------------------------------------
auto="$ROOT/etc/apt/apt.conf.d/20auto-upgrades"
if grep -qs 'Unattended-Upgrade "1"' "$auto"; then
  skip 'automatic security updates'
else
  say "automatic security updates (unattended-upgrades, daily; Docker's containers are not restarted by it)"
  write_file "$auto" $'APT::Periodic::Update-Package-Lists "1";\nAPT::Periodic::Unattended-Upgrade "1";\n'
fi

# --- 6. rotation of the toolkit's cron logs -------------------------------------------------
rotate="$ROOT/etc/logrotate.d/aiko"
if [ -f "$rotate" ]; then
  skip "log rotation ($rotate)"
else
  say "log rotation of /var/log/aiko-*.log (weekly, 8 kept, compressed)"
  write_file "$rotate" $'/var/log/aiko-*.log {\n    weekly\n    rotate 8\n    compress\n    delaycompress\n    missingok\n    notifempty\n    create 0640 root adm\n}\n'
fi

# --- 7. firewall ----------------------------------------------------------------------------
if [ "$FIREWALL" = 0 ]; then
  skip 'firewall (--no-firewall)'
else
  if [ -z "$SSH_PORT" ]; then
    SSH_PORT=$( (sshd -T 2>/dev/null || true) | awk '$1 == "port" { print $2; exit }')
    SSH_PORT=${SSH_PORT:-22}
  fi
  if ufw status 2>/dev/null | grep -q '^Status: active' && ufw status | grep -qE "^${SSH_PORT}/tcp +ALLOW"; then
    skip "firewall (ufw active, SSH port $SSH_PORT open)"
  else
    say "firewall: ufw allows SSH ($SSH_PORT/tcp) first, then 80 and 443, then is enabled"
    ufw allow "$SSH_PORT/tcp" >/dev/null
    ufw allow 80/tcp >/dev/null
    ufw allow 443/tcp >/dev/null
    ufw --force enable >/dev/null
  fi
  say "note: ports Docker publishes bypass ufw (Docker writes its own iptables rules); only nginx publishes (80, 443), Grafana on 127.0.0.1 only"
fi

say "ready in $((SECONDS - started)) s: next, the guide's section 2 (clone the repository, npm ci)"
