# A thin wrapper around CMake (as neovim's): the real build is CMakeLists.txt.
#   make run    install what is missing, build into build/, run the
#               quickstart job (configs/quickstart.yaml) with ptrun and
#               print its answers, pi and the sum, before ptrun's summary
#               (scripts/quickstart_answers.py)
#   make test   install what is missing, check the C formatting
#               (format-check), build, run every test (also under ASan+UBSan
#               in build-asan/ and valgrind), then fuzz for 60 s
#   make fuzz   build the libFuzzer targets with clang in build-fuzz/ and run
#               them for FUZZ_SECONDS in all (60), split evenly: spec, wire,
#               npy, json 15 s each (e.g. make fuzz FUZZ_SECONDS=2400 for
#               10 min each); a crash lands in tests/fuzz/regressions/
#               (scripts/fuzz.sh)
#   make format        rewrite every C file in clang-format-14's format
#   make format-check  list the C files that differ from it (exit 1 if any)
#                      (scripts/format.sh; needs clang-format-14)
#   make coverage  build with gcov counters in build-coverage/, run every
#               test, print line and branch coverage of lib/, runner/,
#               plugins/ and kernels/, and write build-coverage/html/
#               (scripts/coverage.sh; not part of make test)
#   make bench  install what the references need, build, then run every
#               benchmark (bench/run_bench.py): one line per figure beside
#               its reference, all figures in build/bench.json
BUILD      ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
COV_BUILD  ?= build-coverage
FUZZ_SECONDS ?= 60
JOBS       ?= $(shell nproc 2>/dev/null || echo 2)
CMAKE_ARGS ?=

.PHONY: all build run test bench deps deps-test deps-bench unit asan valgrind fuzz coverage install clean \
        distclean format format-check

all: build

deps:
	@scripts/deps.sh build

deps-test:
	@scripts/deps.sh test

deps-bench:
	@scripts/deps.sh bench

$(BUILD)/CMakeCache.txt:
	cmake -S . -B $(BUILD) $(CMAKE_ARGS)

build: deps $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS)

run: build
	scripts/quickstart_answers.py $(BUILD)/ptrun configs/quickstart.yaml

unit: deps-test $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS)
	ctest --test-dir $(BUILD) --output-on-failure -j $(JOBS)

asan: deps-test
	cmake -S . -B $(ASAN_BUILD) -DPTOOLS_SANITIZE=ON $(CMAKE_ARGS)
	cmake --build $(ASAN_BUILD) -j $(JOBS)
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1 \
	  ctest --test-dir $(ASAN_BUILD) --output-on-failure -j $(JOBS)

valgrind: unit
	scripts/valgrind-tests.sh $(BUILD)

fuzz: deps-test
	FUZZ_BUILD=$(FUZZ_BUILD) JOBS=$(JOBS) scripts/fuzz.sh $(FUZZ_SECONDS)

coverage: deps-test
	cmake -S . -B $(COV_BUILD) -DCMAKE_BUILD_TYPE=Debug -DPTOOLS_COVERAGE=ON $(CMAKE_ARGS)
	cmake --build $(COV_BUILD) -j $(JOBS)
	scripts/coverage.sh $(COV_BUILD) $(JOBS)

test: format-check unit asan valgrind fuzz
	@echo "make test: all suites passed (format, unit, asan+ubsan, valgrind, fuzz)"

bench: deps-bench build
	/usr/bin/python3 bench/run_bench.py --build $(BUILD)

format:
	scripts/format.sh fix

format-check: deps-test
	scripts/format.sh check

install: build
	cmake --install $(BUILD)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD) $(COV_BUILD)

distclean: clean
