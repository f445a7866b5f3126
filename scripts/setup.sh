#!/usr/bin/env bash
# The README's first command: checks what `npm start` needs (Node.js 20.11+, influxd,
# mosquitto_pub/mosquitto_sub), installs what is missing with apt-get where this machine allows
# it (as root, or with sudo), says what to do where it cannot, then installs the npm packages.
# Safe to run again: it installs only what is missing.
#
#   bash scripts/setup.sh              what npm start needs, then npm ci
#   bash scripts/setup.sh --for-tests  also what the tests need (mosquitto, socat, docker-compose, chromium, redis-server, prometheus,
#                                      python3-paho-mqtt for the tutorial's Python examples)
#   bash scripts/setup.sh --check      only say what is missing (changes nothing)
set -euo pipefail
cd "$(dirname "$0")/.."

mode=install
for_tests=no
for argument in "$@"; do
  case "$argument" in
    --for-tests) for_tests=yes ;;
    --check) mode=check ;;
    -h | --help)
      sed -n '2,10s/^# \{0,1\}//p' "$0"
      exit 0
      ;;
    *)
      echo "setup: unknown option '$argument' (try --help)" >&2
      exit 2
      ;;
  esac
done

say() { printf 'setup: %s\n' "$*"; }

# How this machine installs Debian packages: apt-get as root, through sudo, or not at all.
apt=""
if command -v apt-get >/dev/null 2>&1; then
  if [ "$(id -u)" -eq 0 ]; then
    apt="apt-get"
  elif command -v sudo >/dev/null 2>&1; then
    apt="sudo apt-get"
  fi
fi

updated=no
install_packages() {
  [ "$mode" = install ] && [ -n "$apt" ] || return 1
  say "installing with $apt: $*"
  if [ "$updated" = no ]; then
    $apt update -qq || return 1
    updated=yes
  fi
  DEBIAN_FRONTEND=noninteractive $apt install -y -qq --no-install-recommends "$@"
}

why_no_apt() {
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "(no apt-get here: this is not Debian or Ubuntu)"
  elif [ -z "$apt" ]; then
    echo "(not root and no sudo: ask an administrator, or run this as root)"
  elif [ "$mode" = check ]; then
    echo "(--check: nothing installed)"
  else
    echo "(apt-get could not install it: see above)"
  fi
}

# A binary, or `python3:<module>` for a Python module (the tutorial's examples run under python3).
has() {
  case "$1" in
    python3:*) command -v python3 >/dev/null 2>&1 && python3 -c "import ${1#python3:}" >/dev/null 2>&1 ||
      { [ -x /usr/bin/python3 ] && /usr/bin/python3 -c "import ${1#python3:}" >/dev/null 2>&1; } ;;
    *) command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] || [ -x "/sbin/$1" ] ;;
  esac
}

# 1. Node.js 20.11 or newer, with npm.
node_ok() {
  has node && has npm &&
    node -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 20 || (a === 20 && b >= 11) ? 0 : 1)'
}
if ! node_ok; then
  candidate=""
  if [ -n "$apt" ]; then
    candidate=$(apt-cache policy nodejs 2>/dev/null | sed -n 's/^ *Candidate: \([0-9]*\)\..*/\1/p' | head -n 1)
  fi
  if [ "${candidate:-0}" -ge 20 ] 2>/dev/null && install_packages nodejs npm && node_ok; then
    say "Node.js $(node --version) installed"
  else
    say "Node.js 20.11 or newer (with npm) is needed; this machine has ${candidate:+a too old apt package (nodejs $candidate) and }$(has node && node --version || echo 'none')."
    say "Install it from https://nodejs.org, your distribution's nodejs 20/22 packages, or nvm; then run this again."
    exit 1
  fi
fi

# 2. Debian packages: binary, then the package that brings it.
wanted=("influxd influxdb" "mosquitto_pub mosquitto-clients")
if [ "$for_tests" = yes ]; then
  wanted+=("mosquitto mosquitto" "socat socat" "docker-compose docker-compose" "chromium chromium" "redis-server redis-server" "prometheus prometheus" "promtool prometheus" "python3:paho.mqtt python3-paho-mqtt")
fi
missing=()
for pair in "${wanted[@]}"; do
  set -- $pair
  has "$1" || missing+=("$2")
done
if [ "${#missing[@]}" -gt 0 ] && ! install_packages "${missing[@]}"; then
  # One package this release lacks fails the whole install: the others go one by one.
  if [ "$mode" = install ] && [ -n "$apt" ] && [ "${#missing[@]}" -gt 1 ]; then
    for package in "${missing[@]}"; do install_packages "$package" || true; done
  fi
  still=()
  for pair in "${wanted[@]}"; do
    set -- $pair
    has "$1" || still+=("$2")
  done
  for package in "${still[@]}"; do
    case "$package" in
      influxdb)
        if [ -n "${INFLUX_URL:-}" ]; then
          say "influxd is not installed; npm start uses the InfluxDB at INFLUX_URL=$INFLUX_URL"
        else
          say "influxd is not installed $(why_no_apt). Either install the Debian/Ubuntu package 'influxdb',"
          say "  or point npm start at an InfluxDB you already run (1.x, or 2.x/3.x with the v1 API):"
          say "    INFLUX_URL=http://<host>:8086 npm start"
          influx_missing=yes
        fi
        ;;
      mosquitto-clients)
        say "mosquitto_pub/mosquitto_sub are not installed $(why_no_apt); npm start runs without them,"
        say "  but the banner's ready-to-paste lines need them (package 'mosquitto-clients')."
        ;;
      *)
        say "the tests need package '$package', which is not installed $(why_no_apt)"
        tests_missing=yes
        ;;
    esac
  done
fi

if [ "$mode" = check ]; then
  [ -z "${influx_missing:-}" ] && [ -z "${tests_missing:-}" ] && say "ready" && exit 0
  exit 1
fi
[ -z "${tests_missing:-}" ] || exit 1

# 3. The npm packages.
npm ci --no-audit --no-fund
if [ -n "${influx_missing:-}" ]; then
  say "npm packages installed, but there is no InfluxDB: start with INFLUX_URL=http://<host>:8086 npm start"
  exit 1
fi
say "ready: npm start"
