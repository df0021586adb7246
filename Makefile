# The two commands: `make run` and `make test` (and `make fuzz`, CI's long fuzzing stage). Everything else is meson.
BUILD    ?= build
SANITIZE ?=
MESON_OPTS = -Dsanitize=$(SANITIZE)

.PHONY: all deps build run test fuzz clean

all: build

deps:
	@scripts/deps.sh

build: deps
	@if [ ! -f $(BUILD)/build.ninja ]; then meson setup $(BUILD) $(MESON_OPTS); \
	 else meson configure $(BUILD) $(MESON_OPTS) >/dev/null; fi
	@ninja -C $(BUILD)

run: build
	@BUILD=$(BUILD) scripts/run.sh

test: build
	@BUILD=$(BUILD) SANITIZE=$(SANITIZE) MESON_TEST_ARGS="$(MESON_TEST_ARGS)" tests/run.sh

# Every fuzz target for WAGATE_FUZZ_SECONDS (default 120), two at a time; `make test` runs each a few seconds.
fuzz: build
	@tests/fuzz/ci.sh $(BUILD)

clean:
	rm -rf $(BUILD) build-asan
