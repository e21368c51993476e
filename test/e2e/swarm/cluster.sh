#!/usr/bin/env bash
# A three-node Docker Swarm on this machine, for e2e tests of the stack mode (issue 17).
#
# Each node is a containerd + dockerd pair (the host's own binaries) in namespaces of its own:
# a network namespace (ip netns) with an address on a bridge this script makes, a mount
# namespace (so the overlay mounts of its containers never reach the host's mount table,
# and /sys is the sysfs of its netns) and a UTS namespace (its own hostname, so `docker
# node ls` tells the nodes apart). Each has its own data root, exec root, pid file, socket,
# containerd (its own root, state and socket: never the host's), trust key (the engine ID),
# daemon config file (never the host's /etc/docker/daemon.json) and cgroup parent. The
# three nodes are Swarm managers: Raft keeps a quorum with one of them down, which is what
# the "a server lost" case of the issue needs (one manager would be a single point of
# failure of the control plane; Docker advises an odd number, 3 for a small cluster).
#
#   cluster.sh create               bridge, netns, veths, daemons, swarm init/join, labels
#                                   (node1 edge=true, node2 data=true, node3 app only),
#                                   the registry on node1 (aiko-standin/registry:test)
#   cluster.sh destroy              stops and removes everything; idempotent
#   cluster.sh status               what exists
#   cluster.sh exec NODE ARGS...    `docker ARGS...` against NODE (node1, node2, node3)
#   cluster.sh nsexec NODE CMD...   CMD in NODE's network namespace (curl from a node)
#   cluster.sh stop-node NODE       SIGTERM to NODE's dockerd, then its containerd (bounded)
#   cluster.sh start-node NODE      starts them again; waits until `docker info` answers
#   cluster.sh load NODE IMAGE...   `docker save` on the host into `docker load` on NODE
#   cluster.sh push IMAGE...        loads IMAGE into node1, tags it REGISTRY/IMAGE, pushes it
#   cluster.sh ip NODE | registry   an address (registry: HOST:PORT)
#   cluster.sh host NODE            NODE's docker host (unix:///run/aiko-swarm/NODE/docker.sock)
#
# Environment: SWARM_SUBNET (10.214.0, a /24: .1 the host, .11-.13 the nodes), SWARM_BRIDGE
# (aikosw0), SWARM_DATA_DIR (/var/lib/aiko-swarm), SWARM_POOL (10.215.0.0/16: the overlay
# networks' subnets, apart from the bridge's), SWARM_TIMEOUT (seconds per daemon start, 90),
# SWARM_TMPFS_SIZE (6g: the data folder is a tmpfs of that size; 0: a plain folder on disk),
# SWARM_NO_REGISTRY=1 (create without the registry).
#
# What this kernel lacks (measured; test/e2e/swarm/README.md): IPVS, so the ingress routing
# mesh and virtual-IP services cannot work here; stacks use `endpoint_mode: dnsrr` and ports
# published in `mode: host`. Needs root, iproute2 (ip netns), iptables, util-linux (nsenter,
# unshare, mountpoint), dockerd/containerd/docker (docker.io), curl.
set -euo pipefail
shopt -s inherit_errexit

