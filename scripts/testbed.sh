#!/usr/bin/env bash
# Provision the local test bed on a Debian machine without registry access:
# a Docker engine with host networking only, and one image built from Debian's
# packages that holds PostgreSQL 15, Redis 7.0, etcd 3.4 and a Docker registry (distribution 2.8,
# which the real manager's image rescan is tested against).
# Idempotent: an engine that answers and an image that exists are reused.
set -euo pipefail

IMAGE="${BAI_TESTBED_IMAGE:-bai-migrate/testbed:bookworm}"

log() { printf '[testbed] %s\n' "$*"; }

ensure_packages() {
  local missing=()
  command -v dockerd >/dev/null || missing+=(docker.io)
  command -v debootstrap >/dev/null || missing+=(debootstrap)
  /usr/bin/python3 -c 'import alembic, psycopg2' 2>/dev/null || missing+=(python3-alembic python3-psycopg2)
  # The stand-in alembic of lines from 22.09 connects with asyncpg, as their env.py does.
  /usr/bin/python3 -c 'import asyncpg, greenlet' 2>/dev/null || missing+=(python3-asyncpg python3-greenlet)
  # The manager-venv tests build a stand-in manager wheel and install it into a venv.
  # (pip imported before setuptools trips setuptools' distutils check: pip is asked on its own.)
  { /usr/bin/python3 -c 'import setuptools, wheel, ensurepip' && /usr/bin/python3 -m pip --version; } >/dev/null 2>&1 || missing+=(python3-venv python3-pip python3-setuptools python3-wheel)
  # manager-venv builds the real packages on this machine's Python 3.11: python-snappy (22.09, 23.x) has no cp311 wheel.
  [[ -f /usr/include/snappy-c.h ]] || missing+=(libsnappy-dev)
  [[ -f /usr/include/python3.11/Python.h ]] || missing+=(python3-dev)
  command -v gcc >/dev/null || missing+=(gcc g++ make)
  if ((${#missing[@]})); then
    log "installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
}

ensure_engine() {
  if docker info >/dev/null 2>&1; then return; fi
  log "starting dockerd (no bridge: containers share the host's loopback)"
  # Its own session: the engine must outlive the shell (or CI job step) that happened to start it,
  # which may kill its whole process group when it ends.
  setsid nohup dockerd --bridge=none --iptables=false --ip-forward=false --ip-masq=false \
    >/var/log/bai-migrate-dockerd.log 2>&1 </dev/null &
  # .ci/run stops the engine it started by this pid.
  echo $! >/run/bai-migrate-dockerd.pid
  for _ in $(seq 1 60); do
    docker info >/dev/null 2>&1 && return
    sleep 1
  done
  log "dockerd did not come up; see /var/log/bai-migrate-dockerd.log"
  tail -20 /var/log/bai-migrate-dockerd.log >&2 || true
  exit 1
}

PACKAGES=postgresql-15,redis-server,etcd-server,docker-registry

ensure_image() {
  if docker image inspect "$IMAGE" >/dev/null 2>&1; then
    if docker run --rm --network host "$IMAGE" test -x /usr/bin/docker-registry; then
      log "image $IMAGE present"
      return
    fi
    # An image of an earlier test bed: add the registry with the image's own apt.
    log "image $IMAGE lacks docker-registry: adding it"
    docker rm -f bai-testbed-extend >/dev/null 2>&1 || true
    docker run --name bai-testbed-extend --network host "$IMAGE" sh -c \
      'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends docker-registry >/dev/null && rm -rf /var/lib/apt/lists/*'
    docker commit bai-testbed-extend "$IMAGE" >/dev/null
    docker rm bai-testbed-extend >/dev/null
    log "image $IMAGE has docker-registry"
    return
  fi
  local mirror rootfs
  mirror=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
  mirror=${mirror:-http://deb.debian.org/debian}
  rootfs=$(mktemp -d /tmp/bai-testbed-rootfs.XXXXXX)
  log "debootstrap bookworm from $mirror into $rootfs"
  debootstrap --variant=minbase --include="$PACKAGES" \
    bookworm "$rootfs" "$mirror" >/tmp/bai-testbed-debootstrap.log 2>&1 || {
    tail -30 /tmp/bai-testbed-debootstrap.log >&2
    exit 1
  }
  tar -C "$rootfs" -c . | docker import - "$IMAGE" >/dev/null
  rm -rf "$rootfs"
  log "image $IMAGE built"
}

# GitHub runners have a Docker engine and Docker Hub: the tests pull the official images there.
if [[ "${GITHUB_ACTIONS:-}" == "true" || "${BAI_TESTBED:-}" == "official" ]]; then
  docker info >/dev/null 2>&1 || { log "no Docker engine answers"; exit 1; }
  exit 0
fi
if [[ $(id -u) -ne 0 ]] && ! { docker info >/dev/null 2>&1 && docker image inspect "$IMAGE" >/dev/null 2>&1; }; then
  log "the local test bed needs root once (apt-get, dockerd, debootstrap); run: sudo bash scripts/testbed.sh"
  exit 1
fi
ensure_packages
ensure_engine
ensure_image
