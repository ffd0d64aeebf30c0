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
