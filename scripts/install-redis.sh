#!/usr/bin/env bash
# Installs Debian's redis-server and redis-tools when they are missing. Idempotent: a no-op when
# both redis-server and redis-cli are already on PATH (or $REDIS_SERVER points at a binary).
set -euo pipefail

have() { command -v "$1" >/dev/null 2>&1; }

if { [[ -n ${REDIS_SERVER:-} && -x ${REDIS_SERVER} ]] || have redis-server; } && have redis-cli; then
  exit 0
fi

if ! have apt-get; then
  echo "install-redis: redis-server is missing and apt-get is not available; install redis-server 7+ by hand" >&2
  exit 1
fi

sudo=()
if [[ $(id -u) -ne 0 ]]; then
  if ! have sudo; then
    echo "install-redis: redis-server is missing; run this script as root (or install sudo, or redis-server 7+ by hand)" >&2
    exit 1
  fi
  sudo=(sudo)
fi

# env inside sudo (which resets the environment); wait for the dpkg lock a freshly booted machine's
# own updates may hold.
apt=("${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300)
echo "install-redis: installing redis-server and redis-tools with apt-get" >&2
"${apt[@]}" update -qq
"${apt[@]}" install -y -qq --no-install-recommends redis-server redis-tools >/dev/null

# Debian's package starts a system service on 6379; the tests never use it, and it is left alone.
have redis-server && have redis-cli || { echo "install-redis: installation failed" >&2; exit 1; }
redis-server --version >&2
