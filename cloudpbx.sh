#!/usr/bin/env bash
# cloudpbx bootstrap: installs what is missing, then hands over to .venv/bin/cloudpbx.
#   ./cloudpbx.sh run          start the whole PBX (migrates; demo data on a new database)
#   ./cloudpbx.sh test [ARGS]  lint, then the full test suite on SQLite and on PostgreSQL
#   ./cloudpbx.sh install      install only (e.g. before a systemd service runs it)
#   ./cloudpbx.sh CMD …        any other cloudpbx command (demo, createtenant, migrate, …)
# Assumes only bash on Debian 12, as root or as a user with sudo. Re-running is fast.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")"
ROOT=$PWD
VENV=$ROOT/.venv
# What the code and the tests need from Debian: Python, PostgreSQL (tests), Kamailio with
# Python routing, the media relay (rtpengine-daemon only: the rtpengine metapackage pulls a
# kernel module), real SIP clients for the tests, iptables (the NAT routers of the NAT tests),
# keepalived (the floating service address of the two-node test), Chromium for the portal's
# browser tests, zbar (QR codes), nginx (benchmark baseline),
# gcc (a small library preloaded into Kamailio, see build_kamailio_preload),
# systemd (the service unit's checks; a minimal container may lack it), Prometheus (the tests
# scrape /metrics with it and check the format with promtool).
APT_PACKAGES=(
    python3 python3-venv python3-dev gcc libc6-dev gettext ca-certificates postgresql
    kamailio kamailio-python3-modules kamailio-sqlite-modules kamailio-postgres-modules
    kamailio-tls-modules kamailio-websocket-modules kamailio-extra-modules kamailio-utils-modules
    rtpengine-daemon
    sip-tester sipsak baresip-core linphone-cli sipvicious iptables keepalived
    chromium zbar-tools nginx-light systemd prometheus
)
# Daemons Debian starts when it installs them and cloudpbx runs itself, with its own
# configuration: the system copies would hold the SIP port (5060) and the relay's.
SYSTEM_COPIES=(kamailio rtpengine-daemon)

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        echo "cloudpbx.sh: need root or sudo to run: $*" >&2
        exit 1
    fi
}

install_debian_packages() {
    local missing=() package
    for package in "${APT_PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "ok installed" ||
            missing+=("$package")
    done
    [ ${#missing[@]} -eq 0 ] && return
    say "Installing Debian packages: ${missing[*]}"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        "${missing[@]}" >/dev/null
    # Only when installed just now (PostgreSQL, nginx and Prometheus stay: an operator may use
    # them as the database, the reverse proxy and the monitoring of this PBX).
    if [ -d /run/systemd/system ]; then
        for package in "${missing[@]}"; do
            if [[ " ${SYSTEM_COPIES[*]} " == *" $package "* ]]; then
                as_root systemctl disable --now "$package" >/dev/null 2>&1 || true
            fi
        done
    fi
}

install_python_environment() {
    # Debian's python3.11: the Kamailio package embeds the same libpython, so the venv must match.
    if ! "$VENV/bin/python" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' 2>/dev/null; then
        say "Creating .venv with Debian's Python 3.11"
        rm -rf "$VENV"
        /usr/bin/python3 -m venv "$VENV"
    fi
    local stamp="$VENV/.cloudpbx-deps" wanted
    wanted=$(cat requirements.lock pyproject.toml | sha256sum | cut -d' ' -f1)
    if [ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]; then
        say "Installing Python dependencies (pinned in requirements.lock)"
        "$VENV/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip
        "$VENV/bin/python" -m pip install -q --disable-pip-version-check \
            -c requirements.lock -e ".[dev]"
        echo "$wanted" >"$stamp"
    fi
}

compile_translations() {
    # .mo files are build output (not committed): compile when a catalogue is newer.
    local po
    for po in $(find src -name '*.po'); do
        if [ ! -f "${po%.po}.mo" ] || [ "$po" -nt "${po%.po}.mo" ]; then
            # Through django itself, not `cloudpbx` (whose umask 077 suits the data dir only):
            # the catalogues must stay readable by the service user.
            (cd src/cloudpbx && CLOUDPBX_DATA_DIR="$ROOT/var" DJANGO_SETTINGS_MODULE=cloudpbx.settings \
                "$VENV/bin/python" -m django compilemessages -v0)
            return
        fi
    done
}

build_kamailio_preload() {
    # Debian 12's Kamailio (5.6) shares one OpenSSL error state between its workers, which a
    # stranger's dropped TLS connections turn into a crash; this library gives each its own.
    local source=src/cloudpbx/sip/openssl_fork.c library="$VENV/lib/cloudpbx-openssl-fork.so"
    if [ ! -f "$library" ] || [ "$source" -nt "$library" ]; then
        say "Building $library"
        gcc -shared -fPIC -O2 -Wall -Wextra -Werror -o "$library" "$source"
    fi
}

run_tests() {
    local status=0
    TEST_DATA_DIR=$(mktemp -d)
    trap 'rm -rf "$TEST_DATA_DIR"' EXIT
    export CLOUDPBX_DATA_DIR=$TEST_DATA_DIR
    unset CLOUDPBX_DATABASE_URL CLOUDPBX_MODE

    say "Lint: ruff check, ruff format --check, mypy, import contracts"
    "$VENV/bin/ruff" check src tests conftest.py
    "$VENV/bin/ruff" format --check -q src tests conftest.py
    "$VENV/bin/mypy" src/cloudpbx/numbering_rules.py src/cloudpbx/provisioning src/cloudpbx/sip \
        src/cloudpbx/health.py src/cloudpbx/metrics.py src/cloudpbx/logs.py src/cloudpbx/core/metrics.py
    "$VENV/bin/lint-imports"

    say "Tests on SQLite"
    "$VENV/bin/pytest" "$@" || status=$?
    say "Tests on PostgreSQL (a temporary server on a loopback port)"
    "$VENV/bin/python" -m cloudpbx.core.pgserver "$VENV/bin/pytest" "$@" || status=$?
    return $status
}

main() {
    local command=${1:-run}
    [ $# -gt 0 ] && shift
    install_debian_packages
    install_python_environment
    compile_translations
    build_kamailio_preload
    case "$command" in
        install) say "Installed: Debian packages, .venv, translations, Kamailio's OpenSSL fix" ;;
        test) run_tests "$@" ;;
        *) exec "$VENV/bin/cloudpbx" "$command" "$@" ;;
    esac
}

main "$@"
