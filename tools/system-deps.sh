#!/usr/bin/env bash
# The Debian packages coursekit needs, installed when missing (`make system-deps`).
#
#   tools/system-deps.sh [--soft] [--check] PROFILE
#
# PROFILE: demo (grading: bubblewrap) or test (also chromium, postgresql, Node.js with
# configurable-http-proxy, Fashion-MNIST). As root it runs apt-get (after apt-get update);
# otherwise through `sudo -n` when that works; otherwise it stops with ONE line that names the
# exact command to run (exit 2). --soft: print that line and exit 0 (`make test` then skips
# the tests that need what is missing, naming the package). --check: only say what is missing.
# Installs nothing when everything is there, so a second run is a no-op.
set -uo pipefail

soft=0
check=0
profile=""
for arg in "$@"; do
  case "$arg" in
    --soft) soft=1 ;;
    --check) check=1 ;;
    demo | test) profile="$arg" ;;
    *) echo "system-deps: unknown argument '$arg' (usage: system-deps.sh [--soft] [--check] demo|test)" >&2; exit 2 ;;
  esac
done
[ -n "$profile" ] || { echo "system-deps: say which: demo or test" >&2; exit 2; }

have_postgres() { compgen -G "/usr/lib/postgresql/*/bin/postgres" >/dev/null; }

need=()
command -v bwrap >/dev/null 2>&1 || need+=(bubblewrap)
command -v prlimit >/dev/null 2>&1 && command -v setpriv >/dev/null 2>&1 || need+=(util-linux)
if [ "$profile" = test ]; then
  [ -x /usr/bin/chromium ] || need+=(chromium)
  have_postgres || need+=(postgresql)
  [ -d /usr/share/datasets/fashion-mnist ] || need+=(dataset-fashion-mnist)
fi

if [ ${#need[@]} -eq 0 ]; then
  echo "system-deps: nothing to install (${profile}: all system packages present)"
  exit 0
fi

cmd="apt-get install -y --no-install-recommends ${need[*]}"
if [ "$check" = 1 ]; then
  echo "system-deps: missing ${need[*]}"
  exit 0
fi

fail() {
  if [ "$soft" = 1 ]; then
    echo "system-deps: missing ${need[*]} (the tests that need them will be skipped); to install them run: $1" >&2
    exit 0
  fi
  echo "system-deps: missing ${need[*]}; run: $1" >&2
  exit 2
}

if ! command -v apt-get >/dev/null 2>&1; then
  fail "$cmd (Debian/Ubuntu; this machine has no apt-get: install ${need[*]} with its package manager)"
fi

as=()
if [ "$(id -u)" != 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    as=(sudo -n)
  else
    fail "sudo apt-get update && sudo $cmd"
  fi
fi

echo "system-deps: installing ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
if ! "${as[@]}" apt-get update -q >/tmp/coursekit-apt.log 2>&1 \
   || ! "${as[@]}" apt-get install -y -q --no-install-recommends "${need[@]}" >>/tmp/coursekit-apt.log 2>&1; then
  echo "system-deps: apt-get could not install ${need[*]} (log: /tmp/coursekit-apt.log): $(tail -n 1 /tmp/coursekit-apt.log)" >&2
  [ "$soft" = 1 ] && exit 0
  exit 2
fi
echo "system-deps: installed ${need[*]}"
