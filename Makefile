# A thin wrapper around CMake (as neovim's): the real build is CMakeLists.txt.
#   make run    install what is missing, build into build/, run the
#               quickstart job (configs/quickstart.yaml) with ptrun
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
#   make install [PREFIX=/opt/ptools] [DESTDIR=/tmp/stage]
#               build and install (default prefix /usr/local; a PREFIX given
#               reconfigures build/), say where; ldconfig after a system
#               install as root (scripts/install.sh)
#   make deb    the Debian packages ptools and ptools-mpi (CPack), built
#               for /usr in build-deb/: build-deb/ptools_*.deb
BUILD      ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
COV_BUILD  ?= build-coverage
DEB_BUILD  ?= build-deb
PREFIX     ?=
FUZZ_SECONDS ?= 60
JOBS       ?= $(shell nproc 2>/dev/null || echo 2)
CMAKE_ARGS ?=

.PHONY: all build run test bench deps deps-test deps-bench unit asan valgrind fuzz coverage install deb clean \
        distclean format format-check

all: build

deps:
	@scripts/deps.sh build

deps-test:
	@scripts/deps.sh test

deps-bench:
	@scripts/deps.sh bench

$(BUILD)/CMakeCache.txt:
	cmake -S . -B $(BUILD) $(CMAKE_ARGS) >/dev/null

build: deps $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS)

# make run builds only what the job needs (no tests, examples or benchmarks),
# its progress lines kept in $(BUILD)/make-run.log: errors still show.
RUN_TARGETS = ptrun ptools ptools_kernels ptools_plugins
run: deps $(BUILD)/CMakeCache.txt
	@echo "ptools: building ptrun, libptools, kernels and plugins in $(BUILD)/"
	@cmake --build $(BUILD) -j $(JOBS) --target $(RUN_TARGETS) \
	  $(if $(wildcard $(BUILD)/Makefile),-- --no-print-directory) \
	  >$(BUILD)/make-run.log || { tail -n 20 $(BUILD)/make-run.log; exit 1; }
	$(BUILD)/ptrun run configs/quickstart.yaml

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

install: deps
	@scripts/install.sh $(BUILD) $(JOBS) "$(PREFIX)" $(CMAKE_ARGS)

# A build of its own: configured for /usr (the multiarch libdir, ptrun's
# compiled-in kernel folder), Release, without tests, examples or benchmarks.
deb: deps
	cmake -S . -B $(DEB_BUILD) -DCMAKE_BUILD_TYPE=Release \
	  -DCMAKE_INSTALL_PREFIX=/usr -DPTOOLS_TESTS=OFF -DPTOOLS_EXAMPLES=OFF \
	  -DPTOOLS_BENCH=OFF $(CMAKE_ARGS) >/dev/null
	cmake --build $(DEB_BUILD) -j $(JOBS) >/dev/null
	@cd $(DEB_BUILD) && { cpack -G DEB >cpack.log 2>&1 || { cat cpack.log; exit 1; }; } \
	  && sed -n 's/^CPack: - package: //p' cpack.log

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD) $(COV_BUILD) $(DEB_BUILD)

distclean: clean
