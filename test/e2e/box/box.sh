#!/usr/bin/env bash
# A fresh Debian 13 (trixie) "server in a box" on this machine, for e2e tests of what an
# operator runs on a new VPS (bootstrap, Docker, compose, a reboot).
#
# The box is a debootstrap minbase rootfs that is the root of its own mount namespace
# (pivot_root, not a chroot: runc's `docker exec` enters a container through the mount
# namespace's root, which must be the box, or it lands on the host's files), with its own
# network namespace (reached from the host at its own address, NATed to Debian's archive)
# and UTS namespace (its own hostname); both namespaces are kept in /run/aiko-box/. Its
# dockerd (Debian 13's docker.io, installed in the box) runs with the box's fresh /run
# (tmpfs), its own containerd and a cgroup parent of its own. The box shares the host's
# PID namespace and kernel (ps in the box shows the host's processes). A --privileged
# container would be simpler but cannot start on the machines this runs on.
#
#   box.sh create             rootfs (pristine trixie cached in /var/cache/aiko-box/), mounts,
#                             netns, veth, NAT, resolv.conf, hostname, the host's local CAs
#   box.sh exec CMD...        runs a command as root in the box (one argument: a bash script;
#                             several: one command, each argument kept as it is); stdin passes
#   box.sh start-docker       starts the box's dockerd detached; waits until `docker info` answers
#   box.sh stop-docker        SIGTERM to dockerd; waits until it and its containerd are gone
#                             (stop-docker + start-docker is the box's "reboot")
#   box.sh load-images IMG... `docker save` on the host into `docker load` in the box
#   box.sh ip                 the box's address (the host reaches it there)
#   box.sh path               the box's root folder on the host
#   box.sh status             what exists of the box
#   box.sh destroy            stops and removes everything; idempotent, safe on a half-made box
#
# Environment: BOX_NAME (aiko-box; also the netns name and the hostname), BOX_DIR
# (/var/tmp/aiko-box-$BOX_NAME), BOX_HOST_IP/BOX_IP (10.213.0.1/10.213.0.2, a /30; give
# each box its own pair to run two at once), DEBIAN_MIRROR (the host's apt mirror),
# BOX_SECURITY_MIRROR, BOX_DNS (a nameserver for the box; default: the host's resolv.conf),
# BOX_CACHE_DIR (/var/cache/aiko-box), BOX_DOCKER_TIMEOUT (seconds, 120).
#
# No systemd runs in the box: /usr/sbin/policy-rc.d (exit 101) keeps package scripts from
# starting services; dockerd is started by start-docker. Needs root, debootstrap,
# iproute2 (ip netns), iptables, util-linux (nsenter, unshare, pivot_root, mountpoint), tar, zstd.
set -euo pipefail
shopt -s inherit_errexit

BOX_NAME=${BOX_NAME:-aiko-box}
[[ $BOX_NAME =~ ^[a-z0-9][a-z0-9-]{0,30}$ ]] || { echo "[box] ERROR: BOX_NAME=$BOX_NAME: use a-z, 0-9 and -, up to 31 characters" >&2; exit 2; }
BOX_DIR=${BOX_DIR:-/var/tmp/aiko-box-$BOX_NAME}
BOX_DIR=${BOX_DIR%/}
NS=$BOX_NAME
BOX_HOST_IP=${BOX_HOST_IP:-10.213.0.1}
BOX_IP=${BOX_IP:-10.213.0.2}
PREFIX=30
CACHE_DIR=${BOX_CACHE_DIR:-/var/cache/aiko-box}
SUITE=trixie
STATE_DIR=/run/aiko-box
UTS_FILE=$STATE_DIR/$BOX_NAME.uts
MNT_FILE=$STATE_DIR/$BOX_NAME.mnt
TAG="aiko-box:$BOX_NAME"                                   # iptables comment
CGROUP_PARENT="aiko-box-$BOX_NAME"                          # under each controller's root
DOCKER_TIMEOUT=${BOX_DOCKER_TIMEOUT:-120}
BOX_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
# veth names are at most 15 characters: a checksum of the name keeps two boxes apart
VETH_HOST="abx$(printf '%s' "$BOX_NAME" | cksum | awk '{ printf "%08x", $1 }')"

