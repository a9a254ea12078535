#!/usr/bin/env bash
# The Debian packages coursekit needs, installed when missing (`make system-deps`).
#
#   tools/system-deps.sh [--soft] [--check] PROFILE
#
# PROFILE: demo (grading: bubblewrap), hub (`make hub`: also Node.js and npm's
# configurable-http-proxy, JupyterHub's proxy) or test (all of it, plus chromium, postgresql,
# Fashion-MNIST). As root it runs apt-get (after apt-get update), then `npm install -g` for the
# proxy;
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
    demo | hub | test) profile="$arg" ;;
    *) echo "system-deps: unknown argument '$arg' (usage: system-deps.sh [--soft] [--check] demo|hub|test)" >&2; exit 2 ;;
  esac
done
[ -n "$profile" ] || { echo "system-deps: say which: demo, hub or test" >&2; exit 2; }

have_postgres() { compgen -G "/usr/lib/postgresql/*/bin/postgres" >/dev/null; }
# JupyterHub's proxy: on PATH, or in npm's global prefix (asked only when not on PATH).
have_proxy() {
  command -v configurable-http-proxy >/dev/null 2>&1 && return 0
  command -v npm >/dev/null 2>&1 || return 1
  local prefix
  prefix="$(npm prefix -g 2>/dev/null)" || return 1
  [ -n "$prefix" ] && [ -x "$prefix/bin/configurable-http-proxy" ]
}

need=()
command -v bwrap >/dev/null 2>&1 || need+=(bubblewrap)
command -v prlimit >/dev/null 2>&1 && command -v setpriv >/dev/null 2>&1 || need+=(util-linux)
npm_need=()
if [ "$profile" = test ] || [ "$profile" = hub ]; then
  command -v node >/dev/null 2>&1 || need+=(nodejs)
  command -v npm >/dev/null 2>&1 || need+=(npm)
  have_proxy || npm_need+=(configurable-http-proxy)
fi
if [ "$profile" = test ]; then
  [ -x /usr/bin/chromium ] || need+=(chromium)
  have_postgres || need+=(postgresql)
  [ -d /usr/share/datasets/fashion-mnist ] || need+=(dataset-fashion-mnist)
fi

if [ ${#need[@]} -eq 0 ] && [ ${#npm_need[@]} -eq 0 ]; then
  echo "system-deps: nothing to install (${profile}: all system packages present)"
  exit 0
fi

missing="${need[*]}${need[*]:+${npm_need[*]:+ }}${npm_need[*]:+${npm_need[*]} (npm)}"
cmd="apt-get install -y --no-install-recommends ${need[*]}"
npm_cmd="npm install -g ${npm_need[*]}"
if [ "$check" = 1 ]; then
  echo "system-deps: missing $missing"
  exit 0
fi

# The command(s) to run by hand, as one line: apt-get (after update) and/or npm.
by_hand() {  # $1: "sudo " or ""
  local out=""
  [ ${#need[@]} -gt 0 ] && out="${1}apt-get update && ${1}$cmd"
  [ ${#npm_need[@]} -gt 0 ] && out="${out:+$out && }${1}$npm_cmd"
  echo "$out"
}

fail() {
  if [ "$soft" = 1 ]; then
    echo "system-deps: missing $missing (the tests that need them will be skipped); to install them run: $1" >&2
    exit 0
  fi
  echo "system-deps: missing $missing; run: $1" >&2
  exit 2
}

if [ ${#need[@]} -gt 0 ] && ! command -v apt-get >/dev/null 2>&1; then
  fail "$cmd (Debian/Ubuntu; this machine has no apt-get: install ${need[*]} with its package manager)"
fi

as=()
if [ "$(id -u)" != 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    as=(sudo -n)
  else
    fail "$(by_hand "sudo ")"
  fi
fi

echo "system-deps: installing $missing"
export DEBIAN_FRONTEND=noninteractive
if [ ${#need[@]} -gt 0 ]; then
  if ! "${as[@]}" apt-get update -q >/tmp/coursekit-apt.log 2>&1 \
     || ! "${as[@]}" apt-get install -y -q --no-install-recommends "${need[@]}" >>/tmp/coursekit-apt.log 2>&1; then
    echo "system-deps: apt-get could not install ${need[*]} (log: /tmp/coursekit-apt.log): $(tail -n 1 /tmp/coursekit-apt.log)" >&2
    [ "$soft" = 1 ] && exit 0
    exit 2
  fi
fi
if [ ${#npm_need[@]} -gt 0 ]; then
  if ! "${as[@]}" npm install -g --no-fund --no-audit "${npm_need[@]}" >/tmp/coursekit-npm.log 2>&1; then
    echo "system-deps: npm could not install ${npm_need[*]} (log: /tmp/coursekit-npm.log): $(tail -n 1 /tmp/coursekit-npm.log)" >&2
    [ "$soft" = 1 ] && exit 0
    exit 2
  fi
fi
echo "system-deps: installed $missing"
