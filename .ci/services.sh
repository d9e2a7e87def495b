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

# The services the test suite needs: the store's tests run on SQLite and on PostgreSQL;
# gitlab-ci-local (npm) runs the GitLab CI template's shell jobs in a slow test.
KASKAD_SERVICES=(postgresql gitlab-ci-local)

# 4.60 is the last gitlab-ci-local that runs on Node 20 (later ones need Node 22).
GITLAB_CI_LOCAL_VERSION=4.60.0

ensure_gitlab_ci_local() {
  local prefix="${KASKAD_TOOLS:-$HOME/.cache/kaskad-tools}/gitlab-ci-local-$GITLAB_CI_LOCAL_VERSION"
  local tool="$prefix/node_modules/.bin/gitlab-ci-local"
  if [ ! -x "$tool" ]; then
    echo "installing gitlab-ci-local $GITLAB_CI_LOCAL_VERSION (npm)"
    npm install --prefix "$prefix" --no-audit --no-fund --loglevel=error \
      "gitlab-ci-local@$GITLAB_CI_LOCAL_VERSION" >/dev/null \
      || echo "warning: could not install gitlab-ci-local" >&2
  fi
  export KASKAD_GITLAB_CI_LOCAL="$tool"
}

ensure_services() {
  for service in "${KASKAD_SERVICES[@]}"; do
    case $service in
      postgresql) start_if_down PostgreSQL 5432 bash -c 'pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql)" main start' ;;
      gitlab-ci-local) ensure_gitlab_ci_local ;;
    esac
  done
}

# Debian packages the test suite needs besides Python's: Pango and HarfBuzz-Subset for WeasyPrint (passport
# PDFs), poppler-utils (pdftotext, pdftoppm) to read those PDFs back in tests, and
# prometheus for promtool, which checks and unit-tests the shipped alert rules.
KASKAD_DEBIAN_PACKAGES=(libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-dejavu-core poppler-utils prometheus)

ensure_debian_packages() {
  local missing=()
  for package in "${KASKAD_DEBIAN_PACKAGES[@]}"; do
    dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "installing ${missing[*]}"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" \
      || echo "warning: could not install ${missing[*]}" >&2
  fi
}
