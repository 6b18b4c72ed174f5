#!/usr/bin/env bash
# The AWS CLI against saga-local serve's Step Functions API, end to end:
# create-state-machine, start-execution, describe-execution,
# get-execution-history, and list-executions on the order saga's fixed ARN.
#
#   bash scripts/sfn-cli-test.sh            # part of `make test`
#
# - creates .venv-awscli with awscli==$AWSCLI_VERSION from PyPI if missing
#   (AWSCLI_VENV overrides the path); any failure to install is an error;
# - builds target/debug/saga-local, starts `serve` on free ports with a
#   throwaway data dir, waits for it, runs the CLI with dummy credentials
#   (the API accepts any signature unchecked), stops the server whatever
#   happens (EXIT trap).
set -euo pipefail

AWSCLI_VERSION="1.46.3"
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${AWSCLI_VENV:-$repo_root/.venv-awscli}"

fail() {
    echo "sfn-cli-test: $*" >&2
    exit 1
}

if [[ ! -x "$venv/bin/aws" ]] || [[ "$("$venv/bin/aws" --version 2>&1)" != *"aws-cli/$AWSCLI_VERSION "* ]]; then
    command -v python3 >/dev/null 2>&1 || fail "python3 not found: install Python 3 with venv"
    echo "sfn-cli-test: creating $venv with awscli==$AWSCLI_VERSION" >&2
    python3 -m venv "$venv" || fail "could not create a virtualenv at $venv (python3 venv module?)"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "awscli==$AWSCLI_VERSION" \
        || fail "pip could not install awscli==$AWSCLI_VERSION into $venv (network? PyPI mirror?)"
    [[ -x "$venv/bin/aws" ]] || fail "aws is missing from $venv after installing awscli"
fi

cargo build --quiet --locked -p saga-local --bin saga-local
bin="$repo_root/target/debug/saga-local"

free_port() {
    "$venv/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
port="$(free_port)"
sfn_port="$(free_port)"
data="$(mktemp -d)"
log="$data/serve.log"
"$bin" serve --quiet --port "$port" --sfn-port "$sfn_port" --data-dir "$data/db" >"$log" 2>&1 &
server=$!
cleanup() {
    kill "$server" 2>/dev/null || true
    wait "$server" 2>/dev/null || true
    rm -rf "$data"
}
trap cleanup EXIT

export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_DEFAULT_REGION=us-east-1 AWS_PAGER=""
unset AWS_PROFILE AWS_ENDPOINT_URL
sfn() { "$venv/bin/aws" stepfunctions --endpoint-url "http://127.0.0.1:$sfn_port" --output json "$@"; }
field() { "$venv/bin/python" -c 'import json,sys; v=json.load(sys.stdin)
for k in sys.argv[1].split("."): v=v[int(k)] if isinstance(v, list) else v[k]
print(v if isinstance(v, str) else json.dumps(v))' "$1"; }

for _ in $(seq 1 100); do
    sfn list-state-machines >/dev/null 2>&1 && break
    kill -0 "$server" 2>/dev/null || { cat "$log" >&2; fail "saga-local serve exited"; }
    sleep 0.1
done

definition='{"StartAt":"Hello","States":{"Hello":{"Type":"Pass","Result":"world","ResultPath":"$.hello","Next":"Pick"},"Pick":{"Type":"Choice","Choices":[{"Variable":"$.n","NumericGreaterThan":1,"Next":"Done"}],"Default":"Done"},"Done":{"Type":"Succeed"}}}'
machine="$(sfn create-state-machine --name cli-test --definition "$definition" \
    --role-arn arn:aws:iam::000000000000:role/cli | field stateMachineArn)"
[[ "$machine" == "arn:aws:states:us-east-1:000000000000:stateMachine:cli-test" ]] || fail "create-state-machine: $machine"
execution="$(sfn start-execution --state-machine-arn "$machine" --name run-1 --input '{"n": 2}' | field executionArn)"
[[ "$execution" == "arn:aws:states:us-east-1:000000000000:execution:cli-test:run-1" ]] || fail "start-execution: $execution"
status=RUNNING
for _ in $(seq 1 100); do
    status="$(sfn describe-execution --execution-arn "$execution" | field status)"
    [[ "$status" != RUNNING ]] && break
    sleep 0.1
done
[[ "$status" == SUCCEEDED ]] || fail "describe-execution: status $status"
output="$(sfn describe-execution --execution-arn "$execution" | field output)"
"$venv/bin/python" -c 'import json,sys; sys.exit(json.loads(sys.argv[1]) != {"n": 2, "hello": "world"})' "$output" \
    || fail "describe-execution: output $output"
types="$(sfn get-execution-history --execution-arn "$execution" | "$venv/bin/python" -c 'import json,sys; print(" ".join(e["type"] for e in json.load(sys.stdin)["events"]))')"
expected="ExecutionStarted PassStateEntered PassStateExited ChoiceStateEntered ChoiceStateExited SucceedStateEntered SucceedStateExited ExecutionSucceeded"
[[ "$types" == "$expected" ]] || fail "get-execution-history: $types"
saga="$(sfn list-executions --state-machine-arn arn:aws:states:us-east-1:000000000000:stateMachine:order-saga | field executions)"
[[ "$saga" == "[]" ]] || fail "list-executions on the saga: $saga"
err="$(sfn describe-execution --execution-arn "${execution%run-1}missing" 2>&1 >/dev/null || true)"
[[ "$err" == *ExecutionDoesNotExist* ]] || fail "describe-execution of a missing execution: $err"
echo "sfn-cli-test: aws stepfunctions create-state-machine, start-execution, describe-execution, get-execution-history, list-executions: ok"
