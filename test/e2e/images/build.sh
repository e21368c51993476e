#!/usr/bin/env bash
# Builds the "stand-in" images that replace the official images of docker-compose.yml in
# the e2e suite (no image registry is reachable here: everything comes from Debian's
# packages on a debootstrap base).
#
#   test/e2e/images/build.sh            build every image (idempotent; a rerun takes seconds)
#   test/e2e/images/build.sh nginx ...  build only these (the base is always ensured)
#   STANDIN_NO_CACHE=1 build.sh         rebuild without Docker's cache (fresh packages);
#                                       the base is rebuilt by removing its image first
#
# Images: aiko-standin/base:bookworm, then aiko-standin/<folder>:test for each folder here
# that has a Dockerfile. Pebble's TLS certificate (and the CA that signed it, which the
# certbot image trusts) is generated once into .pebble-tls/ (gitignored) and is part of
# every build context as .pebble-tls/.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BASE_IMAGE=aiko-standin/base:bookworm
TAG=${STANDIN_TAG:-test}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
SUITE=bookworm
TLS_DIR="$HERE/.pebble-tls"
# The legacy builder works with every docker client/daemon pair found here (Debian's
# dockerd 20.10 has no buildx); its layer cache makes reruns quick.
export DOCKER_BUILDKIT=0

log() { printf '[images] %s\n' "$*"; }
die() { printf '[images] ERROR: %s\n' "$*" >&2; exit 1; }
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f s", b - a }'; }

command -v docker >/dev/null || die "docker not found (run .ci/setup-docker.sh first)"
docker info >/dev/null 2>&1 || die "docker daemon not reachable (run .ci/setup-docker.sh first)"

