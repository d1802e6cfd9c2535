# The front door: `make` builds, `make check` runs every test, `make install
# PREFIX=DIR` installs. Meson and ninja do the work underneath.
BUILD      ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
PREFIX     ?= /usr/local
FUZZ_SECONDS ?= 10
# Debian's pytest, whatever python3 comes first on PATH.
PYTEST     ?= /usr/bin/python3 -m pytest

.PHONY: all check check-unit check-integration check-asan fuzz install clean demo

all: $(BUILD)/build.ninja
	ninja -C $(BUILD)

$(BUILD)/build.ninja:
	meson setup $(BUILD)

check: all
	meson test -C $(BUILD) --print-errorlogs
	ANYCGI_BUILD=$(abspath $(BUILD)) $(PYTEST) -q tests/integration

# The unit and end-to-end tests again in an ASan+UBSan build.
check-asan:
	[ -f $(ASAN_BUILD)/build.ninja ] || meson setup $(ASAN_BUILD) \
	  -Db_sanitize=address,undefined -Db_lundef=false -Dbuildtype=debug
	ninja -C $(ASAN_BUILD)
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	  meson test -C $(ASAN_BUILD) --print-errorlogs
	ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1 \
	ANYCGI_BUILD=$(abspath $(ASAN_BUILD)) $(PYTEST) -q tests/integration

# Each libFuzzer target for FUZZ_SECONDS, starting from its seed corpus.
fuzz:
	[ -f $(FUZZ_BUILD)/build.ninja ] || CC=clang meson setup $(FUZZ_BUILD) \
	  -Dfuzz=true -Db_sanitize=address,undefined -Db_lundef=false
	ninja -C $(FUZZ_BUILD)
	@set -e; for t in $(FUZZ_BUILD)/fuzz/fuzz-*; do \
	  [ -f $$t ] && [ -x $$t ] || continue; \
	  name=$${t##*/fuzz-}; mkdir -p $(FUZZ_BUILD)/corpus/$$name; \
	  log=$(FUZZ_BUILD)/fuzz-$$name.log; \
	  if ! $$t -max_total_time=$(FUZZ_SECONDS) -print_final_stats=0 \
	      -artifact_prefix=$(FUZZ_BUILD)/ \
	      -dict=fuzz/dict/$$name.dict $(FUZZ_BUILD)/corpus/$$name \
	      fuzz/corpus/$$name >$$log 2>&1; then \
	    tail -n 40 $$log; echo "fuzz-$$name FAILED"; exit 1; \
	  fi; \
	  echo "fuzz-$$name: $$(grep -o 'Done [0-9]* runs in [0-9]* second(s)' $$log)"; \
	done

install: all
	meson configure $(BUILD) -Dprefix=$(abspath $(PREFIX))
	meson install -C $(BUILD)

# What the README's first command ends with: the echo app, in the foreground.
demo: all
	./scripts/demo.sh $(BUILD)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)