SUBNET=${SWARM_SUBNET:-10.214.0}
[[ $SUBNET =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || { echo "[swarm] ERROR: SWARM_SUBNET=$SUBNET: three octets (10.214.0)" >&2; exit 2; }
BRIDGE=${SWARM_BRIDGE:-aikosw0}
HOST_IP=$SUBNET.1
PREFIX=24
DATA_DIR=${SWARM_DATA_DIR:-/var/lib/aiko-swarm}
DATA_DIR=${DATA_DIR%/}
STATE_DIR=/run/aiko-swarm
POOL=${SWARM_POOL:-10.215.0.0/16}
TIMEOUT=${SWARM_TIMEOUT:-90}
TMPFS_SIZE=${SWARM_TMPFS_SIZE:-6g}
NODES=(node1 node2 node3)
TAG="aiko-swarm:$BRIDGE"                                    # iptables comment
REGISTRY_PORT=5000
REGISTRY_IMAGE=aiko-standin/registry:test
REGISTRY_NAME=aiko-registry
SYS_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

case $DATA_DIR in
  /*/*) ;;
  *) echo "[swarm] ERROR: SWARM_DATA_DIR=$DATA_DIR must be an absolute path at least two levels deep" >&2; exit 2 ;;
esac

log() { printf '[swarm] %s\n' "$*" >&2; }
die() { printf '[swarm] ERROR: %s\n' "$*" >&2; exit 1; }
# shellcheck source=../helpers/steps.sh
. "$(dirname "${BASH_SOURCE[0]}")/../helpers/steps.sh"
need_tools() {
  local missing=() c
  for c in ip iptables nsenter unshare mountpoint dockerd containerd docker curl awk; do
    command -v "$c" >/dev/null 2>&1 || missing+=("$c")
  done
  [ ${#missing[@]} -eq 0 ] || die "missing on this host: ${missing[*]} (apt-get install iproute2 iptables util-linux docker.io curl)"
  ip netns list >/dev/null 2>&1 || die "'ip netns' does not work here"
}

# --- names of a node ---------------------------------------------------------------------------
node_index() {
  case $1 in
    node1) echo 1 ;; node2) echo 2 ;; node3) echo 3 ;;
    *) die "unknown node '$1' (node1, node2, node3)" ;;
  esac
}
need_node() { node_index "$1" >/dev/null; }
node_ip() { echo "$SUBNET.1$(node_index "$1")"; }
node_ns() { echo "aikosw-$1"; }                              # network namespace
node_veth() { echo "aikosw-n$(node_index "$1")"; }            # host end (<= 15 characters)
node_run() { echo "$STATE_DIR/$1"; }
node_data() { echo "$DATA_DIR/$1"; }
node_sock() { echo "$(node_run "$1")/docker.sock"; }
node_host() { echo "unix://$(node_sock "$1")"; }
node_mnt() { echo "$STATE_DIR/$1.mnt"; }
node_uts() { echo "$STATE_DIR/$1.uts"; }
node_cgroup() { echo "aiko-swarm-$1"; }
node_hostname() { echo "aiko-swarm-$1"; }
registry_addr() { echo "$(node_ip node1):$REGISTRY_PORT"; }

netns_exists() { ip netns list 2>/dev/null | awk -v n="$1" '$1 == n { f = 1 } END { exit !f }'; }
mntns_exists() { mountpoint -q "$(node_mnt "$1")" 2>/dev/null; }

# docker ARGS... against a node (a bounded call: a hung daemon must not hang a test)
ndocker() {
  local node=$1; shift
  DOCKER_HOST=$(node_host "$node") timeout "${SWARM_CALL_TIMEOUT:-120}" docker "$@"
}

# A process in the node's namespaces (mount, network, UTS), with a clean environment.
in_node() {
  local node=$1; shift
  nsenter --mount="$(node_mnt "$node")" --net="/run/netns/$(node_ns "$node")" --uts="$(node_uts "$node")" -- \
    env -i PATH="$SYS_PATH" HOME=/root LANG=C.UTF-8 "$@"
}

# --- data -----------------------------------------------------------------------------------------
# The nodes' data roots on a tmpfs: image layers written three times and deleted at destroy
# cost the shared disk nothing (a rm -rf of 1 GB of layers took minutes here under load).
setup_data_dir() {
  mkdir -p "$DATA_DIR"
  if [ "$TMPFS_SIZE" != 0 ]; then
    mount -t tmpfs -o "size=$TMPFS_SIZE,mode=0755" aiko-swarm "$DATA_DIR"
    mount --make-private "$DATA_DIR"   # nothing of it propagates to other mount namespaces
  fi
}

# --- network ------------------------------------------------------------------------------------
setup_bridge() {
  ip -4 -o addr show | grep -qF " $HOST_IP/" && die "$HOST_IP is already on an interface of this host (set SWARM_SUBNET)"
  ip link add "$BRIDGE" type bridge
  ip addr add "$HOST_IP/$PREFIX" dev "$BRIDGE"
  ip link set "$BRIDGE" up
  # br_netfilter is on here (the host's Docker): frames between two ports of the bridge go
  # through the host's FORWARD chain, whose policy is DROP. Only traffic that stays on the
  # bridge is accepted; nothing is NATed (the nodes need no Internet: images are loaded).
  iptables -I FORWARD 1 -i "$BRIDGE" -o "$BRIDGE" -m comment --comment "$TAG" -j ACCEPT
  # Anything else a node sends off the bridge (a registry lookup of an image that is only
  # loaded, e.g. postgres:16.4-alpine of the production file: the CLI resolving its digest, the
  # agent pulling before it falls back to the local image) is refused at once instead of
  # dropped, so it fails in milliseconds rather than after the resolver's timeouts.
  iptables -I FORWARD 2 -i "$BRIDGE" ! -o "$BRIDGE" -m comment --comment "$TAG" -j REJECT
}

setup_node_net() {
  local node=$1 ns veth ip
  ns=$(node_ns "$node"); veth=$(node_veth "$node"); ip=$(node_ip "$node")
  ip netns add "$ns"
  ip link add "$veth" type veth peer name eth0 netns "$ns"
  ip link set "$veth" master "$BRIDGE"
  ip link set "$veth" up
  ip -n "$ns" link set lo up
  ip -n "$ns" addr add "$ip/$PREFIX" dev eth0
  ip -n "$ns" link set eth0 up
  ip -n "$ns" route add default via "$HOST_IP"
}

# --- mount + UTS namespaces of a node -----------------------------------------------------------
# Made from the node's netns: the node's own /etc/docker (dockerd keeps its trust key there,
# key.json, which gives the engine its ID: three daemons must not share the host's), a sysfs of that netns on /sys (libnetwork reads /sys/class/net)
# with the host's cgroup hierarchies moved under it, and the hostname. The namespace files
# live in $STATE_DIR, a private mount (they must not propagate anywhere).
setup_node_ns() {
  local node=$1 run
  run=$(node_run "$node")
  mkdir -p "$STATE_DIR"
  if ! mountpoint -q "$STATE_DIR"; then
    mount --bind "$STATE_DIR" "$STATE_DIR"
    mount --make-private "$STATE_DIR"
  fi
  mkdir -p "$run/cgroup-move" "$(node_data "$node")/etc-docker"
  mkdir -p /etc/docker   # the mount point (dockerd makes it anyway)
  : >"$(node_mnt "$node")"; : >"$(node_uts "$node")"
  nsenter --net="/run/netns/$(node_ns "$node")" -- \
    unshare --mount="$(node_mnt "$node")" --uts="$(node_uts "$node")" --propagation private -- \
    bash -euo pipefail -c '
      tmp=$1 name=$2 etc=$3
      mount --bind "$etc" /etc/docker
      mount --rbind /sys/fs/cgroup "$tmp"
      mount -t sysfs -o nosuid,nodev,noexec sysfs /sys
      mount --move "$tmp" /sys/fs/cgroup
      echo "$name" >/proc/sys/kernel/hostname
    ' node-setup "$run/cgroup-move" "$(node_hostname "$node")" "$(node_data "$node")/etc-docker"
  rmdir "$run/cgroup-move"
}

# --- the daemons of a node ------------------------------------------------------------------------
write_node_config() {
  local node=$1 run data
  run=$(node_run "$node"); data=$(node_data "$node")
  mkdir -p "$run" "$data/containerd" "$data/docker" "$data/log"
  cat >"$data/containerd.toml" <<EOF
# containerd of swarm $node (cluster.sh): its own root, state and socket
version = 2
root = "$data/containerd"
state = "$run/containerd"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$run/containerd/containerd.sock"
[debug]
  address = ""
[metrics]
  address = ""
[plugins."io.containerd.internal.v1.opt"]
  path = "$data/containerd/opt"
EOF
  printf '{}\n' >"$data/daemon.json"
}

containerd_pid() {
  local f; f=$(node_run "$1")/containerd.pid
  [ -s "$f" ] && kill -0 "$(cat "$f")" 2>/dev/null && cat "$f"
}
dockerd_pid() {
  local f; f=$(node_run "$1")/docker.pid
  [ -s "$f" ] && kill -0 "$(cat "$f")" 2>/dev/null && cat "$f"
}

start_node() {
  local node=$1 run data ip i launcher
  run=$(node_run "$node"); data=$(node_data "$node"); ip=$(node_ip "$node")
  mntns_exists "$node" || die "no namespaces for $node (run: cluster.sh create)"
  printf '\n=== %s cluster.sh start-node %s ===\n' "$(date -Is)" "$node" >>"$data/log/containerd.log"
  printf '\n=== %s cluster.sh start-node %s ===\n' "$(date -Is)" "$node" >>"$data/log/dockerd.log"
  if [ -z "$(containerd_pid "$node")" ]; then
    setsid nsenter --mount="$(node_mnt "$node")" --net="/run/netns/$(node_ns "$node")" --uts="$(node_uts "$node")" -- \
      env -i PATH="$SYS_PATH" HOME=/root LANG=C.UTF-8 \
      containerd --config "$data/containerd.toml" >>"$data/log/containerd.log" 2>&1 </dev/null &
    launcher=$!
    echo "$launcher" >"$run/containerd.pid"   # nsenter execs env, env execs containerd: same pid
    for ((i = 0; i < TIMEOUT * 4; i++)); do
      [ -S "$run/containerd/containerd.sock" ] && ctr -a "$run/containerd/containerd.sock" version >/dev/null 2>&1 && break
      kill -0 "$launcher" 2>/dev/null || { tail -n 20 "$data/log/containerd.log" >&2; die "containerd of $node exited"; }
      sleep 0.25
    done
    [ -S "$run/containerd/containerd.sock" ] || die "containerd of $node did not answer within ${TIMEOUT}s"
  fi
  if [ -z "$(dockerd_pid "$node")" ]; then
    setsid nsenter --mount="$(node_mnt "$node")" --net="/run/netns/$(node_ns "$node")" --uts="$(node_uts "$node")" -- \
      env -i PATH="$SYS_PATH" HOME=/root LANG=C.UTF-8 \
      dockerd \
        --config-file "$data/daemon.json" \
        --data-root "$data/docker" \
        --exec-root "$run/exec" \
        --pidfile "$run/docker.pid" \
        --host "unix://$run/docker.sock" \
        --containerd "$run/containerd/containerd.sock" \
        --cgroup-parent "/$(node_cgroup "$node")" \
        --exec-opt native.cgroupdriver=cgroupfs \
        --storage-driver overlay2 \
        --swarm-default-advertise-addr "$ip" \
        --insecure-registry "$(registry_addr)" \
        >>"$data/log/dockerd.log" 2>&1 </dev/null &
    launcher=$!
    for ((i = 0; i < TIMEOUT * 4; i++)); do
      ndocker "$node" info >/dev/null 2>&1 && return 0
      kill -0 "$launcher" 2>/dev/null || { tail -n 20 "$data/log/dockerd.log" >&2; die "dockerd of $node exited"; }
      sleep 0.25
    done
    tail -n 20 "$data/log/dockerd.log" >&2
    die "dockerd of $node did not answer within ${TIMEOUT}s"
  fi
}

wait_pid_gone() {
  local pid=$1 secs=$2 i
  for ((i = 0; i < secs * 4; i++)); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.25; done
  return 1
}

stop_node() {
  local node=$1 pid
  pid=$(dockerd_pid "$node" || true)
  if [ -n "$pid" ]; then
    kill -TERM "$pid" 2>/dev/null || true
    wait_pid_gone "$pid" "$TIMEOUT" || { log "  dockerd of $node (pid $pid) still running after ${TIMEOUT}s"; return 1; }
  fi
  pid=$(containerd_pid "$node" || true)
  if [ -n "$pid" ]; then
    kill -TERM "$pid" 2>/dev/null || true
    wait_pid_gone "$pid" 30 || { log "  containerd of $node (pid $pid) still running after 30s"; return 1; }
  fi
  rm -f "$(node_run "$node")/containerd.pid"
}

# --- swarm ---------------------------------------------------------------------------------------
node_id() { ndocker "$1" info --format '{{.Swarm.NodeID}}'; }

swarm_init() {
  local ip; ip=$(node_ip node1)
  ndocker node1 swarm init --advertise-addr "$ip" --listen-addr "$ip:2377" \
    --default-addr-pool "$POOL" --default-addr-pool-mask-length 24 >/dev/null
}

swarm_join() {
  local node=$1 token ip
  token=$(ndocker node1 swarm join-token -q manager)
  ip=$(node_ip "$node")
  ndocker "$node" swarm join --token "$token" --advertise-addr "$ip" --listen-addr "$ip:2377" "$(node_ip node1):2377" >/dev/null
}

label_nodes() {
  ndocker node1 node update --label-add edge=true "$(node_id node1)" >/dev/null
  ndocker node1 node update --label-add data=true "$(node_id node2)" >/dev/null
}

wait_nodes_ready() {
  local i ready
  for ((i = 0; i < TIMEOUT * 2; i++)); do
    ready=$(ndocker node1 node ls --format '{{.Status}} {{.Availability}}' 2>/dev/null | grep -c '^Ready Active$' || true)
    [ "$ready" -eq 3 ] && return 0
    sleep 0.5
  done
  ndocker node1 node ls >&2 || true
  return 1
}

# --- registry ------------------------------------------------------------------------------------
load_pipe() { local node=$1; shift; docker save "$@" | ndocker "$node" load >&2; }

start_registry() {
  docker image inspect "$REGISTRY_IMAGE" >/dev/null 2>&1 || die "no image $REGISTRY_IMAGE on the host (bash test/e2e/images/build.sh registry)"
  load_pipe node1 "$REGISTRY_IMAGE"
  # a plain container (not a service: a service's published port would need the ingress mesh
  # or host mode, and the registry must be up before any service can pull)
  ndocker node1 run -d --name "$REGISTRY_NAME" --restart always -p "$(registry_addr):$REGISTRY_PORT" \
    -v aiko-registry-data:/var/lib/docker-registry "$REGISTRY_IMAGE" >/dev/null
  local i
  for ((i = 0; i < 120; i++)); do
    curl -fsS -o /dev/null --max-time 2 "http://$(registry_addr)/v2/" && return 0
    sleep 0.25
  done
  ndocker node1 logs --tail 20 "$REGISTRY_NAME" >&2 || true
  return 1
}

push_images() {
  local img ref
  for img in "$@"; do docker image inspect "$img" >/dev/null 2>&1 || die "no image $img on the host"; done
  load_pipe node1 "$@"
  for img in "$@"; do
    ref="$(registry_addr)/$img"
    ndocker node1 tag "$img" "$ref"
    ndocker node1 push "$ref" >/dev/null
    log "  pushed $ref"
  done
}

# --- commands --------------------------------------------------------------------------------------
cmd_create() {
  need_root; need_tools
  local node t0
  if ip link show "$BRIDGE" >/dev/null 2>&1 || [ -e "$DATA_DIR" ]; then
    die "a cluster exists already (at least in part): run cluster.sh destroy first"
  fi
  for node in "${NODES[@]}"; do
    if netns_exists "$(node_ns "$node")" || mntns_exists "$node"; then die "$node exists already: run cluster.sh destroy first"; fi
  done
  t0=$(now)
  step "data folder $DATA_DIR: a tmpfs of $TMPFS_SIZE" setup_data_dir
  step "bridge $BRIDGE $HOST_IP/$PREFIX, FORWARD accept on the bridge" setup_bridge
  for node in "${NODES[@]}"; do
    step "$node: netns $(node_ns "$node"), veth $(node_veth "$node") on $BRIDGE, address $(node_ip "$node")" setup_node_net "$node"
    step "$node: mount + UTS namespaces (sysfs of the netns, hostname $(node_hostname "$node"))" setup_node_ns "$node"
    step "$node: containerd and dockerd configuration under $(node_data "$node")" write_node_config "$node"
  done
  # one at a time: three daemons starting at once on 2 shared cores time out each other
  for node in "${NODES[@]}"; do
    step "$node: start containerd + dockerd" start_node "$node"
  done
  step "swarm init on node1 (advertise $(node_ip node1), address pool $POOL)" swarm_init
  step "node2 joins as a manager" swarm_join node2
  step "node3 joins as a manager" swarm_join node3
  step "labels: node1 edge=true, node2 data=true, node3 none" label_nodes
  step "three nodes Ready and Active" wait_nodes_ready
  if [ "${SWARM_NO_REGISTRY:-}" != 1 ]; then
    step "registry on node1 at $(registry_addr)" start_registry
  fi
  log "cluster ready: nodes $(node_ip node1) $(node_ip node2) $(node_ip node3), registry $(registry_addr) ($(since "$t0") in all)"
}

cmd_exec() {
  need_root
  local node=${1:-}; [ $# -ge 2 ] || die "usage: cluster.sh exec NODE DOCKER-ARGS..."
  need_node "$node"; shift
  DOCKER_HOST=$(node_host "$node") exec docker "$@"
}

cmd_nsexec() {
  need_root
  local node=${1:-}; [ $# -ge 2 ] || die "usage: cluster.sh nsexec NODE CMD..."
  need_node "$node"; shift
  mntns_exists "$node" || die "no namespaces for $node"
  in_node "$node" "$@"
}

cmd_start_node() {
  need_root; local node=${1:-}; need_node "$node"
  step "$node: start containerd + dockerd" start_node "$node"
}

cmd_stop_node() {
  need_root; local node=${1:-}; need_node "$node"
  step "$node: stop dockerd then containerd (SIGTERM, up to ${TIMEOUT}s)" stop_node "$node"
}

cmd_load() {
  need_root; local node=${1:-}; need_node "$node"; shift
  [ $# -ge 1 ] || die "usage: cluster.sh load NODE IMAGE..."
  step "load $* into $node" load_pipe "$node" "$@"
}

cmd_push() {
  need_root
  [ $# -ge 1 ] || die "usage: cluster.sh push IMAGE..."
  step "push $* to $(registry_addr) (through node1)" push_images "$@"
}

cmd_status() {
  local node
  echo "bridge:   $(ip link show "$BRIDGE" >/dev/null 2>&1 && echo "$BRIDGE $HOST_IP/$PREFIX" || echo absent)"
  echo "iptables: $(iptables -S 2>/dev/null | grep -c -- "$TAG" || true) rule(s)"
  echo "data:     $([ -d "$DATA_DIR" ] && echo "$DATA_DIR ($(du -sh "$DATA_DIR" 2>/dev/null | cut -f1))" || echo absent)"
  for node in "${NODES[@]}"; do
    printf '%s: ip %s, netns %s, mountns %s, containerd %s, dockerd %s' "$node" "$(node_ip "$node")" \
      "$(netns_exists "$(node_ns "$node")" && echo present || echo absent)" \
      "$(mntns_exists "$node" && echo present || echo absent)" \
      "$(containerd_pid "$node" || echo -)" "$(dockerd_pid "$node" || echo -)"
    if [ -n "$(dockerd_pid "$node" || true)" ]; then
      printf ', swarm %s\n' "$(SWARM_CALL_TIMEOUT=10 ndocker "$node" info --format '{{.Swarm.LocalNodeState}} {{.Swarm.NodeID}}' 2>/dev/null || echo '?')"
    else
      printf '\n'
    fi
  done
  if [ -n "$(dockerd_pid node1 || true)" ]; then
    SWARM_CALL_TIMEOUT=10 ndocker node1 node ls 2>/dev/null || true
  fi
}

cmd_ip() {
  case ${1:-} in
    registry) registry_addr ;;
    *) need_node "${1:-}"; node_ip "$1" ;;
  esac
}

# --- destroy ---------------------------------------------------------------------------------------
# Every process of a node: in its mount namespace, in its netns, or in its cgroup (containers).
node_pids() {
  local node=$1 ns c
  if mntns_exists "$node"; then
    # one stat for every process (a readlink each is a fork each: seconds on a busy host)
    ns=$(stat -L -c %i "$(node_mnt "$node")")
    stat -L -c '%i %n' /proc/[0-9]*/ns/mnt 2>/dev/null | awk -v i="$ns" '$1 == i { split($2, a, "/"); print a[3] }'
  fi
  ip netns pids "$(node_ns "$node")" 2>/dev/null || true
  for c in /sys/fs/cgroup/*/"$(node_cgroup "$node")"; do
    [ -d "$c" ] && find "$c" -name cgroup.procs -exec cat {} + 2>/dev/null
  done
  true
}

kill_node_processes() {
  local node=$1 pids i
  pids=$(node_pids "$node" | sort -un | grep -vx "$$" || true)
  [ -n "$pids" ] || { log "  no process left"; return 0; }
  log "  SIGTERM to $(echo "$pids" | wc -l) process(es)"
  # shellcheck disable=SC2086
  kill -TERM $pids 2>/dev/null || true
  for ((i = 0; i < 40; i++)); do
    pids=$(node_pids "$node" | sort -un | grep -vx "$$" || true)
    [ -n "$pids" ] || return 0
    sleep 0.25
  done
  log "  SIGKILL to $(echo "$pids" | wc -l) process(es): $(echo "$pids" | tr '\n' ' ')"
  # shellcheck disable=SC2086
  kill -KILL $pids 2>/dev/null || true
  for ((i = 0; i < 40; i++)); do
    pids=$(node_pids "$node" | sort -un | grep -vx "$$" || true)
    [ -n "$pids" ] || return 0
    sleep 0.25
  done
  log "  still alive: $pids"; return 1
}

release_node_ns() {
  local node=$1 f
  for f in "$(node_mnt "$node")" "$(node_uts "$node")"; do
    [ -e "$f" ] || continue
    if mountpoint -q "$f"; then umount "$f" 2>/dev/null || umount -l "$f" || { log "  cannot unmount $f"; return 1; }; fi
    rm -f "$f"
  done
}

remove_node_cgroups() {
  local c
  for c in /sys/fs/cgroup/*/"$(node_cgroup "$1")"; do
    [ -d "$c" ] || continue
    find "$c" -depth -type d -exec rmdir {} \; 2>/dev/null || true
    [ -d "$c" ] && log "  cannot remove cgroup $c"
  done
  true
}

remove_node_net() {
  local node=$1 ns veth
  ns=$(node_ns "$node"); veth=$(node_veth "$node")
  if netns_exists "$ns"; then ip netns del "$ns"; fi
  # deleting the netns deletes the veth pair too (asynchronously): gone either way is fine
  if ip link show "$veth" >/dev/null 2>&1; then ip link del "$veth" 2>/dev/null || ! ip link show "$veth" >/dev/null 2>&1; fi
}

remove_bridge() {
  if ip link show "$BRIDGE" >/dev/null 2>&1; then ip link del "$BRIDGE"; fi
  local line
  while read -r line; do
    [ -n "$line" ] || continue
    eval "iptables ${line/#-A/-D}"
  done < <(iptables -S 2>/dev/null | grep -- "$TAG" || true)
}

mounts_under() { awk -v d="$1" '$5 == d || index($5, d "/") == 1 { print $5 }' /proc/self/mountinfo; }

remove_dirs() {
  local m
  # only the tmpfs itself should be mounted there in the host's namespace (the nodes mount in their own)
  while read -r m; do [ -n "$m" ] && [ "$m" != "$DATA_DIR" ] && { umount "$m" 2>/dev/null || umount -l "$m" || true; }; done < <(mounts_under "$DATA_DIR" | tac)
  [ -z "$(mounts_under "$DATA_DIR" | grep -vxF "$DATA_DIR")" ] || { log "  refusing to delete $DATA_DIR: something is still mounted there"; return 1; }
  if mountpoint -q "$DATA_DIR" 2>/dev/null; then umount "$DATA_DIR" 2>/dev/null || umount -l "$DATA_DIR" || { log "  cannot unmount $DATA_DIR"; return 1; }; fi
  rm -rf --one-file-system "$DATA_DIR"
  if [ -d "$STATE_DIR" ]; then
    rm -rf --one-file-system "${STATE_DIR:?}"/node*
    if mountpoint -q "$STATE_DIR"; then umount "$STATE_DIR" 2>/dev/null || umount -l "$STATE_DIR" || true; fi
    rmdir "$STATE_DIR" 2>/dev/null || true
  fi
}

cmd_destroy() {
  need_root
  local t0 rc=0 node; t0=$(now)
  for node in "${NODES[@]}"; do
    if [ -n "$(dockerd_pid "$node" || true)$(containerd_pid "$node" || true)" ]; then
      try_step "$node: stop dockerd and containerd" stop_node "$node" || true
    fi
    try_step "$node: kill every process left" kill_node_processes "$node" || rc=1
    try_step "$node: release the mount and UTS namespaces" release_node_ns "$node" || rc=1
    try_step "$node: remove cgroups /$(node_cgroup "$node")" remove_node_cgroups "$node" || true
    try_step "$node: remove netns and veth" remove_node_net "$node" || rc=1
  done
  try_step "remove bridge $BRIDGE and the iptables rules" remove_bridge || rc=1
  try_step "delete $DATA_DIR and $STATE_DIR" remove_dirs || rc=1
  if [ "$rc" -eq 0 ]; then log "cluster destroyed ($(since "$t0"))"; else log "destroy left something behind ($(since "$t0"))"; fi
  return "$rc"
}

usage() { sed -n '2,38p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }

cmd=${1:-}; [ $# -gt 0 ] && shift
case $cmd in
  create) cmd_create "$@" ;;
  destroy) cmd_destroy ;;
  status) cmd_status ;;
  exec) cmd_exec "$@" ;;
  nsexec) cmd_nsexec "$@" ;;
  start-node) cmd_start_node "$@" ;;
  stop-node) cmd_stop_node "$@" ;;
  load) cmd_load "$@" ;;
  push) cmd_push "$@" ;;
  ip) cmd_ip "$@" ;;
  host) need_node "${1:-}"; node_host "$1" ;;
  *) usage ;;
esac
