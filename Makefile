# cairn: the two set-up commands (`make serve`, `make test`) and a few helpers around CMake.
BUILD ?= build
ASAN_BUILD ?= build-asan
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
ARGS ?=

.PHONY: all deps build build-asan serve test test-plain test-asan bench clean

all: build

deps:
	@bash scripts/install-deps.sh

build: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@cmake --build $(BUILD) -j$(JOBS)

build-asan: deps
	@cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DCAIRN_SANITIZE=ON >/dev/null
	@cmake --build $(ASAN_BUILD) -j$(JOBS)

# Starts the server on its embedded SQLite default (127.0.0.1:8080, data in ./cairn-data).
serve: build
	./$(BUILD)/cairn serve $(ARGS)

# The whole test suite: a normal build, then the same suite under ASan + UBSan.
test: test-plain test-asan

test-plain: build
	cd $(BUILD) && ctest --output-on-failure -j$(JOBS)

test-asan: build-asan
	cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
		UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ctest --output-on-failure -j$(JOBS)

# Benchmarks beside the peer and the limits (never part of `make test`): N=10000 runs one
# size, BIG=1 adds N=1,000,000. Results: bench/results/<date>.md.
bench: build
	BUILD=$(BUILD) bash bench/run.sh $(if $(N),N=$(N)) $(if $(BIG),BIG=$(BIG))

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)