# --- the base image: debootstrap minbase, imported --------------------------------------
build_base() {
  command -v debootstrap >/dev/null || die "debootstrap not found (run .ci/setup-docker.sh first)"
  local tmp rootfs
  tmp=$(mktemp -d /var/tmp/aiko-standin-base.XXXXXX)
  # shellcheck disable=SC2064
  trap "rm -rf '$tmp'" EXIT
  rootfs="$tmp/rootfs"
  if ! debootstrap --variant=minbase "$SUITE" "$rootfs" "$MIRROR" >"$tmp/debootstrap.log" 2>&1; then
    tail -n 30 "$tmp/debootstrap.log" >&2
    die "debootstrap failed"
  fi

  # apt inside containers: plain http (containers trust no TLS but Debian's signatures)
  rm -f "$rootfs/etc/apt/sources.list"
  cat >"$rootfs/etc/apt/sources.list.d/debian.sources" <<SOURCES
Types: deb
URIs: http://deb.debian.org/debian
Suites: $SUITE $SUITE-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://deb.debian.org/debian-security
Suites: $SUITE-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SOURCES
  # small images: no recommends/suggests, no translations, no package caches
  cat >"$rootfs/etc/apt/apt.conf.d/90aiko-standin" <<'APT'
APT::Install-Recommends "false";
APT::Install-Suggests "false";
Acquire::Languages "none";
Acquire::GzipIndexes "true";
Acquire::CompressionTypes::Order:: "gz";
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT
  # no docs, man pages or translations in later installs (copyright files are kept)
  cat >"$rootfs/etc/dpkg/dpkg.cfg.d/90aiko-standin-nodoc" <<'DPKG'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
path-exclude /usr/share/lintian/*
DPKG
  # package scripts must not try to start services in an image build
  printf '#!/bin/sh\nexit 101\n' >"$rootfs/usr/sbin/policy-rc.d"
  chmod 755 "$rootfs/usr/sbin/policy-rc.d"
  rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin \
         "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/log/*.log \
         "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/*
  find "$rootfs/usr/share/doc" -mindepth 1 ! -name copyright ! -type d -delete 2>/dev/null || true
  find "$rootfs/usr/share/locale" -mindepth 1 -maxdepth 1 ! -name locale.alias -exec rm -rf {} + 2>/dev/null || true
  : >"$rootfs/etc/machine-id" 2>/dev/null || true

  tar --numeric-owner -C "$rootfs" -c . | docker import \
      -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
      -c 'CMD ["bash"]' \
      -m "debootstrap --variant=minbase $SUITE (AI-KO e2e stand-in base)" \
      - "$BASE_IMAGE" >/dev/null
  rm -rf "$tmp"
  trap - EXIT
}

t=$(now)
if docker image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
  log "$BASE_IMAGE: present ($(elapsed "$t"))"
else
  build_base
  log "$BASE_IMAGE: built by debootstrap ($(elapsed "$t"))"
fi

# --- Pebble's TLS material (shared by the pebble and certbot images) ---------------------
# A small CA and a leaf for the DNS name "pebble" (plus localhost/127.0.0.1) signed by it.
# Generated once; regenerated only when missing (delete .pebble-tls/ to rotate).
ensure_pebble_tls() {
  [ -s "$TLS_DIR/ca.pem" ] && [ -s "$TLS_DIR/cert.pem" ] && [ -s "$TLS_DIR/key.pem" ] && return 0
  command -v openssl >/dev/null || die "openssl not found (run .ci/setup-docker.sh first)"
  local tmp; tmp=$(mktemp -d)
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 \
    -subj '/CN=AI-KO e2e Pebble TLS CA' -keyout "$tmp/ca.key" -out "$tmp/ca.pem" \
    -addext 'basicConstraints=critical,CA:TRUE' -addext 'keyUsage=critical,keyCertSign,cRLSign' \
    >/dev/null 2>&1
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj '/CN=pebble' \
    -keyout "$tmp/key.pem" -out "$tmp/req.csr" >/dev/null 2>&1
  printf '%s\n' 'basicConstraints=CA:FALSE' 'keyUsage=critical,digitalSignature,keyEncipherment' \
    'extendedKeyUsage=serverAuth' 'subjectAltName=DNS:pebble,DNS:localhost,IP:127.0.0.1' >"$tmp/ext"
  openssl x509 -req -in "$tmp/req.csr" -CA "$tmp/ca.pem" -CAkey "$tmp/ca.key" -CAcreateserial \
    -days 3650 -extfile "$tmp/ext" -out "$tmp/cert.pem" >/dev/null 2>&1
  mkdir -p "$TLS_DIR"
  cp "$tmp/ca.pem" "$tmp/cert.pem" "$tmp/key.pem" "$TLS_DIR/"
  chmod 644 "$TLS_DIR"/*.pem   # a test-only key, read by pebble as whatever user
  rm -rf "$tmp"                 # the CA key is not kept: nothing else gets signed
  log "generated Pebble TLS certificate in $TLS_DIR"
}
ensure_pebble_tls

# --- one image per folder -----------------------------------------------------------------
# Build order: all are independent (FROM the base); python-app/node are fixture bases.
if [ $# -gt 0 ]; then
  names=("$@")
else
  names=()
  for d in "$HERE"/*/; do
    [ -f "$d/Dockerfile" ] && names+=("$(basename "$d")")
  done
fi

failed=()
for name in "${names[@]}"; do
  dir="$HERE/$name"
  [ -f "$dir/Dockerfile" ] || die "no Dockerfile in $dir"
  t=$(now)
  logfile=$(mktemp)
  # The context is the folder plus .pebble-tls/, sent as one tar stream (uid/gid fixed,
  # so Docker's cache sees the same context on every machine and rerun).
  if tar --owner=0 --group=0 --numeric-owner -c -C "$dir" . -C "$HERE" .pebble-tls \
       | docker build ${STANDIN_NO_CACHE:+--no-cache} -t "aiko-standin/$name:$TAG" - >"$logfile" 2>&1; then
    log "aiko-standin/$name:$TAG: ok ($(elapsed "$t"))"
  else
    log "aiko-standin/$name:$TAG: FAILED ($(elapsed "$t")); build log tail:"
    tail -n 25 "$logfile" >&2
    failed+=("$name")
  fi
  rm -f "$logfile"
done

[ ${#failed[@]} -eq 0 ] || die "failed: ${failed[*]}"
