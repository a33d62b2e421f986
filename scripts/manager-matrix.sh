#!/usr/bin/env bash
# Try one release of backend.ai-manager from PyPI on one interpreter, as docs/manager-packages.md
# records: a fresh venv, pip install (cold: an empty download cache; warm: the same again with
# that cache), the venv's size, the real alembic (import, `alembic heads`) and `backend.ai mgr --help`.
#
#   scripts/manager-matrix.sh TAG VERSION [PIP_ARGS...]
#     TAG: 3.9-bullseye | 3.10-pyenv | 3.11-bookworm | 3.12-pyenv | 3.13-trixie (images of scripts/pythons.sh) | host (the machine's /usr/bin/python3)
#     BAI_CONSTRAINTS=path/to/constraints.txt  passed to pip as PIP_CONSTRAINT
#     BAI_PREINSTALL="Cython<3 setuptools wheel"  installed into the venv first (for --no-build-isolation)
# Results: one line appended to $OUT/results.tsv, the whole output in $OUT/TAG-VERSION.log.
set -uo pipefail

OUT="${BAI_MATRIX_OUT:-/var/cache/bai-migrate/matrix}"
HERE=$(cd "$(dirname "$0")" && pwd)

inner() {
  local name=$1 version=$2; shift 2
  local work="$OUT/work/$name" python=${BAI_PYTHON:-python3}
  local t0 cold warm size imp heads cli
  # PIP_CONSTRAINT, unlike -c, also reaches the isolated environments that build sdists (Cython<3 for PyYAML 5.4.1).
  [[ -n "${BAI_CONSTRAINTS:-}" ]] && export PIP_CONSTRAINT="$BAI_CONSTRAINTS"
  rm -rf "$work" && mkdir -p "$work"
  export PIP_CACHE_DIR="$work/cache"
  echo "== $($python --version 2>&1); pip install backend.ai-manager==$version $* ${BAI_CONSTRAINTS:+(PIP_CONSTRAINT=$BAI_CONSTRAINTS)}"
  $python -m venv "$work/venv" || return 1
  t0=$(date +%s)
  # shellcheck disable=SC2086 # a list of requirements
  [[ -n "${BAI_PREINSTALL:-}" ]] && "$work/venv/bin/python" -m pip install --no-input $BAI_PREINSTALL
  if ! "$work/venv/bin/python" -m pip install --no-input "$@" "backend.ai-manager==$version"; then
    printf '%s\t%s\t%s\tno\t%s\t-\t-\t-\t-\t-\n' "$name" "$version" "$*" "$(($(date +%s) - t0))" >>"$OUT/results.tsv"
    return 1
  fi
  cold=$(($(date +%s) - t0))
  size=$(du -sm "$work/venv" | cut -f1)
  rm -rf "$work/venv" && $python -m venv "$work/venv"
  t0=$(date +%s)
  # shellcheck disable=SC2086
  [[ -n "${BAI_PREINSTALL:-}" ]] && "$work/venv/bin/python" -m pip install --no-input -q $BAI_PREINSTALL
  "$work/venv/bin/python" -m pip install --no-input -q "$@" "backend.ai-manager==$version" || true
  warm=$(($(date +%s) - t0))
  "$work/venv/bin/python" -m pip freeze >"$work/freeze.txt"
  echo "== import ai.backend.manager.models.alembic"
  if "$work/venv/bin/python" -c 'import ai.backend.manager.models.alembic'; then imp=yes; else imp=no; fi
  printf '[alembic]\nscript_location = ai.backend.manager.models:alembic\n' >"$work/alembic.ini"
  echo "== alembic heads"
  heads=$(cd "$work" && "$work/venv/bin/alembic" -c alembic.ini heads 2>&1 | tee /dev/stderr | awk '/\(head\)/ {print $1}' | paste -sd,)
  echo "== backend.ai mgr --help"
  if "$work/venv/bin/backend.ai" mgr --help >"$work/cli.txt" 2>&1; then cli=yes; else cli=no; fi
  tail -5 "$work/cli.txt"
  printf '%s\t%s\t%s\tyes\t%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$version" "$*" "$cold" "$warm" "$size" "$imp" "${heads:--}" "$cli" >>"$OUT/results.tsv"
  rm -rf "$work/venv" "$work/cache"
}

if [[ "${1:-}" == "--inner" ]]; then shift; inner "$@"; exit $?; fi
[[ $# -ge 2 ]] || { echo "usage: scripts/manager-matrix.sh TAG VERSION [PIP_ARGS...]" >&2; exit 2; }
tag=$1 version=$2; shift 2
mkdir -p "$OUT"
name="${BAI_MATRIX_NAME:-$tag-$version}"
log="$OUT/$name.log"
if [[ "$tag" == host ]]; then
  BAI_PYTHON=/usr/bin/python3 bash "$HERE/manager-matrix.sh" --inner "$name" "$version" "$@" >"$log" 2>&1
else
  BAI_PYTHON_MOUNTS="$HERE:/bai-scripts:ro $OUT:$OUT ${BAI_CONSTRAINTS:+$BAI_CONSTRAINTS:$BAI_CONSTRAINTS:ro}" \
    bash "$HERE/pythons.sh" exec "$tag" env BAI_MATRIX_OUT="$OUT" BAI_CONSTRAINTS="${BAI_CONSTRAINTS:-}" BAI_PREINSTALL="${BAI_PREINSTALL:-}" \
    bash /bai-scripts/manager-matrix.sh --inner "$name" "$version" "$@" >"$log" 2>&1
fi
rc=$?
tail -1 "$OUT/results.tsv"
exit $rc
