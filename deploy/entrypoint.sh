#!/bin/sh
# The container's entry point. Configuration comes from the environment and mounted files;
# nothing secret is in the image:
#   KASKAD_STORE          store: postgresql://kaskad@db:5432/kaskad (password in the file
#                         PGPASSFILE names, a mounted secret) or a folder under the volume
#   KASKAD_PIPELINES      what to serve, e.g. "loan_decision@production aml@production"
#   KASKAD_API_KEYS_FILE  mounted file of API key hashes and roles (kaskad serve --help)
#   KASKAD_MASKING_KEY_FILE mounted secret of keyed masking of sensitive fields (docs/security.md)
#   KASKAD_PORT           port (8000); KASKAD_ACTOR: who acts, for the audit trail
#   KASKAD_SERVE_OPTIONS  further `kaskad serve` options, e.g. "--workers 2"
#   KASKAD_INSTALL_BUNDLE 0 to skip installing the image's releases into the store
# `serve` (the default) installs the bundle's releases, then serves; any other arguments
# run that kaskad command: docker run IMAGE run loan_decision@production --input ...
set -eu

if [ "$#" -eq 0 ] || [ "$1" = "serve" ]; then
    [ "$#" -gt 0 ] && shift
    if [ "${KASKAD_INSTALL_BUNDLE:-1}" = "1" ] && [ -f "${KASKAD_BUNDLE:-/opt/kaskad/bundle}/MANIFEST.json" ]; then
        kaskad bundle install "${KASKAD_BUNDLE:-/opt/kaskad/bundle}"
    fi
    if [ -n "${KASKAD_API_KEYS_FILE:-}" ]; then
        set -- --api-keys-file "$KASKAD_API_KEYS_FILE" "$@"
    fi
    if [ -n "${KASKAD_MASKING_KEY_FILE:-}" ]; then
        set -- --masking-key-file "$KASKAD_MASKING_KEY_FILE" "$@"
    fi
    # KASKAD_PIPELINES and KASKAD_SERVE_OPTIONS are word lists: split on spaces on purpose.
    # shellcheck disable=SC2086
    exec kaskad serve --host 0.0.0.0 --port "${KASKAD_PORT:-8000}" ${KASKAD_SERVE_OPTIONS:-} "$@" ${KASKAD_PIPELINES:?set KASKAD_PIPELINES, e.g. loan_decision@production}
fi
exec kaskad "$@"
