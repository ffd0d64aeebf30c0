#!/usr/bin/env bash
# Make sure the system programs and services the test suite needs are here.
# As root with apt-get, installs what is missing; otherwise names it and fails.
set -u
missing=()
need() { command -v "$1" >/dev/null 2>&1 || missing+=("$2"); }
need espeak-ng espeak-ng
need ffmpeg ffmpeg
# Recording tests: a private PulseAudio server with virtual devices, PortAudio and
# the ALSA plugin through which PortAudio reaches PulseAudio.
need pulseaudio pulseaudio
need pactl pulseaudio-utils
have_lib() { ldconfig -p 2>/dev/null | grep -q "$1" || ls /usr/lib/*/"$1"* >/dev/null 2>&1; }
have_lib libportaudio.so.2 || missing+=(libportaudio2)
ls /usr/lib/*/alsa-lib/libasound_module_pcm_pulse.so >/dev/null 2>&1 || missing+=(libasound2-plugins)
need openssl openssl
# The onboarding pages' browser tests: Debian's headless Chromium, driven by Playwright
need chromium chromium

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

# Services the server tests use: PostgreSQL on 127.0.0.1:5432 (trust auth, user
# postgres) and Redis on 127.0.0.1:6379. Start them when they are installed but down.
pg_up() { pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null || (exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null; }
if ! pg_up; then
  if command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ]; then
    echo "system-deps: starting PostgreSQL" >&2
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n 1)" main start || true
    for _ in $(seq 1 30); do pg_up && break; sleep 0.5; done
  fi
  pg_up || { echo "system-deps: PostgreSQL is not running on 127.0.0.1:5432 and could not be started." >&2
             echo "The server tests need it (trust auth for user postgres). Install postgresql and start it." >&2; exit 1; }
fi
redis_up() { (exec 3<>/dev/tcp/127.0.0.1/6379) 2>/dev/null; }
if ! redis_up; then
  if command -v redis-server >/dev/null 2>&1; then
    echo "system-deps: starting Redis" >&2
    redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no >/dev/null
    for _ in $(seq 1 20); do redis_up && break; sleep 0.25; done
  fi
  redis_up || { echo "system-deps: Redis is not running on 127.0.0.1:6379 and could not be started (install redis-server)." >&2; exit 1; }
fi
exit 0
