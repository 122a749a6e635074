# saker: the only entry point. Drives CMake (build/<mode>) and CTest.
#   make run        install deps, build, start sakerd on ./data with the default ports
#   make test       install deps, build, run every test (unit, integration, fuzz smoke)
#   make unit       the fast in-process tests only
#   make bench      benchmarks (not tests): log vs fio, W1-W5 vs Redis; BENCH_ROUNDS, BENCH_SECONDS
#   make asan       every test under AddressSanitizer + UBSan (build/asan)
#   make format     check formatting; make format-fix rewrites in place
#   make fuzz       run the fuzz targets longer (FUZZ_SECONDS each)
#   make chaos      CHAOS_ROUNDS (200) random kill/pause faults on a 3-node cluster under load,
#                   then the history checker (docs/CHAOS.md); CHAOS_SEED repeats a run
#   make cluster    build, start ZooKeeper + 3 sakerd nodes on 127.0.0.1, data in ./cluster
#                   (CLUSTER_NODES=N for N nodes; scripts/cluster status shows what runs)
#   make cluster-stop  stop exactly what make cluster started

BUILD_DIR ?= build/release
ASAN_DIR  ?= build/asan
JOBS      ?= $(shell nproc)
CMAKE     ?= cmake
CTEST_ARGS ?= --output-on-failure --timeout 300
FUZZ_SECONDS ?= 60
BENCH_ROUNDS ?= 3
BENCH_SECONDS ?= 5
CHAOS_ROUNDS ?= 200
CHAOS_SEED ?=

.PHONY: all deps build test unit integration bench asan format format-fix fuzz chaos run cluster cluster-stop clean

all: build

deps:
	@scripts/install-deps

$(BUILD_DIR)/CMakeCache.txt:
	$(CMAKE) -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=RelWithDebInfo

build: deps $(BUILD_DIR)/CMakeCache.txt
	$(CMAKE) --build $(BUILD_DIR) -j $(JOBS)

test: build
	cd $(BUILD_DIR) && ctest $(CTEST_ARGS) -j $(JOBS)

unit: build
	cd $(BUILD_DIR) && ctest $(CTEST_ARGS) -j $(JOBS) -L unit

integration: build
	cd $(BUILD_DIR) && ctest $(CTEST_ARGS) -L integration

bench: build
	scripts/bench-compare $(BUILD_DIR) $(BENCH_ROUNDS) $(BENCH_SECONDS)

asan: deps
	$(CMAKE) -S . -B $(ASAN_DIR) -DCMAKE_BUILD_TYPE=Debug -DSAKER_SANITIZE=ON
	$(CMAKE) --build $(ASAN_DIR) -j $(JOBS)
	cd $(ASAN_DIR) && ctest $(CTEST_ARGS) -j $(JOBS)

format:
	scripts/format.sh --check

format-fix:
	scripts/format.sh

fuzz: build
	scripts/run-fuzz $(BUILD_DIR) $(FUZZ_SECONDS)

chaos: build
	cd $(BUILD_DIR) && SAKER_CHAOS_ROUNDS=$(CHAOS_ROUNDS) SAKER_CHAOS_SEED=$(CHAOS_SEED) \
	  timeout $$(( $(CHAOS_ROUNDS) * 40 + 120 )) bin/integration_test \
	  --gtest_filter=ClusterTest.ChaosRoundsLoseNoAcknowledgedPut

run: build
	$(BUILD_DIR)/bin/sakerd --data-dir ./data

cluster: build
	SAKERD=$(BUILD_DIR)/bin/sakerd scripts/cluster start $(CLUSTER_NODES)

cluster-stop:
	scripts/cluster stop

clean:
	rm -rf build
