# Start the local services a test run needs, when they are not already listening.
# Each entry: name, port, start command (the machine's own service installations).

port_open() {
  python3 -c "import socket,sys; s=socket.socket(); s.settimeout(1); sys.exit(s.connect_ex(('127.0.0.1', int(sys.argv[1]))))" "$1"
}

start_if_down() {
  local name=$1 port=$2
  shift 2
  if port_open "$port"; then
    return 0
  fi
  echo "starting $name (port $port)"
  "$@" || echo "warning: could not start $name" >&2
  for _ in $(seq 1 30); do
    port_open "$port" && return 0
    sleep 1
  done
  echo "warning: $name is still not listening on $port" >&2
}

# The services the test suite needs: the store's tests run on SQLite and on PostgreSQL.
KASKAD_SERVICES=(postgresql)

# Tools the test suite runs: promtool (Debian package prometheus) checks and unit-tests
# the shipped alert rules (deploy/prometheus/).
ensure_tools() {
  if ! command -v promtool >/dev/null 2>&1; then
    echo "installing promtool (Debian package prometheus)"
    if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
    $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq prometheus >/dev/null \
      || echo "warning: could not install promtool" >&2
  fi
}

ensure_services() {
  for service in "${KASKAD_SERVICES[@]}"; do
    case $service in
      postgresql) start_if_down PostgreSQL 5432 bash -c 'pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql)" main start' ;;
    esac
  done
}
