# Sourced by scripts/serve and scripts/test; defines use_venv, which makes the virtualenv exist and match
# the lock file (requirements.lock, or requirements-dev.lock with "dev"; scripts/lock writes them from
# pyproject.toml), then activates it. Usage: . scripts/_venv.sh && use_venv [extras]   e.g. "use_venv dev"
# A function with explicit arguments, not the sourced file's positional parameters: `. file` with no
# arguments hands the file the caller's own "$@" (scripts/serve's --port 8080 would be read as extras).
# VENV_DIR (default ./.venv) points at another virtualenv, e.g. one shared by several checkouts.

use_venv() {
  local extras="${1:-}"
  local venv="${VENV_DIR:-.venv}"
  local python_bin="${PYTHON:-}"
  if [ -z "$python_bin" ]; then
    for candidate in python3.11 python3 python; do
      if command -v "$candidate" >/dev/null 2>&1; then python_bin="$candidate"; break; fi
    done
  fi
  if [ -z "$python_bin" ] || ! "$python_bin" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    echo "error: Python 3.11 or newer is required (set PYTHON=/path/to/python3.11)" >&2
    return 1
  fi
  if [ ! -x "$venv/bin/python" ]; then
    "$python_bin" -m venv "$venv"
  fi
  # Reinstall only when pyproject.toml or the lock files changed since the last install, or the extras
  # asked for are missing (an install with "dev" serves a plain run as well). The locked versions go in
  # first; the project itself then adds no dependency of its own choosing (--no-deps).
  local lock="requirements.lock"
  if [ "$extras" = "dev" ]; then lock="requirements-dev.lock"; fi
  local stamp
  stamp="$venv/.installed-$(cat pyproject.toml requirements.lock requirements-dev.lock | sha256sum | cut -c1-16)"
  if [ ! -f "$stamp" ] || { [ -n "$extras" ] && ! grep -qx "$extras" "$stamp"; }; then
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$lock"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps -e .
    rm -f "$venv"/.installed-*
    echo "${extras:-base}" > "$stamp"
  fi
  # shellcheck disable=SC1091
  . "$venv/bin/activate"
}
