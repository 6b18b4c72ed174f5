# Order saga on AWS Step Functions — the whole set-up is `make local` and `make test`.

SHELL := /bin/bash
.DEFAULT_GOAL := help

# Real deployments default to Graviton; this repository's CI builds x86_64.
ARCH ?= arm64
CATALOG ?= catalog.json
# Every crate in functions/ is a Lambda function (alphabetical; cargo builds them
# in one run, so the order is only that of the size lines).
FUNCTIONS := $(sort $(patsubst functions/%/Cargo.toml,%,$(wildcard functions/*/Cargo.toml)))
CARGO_LAMBDA_FLAG_arm64 := --arm64
CARGO_LAMBDA_FLAG_x86_64 := --x86-64
TF := terraform -chdir=infra
TF_VARS := -var architecture=$(ARCH)
# cargo-lambda (and zig, its cross linker) live in a local venv, pinned like
# moto, checkov and asl-validator. The stamp file names the versions, so a
# changed pin reinstalls.
BUILD_VENV := .venv-build
CARGO_LAMBDA_VERSION := 1.9.2
ZIGLANG_VERSION := 0.17.1
BUILD_TOOLS := $(BUILD_VENV)/.cargo-lambda-$(CARGO_LAMBDA_VERSION)-ziglang-$(ZIGLANG_VERSION)
export PATH := $(CURDIR)/$(BUILD_VENV)/bin:$(PATH)

# saga-local serve flags, e.g. `make local ARGS="--port 8080"`.
ARGS ?=

.PHONY: help
help: ## List the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

# ---------------------------------------------------------------- local ----

.PHONY: local
local: ## Build and run the whole system on this machine (saga-local serve)
	cargo build --locked --profile local -p saga-local
	./target/local/saga-local serve $(ARGS)

# ---------------------------------------------------------------- tests ----

.PHONY: test
test: ## Everything: unit, engine conformance, end-to-end, moto contract tests, the console in headless chromium, infra checks
	cargo fmt --all --check
	bash scripts/conformance-reference.sh --check
	bash scripts/browser-tools.sh
	bash scripts/with-moto.sh cargo test --workspace --locked
	bash scripts/sfn-cli-test.sh
	bash scripts/infra-checks.sh

.PHONY: conformance-reference
conformance-reference: ## Only the check of the conformance cases' JSONata values against jsonata 2.0.6 (npm)
	bash scripts/conformance-reference.sh --check

.PHONY: test-aws
test-aws: ## Only the AWS adapter contract tests against moto
	bash scripts/with-moto.sh cargo test --locked -p saga-aws --test contract

.PHONY: infra-check
infra-check: ## Only the infra checks (terraform fmt, checkov, asl-validator, terraform validate against the aws schema)
	bash scripts/infra-checks.sh

.PHONY: lint
lint: ## rustfmt and clippy (warnings are errors)
	cargo fmt --all --check
	$(MAKE) clippy

.PHONY: clippy
clippy: ## Only clippy (warnings are errors)
	cargo clippy --workspace --all-targets --locked -- -D warnings

.PHONY: fmt
fmt: ## Format the code
	cargo fmt --all
	terraform fmt -recursive infra

.PHONY: bench
bench: ## Benchmarks: ASL engine (criterion), saga-local orders per second, the engine against aws-local-stepfunctions
	cargo bench --locked -p asl
	bash scripts/bench-local.sh
	cargo bench --locked --profile local -p saga-local --bench sfn
	bash scripts/bench-peer.sh

# ---------------------------------------------------------------- build ----

.PHONY: check-arch
check-arch:
	@test -n "$(CARGO_LAMBDA_FLAG_$(ARCH))" || { echo "ARCH must be arm64 or x86_64, not '$(ARCH)'" >&2; exit 1; }

$(BUILD_TOOLS):
	python3 -m venv $(BUILD_VENV) || { echo "python3 -m venv $(BUILD_VENV) failed: install Python 3 with the venv module (Debian: apt-get install python3-venv)" >&2; exit 1; }
	$(BUILD_VENV)/bin/pip install --quiet --disable-pip-version-check cargo-lambda==$(CARGO_LAMBDA_VERSION) ziglang==$(ZIGLANG_VERSION) || { echo "could not install cargo-lambda==$(CARGO_LAMBDA_VERSION) ziglang==$(ZIGLANG_VERSION) from PyPI" >&2; exit 1; }
	rm -f $(BUILD_VENV)/.cargo-lambda-*
	cargo lambda --version
	touch $@

.PHONY: build-tools
build-tools: $(BUILD_TOOLS) ## Install cargo-lambda and zig (pinned) into .venv-build; `make build` does this

.PHONY: build
build: check-arch $(BUILD_TOOLS) ## Release zips in target/lambda/<fn>/bootstrap.zip (ARCH=arm64|x86_64)
	cargo lambda build --release --locked $(CARGO_LAMBDA_FLAG_$(ARCH)) --output-format zip $(addprefix -p ,$(FUNCTIONS))
	@for f in $(FUNCTIONS); do printf '  %-18s %s bytes\n' $$f $$(stat -c %s target/lambda/$$f/bootstrap.zip); done

.PHONY: test-artifacts
test-artifacts: ## The Runtime-API tests against the zips of `make build ARCH=x86_64` (runs on x86_64 only)
	@for f in validate api-handler; do \
	  test -f target/lambda/$$f/bootstrap.zip || { echo "target/lambda/$$f/bootstrap.zip is missing: run make build ARCH=x86_64 first" >&2; exit 1; }; \
	  rm -rf target/lambda-test/$$f && mkdir -p target/lambda-test/$$f && \
	  python3 -m zipfile -e target/lambda/$$f/bootstrap.zip target/lambda-test/$$f && chmod +x target/lambda-test/$$f/bootstrap || exit 1; \
	done
	SAGA_LAMBDA_ARTIFACTS=$(CURDIR)/target/lambda-test bash scripts/with-moto.sh cargo test --locked -p validate -p api-handler --test runtime_api

# --------------------------------------------------------------- deploy ----

.PHONY: plan
plan: build ## terraform plan (builds first)
	$(TF) init -input=false
	$(TF) plan $(TF_VARS)

.PHONY: deploy
deploy: build ## Build for $(ARCH) and terraform apply
	$(TF) init -input=false
	$(TF) apply $(TF_VARS)

.PHONY: destroy
destroy: build ## terraform destroy (Terraform hashes the zips even when destroying)
	$(TF) init -input=false
	$(TF) destroy $(TF_VARS)

.PHONY: seed-catalog
seed-catalog: ## Load CATALOG (JSON) into the deployed products table
	AWS_REGION="$$($(TF) output -raw region)" cargo run --locked -p saga-aws --bin seed-catalog -- \
	  --table "$$($(TF) output -raw products_table_name)" --file $(CATALOG)

# ---------------------------------------------------------------- clean ----

.PHONY: clean
clean: ## Remove build output and local data
	cargo clean
	rm -rf .saga-local