case $BOX_DIR in
  /*/*) ;;
  *) echo "[box] ERROR: BOX_DIR=$BOX_DIR must be an absolute path at least two levels deep" >&2; exit 2 ;;
esac

log() { printf '[box %s] %s\n' "$BOX_NAME" "$*" >&2; }
die() { printf '[box %s] ERROR: %s\n' "$BOX_NAME" "$*" >&2; exit 1; }
# shellcheck source=../helpers/steps.sh
. "$(dirname "${BASH_SOURCE[0]}")/../helpers/steps.sh"

need_tools() {
  local missing=() c
  for c in "$@"; do command -v "$c" >/dev/null 2>&1 || missing+=("$c"); done
  [ ${#missing[@]} -eq 0 ] || die "missing on this host: ${missing[*]} (apt-get install debootstrap iproute2 iptables util-linux zstd)"
  ip netns list >/dev/null 2>&1 || die "'ip netns' does not work here (iproute2 with netns support needed)"
}

netns_exists() { ip netns list 2>/dev/null | awk -v n="$NS" '$1 == n { f = 1 } END { exit !f }'; }
mntns_exists() { mountpoint -q "$MNT_FILE" 2>/dev/null; }
box_exists() { [ -x "$BOX_DIR/bin/bash" ] && netns_exists && mntns_exists; }
need_box() { box_exists || die "no box $BOX_NAME (run: box.sh create)"; }

# A process in the box: the box's mount namespace (its root is the box; setns starts at
# /), network and UTS namespaces, and a clean environment as after a root login.
in_box() {
  nsenter --mount="$MNT_FILE" --net="/run/netns/$NS" --uts="$UTS_FILE" -- \
    env -i PATH="$BOX_PATH" HOME=/root USER=root LOGNAME=root SHELL=/bin/bash LANG=C.UTF-8 TERM="${TERM:-dumb}" "$@"
}

mirror() {
  local m=${DEBIAN_MIRROR:-}
  [ -n "$m" ] || m=$(apt-get indextargets --format '$(SITE)' 'Created-By: Packages' 2>/dev/null | grep -v security | head -1 || true)
  [ -n "$m" ] || m=http://deb.debian.org/debian
  printf '%s\n' "${m%/}"
}

security_mirror() {
  local m=${BOX_SECURITY_MIRROR:-}
  [ -n "$m" ] || m=$(apt-get indextargets --format '$(SITE)' 'Created-By: Packages' 2>/dev/null | grep security | head -1 || true)
  [ -n "$m" ] || m="$(dirname "$(mirror)")/debian-security"
  printf '%s\n' "${m%/}"
}

# Mount points at or under $1, as /proc/self/mountinfo lists them (parents first).
mounts_under() {
  awk -v d="$1" '$5 == d || index($5, d "/") == 1 { print $5 }' /proc/self/mountinfo
}

# Unmounts everything at or under $1, deepest/latest first; bounded passes.
unmount_all() {
  local dir=$1 pass m list
  # our mounts must not propagate anything back to the host's: private first (top-down)
  while read -r m; do [ -n "$m" ] && mount --make-private "$m" 2>/dev/null || true; done < <(mounts_under "$dir")
  for pass in 1 2 3 4 5; do
    list=$(mounts_under "$dir" | tac)
    [ -n "$list" ] || return 0
    while read -r m; do
      [ -n "$m" ] || continue
      umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || log "  cannot unmount $m (pass $pass)"
    done <<<"$list"
  done
  [ -z "$(mounts_under "$dir")" ] || { log "still mounted under $dir:"; mounts_under "$dir" >&2; return 1; }
}

# --- the pristine rootfs, cached ------------------------------------------------------------
cache_file() { printf '%s/%s-minbase-%s.tar.zst\n' "$CACHE_DIR" "$SUITE" "$(dpkg --print-architecture)"; }

build_cache() {
  local out=$1 mirror build rc=0
  mirror=$(mirror)
  mkdir -p "$CACHE_DIR"
  build=$(mktemp -d "$CACHE_DIR/build.XXXXXX") || return 1
  [ -d "$build" ] || return 1
  log "  debootstrap --variant=minbase $SUITE from $mirror (log: $build.log)"
  timeout 900 debootstrap --variant=minbase "$SUITE" "$build/rootfs" "$mirror" >"$build.log" 2>&1 || rc=$?
  if [ "$rc" -eq 0 ]; then
    tar --numeric-owner --xattrs --xattrs-include='*' -C "$build/rootfs" -c . | zstd -q -T0 -3 -o "$out.tmp" || rc=$?
  else
    tail -n 30 "$build.log" >&2
  fi
  unmount_all "$build" || true   # debootstrap's own /proc, /sys when it failed midway
  rm -rf --one-file-system "$build"
  if [ "$rc" -ne 0 ]; then rm -f "$out.tmp"; return "$rc"; fi
  mv -f "$out.tmp" "$out"
  rm -f "$build.log"
}

ensure_cache() {
  local out; out=$(cache_file)
  mkdir -p "$CACHE_DIR"
  # one builder at a time (two boxes created at once share the cache)
  exec 9>"$CACHE_DIR/.lock"
  timeout 1200 flock 9 || die "cache lock $CACHE_DIR/.lock held for 20 min"
  if [ -s "$out" ]; then
    log "  cached rootfs: $out ($(du -h "$out" | cut -f1))"
  else
    build_cache "$out" || die "could not make the $SUITE rootfs"
    log "  cached the pristine rootfs as $out ($(du -h "$out" | cut -f1))"
  fi
  exec 9>&-
}

unpack_rootfs() {
  mkdir -p "$BOX_DIR"
  [ -z "$(ls -A "$BOX_DIR")" ] || die "$BOX_DIR is not empty (run: box.sh destroy)"
  timeout 600 zstd -q -d -c "$(cache_file)" | tar --numeric-owner --xattrs --xattrs-include='*' -xp -C "$BOX_DIR"
}

# The box's mount and UTS namespaces, made persistent in $STATE_DIR (a private mount, so
# the namespace files do not propagate anywhere). Inside, made from the box's netns: / bound
# on itself (a mount point: pivot_root needs one, and so does `docker load`, which remounts
# /), /proc, /dev, /dev/pts, a sysfs of the box's netns with the host's cgroup hierarchies
# (v1 here) under it, fresh tmpfs on /run (the box's dockerd/containerd state, never the
# host's), /tmp (Debian 13 has /tmp on tmpfs) and /dev/shm; then pivot_root into the box and
# the host's tree detached. Nothing of this is mounted in the host's namespace.
setup_ns() {
  mkdir -p "$STATE_DIR"
  if ! mountpoint -q "$STATE_DIR"; then
    mount --bind "$STATE_DIR" "$STATE_DIR"
    mount --make-private "$STATE_DIR"
  fi
  : >"$MNT_FILE"; : >"$UTS_FILE"
  nsenter --net="/run/netns/$NS" -- \
    unshare --mount="$MNT_FILE" --uts="$UTS_FILE" --propagation private -- \
    bash -euo pipefail -c '
      d=$1 name=$2
      mount --bind "$d" "$d"
      mount -t proc -o nosuid,nodev,noexec proc "$d/proc"
      mount --bind /dev "$d/dev"
      mount --bind /dev/pts "$d/dev/pts"
      mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs "$d/dev/shm"
      mount -t sysfs -o nosuid,nodev,noexec sysfs "$d/sys"
      mount --rbind /sys/fs/cgroup "$d/sys/fs/cgroup"
      mount -t tmpfs -o mode=755,nosuid,nodev tmpfs "$d/run"
      mkdir -m 1777 "$d/run/lock"
      mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs "$d/tmp"
      echo "$name" >/proc/sys/kernel/hostname
      cd "$d"
      pivot_root . .
      umount -l .
    ' box-setup "$BOX_DIR" "$BOX_NAME"
}

setup_net() {
  ip -4 -o addr show | grep -qF " $BOX_HOST_IP/" && die "$BOX_HOST_IP is already on an interface of this host (another box? set BOX_HOST_IP/BOX_IP)"
  ip netns add "$NS"
  ip link add "$VETH_HOST" type veth peer name eth0 netns "$NS"
  ip addr add "$BOX_HOST_IP/$PREFIX" dev "$VETH_HOST"
  ip link set "$VETH_HOST" up
  ip -n "$NS" link set lo up
  ip -n "$NS" addr add "$BOX_IP/$PREFIX" dev eth0
  ip -n "$NS" link set eth0 up
  ip -n "$NS" route add default via "$BOX_HOST_IP"
  [ "$(cat /proc/sys/net/ipv4/ip_forward)" = 1 ] || echo 1 >/proc/sys/net/ipv4/ip_forward
  local subnet="${BOX_IP%.*}.$(( ${BOX_IP##*.} & ~3 ))/$PREFIX"
  iptables -t nat -I POSTROUTING 1 -s "$subnet" ! -d "$subnet" -m comment --comment "$TAG" -j MASQUERADE
  # the host's FORWARD policy is DROP when its Docker runs: let the box's traffic through
  iptables -I FORWARD 1 -i "$VETH_HOST" -m comment --comment "$TAG" -j ACCEPT
  iptables -I FORWARD 1 -o "$VETH_HOST" -m conntrack --ctstate RELATED,ESTABLISHED -m comment --comment "$TAG" -j ACCEPT
}

configure_box() {
  local d=$BOX_DIR mirror sec dns
  mirror=$(mirror); sec=$(security_mirror)
  # resolv.conf: the host's, unless it names a resolver on the host's loopback
  # (unreachable from the box's netns)
  if [ -n "${BOX_DNS:-}" ]; then
    printf 'nameserver %s\n' "$BOX_DNS" >"$d/etc/resolv.conf"
  else
    local src=/etc/resolv.conf
    if grep -qE '^nameserver[[:space:]]+(127\.|::1)' "$src" && [ -s /run/systemd/resolve/resolv.conf ]; then
      src=/run/systemd/resolve/resolv.conf
    fi
    grep -qE '^nameserver[[:space:]]+(127\.|::1)' "$src" && die "$src names a loopback resolver, unreachable from the box: set BOX_DNS"
    rm -f "$d/etc/resolv.conf"; cp -L "$src" "$d/etc/resolv.conf"
  fi
  dns=$(awk '/^nameserver/ { print $2; exit }' "$d/etc/resolv.conf")
  log "  box resolver: $dns"
  # apt sources as on a fresh Debian 13 install (deb822)
  rm -f "$d/etc/apt/sources.list"
  cat >"$d/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: $mirror
Suites: $SUITE $SUITE-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: $sec
Suites: $SUITE-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
  printf '%s\n' "$BOX_NAME" >"$d/etc/hostname"
  printf '127.0.0.1\tlocalhost\n127.0.1.1\t%s\n::1\tlocalhost ip6-localhost ip6-loopback\n' "$BOX_NAME" >"$d/etc/hosts"
  # no init system in the box: package scripts must not start services (start-docker does)
  printf '#!/bin/sh\n# aiko-box: no init system here; box.sh start-docker starts dockerd\nexit 101\n' >"$d/usr/sbin/policy-rc.d"
  chmod 755 "$d/usr/sbin/policy-rc.d"
  : >"$d/etc/machine-id"
  printf '%s\n' "$BOX_IP" >"$d/etc/aiko-box-ip"
  # The host's own CAs (/usr/local/share/ca-certificates: e.g. a TLS-inspecting egress between
  # this machine and the registries): the box reaches the Internet through the host, so it
  # trusts them too. ca-certificates' postinst adds them to /etc/ssl/certs once it is installed
  # (minbase has no ca-certificates; bootstrap-vps.sh installs it), and Debian's Node.js, npm
  # included, reads that store.
  local ca n=0
  for ca in /usr/local/share/ca-certificates/*.crt; do
    [ -f "$ca" ] || continue
    mkdir -p "$d/usr/local/share/ca-certificates"
    cp "$ca" "$d/usr/local/share/ca-certificates/"
    n=$((n + 1))
  done
  [ "$n" -eq 0 ] || log "  $n CA certificate(s) of this host copied to the box's /usr/local/share/ca-certificates"
}

check_dns() {
  local host; host=$(mirror); host=${host#*://}; host=${host%%/*}
  in_box timeout 20 getent hosts "$host" >&2 \
    || die "the box cannot resolve $host: set BOX_DNS to a resolver reachable from $BOX_IP"
}

cmd_create() {
  need_root
  need_tools debootstrap ip iptables nsenter unshare pivot_root mountpoint tar zstd flock awk cksum
  if [ -e "$BOX_DIR" ] || netns_exists || mntns_exists || ip link show "$VETH_HOST" >/dev/null 2>&1; then
    die "box $BOX_NAME exists already (at least in part): run box.sh destroy first"
  fi
  local t0; t0=$(now)
  step "rootfs cache ($SUITE minbase)" ensure_cache
  step "unpack rootfs into $BOX_DIR" unpack_rootfs
  step "network: netns $NS, veth $VETH_HOST $BOX_HOST_IP <-> eth0 $BOX_IP, NAT" setup_net
  step "mount + UTS namespaces: root = the box (pivot_root), /proc /dev /sys, tmpfs /run /tmp, hostname $BOX_NAME" setup_ns
  step "configure: resolv.conf, apt sources, hosts, policy-rc.d, local CAs" configure_box
  step "DNS from the box" check_dns
  log "box $BOX_NAME ready at $BOX_IP, root $BOX_DIR ($(since "$t0") in all)"
}

cmd_exec() {
  need_root; need_box
  [ $# -ge 1 ] || die "usage: box.sh exec CMD..."
  local script
  if [ $# -eq 1 ]; then script=$1; else script=$(printf '%q ' "$@"); fi
  in_box bash -lc "$script"
}

# --- dockerd in the box ---------------------------------------------------------------------
# The box's processes are those in its mount namespace (their /proc/PID/root reads "/" from
# the host, like the host's own).
box_mntns() { [ -e "$MNT_FILE" ] && mntns_exists && printf 'mnt:[%s]\n' "$(stat -L -c %i "$MNT_FILE")"; }

# PIDs of processes in the box's mount namespace whose name is one of $@ (patterns)
box_pids_named() {
  local ns p comm name
  ns=$(box_mntns) || return 0
  for p in /proc/[0-9]*; do
    [ "$(readlink "$p/ns/mnt" 2>/dev/null)" = "$ns" ] || continue
    comm=$(cat "$p/comm" 2>/dev/null) || continue
    for name in "$@"; do
      # shellcheck disable=SC2254
      case $comm in $name) echo "${p#/proc/}"; break ;; esac
    done
  done
}

dockerd_pid() { box_pids_named dockerd | head -1; }

cmd_start_docker() {
  need_root; need_box
  [ -x "$BOX_DIR/usr/sbin/dockerd" ] || die "no dockerd in the box (install docker.io first)"
  if [ -n "$(dockerd_pid)" ]; then log "dockerd already running (pid $(dockerd_pid))"; return 0; fi
  local t; t=$(now)
  log "start dockerd (cgroup parent /$CGROUP_PARENT, log /var/log/dockerd.log in the box) ..."
  mkdir -p "$BOX_DIR/var/log"
  printf '\n=== %s box.sh start-docker ===\n' "$(date -Is)" >>"$BOX_DIR/var/log/dockerd.log"
  # detached (own session, no terminal, output to the box's /var/log/dockerd.log)
  setsid nsenter --mount="$MNT_FILE" --net="/run/netns/$NS" --uts="$UTS_FILE" -- \
    env -i PATH="$BOX_PATH" HOME=/root LANG=C.UTF-8 \
    dockerd --cgroup-parent="/$CGROUP_PARENT" \
    >>"$BOX_DIR/var/log/dockerd.log" 2>&1 </dev/null &
  local launcher=$! i
  for ((i = 0; i < DOCKER_TIMEOUT * 2; i++)); do
    if in_box docker info >/dev/null 2>&1; then
      log "start dockerd: ok, docker info answers, dockerd pid $(dockerd_pid) ($(since "$t"))"
      return 0
    fi
    if [ -z "$(dockerd_pid)" ] && ! kill -0 "$launcher" 2>/dev/null; then
      tail -n 30 "$BOX_DIR/var/log/dockerd.log" >&2
      die "dockerd exited (log above: $BOX_DIR/var/log/dockerd.log)"
    fi
    sleep 0.5
  done
  tail -n 30 "$BOX_DIR/var/log/dockerd.log" >&2
  die "docker info did not answer within ${DOCKER_TIMEOUT}s"
}

# Waits (bounded, $2 seconds) until no process of the box is named like $1...
wait_gone() {
  local secs=$1 i; shift
  for ((i = 0; i < secs * 4; i++)); do
    [ -z "$(box_pids_named "$@")" ] && return 0
    sleep 0.25
  done
  return 1
}

stop_docker() {
  local pid; pid=$(dockerd_pid)
  if [ -z "$pid" ]; then
    log "  dockerd not running"
  else
    kill -TERM "$pid" 2>/dev/null || true
    wait_gone "$DOCKER_TIMEOUT" dockerd || { log "  dockerd (pid $pid) still running after ${DOCKER_TIMEOUT}s"; return 1; }
  fi
  wait_gone 30 'containerd*' || { log "  containerd still running: $(box_pids_named 'containerd*' | tr '\n' ' ')"; return 1; }
}

cmd_stop_docker() {
  need_root
  mntns_exists || { log "no box $BOX_NAME: nothing to stop"; return 0; }
  step "stop dockerd and its containerd (SIGTERM, up to ${DOCKER_TIMEOUT}s)" stop_docker
}

load_pipe() { docker save "$@" | in_box docker load >&2; }

cmd_load_images() {
  need_root; need_box
  [ $# -ge 1 ] || die "usage: box.sh load-images IMAGE..."
  local img
  for img in "$@"; do docker image inspect "$img" >/dev/null 2>&1 || die "no image $img on the host"; done
  step "load $* into the box (docker save | docker load)" load_pipe "$@"
}

cmd_ip() { printf '%s\n' "$BOX_IP"; }
cmd_path() { printf '%s\n' "$BOX_DIR"; }

cmd_status() {
  echo "box:      $BOX_NAME ($BOX_DIR)"
  echo "rootfs:   $([ -x "$BOX_DIR/bin/bash" ] && echo present || echo absent)"
  echo "netns:    $(netns_exists && echo "$NS" || echo absent)"
  echo "veth:     $(ip link show "$VETH_HOST" >/dev/null 2>&1 && echo "$VETH_HOST" || echo absent)"
  echo "address:  $BOX_IP"
  echo "mountns:  $(mntns_exists && box_mntns || echo absent)"
  echo "host mounts under the box: $(mounts_under "$BOX_DIR" | wc -l)"
  echo "dockerd:  $(dockerd_pid || true)"
  echo "iptables: $( { iptables -t nat -S; iptables -S; } 2>/dev/null | grep -c -- "$TAG" || true) rule(s)"
}

# --- destroy ----------------------------------------------------------------------------------
# Every process of the box: in its mount namespace, with a root in the box's folder (a
# chroot into it), in its netns, or in its cgroup (containers, even when their shim is gone).
all_box_pids() {
  local p r ns
  ns=$(box_mntns || true)
  for p in /proc/[0-9]*; do
    if [ -n "$ns" ] && [ "$(readlink "$p/ns/mnt" 2>/dev/null)" = "$ns" ]; then echo "${p#/proc/}"; continue; fi
    r=$(readlink "$p/root" 2>/dev/null) || continue
    case $r in "$BOX_DIR" | "$BOX_DIR"/*) echo "${p#/proc/}" ;; esac
  done
  ip netns pids "$NS" 2>/dev/null || true
  local c
  for c in /sys/fs/cgroup/*/"$CGROUP_PARENT" /sys/fs/cgroup/"$CGROUP_PARENT"; do
    [ -d "$c" ] && find "$c" -name cgroup.procs -exec cat {} + 2>/dev/null
  done
  true
}

