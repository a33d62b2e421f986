#!/usr/bin/env bash
# Build the Python interpreters the manager releases need as local Docker images made from
# Debian's own packages (no Docker Hub): bullseye gives CPython 3.9, bookworm 3.11, trixie 3.13.
# bookworm is the machine's own suite, but the machine lacks libsnappy-dev, which the MGR-era
# releases (python-snappy 0.6 has no cp311 wheel) need to build; the image has it.
# No Debian suite has 3.10 or 3.12. The project machine's pyenv has both (built on bookworm):
# 3.10-pyenv and 3.12-pyenv are the bookworm image with that interpreter copied in at its own
# path and first on PATH. Without pyenv's interpreter on the machine they cannot be built, and
# this script says so.
# Each image also holds what a manager venv needs to build the wheels PyPI has no
# binary for on that Python (compiler, Python headers, libpq, libsnappy, libffi, OpenSSL).
# Idempotent: an image that exists is reused. pip's download cache stays on the
# machine (/var/cache/bai-migrate/pip), never in the repository.
#
#   scripts/pythons.sh                     build or reuse the three Debian images
#   scripts/pythons.sh 3.13-trixie         build or reuse only the named images
#   scripts/pythons.sh exec TAG CMD...     run CMD in image TAG with pip's settings and cache
set -euo pipefail

REPO="${BAI_PYTHON_IMAGE_REPO:-bai-migrate/python}"
PIP_CACHE="${BAI_PIP_CACHE:-/var/cache/bai-migrate/pip}"
DEFAULT_TAGS=(3.9-bullseye 3.11-bookworm 3.13-trixie)
# Build dependencies for sdists of the manager lines (docs/manager-packages.md says which line needs which).
PACKAGES=python3,python3-venv,python3-pip,python3-dev,gcc,g++,make,libc6-dev,pkg-config,libpq-dev,libsnappy-dev,libffi-dev,libssl-dev,ca-certificates

log() { printf '[pythons] %s\n' "$*"; }

PYENV_ROOT="${PYENV_ROOT:-/root/.pyenv}"

suite_of() {
  case "$1" in
    3.9-bullseye) echo bullseye ;;
    3.10-pyenv | 3.11-bookworm | 3.12-pyenv) echo bookworm ;;
    3.13-trixie) echo trixie ;;
    *) log "unknown interpreter image '$1' (known: 3.9-bullseye, 3.10-pyenv, 3.11-bookworm, 3.12-pyenv, 3.13-trixie)"; exit 2 ;;
  esac
}

# The newest X.Y.Z pyenv has of X.Y, e.g. /root/.pyenv/versions/3.10.13.
pyenv_prefix() {
  local want=$1 found
  found=$(find "$PYENV_ROOT/versions" -maxdepth 1 -name "$want.*" 2>/dev/null | sort -V | tail -1)
  [[ -n $found && -x $found/bin/python$want ]] || return 1
  echo "$found"
}

# bookworm's image with pyenv's interpreter at the same path (its sysconfig and shebangs name it).
ensure_pyenv_image() {
  local tag=$1 image="$REPO:$1" want=${1%-pyenv} prefix ctx started
  if docker image inspect "$image" >/dev/null 2>&1; then
    log "image $image present ($(docker run --rm --network host "$image" python3 --version 2>&1))"
    return
  fi
  prefix=$(pyenv_prefix "$want") || {
    log "Python $want: no Debian suite has it, and this machine's pyenv has none ($PYENV_ROOT/versions/$want.*/bin/python$want); install it with pyenv to build $image"
    exit 1
  }
  ensure_image 3.11-bookworm
  started=$(date +%s)
  ctx=$(mktemp -d "/tmp/bai-python-$tag-context.XXXXXX")
  # The interpreter without the packages pyenv's users installed into it: venvs bring their own.
  tar -C "$prefix" --exclude='./lib/python*/site-packages/*' -cf "$ctx/python.tar" .
  printf 'FROM %s\nADD python.tar %s/\nRUN ln -sf python%s %s/bin/python3\nENV PATH=%s/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n' \
    "$REPO:3.11-bookworm" "$prefix" "$want" "$prefix" "$prefix" >"$ctx/Dockerfile"
  DOCKER_BUILDKIT=0 docker build --network host -q -t "$image" "$ctx" >/dev/null
  rm -rf "$ctx"
  log "image $image built from $prefix in $(($(date +%s) - started))s ($(docker run --rm --network host "$image" python3 --version 2>&1))"
}

