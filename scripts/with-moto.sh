#!/usr/bin/env bash
# Run a command against a throwaway moto server (AWS API mock, pinned version).
#
#   bash scripts/with-moto.sh cargo test -p saga-aws --test contract
#
# - creates .venv-moto with moto[server]==$MOTO_VERSION if it is missing,
# - starts moto_server on a free 127.0.0.1 port (each DynamoDB request atomic,
#   as in AWS: scripts/moto-server.py) and waits until it answers,
# - enables Step Functions execution (POST /moto-api/config),
# - exports MOTO_ENDPOINT and dummy AWS credentials / region,
# - runs the command and returns its exit code,
# - always stops the server (EXIT trap), also when the command fails.
#
# Any failure to install or start moto is an error with a clear message, never
# a skip. Environment knobs: MOTO_VENV (default <repo>/.venv-moto),
# MOTO_PYTHON (default python3), MOTO_START_TIMEOUT (seconds, default 60),
# MOTO_LOG (default <venv>/moto-server.log).
set -euo pipefail

MOTO_VERSION="5.2.5"

if [[ $# -eq 0 ]]; then
    echo "usage: $0 <command> [args...]" >&2
    exit 2
fi

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${MOTO_VENV:-$repo_root/.venv-moto}"
python="${MOTO_PYTHON:-python3}"
start_timeout="${MOTO_START_TIMEOUT:-60}"
log="${MOTO_LOG:-$venv/moto-server.log}"

fail() {
    echo "with-moto: $*" >&2
    exit 1
}

installed_version() {
    "$venv/bin/python" - <<'PY' 2>/dev/null || true
import importlib.metadata as m
print(m.version("moto"))
PY
}

if [[ ! -x "$venv/bin/moto_server" || "$(installed_version)" != "$MOTO_VERSION" ]]; then
    command -v "$python" >/dev/null 2>&1 \
        || fail "$python not found: install Python 3 (3.9+) to run the AWS contract tests"
    echo "with-moto: creating $venv with moto[server]==$MOTO_VERSION" >&2
    "$python" -m venv "$venv" \
        || fail "could not create a virtualenv at $venv (is the python3 venv module installed?)"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
        "moto[server]==$MOTO_VERSION" \
        || fail "pip could not install moto[server]==$MOTO_VERSION into $venv (network? PyPI mirror?)"
    [[ -x "$venv/bin/moto_server" ]] || fail "moto_server is missing from $venv after installing moto"
fi

port="$("$venv/bin/python" - <<'PY'
import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()
PY
)" || fail "could not find a free TCP port"

endpoint="http://127.0.0.1:$port"
mkdir -p "$(dirname "$log")"
# moto_server with DynamoDB requests serialised (see scripts/moto-server.py).
"$venv/bin/python" "$repo_root/scripts/moto-server.py" -H 127.0.0.1 -p "$port" >"$log" 2>&1 &
moto_pid=$!

stop_moto() {
    if kill -0 "$moto_pid" 2>/dev/null; then
        kill "$moto_pid" 2>/dev/null || true
        wait "$moto_pid" 2>/dev/null || true
    fi
}
trap stop_moto EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

http() {
    # http METHOD URL [JSON-BODY] -> prints the body, fails on a non-2xx answer.
    "$venv/bin/python" - "$@" <<'PY'
import sys, urllib.request
method, url = sys.argv[1], sys.argv[2]
data = sys.argv[3].encode() if len(sys.argv) > 3 else None
req = urllib.request.Request(url, data=data, method=method,
                             headers={"Content-Type": "application/json"})
with urllib.request.urlopen(req, timeout=5) as r:
    sys.stdout.write(r.read().decode())
PY
}

deadline=$((SECONDS + start_timeout))
until http GET "$endpoint/moto-api/data.json" >/dev/null 2>&1; do
    if ! kill -0 "$moto_pid" 2>/dev/null; then
        echo "with-moto: moto_server exited during start-up; its log ($log):" >&2
        tail -n 30 "$log" >&2 || true
        exit 1
    fi
    if ((SECONDS >= deadline)); then
        echo "with-moto: moto_server did not answer on $endpoint within ${start_timeout}s; its log ($log):" >&2
        tail -n 30 "$log" >&2 || true
        exit 1
    fi
    sleep 0.2
done

http POST "$endpoint/moto-api/config" '{"stepfunctions": {"execute_state_machine": true}}' >/dev/null \
    || fail "could not enable Step Functions execution through $endpoint/moto-api/config"

echo "with-moto: moto $MOTO_VERSION on $endpoint (log: $log)" >&2

export MOTO_ENDPOINT="$endpoint"
# The SDK's standard variables, so code that loads its configuration the
# production way (saga_aws::load_sdk_config) talks to moto with dummy
# credentials. Never a developer's profile, never real AWS.
export AWS_ENDPOINT_URL="$endpoint"
export AWS_ACCESS_KEY_ID="testing"
export AWS_SECRET_ACCESS_KEY="testing"
export AWS_SESSION_TOKEN="testing"
export AWS_REGION="us-east-1"
export AWS_DEFAULT_REGION="us-east-1"
export AWS_EC2_METADATA_DISABLED="true"
export AWS_CONFIG_FILE="/dev/null"
export AWS_SHARED_CREDENTIALS_FILE="/dev/null"
unset AWS_PROFILE

set +e
"$@"
status=$?
set -e
exit "$status"