kill_box_processes() {
  local pids i
  pids=$(all_box_pids | sort -un | grep -vx "$$" || true)
  [ -n "$pids" ] || { log "  no process left"; return 0; }
  log "  SIGTERM to $(echo "$pids" | wc -l) process(es)"
  # shellcheck disable=SC2086
  kill -TERM $pids 2>/dev/null || true
  for ((i = 0; i < 40; i++)); do
    pids=$(all_box_pids | sort -un | grep -vx "$$" || true)
    [ -n "$pids" ] || return 0
    sleep 0.25
  done
  log "  SIGKILL to $(echo "$pids" | wc -l) process(es): $(echo "$pids" | tr '\n' ' ')"
  # shellcheck disable=SC2086
  kill -KILL $pids 2>/dev/null || true
  for ((i = 0; i < 40; i++)); do
    pids=$(all_box_pids | sort -un | grep -vx "$$" || true)
    [ -n "$pids" ] || return 0
    sleep 0.25
  done
  log "  still alive: $pids"; return 1
}

remove_cgroups() {
  local c
  for c in /sys/fs/cgroup/*/"$CGROUP_PARENT" /sys/fs/cgroup/"$CGROUP_PARENT"; do
    [ -d "$c" ] || continue
    find "$c" -depth -type d -exec rmdir {} \; 2>/dev/null || true
    [ -d "$c" ] && log "  cannot remove cgroup $c"
  done
  true
}

remove_net() {
  if netns_exists; then ip netns del "$NS"; fi
  if ip link show "$VETH_HOST" >/dev/null 2>&1; then ip link del "$VETH_HOST"; fi
  local table line
  for table in nat filter; do
    while read -r line; do
      [ -n "$line" ] || continue
      eval "iptables -t $table ${line/#-A/-D}"
    done < <(iptables -t "$table" -S 2>/dev/null | grep -- "$TAG" || true)
  done
}

# The namespace files: once unmounted (and no process left in them) the box's mounts go.
remove_ns_files() {
  local f
  for f in "$MNT_FILE" "$UTS_FILE"; do
    [ -e "$f" ] || continue
    if mountpoint -q "$f"; then umount "$f" 2>/dev/null || umount -l "$f" || { log "  cannot unmount $f"; return 1; }; fi
    rm -f "$f"
  done
  if [ -d "$STATE_DIR" ] && [ -z "$(ls -A "$STATE_DIR")" ]; then
    if mountpoint -q "$STATE_DIR"; then umount "$STATE_DIR" 2>/dev/null || true; fi
    rmdir "$STATE_DIR" 2>/dev/null || true
  fi
}

remove_dir() {
  [ -e "$BOX_DIR" ] || return 0
  [ -z "$(mounts_under "$BOX_DIR")" ] || { log "  refusing to delete $BOX_DIR: something is still mounted there"; return 1; }
  rm -rf --one-file-system "$BOX_DIR"
}

cmd_destroy() {
  need_root
  local t0 rc=0; t0=$(now)
  if mntns_exists && [ -n "$(dockerd_pid)" ]; then
    try_step "stop dockerd" stop_docker || true
  fi
  try_step "kill every process of the box" kill_box_processes || rc=1
  try_step "release the mount and UTS namespaces" remove_ns_files || rc=1
  try_step "unmount anything under $BOX_DIR in the host's namespace" unmount_all "$BOX_DIR" || rc=1
  try_step "remove cgroups /$CGROUP_PARENT" remove_cgroups || true
  try_step "remove netns $NS, veth $VETH_HOST, iptables rules" remove_net || rc=1
  try_step "delete $BOX_DIR" remove_dir || rc=1
  if [ "$rc" -eq 0 ]; then log "box $BOX_NAME destroyed ($(since "$t0"))"; else log "box $BOX_NAME: destroy left something behind ($(since "$t0"))"; fi
  return "$rc"
}

usage() { sed -n '2,37p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }

cmd=${1:-}; [ $# -gt 0 ] && shift
case $cmd in
  create) cmd_create "$@" ;;
  exec) cmd_exec "$@" ;;
  start-docker) cmd_start_docker "$@" ;;
  stop-docker) cmd_stop_docker "$@" ;;
  load-images) cmd_load_images "$@" ;;
  ip) cmd_ip ;;
  path) cmd_path ;;
  status) cmd_status ;;
  destroy) cmd_destroy ;;
  *) usage ;;
esac
