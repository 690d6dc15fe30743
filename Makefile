# asyncio.h -- build the examples, run the tests, run the benchmarks.
#   make              examples (same as make examples)
#   make test         the whole suite: both continuation flavours, every
#                     backend, ASan+UBSan, ThreadSanitizer on the threaded
#                     tests, examples on the virtual clock, C99 / C11 / C++
#                     compile checks
#   make test BACKEND=poll   the suite on one backend only
#   make bench        benchmarks (needs hyperfine and python3)
# Honours CC, CXX, CFLAGS.  Everything is built in build/.

CC      ?= cc
CXX     ?= c++
CFLAGS  ?= -O2 -g
WARN    := -Wall -Wextra -pedantic -Werror
STD     := -std=c99
BUILD   := build
# the executor's threads (part of libc since glibc 2.34; needed elsewhere)
LIBS    := -pthread
# TLS (ASYNCIO_TLS=1): OpenSSL, for the examples that speak it and the TLS
# tests; everything else is built without it
TLS_FLAGS := -DASYNCIO_TLS=1
TLS_LIBS  := -lssl -lcrypto
# kqueue runs on Linux through tests/kqueue_emulation.h (test-only)
BACKENDS ?= epoll poll kqueue uring
ifdef BACKEND
BACKENDS := $(BACKEND)
endif

