#!/usr/bin/env bash
# Make sure the system programs and services the test suite needs are here.
# As root with apt-get, installs what is missing; otherwise names it and fails.
set -u
missing=()
need() { command -v "$1" >/dev/null 2>&1 || missing+=("$2"); }
need espeak-ng espeak-ng
need ffmpeg ffmpeg
need openssl openssl

if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "system-deps: installing ${missing[*]}" >&2
    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null \
      || { echo "system-deps: apt-get install ${missing[*]} failed" >&2; exit 1; }
  else
    echo "system-deps: missing system packages: ${missing[*]}" >&2
    echo "Install them (Debian/Ubuntu: sudo apt-get install ${missing[*]}) and run make test again." >&2
    exit 1
  fi
fi