# The same mirror the machine's apt uses, as scripts/testbed.sh finds it.
debian_mirror() {
  local mirror
  mirror=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
  echo "${mirror:-http://deb.debian.org/debian}"
}

ensure_image() {
  local tag=$1 image="$REPO:$1" suite mirror rootfs started
  suite=$(suite_of "$tag")
  if [[ $tag == *-pyenv ]]; then
    ensure_pyenv_image "$tag"
    return
  fi
  if docker image inspect "$image" >/dev/null 2>&1; then
    log "image $image present ($(docker run --rm --network host "$image" python3 --version 2>&1))"
    return
  fi
  command -v debootstrap >/dev/null || { log "debootstrap is missing: apt-get install debootstrap"; exit 1; }
  mirror=$(debian_mirror)
  rootfs=$(mktemp -d "/tmp/bai-python-$tag-rootfs.XXXXXX")
  started=$(date +%s)
  log "debootstrap $suite from $mirror into $rootfs"
  if ! debootstrap --variant=minbase --include="$PACKAGES" "$suite" "$rootfs" "$mirror" \
    >"/tmp/bai-python-$tag-debootstrap.log" 2>&1; then
    tail -30 "/tmp/bai-python-$tag-debootstrap.log" >&2
    rm -rf "$rootfs"
    exit 1
  fi
  # Debian's pip refuses to touch the system interpreter (PEP 668); venvs are what we use anyway.
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
  tar -C "$rootfs" -c . | docker import \
    --change 'ENV LANG=C.UTF-8' \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    - "$image" >/dev/null
  rm -rf "$rootfs"
  log "image $image built in $(($(date +%s) - started))s ($(docker run --rm --network host "$image" python3 --version 2>&1))"
}

# Run a command in an interpreter image with the machine's pip settings (index, find-links,
# certificate bundle, timeout) and the shared download cache. Extra mounts: BAI_PYTHON_MOUNTS="src:dst ...".
exec_in() {
  local tag=$1; shift
  local image="$REPO:$tag" args=(--rm --network host -e PIP_CACHE_DIR="$PIP_CACHE" -v "$PIP_CACHE:$PIP_CACHE")
  suite_of "$tag" >/dev/null
  docker image inspect "$image" >/dev/null 2>&1 || ensure_image "$tag"
  mkdir -p "$PIP_CACHE"
  [[ -f /etc/pip.conf ]] && args+=(-v /etc/pip.conf:/etc/pip.conf:ro)
  [[ -f /etc/ssl/certs/ca-certificates.crt ]] && args+=(-v /etc/ssl/certs/ca-certificates.crt:/etc/ssl/certs/ca-certificates.crt:ro)
  local name
  for name in PIP_INDEX_URL PIP_EXTRA_INDEX_URL PIP_TRUSTED_HOST PIP_CERT PIP_DEFAULT_TIMEOUT PIP_DISABLE_PIP_VERSION_CHECK PIP_FIND_LINKS; do
    [[ -n "${!name:-}" ]] && args+=(-e "$name=${!name}")
  done
  # find-links points at a directory of the machine: make it visible at the same path.
  if [[ -n "${PIP_FIND_LINKS:-}" && -d "${PIP_FIND_LINKS}" ]]; then args+=(-v "$PIP_FIND_LINKS:$PIP_FIND_LINKS:ro"); fi
  local mount
  for mount in ${BAI_PYTHON_MOUNTS:-}; do args+=(-v "$mount"); done
  [[ -t 0 ]] && args+=(-i)
  docker run "${args[@]}" -w /tmp "$image" "$@"
}

docker info >/dev/null 2>&1 || { log "no Docker engine answers (scripts/testbed.sh starts one)"; exit 1; }
if [[ "${1:-}" == "exec" ]]; then
  shift
  [[ $# -ge 2 ]] || { log "usage: scripts/pythons.sh exec TAG CMD..."; exit 2; }
  exec_in "$@"
  exit $?
fi
mkdir -p "$PIP_CACHE"
tags=("$@")
((${#tags[@]})) || tags=("${DEFAULT_TAGS[@]}")
for tag in "${tags[@]}"; do ensure_image "$tag"; done
