#!/usr/bin/env bash
# Starts or stops the Tansu dev broker (in memory: a restart is an empty broker).
#   scripts/dev-broker.sh start [PORT]   start in the background, wait until it accepts connections
#   scripts/dev-broker.sh stop           stop the broker this script started
#   scripts/dev-broker.sh run [PORT]     run in the foreground
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
tansu="$root/.deps/bin/tansu"
state="$root/run"
pidfile="$state/dev-broker.pid"
command=${1:-start}
port=${2:-9092}
url="tcp://127.0.0.1:$port"
mkdir -p "$state"

# shellcheck source=scripts/port_lib.sh
source "$root/scripts/port_lib.sh" # port_open

case "$command" in
run)
    exec "$tansu" broker --listener-url "$url" --advertised-listener-url "$url"
    ;;
start)
    if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
        echo "dev broker already running (pid $(cat "$pidfile"))"
        exit 0
    fi
    if port_open "$port"; then
        echo "port $port is already taken by another process; choose another with BROKER_PORT=..." >&2
        exit 1
    fi
    # Its own session: Ctrl-C in `make run` reaches the gateway alone, which then flushes to a
    # broker that is still up; make's exit trap stops the broker afterwards.
    setsid "$tansu" broker --listener-url "$url" --advertised-listener-url "$url" >"$state/dev-broker.log" 2>&1 &
    echo $! >"$pidfile"
    for _ in $(seq 1 100); do
        port_open "$port" && { echo "dev broker listening on 127.0.0.1:$port (log: run/dev-broker.log)"; exit 0; }
        kill -0 "$(cat "$pidfile")" 2>/dev/null || break
        sleep 0.1
    done
    echo "dev broker did not start; see $state/dev-broker.log" >&2
    exit 1
    ;;
stop)
    if [ -f "$pidfile" ]; then
        kill "$(cat "$pidfile")" 2>/dev/null || true
        rm -f "$pidfile"
    fi
    ;;
*)
    echo "usage: $0 start|stop|run [PORT]" >&2
    exit 2
    ;;
esac