EXAMPLES := $(basename $(notdir $(wildcard examples/*.c)))
# examples that speak TLS: built with $(TLS_FLAGS), linked with OpenSSL
TLS_EXAMPLES := $(filter fetch echo_server https_server starttls,$(EXAMPLES))
example_flags = $(if $(filter $(1),$(TLS_EXAMPLES)),$(TLS_FLAGS))
example_libs = $(if $(filter $(1),$(TLS_EXAMPLES)),$(TLS_LIBS)) $(LIBS)
# the test-only kqueue emulation has its own test program
TEST_SRC := $(filter-out tests/test_kqueue_emulation.c,$(wildcard tests/*.c))
HDR      := asyncio.h

SHELL := /bin/bash
.PHONY: all examples test test-unit test-examples test-compile bench bench-core bench-net bench-threads bench-proc bench-tls clean help

all: examples

help:
	@sed -n '1,9p' Makefile

examples: $(EXAMPLES:%=$(BUILD)/examples/%)

# A backend's flags ("default": none, the platform's own choice).
backend_flag = $(if $(filter-out default,$(1)),-DASYNCIO_BACKEND_$(shell echo $(1) | tr a-z A-Z)=1 \
    $(if $(filter kqueue,$(1)),'-DASYNCIO_KQUEUE_HEADER="kqueue_emulation.h"'))

# The implementation is compiled once per configuration (backend, TLS or
# not) and linked into every example of it: the examples are compiled with
# ASYNCIO_IMPLEMENTATION_LINKED=1, so their own ASYNCIO_IMPLEMENTATION line
# emits nothing (the stb pattern; each is still a whole program for a user
# who compiles it alone).
impl_obj = $(BUILD)/obj/impl-$(1)$(if $(filter 1,$(2)),-tls).o
define impl_rule
$(call impl_obj,$(1),$(2)): $(HDR) tests/kqueue_emulation.h
	@mkdir -p $$(@D)
	@printf '#define ASYNCIO_IMPLEMENTATION\n#include "asyncio.h"\n' >$$(@:.o=.c)
	$$(CC) $(STD) $(WARN) $$(CFLAGS) $(call backend_flag,$(1)) $(if $(filter 1,$(2)),$(TLS_FLAGS)) -I. -Itests \
	    -c $$(@:.o=.c) -o $$@
endef
$(foreach b,default $(BACKENDS),$(foreach t,0 1,$(eval $(call impl_rule,$(b),$(t)))))

# example_rule DIR BACKEND NAME SOURCE (the README's program is one too:
# $(BUILD)/examples/readme.c, its C block)
define example_rule
$(1)/$(3): $(4) $(wildcard examples/*.h) $(HDR) $(call impl_obj,$(2),$(if $(filter $(3),$(TLS_EXAMPLES)),1,0))
	@mkdir -p $$(@D)
	$$(CC) $(STD) $(WARN) $$(CFLAGS) $(call backend_flag,$(2)) $(call example_flags,$(3)) -DASYNCIO_IMPLEMENTATION_LINKED=1 \
	    -I. -Itests $$< $(call impl_obj,$(2),$(if $(filter $(3),$(TLS_EXAMPLES)),1,0)) -o $$@ $(call example_libs,$(3))
endef
EXAMPLE_BACKENDS := $(filter-out epoll,$(BACKENDS))
$(foreach b,default $(EXAMPLE_BACKENDS),$(foreach e,$(EXAMPLES),\
    $(eval $(call example_rule,$(BUILD)/examples$(if $(filter-out default,$(b)),-$(b)),$(b),$(e),examples/$(e).c)))\
    $(eval $(call example_rule,$(BUILD)/examples$(if $(filter-out default,$(b)),-$(b)),$(b),readme,$(BUILD)/examples/readme.c)))

$(BUILD)/examples/readme.c: README.md
	@mkdir -p $(@D)
	awk '/^```c$$/ { on = 1; next } /^```$$/ { on = 0 } on' README.md > $@

# ---- tests ---------------------------------------------------------------
# One program per (flavour, backend, kind): kind san (ASan+UBSan), plain
# (the optimised build without sanitizers: -O2's own warnings and code
# paths), tsan (ThreadSanitizer, running the tests whose names begin with
# thread_) or tls (ASYNCIO_TLS=1 with OpenSSL under ASan+UBSan, running
# those beginning with tls_).  Only tests/runner.c, which holds the
# implementation, is compiled per backend: the tests' own files are
# compiled once per (flavour, kind) and linked into every backend's
# program.
SAN := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
# -pthread at compile time too: _REENTRANT gives the tests' files POSIX clocks under -std=c99
test_flags = $(if $(filter labels,$(1)),-std=gnu99 -DASYNCIO_LABELS=1,$(STD) -pedantic) -Wall -Wextra -Werror \
    $(if $(filter tls,$(2)),$(TLS_FLAGS)) \
    $(if $(filter plain,$(2)),$(CFLAGS),$(if $(filter tsan,$(2)),-fsanitize=thread,$(SAN)) -O1 -g) -I. -Itests -pthread
# io_uring's tests run with a receive pool of four buffers: every suite
# then meets a dry pool (a receive ends and is armed again) again and again
URING_TEST_FLAGS := -DASYNCIO_URING_BUFFERS=4
TEST_SHARED := $(filter-out tests/runner.c,$(TEST_SRC))
test_obj_dir = $(BUILD)/tests/obj/$(1)-$(2)

# test_objs FLAVOUR KIND: the tests' own files, shared by every backend
define test_objs
$(call test_obj_dir,$(1),$(2))/%.o: tests/%.c tests/tests.h tests/list.h $(HDR)
	@mkdir -p $$(@D)
	$$(CC) $(call test_flags,$(1),$(2)) -c $$< -o $$@
endef
# test_prog NAME FLAVOUR BACKEND KIND
define test_prog
$(call test_obj_dir,$(2),$(4))/runner-$(3).o: tests/runner.c tests/tests.h tests/list.h tests/kqueue_emulation.h $(HDR)
	@mkdir -p $$(@D)
	$$(CC) $(call test_flags,$(2),$(4)) $(call backend_flag,$(3)) $(if $(filter uring,$(3)),$(URING_TEST_FLAGS)) -c $$< -o $$@
$(BUILD)/tests/$(1): $(call test_obj_dir,$(2),$(4))/runner-$(3).o \
    $(TEST_SHARED:tests/%.c=$(call test_obj_dir,$(2),$(4))/%.o)
	$$(CC) $(call test_flags,$(2),$(4)) $$^ -o $$@ $(if $(filter tls,$(4)),$(TLS_LIBS)) $(LIBS)
endef
$(foreach f,switch labels,$(foreach k,san plain tls,$(eval $(call test_objs,$(f),$(k)))))
$(eval $(call test_objs,switch,tsan))
$(foreach b,$(BACKENDS),$(foreach f,switch labels,$(foreach k,san plain,\
    $(eval $(call test_prog,$(f)-$(b)-$(k),$(f),$(b),$(k))))$(eval $(call test_prog,tls-$(f)-$(b),$(f),$(b),tls)))\
    $(eval $(call test_prog,tsan-$(b),switch,$(b),tsan)))
TEST_BINS := $(foreach b,$(BACKENDS),$(foreach f,switch labels,$(foreach k,san plain,$(BUILD)/tests/$(f)-$(b)-$(k))))
TSAN_BINS := $(BACKENDS:%=$(BUILD)/tests/tsan-%)
TLS_BINS  := $(foreach b,$(BACKENDS),$(foreach f,switch labels,$(BUILD)/tests/tls-$(f)-$(b)))

# Every stage prints "N passed, M failed"; the last line adds them up.
# make test builds everything first, on every core (the output only if
# that fails), then runs the stages; test-unit runs its programs side by
# side, their outputs printed in order.
NPROC      := $(shell nproc 2>/dev/null || echo 2)
TEST_BUILD := $(TEST_BINS) $(TSAN_BINS) $(TLS_BINS) $(BUILD)/tests/kqueue-emulation examples \
              $(BUILD)/examples/readme $(EXAMPLE_BACKENDS:%=examples-%)
test:
	@mkdir -p $(BUILD); set -o pipefail; { $(MAKE) --no-print-directory -j$(NPROC) $(TEST_BUILD) >$(BUILD)/test-build.log 2>&1 || \
	  { cat $(BUILD)/test-build.log; exit 1; }; \
	  $(MAKE) --no-print-directory test-compile test-unit test-examples test-install test-cookbook; } 2>&1 | tee $(BUILD)/test.log; \
	status=$$?; awk '/^[0-9]+ passed, [0-9]+ failed$$/ { p += $$1; f += $$3 } \
	  END { printf "total: %d passed, %d failed\n", p, f; exit (f > 0) }' $(BUILD)/test.log && exit $$status

$(BUILD)/tests/kqueue-emulation: tests/test_kqueue_emulation.c tests/kqueue_emulation.h
	@mkdir -p $(@D)
	$(CC) -std=c99 -pedantic -Wall -Wextra -Werror $(SAN) -O1 -g -Itests $< -o $@ $(LIBS)

test-unit: $(TEST_BINS) $(TSAN_BINS) $(TLS_BINS) $(BUILD)/tests/kqueue-emulation
	@bash tests/run_parallel.sh $(NPROC) $(BUILD)/tests/kqueue-emulation $(TEST_BINS) \
	    $(TSAN_BINS:%=%' thread_') $(TLS_BINS:%=%' tls_')

# The README's program is checked like an example; the network examples
# are driven by real clients on every backend.
test-examples: examples $(BUILD)/examples/readme $(EXAMPLE_BACKENDS:%=examples-%)
	@bash tests/run_examples.sh $(BUILD)/examples
	@bash tests/run_net_examples.sh $(BUILD)/examples
	@bash tests/hostile_http.sh $(BUILD)/examples
	@bash tests/hostile_kv.sh $(BUILD)/examples
	@set -e; for b in $(EXAMPLE_BACKENDS); do echo "== examples on $$b"; \
	  bash tests/run_examples.sh $(BUILD)/examples-$$b; \
	  bash tests/run_net_examples.sh $(BUILD)/examples-$$b; done

examples-%: $(EXAMPLES:%=$(BUILD)/examples-\%/%) $(BUILD)/examples-%/readme
	@:

# The benchmark programs built on the header (compiled by test-compile so
# that a change to the header cannot break them unseen).
BENCH_C := $(shell grep -l '"asyncio.h"' bench/*.c bench/*/*.c 2>/dev/null)

# The header alone: C99 and C11 with gcc and clang, declarations as C++.
test-compile:
	@mkdir -p $(BUILD)/compile
	@printf '#define ASYNCIO_IMPLEMENTATION\n#include "asyncio.h"\nint main(void){return 0;}\n' > $(BUILD)/compile/one.c
	@printf '#include "asyncio.h"\nint main(void){return 0;}\n' > $(BUILD)/compile/decl.cc
	@p=0; f=0; \
	check() { if "$$@" 2>$(BUILD)/compile/err; then echo "ok: $$*"; p=$$((p+1)); \
	          else echo "not ok: $$*"; cat $(BUILD)/compile/err; f=$$((f+1)); fi; }; \
	for cc in gcc clang; do command -v $$cc >/dev/null || continue; \
	  for std in c99 c11; do for labels in 0 1; do \
	    check $$cc -std=$$std -pedantic -Wall -Wextra -Werror -DASYNCIO_LABELS=$$labels -I. \
	      -c $(BUILD)/compile/one.c -o $(BUILD)/compile/one.o; done; \
	    check $$cc -std=$$std -pedantic -Wall -Wextra -Werror -DASYNCIO_BACKEND_URING=1 -I. \
	      -c $(BUILD)/compile/one.c -o $(BUILD)/compile/one.o; done; done; \
	for cxx in g++ clang++; do command -v $$cxx >/dev/null || continue; \
	  for std in c++11 c++17; do \
	    check $$cxx -std=$$std -Wall -Wextra -Werror -I. -c $(BUILD)/compile/decl.cc -o $(BUILD)/compile/decl.o; \
	    check $$cxx -std=$$std -Wall -Wextra -Werror -I. -c tests/macros.cc -o $(BUILD)/compile/macros.o; \
	  done; \
	  check $$cxx -std=gnu++17 -DASYNCIO_LABELS=1 -Wall -Wextra -Werror -I. -c tests/macros.cc -o $(BUILD)/compile/macros.o; \
	done; \
	if command -v clang >/dev/null; then \
	  check clang -std=gnu99 -fsyntax-only -DASYNCIO_LABELS=1 -Wall -Wextra -Werror -I. -Itests $(TEST_SRC) \
	    $(filter-out $(TLS_EXAMPLES:%=examples/%.c),$(wildcard examples/*.c)); \
	  check clang -std=gnu99 -fsyntax-only -DASYNCIO_LABELS=1 $(TLS_FLAGS) -Wall -Wextra -Werror -I. -Itests \
	    $(TEST_SRC) $(TLS_EXAMPLES:%=examples/%.c); \
	  check gcc -std=c99 -pedantic -fsyntax-only $(TLS_FLAGS) -Wall -Wextra -Werror -I. \
	    $(addprefix -I,$(sort $(dir $(BENCH_C)))) $(BENCH_C); \
	fi; \
	for cc in gcc clang; do command -v $$cc >/dev/null || continue; for labels in 0 1; do \
	  for t in await_in_sync_finally:asyncio_cannot_suspend_in_synchronous_FINALLY \
	           two_suspensions_on_a_line:asyncio_one_suspension_per_line__ \
	           unbraced_suspension:'expected expression'; do \
	    if $$cc -std=gnu99 -Wall -Wextra -DASYNCIO_LABELS=$$labels -I. -c tests/misuse/$${t%%:*}.c \
	         -o $(BUILD)/compile/misuse.o 2>$(BUILD)/compile/err; then \
	      echo "not ok: $$cc: tests/misuse/$${t%%:*}.c compiles"; f=$$((f+1)); \
	    elif grep -q "$${t#*:}" $(BUILD)/compile/err; then \
	      echo "ok: $$cc labels=$$labels refuses tests/misuse/$${t%%:*}.c, naming $${t#*:}"; p=$$((p+1)); \
	    else echo "not ok: $$cc: tests/misuse/$${t%%:*}.c fails without naming $${t#*:}"; \
	      cat $(BUILD)/compile/err; f=$$((f+1)); fi; \
	  done; done; done; \
	echo "$$p passed, $$f failed"; [ $$f = 0 ]

# ---- install ---------------------------------------------------------------
# make install [PREFIX=/usr/local] [DESTDIR=]: include/asyncio.h, pkg-config
# files (share/pkgconfig/asyncio_h.pc, asyncio_h-tls.pc), a CMake package
# (share/cmake/asyncio_h: find_package(asyncio_h) gives asyncio_h::asyncio_h
# and asyncio_h::tls) and the licence (share/doc/asyncio_h).  Every
# destination is checked first, so a prefix it cannot write fails with
# nothing written (install.sh).  make uninstall removes what it installed.
# test-install builds a program against the copy through each route
# (tests/install/run.sh: cc, pkg-config, CMake, Meson).
PREFIX  ?= /usr/local
DESTDIR ?=
.PHONY: install uninstall test-install
# (through the environment: no quoting of PREFIX by the shell to go wrong)
install uninstall: export ASYNCIO_H_PREFIX = $(PREFIX)
install uninstall: export ASYNCIO_H_DESTDIR = $(DESTDIR)
install uninstall:
	@bash install.sh $@ "$$ASYNCIO_H_PREFIX" "$$ASYNCIO_H_DESTDIR"
test-install:
	@bash tests/install/run.sh

# docs/cookbook.md checked: every recipe's C program built (with ASan and
# UBSan) and run, its Python program run, both against the output the
# recipe shows; the table of line counts too (tests/run_cookbook.sh).
.PHONY: test-cookbook
test-cookbook:
	@bash tests/run_cookbook.sh

# ---- benchmarks ----------------------------------------------------------
# bench-core: gather / spawn / switch against Python asyncio (bench/run.sh);
# bench-net: the example servers against epoll, libuv, uvloop, asyncio,
# Node and redis-server (bench/net/run.sh; see bench/net/README.md for the
# packages it uses); bench-threads: to_thread, call_soon_threadsafe, loop
# lag and http_server -j against libuv and Python asyncio
# (bench/threads/run.sh; the libuv programs need libuv1-dev, the HTTP part
# wrk: each is skipped with a note without them); bench-proc: spawn-and-wait,
# 1 GiB through cat and a 1 GiB file copy against libuv, Python asyncio and
# plain blocking loops (bench/proc/run.sh; libuv programs as above; the copy
# needs 2 GiB free in TMPDIR or /tmp); bench-tls: a TLS echo server and full
# handshakes against epoll + OpenSSL floors, Node's tls, Python asyncio and
# uvloop with ssl= (bench/tls/run.sh; needs OpenSSL's headers and the openssl
# command; node and uvloop are skipped with a note without them);
# bench-uring (not part of bench): the io_uring backend against epoll, libuv
# and the hand-written epoll floor -- a task switch with one fd registered,
# then echo, idle connections and HTTP for those servers (bench/uring/README.md;
# SWITCH_ROUNDS, NET_ROUNDS, NET_RUNS and the other NET_ settings apply).
BENCH := gather spawn switch
bench: bench-core bench-net bench-threads bench-proc bench-tls

bench-core: $(BENCH:%=$(BUILD)/bench/%) $(BUILD)/bench/sync $(BUILD)/bench/tree $(BUILD)/bench/tree-debug
	@bash bench/run.sh $(BUILD)/bench
	@bash bench/sync.sh $(BUILD)/bench
	@for t in tree tree-debug tree tree-debug tree tree-debug; do $(BUILD)/bench/$$t 100000 2>/dev/null; done

# the await tree in a debug build (file and function names): its slow-step
# warning about the dump itself is dropped above
$(BUILD)/bench/tree-debug: bench/tree.c bench/bench.h $(HDR)
	@mkdir -p $(@D)
	$(CC) -std=c99 $(WARN) -O2 -I. -Ibench $< -o $@ $(LIBS)

bench-net: examples $(BUILD)/bench/idle
	@$(BUILD)/bench/idle 10000
	@bash bench/net/run.sh $(BUILD)/bench-net

$(BUILD)/bench/idle: bench/net/idle.c $(HDR)
	@mkdir -p $(@D)
	$(CC) -std=c99 $(WARN) -O2 -DNDEBUG -I. $< -o $@ $(LIBS)

$(BUILD)/bench/%: bench/%.c bench/bench.h $(HDR)
	@mkdir -p $(@D)
	$(CC) -std=c99 $(WARN) -O2 -DNDEBUG -I. -Ibench $< -o $@ $(LIBS)

BENCH_THREADS := to_thread threadsafe lag
HAVE_UV := $(shell printf '\043include <uv.h>\n' | $(CC) -E -x c - >/dev/null 2>&1 && echo 1)
BENCH_THREADS_BIN := $(BENCH_THREADS:%=$(BUILD)/bench-threads/%)
BENCH_THREADS_UV := $(if $(HAVE_UV),$(BENCH_THREADS:%=$(BUILD)/bench-threads/%_uv))

bench-threads: $(BENCH_THREADS_BIN) $(BENCH_THREADS_UV) $(BUILD)/examples/http_server
	@$(if $(HAVE_UV),:,echo "bench-threads: no <uv.h> (apt-get install libuv1-dev): the libuv versions are skipped")
	@command -v wrk >/dev/null || echo "bench-threads: no wrk (apt-get install wrk): the http_server -j runs are skipped"
	@bash bench/threads/run.sh $(BUILD)/bench-threads

$(BENCH_THREADS_BIN): $(BUILD)/bench-threads/%: bench/threads/%.c bench/threads/common.h $(HDR)
	@mkdir -p $(@D)
	$(CC) -std=c99 $(WARN) -O2 -DNDEBUG -I. -Ibench/threads $< -o $@ $(LIBS)

$(BENCH_THREADS:%=$(BUILD)/bench-threads/%_uv): $(BUILD)/bench-threads/%_uv: bench/threads/%_uv.c bench/threads/common.h
	@mkdir -p $(@D)
	$(CC) -std=c99 $(WARN) -O2 -DNDEBUG -Ibench/threads $< -o $@ -luv $(LIBS)

BENCH_PROC := spawn pipe copy
BENCH_PROC_BIN := $(BENCH_PROC:%=$(BUILD)/bench-proc/%) $(BUILD)/bench-proc/pipe_floor $(BUILD)/bench-proc/copy_floor
BENCH_PROC_UV := $(if $(HAVE_UV),$(BENCH_PROC:%=$(BUILD)/bench-proc/%_uv))

bench-proc: $(BENCH_PROC_BIN) $(BENCH_PROC_UV)
	@$(if $(HAVE_UV),:,echo "bench-proc: no <uv.h> (apt-get install libuv1-dev): the libuv versions are skipped")
	@bash bench/proc/run.sh $(BUILD)/bench-proc

$(BENCH_PROC_BIN): $(BUILD)/bench-proc/%: bench/proc/%.c bench/proc/common.h $(HDR)
	@mkdir -p $(@D)
	$(CC) -std=c99 $(WARN) -O2 -DNDEBUG -I. -Ibench/proc $< -o $@ $(LIBS)

$(BENCH_PROC:%=$(BUILD)/bench-proc/%_uv): $(BUILD)/bench-proc/%_uv: bench/proc/%_uv.c bench/proc/common.h
	@mkdir -p $(@D)
	$(CC) -std=c99 $(WARN) -O2 -DNDEBUG -Ibench/proc $< -o $@ -luv $(LIBS)

BENCH_TLS := tls_echo tls_floor tls_load
BENCH_TLS_BIN := $(BENCH_TLS:%=$(BUILD)/bench-tls/%)

bench-tls: $(BENCH_TLS_BIN)
	@bash bench/tls/run.sh $(BUILD)/bench-tls

$(BENCH_TLS_BIN): $(BUILD)/bench-tls/%: bench/tls/%.c $(HDR)
	@mkdir -p $(@D)
	$(CC) -std=c99 $(WARN) -O2 -DNDEBUG $(TLS_FLAGS) -I. $< -o $@ $(TLS_LIBS) $(LIBS)

# bench-uring: bench/switch.c N 1 built for each backend, its libuv and
# floor peers, 7 interleaved rounds; then bench/net/run.sh, 3 rounds, for
# the four servers that matter here, the uring examples as asyncio.h-uring;
# last, where each echo server's time goes (perf; skipped without it)
BENCH_URING_BIN := $(BUILD)/bench-uring/switch-epoll $(BUILD)/bench-uring/switch-uring \
    $(BUILD)/bench-uring/fdswitch_floor $(if $(HAVE_UV),$(BUILD)/bench-uring/fdswitch_uv)
.PHONY: bench-uring

bench-uring: $(BENCH_URING_BIN) examples examples-uring
	@$(if $(HAVE_UV),:,echo "bench-uring: no <uv.h> (apt-get install libuv1-dev): the libuv runs are skipped")
	@SWITCH_ROUNDS=$${SWITCH_ROUNDS:-7} bash bench/uring/switch.sh $(BUILD)/bench-uring
	@NET_ONLY="$${NET_ONLY:-asyncio.h asyncio.h-uring epoll libuv}" NET_PARTS="$${NET_PARTS:-echo idle http}" \
	  NET_ROUNDS=$${NET_ROUNDS:-3} NET_EXAMPLES=$(BUILD)/examples NET_URING_EXAMPLES=$(BUILD)/examples-uring \
	  bash bench/net/run.sh $(BUILD)/bench-uring/net
	@bash bench/uring/perf_echo.sh $(BUILD)/bench-uring/net 100 3 asyncio.h=$(BUILD)/examples/echo_server \
	  asyncio.h-uring=$(BUILD)/examples-uring/echo_server epoll=$(BUILD)/bench-uring/net/echo_epoll \
	  $(if $(HAVE_UV),libuv=$(BUILD)/bench-uring/net/echo_libuv) | tee $(BUILD)/bench-uring/perf-echo.txt

$(BUILD)/bench-uring/switch-%: bench/switch.c bench/bench.h $(HDR)
	@mkdir -p $(@D)
	$(CC) -std=c99 $(WARN) -O2 -DNDEBUG $(call backend_flag,$*) -I. -Ibench $< -o $@ $(LIBS)

$(BUILD)/bench-uring/fdswitch_floor: bench/uring/fdswitch_floor.c bench/uring/fdswitch.h bench/bench.h
	@mkdir -p $(@D)
	$(CC) -std=c99 $(WARN) -O2 -DNDEBUG -Ibench -Ibench/uring $< -o $@

$(BUILD)/bench-uring/fdswitch_uv: bench/uring/fdswitch_uv.c bench/uring/fdswitch.h bench/bench.h
	@mkdir -p $(@D)
	$(CC) -std=c99 $(WARN) -O2 -DNDEBUG -Ibench -Ibench/uring $< -o $@ -luv $(LIBS)

# make charts: PNGs in bench/charts/ drawn from the result files the bench-*
# targets left in $(BUILD) (bench/charts.py: a chart whose results are
# missing is skipped with a note), after a gather sweep N = 10 .. 1e6
# (bench/gather_sweep.sh, about 20 s on a quiet machine; CHARTS_SWEEP=0
# draws from the last sweep instead).  Not part of make test.  Needs
# matplotlib for CHARTS_PYTHON (Debian: apt-get install python3-matplotlib).
CHARTS_PYTHON ?= /usr/bin/python3
CHARTS_SWEEP  ?= 1
.PHONY: charts
charts: $(BUILD)/bench/gather
	@$(if $(filter 1,$(CHARTS_SWEEP)),bash bench/gather_sweep.sh $(BUILD)/bench,:)
	@$(CHARTS_PYTHON) bench/charts.py --build $(BUILD)

clean:
	rm -rf $(BUILD)

# ---- fuzzing and soak (neither is part of make test) ----------------------
# make fuzz: every tests/fuzz/fuzz_NAME.c, built with libFuzzer, ASan and
# UBSan, runs FUZZ_SECONDS (default 60) from its seeds in
# tests/fuzz/corpus/NAME/; what it learns goes to build/fuzz/corpus/NAME/,
# a crash to build/fuzz/NAME-crash-* (tests/fuzz/README.md).  Every
# target runs even after one fails; the status says whether any did.
# make bench-soak: the example servers under mixed load for SOAK_SECONDS
# (default 180), their memory and descriptors compared (bench/soak/README.md).
FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 60
FUZZ_NAMES   := $(patsubst tests/fuzz/fuzz_%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
.PHONY: fuzz bench-soak

fuzz: $(FUZZ_NAMES:%=$(BUILD)/fuzz/fuzz_%)
	@failed=; for n in $(FUZZ_NAMES); do \
	  echo "== fuzz_$$n: $(FUZZ_SECONDS) s"; mkdir -p $(BUILD)/fuzz/corpus/$$n; \
	  seeds=tests/fuzz/corpus/$$n; [ -d $$seeds ] || seeds=; \
	  $(BUILD)/fuzz/fuzz_$$n -max_total_time=$(FUZZ_SECONDS) -timeout=10 -print_final_stats=1 \
	    -artifact_prefix=$(BUILD)/fuzz/$$n- $(BUILD)/fuzz/corpus/$$n $$seeds || failed="$$failed fuzz_$$n"; \
	done; \
	if [ -n "$$failed" ]; then echo "fuzz: failed:$$failed"; exit 1; fi; echo "fuzz: no failures"

$(BUILD)/fuzz/fuzz_%: tests/fuzz/fuzz_%.c $(wildcard examples/*.h) $(HDR)
	@mkdir -p $(@D)
	$(FUZZ_CC) $(STD) $(WARN) -g -O2 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
	    -I. -Iexamples $< -o $@ $(LIBS)

bench-soak:
	@bash bench/soak/run.sh

# ---- fault sweeps (make torture; not part of make test) --------------------
# Each program of tests/torture/scenarios.c runs once to count its
# allocations and task steps, then once for every k with the k-th
# allocation failing and once for every k with its main task cancelled at
# the k-th step, each run in a forked child under ASan, UBSan and LSan
# with a time limit (tests/torture/torture.h).  One line per sweep, then
# "N passed, M failed"; known library bugs print as TODO.  About a minute.
TORTURE_SRC := tests/torture/torture.c tests/torture/scenarios.c
.PHONY: torture

torture: $(BUILD)/torture/torture
	@$(BUILD)/torture/torture

$(BUILD)/torture/torture: $(TORTURE_SRC) tests/torture/torture.h $(HDR)
	@mkdir -p $(@D)
	$(CC) $(STD) $(WARN) $(SAN) -O1 -g -I. -Itests/torture $(TORTURE_SRC) -o $@ $(LIBS)
