# Kiln top-level Makefile: drives CMake. `make` builds build/kiln (release); see `make help`.
JOBS ?= $(shell nproc)
CMAKE ?= cmake

.PHONY: all release debug asan test test-asan fuzz bench clean format help

all: release

release:
	$(CMAKE) -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
	$(CMAKE) --build build -j $(JOBS)

debug:
	$(CMAKE) -S . -B build-debug -DCMAKE_BUILD_TYPE=Debug >/dev/null
	$(CMAKE) --build build-debug -j $(JOBS)

asan:
	$(CMAKE) -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DCMAKE_C_COMPILER=clang \
	    -DKILN_SANITIZE=address,undefined >/dev/null
	$(CMAKE) --build build-asan -j $(JOBS)

test: release
	cd build && ctest --output-on-failure -j $(JOBS)

test-asan: asan
	cd build-asan && ASAN_OPTIONS=detect_leaks=1 ctest --output-on-failure -j $(JOBS)

# Each fuzz target runs FUZZ_SECONDS over its kept corpus (tests/fuzz/corpus/<target>).
FUZZ_SECONDS ?= 20
fuzz:
	$(CMAKE) -S . -B build-fuzz -DCMAKE_BUILD_TYPE=Debug -DCMAKE_C_COMPILER=clang \
	    -DKILN_FUZZ=ON -DKILN_TESTS=OFF -DKILN_SANITIZE=address,undefined >/dev/null
	$(CMAKE) --build build-fuzz -j $(JOBS)
	FUZZ_SECONDS=$(FUZZ_SECONDS) bash tests/fuzz/run.sh build-fuzz

bench: release
	bash bench/run.sh

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf build build-debug build-asan build-fuzz

help:
	@echo "make          release build -> build/kiln"
	@echo "make debug    debug build -> build-debug/kiln"
	@echo "make asan     AddressSanitizer+UBSan build -> build-asan/kiln"
	@echo "make test     release build + every test (ctest)"
	@echo "make test-asan  the same suite under ASan+UBSan"
	@echo "make fuzz     build and run every libFuzzer target (FUZZ_SECONDS each)"
	@echo "make bench    benchmarks against XGBoost / scikit-learn / pandas"
