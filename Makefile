# cacheme — build, test and run. `make` builds build/cacheme and build/cacheme-bench; `make test`
# runs every suite; `make run` starts the whole lab locally. See README.md.

CC       ?= cc
PKGS     := libevent libevent_pthreads hiredis jansson libpq
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
WARN     := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wpointer-arith
CFLAGS   ?= -O2 -g
CFLAGS   += -std=c11 -D_GNU_SOURCE $(WARN) -pthread
SAN      := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined

# Two programs, each from its own folder: the service (src/) and the load generator (tools/bench/).
# They share only include/ (the version); neither has the other's folder on its include path, so
# neither can include the other's headers, and neither links the other's objects.
#
# The service: src/ minus main.c is the static library build/libcacheme.a, which the binary and the
# unit tests in tests/unit/ link; the linker takes from it only the modules a test needs.
SVC_CFLAGS := $(PKG_CFLAGS) -Isrc -Iinclude
SVC_LIBS   := $(PKG_LIBS) -lm -pthread
# The service's layers are folders (see docs/architecture.md); includes name their folder.
LAYERS   := core model store cache http api server
SRC      := src/main.c $(foreach l,$(LAYERS),$(wildcard src/$(l)/*.c))
SVC_HDR  := $(foreach l,$(LAYERS),$(wildcard src/$(l)/*.h)) $(wildcard include/cacheme/*.h)
GEN      := build/gen/embedded.c
EMBED    := db/schema.sql db/seed.sql docs/openapi.json assets/swagger.html assets/swagger-init.js \
            assets/redoc.html assets/redoc-init.js
LIB_OBJ  := $(patsubst src/%.c,build/obj/%.o,$(filter-out src/main.c,$(SRC))) build/obj/embedded.o
ASAN_LIB_OBJ := $(patsubst build/obj/%,build/asan/obj/%,$(LIB_OBJ))
UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BIN := $(patsubst tests/unit/%.c,build/tests/%,$(UNIT_SRC))
# What the unit tests of the async core share (tests/unit/README.md): private PostgreSQL and Redis
# servers, and driving an event loop until a condition holds. An archive, so that a test links
# only what it uses.
UNIT_SUPPORT_SRC := $(wildcard tests/unit/support/*.c)
UNIT_SUPPORT_HDR := $(wildcard tests/unit/support/*.h)
UNIT_SUPPORT_OBJ := $(patsubst tests/unit/support/%.c,build/tests/support/%.o,$(UNIT_SUPPORT_SRC))

# The load generator: tools/bench/ minus main.c is build/bench/libbench.a, which cacheme-bench and
# the unit tests in tests/unit/bench/ link. It needs libevent and jansson only.
BENCH_PKGS   := libevent jansson
BENCH_CFLAGS := $(shell pkg-config --cflags $(BENCH_PKGS) 2>/dev/null) -Itools/bench -Iinclude
BENCH_LIBS   := $(shell pkg-config --libs $(BENCH_PKGS) 2>/dev/null) -lm
BENCH_SRC    := $(wildcard tools/bench/*.c)
BENCH_HDR    := $(wildcard tools/bench/*.h include/cacheme/*.h)
BENCH_OBJ    := $(patsubst tools/bench/%.c,build/bench/obj/%.o,\
                  $(filter-out tools/bench/main.c,$(BENCH_SRC)))
ASAN_BENCH_OBJ := $(patsubst build/bench/%,build/asan/bench/%,$(BENCH_OBJ))
BENCH_UNIT_SRC := $(wildcard tests/unit/bench/test_*.c)
BENCH_UNIT_BIN := $(patsubst tests/unit/bench/%.c,build/tests/bench/%,$(BENCH_UNIT_SRC))

.PHONY: all asan unit test run reset deps lint format clean bench bench-scale bench-pubsub bench-events compare docker-check l1sim
all: build/cacheme build/cacheme-bench

# ---- the service ---------------------------------------------------------------------------------
build/cacheme: build/obj/main.o build/libcacheme.a
	$(CC) $(CFLAGS) -o $@ $^ $(SVC_LIBS)

build/libcacheme.a: $(LIB_OBJ)
	rm -f $@
	$(AR) rcs $@ $^

build/obj/%.o: src/%.c $(SVC_HDR) | build/obj
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(SVC_CFLAGS) -c -o $@ $<

build/obj/embedded.o: $(GEN) | build/obj
	$(CC) $(CFLAGS) $(SVC_CFLAGS) -c -o $@ $<

# The schema, seed, OpenAPI document and API docs pages are compiled in: no files needed at run time.
$(GEN): $(EMBED) scripts/embed.sh | build/gen
	scripts/embed.sh embedded_schema_sql=db/schema.sql embedded_seed_sql=db/seed.sql \
	  embedded_openapi_json=docs/openapi.json embedded_swagger_html=assets/swagger.html \
	  embedded_swagger_init_js=assets/swagger-init.js embedded_redoc_html=assets/redoc.html \
	  embedded_redoc_init_js=assets/redoc-init.js > $@

# ---- the load generator --------------------------------------------------------------------------
build/cacheme-bench: build/bench/obj/main.o build/bench/libbench.a
	$(CC) $(CFLAGS) -o $@ $^ $(BENCH_LIBS)

build/bench/libbench.a: $(BENCH_OBJ)
	rm -f $@
	$(AR) rcs $@ $^

build/bench/obj/%.o: tools/bench/%.c $(BENCH_HDR) | build/bench/obj
	$(CC) $(CFLAGS) $(BENCH_CFLAGS) -c -o $@ $<

# ---- the sanitizer build: both programs, side by side as in build/ -------------------------------
asan: build/asan/cacheme build/asan/cacheme-bench
build/asan/cacheme: build/asan/obj/main.o build/asan/libcacheme.a
	$(CC) $(CFLAGS) $(SAN) -o $@ $^ $(SVC_LIBS)

build/asan/libcacheme.a: $(ASAN_LIB_OBJ)
	rm -f $@
	$(AR) rcs $@ $^

build/asan/obj/%.o: src/%.c $(SVC_HDR) | build/asan/obj
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(SAN) $(SVC_CFLAGS) -c -o $@ $<

build/asan/obj/embedded.o: $(GEN) | build/asan/obj
	$(CC) $(CFLAGS) $(SAN) $(SVC_CFLAGS) -c -o $@ $<

build/asan/cacheme-bench: build/asan/bench/obj/main.o build/asan/bench/libbench.a
	$(CC) $(CFLAGS) $(SAN) -o $@ $^ $(BENCH_LIBS)

build/asan/bench/libbench.a: $(ASAN_BENCH_OBJ)
	rm -f $@
	$(AR) rcs $@ $^

build/asan/bench/obj/%.o: tools/bench/%.c $(BENCH_HDR) | build/asan/bench/obj
	$(CC) $(CFLAGS) $(SAN) $(BENCH_CFLAGS) -c -o $@ $<

# ---- unit tests: built with the sanitizers, each program's tests against its own library ---------
unit: $(UNIT_BIN) $(BENCH_UNIT_BIN)
	@rc=0; for t in $^; do echo "== $$t"; $$t || rc=1; done; exit $$rc

build/tests/%: tests/unit/%.c build/tests/libsupport.a build/asan/libcacheme.a $(UNIT_SUPPORT_HDR) \
               | build/tests
	$(CC) $(CFLAGS) $(SAN) $(SVC_CFLAGS) -Itests/unit -o $@ $(filter %.c %.a,$^) $(SVC_LIBS) -lcmocka

build/tests/libsupport.a: $(UNIT_SUPPORT_OBJ)
	rm -f $@
	$(AR) rcs $@ $^

# The servers' scripts are found in the source tree, whatever the current directory of a test.
build/tests/support/%.o: tests/unit/support/%.c $(UNIT_SUPPORT_HDR) $(SVC_HDR) | build/tests/support
	$(CC) $(CFLAGS) $(SAN) $(SVC_CFLAGS) -Itests/unit -DCACHEME_SOURCE_DIR='"$(CURDIR)"' -c -o $@ $<

build/tests/bench/%: tests/unit/bench/%.c build/asan/bench/libbench.a | build/tests/bench
	$(CC) $(CFLAGS) $(SAN) $(BENCH_CFLAGS) -o $@ $^ $(BENCH_LIBS) -lcmocka

# The near cache's eviction policies replayed on Zipf traces (docs/caching-lessons.md): a program
# beside the unit tests, linked against the optimised library, since it replays millions of requests.
l1sim: build/tests/near-policy-sim
	build/tests/near-policy-sim

build/tests/near-policy-sim: tests/sim/near_policy.c build/libcacheme.a | build/tests
	$(CC) $(CFLAGS) $(SVC_CFLAGS) -o $@ $^ $(SVC_LIBS)

DIRS := build/obj build/asan/obj build/gen build/tests build/bench/obj build/asan/bench/obj \
        build/tests/bench build/tests/support
$(DIRS):
	mkdir -p $@

test:
	scripts/test.sh

run:
	scripts/run.sh

reset:
	scripts/reset.sh

deps:
	scripts/deps.sh

# Benchmarks against same-run baselines (nginx, redis-benchmark, pgbench); rewrites docs/performance.md.
bench:
	scripts/deps.sh bench
	bench/run.sh

# Throughput of 1, 2 and 3 instances behind nginx (docs/scaling.md); prints a markdown table.
bench-scale:
	scripts/deps.sh bench
	bench/scale.sh

# What a reader away for 5 s receives from Redis Pub/Sub and from a Stream (docs/pubsub-vs-streams.md);
# prints a markdown table. Needs Redis and node only.
bench-pubsub:
	scripts/deps.sh
	bench/pubsub-vs-streams.sh

# The service's own /events fan-out: delivery between instances, a stopped dashboard instance with
# the default and a tight output buffer limit, and the cost on writes (docs/pubsub-vs-streams.md);
# prints markdown tables.
bench-events:
	scripts/deps.sh
	bench/events-fanout.sh

# Each program is checked with its own include path, as it is built.
CPPCHECK := cppcheck --quiet --error-exitcode=1 --enable=warning,performance,portability \
            --inline-suppr --std=c11
FORMATTED := $(SRC) $(SVC_HDR) $(BENCH_SRC) $(wildcard tools/bench/*.h) $(UNIT_SRC) $(BENCH_UNIT_SRC) \
             $(UNIT_SUPPORT_SRC) $(UNIT_SUPPORT_HDR)
lint: $(GEN) build/obj/main.o $(LIB_OBJ)
	scripts/check-layers.sh
	scripts/check-globals.sh build/obj
	clang-format --dry-run --Werror $(FORMATTED)
	shellcheck scripts/*.sh bench/*.sh .ci/run deploy/docker/*.sh deploy/postgres/*.sh deploy/redis/*.sh
	$(CPPCHECK) -Isrc -Iinclude $(SRC)
	$(CPPCHECK) -Itools/bench -Iinclude $(BENCH_SRC)
	clang-tidy --quiet $(SRC) $(UNIT_SRC) $(UNIT_SUPPORT_SRC) -- -std=c11 -D_GNU_SOURCE $(SVC_CFLAGS) \
	  -Itests/unit -DCACHEME_SOURCE_DIR='"$(CURDIR)"'
	clang-tidy --quiet $(BENCH_SRC) $(BENCH_UNIT_SRC) -- -std=c11 -D_GNU_SOURCE $(BENCH_CFLAGS)

# Cache on vs off: the same Zipf workload with and without the cache; rewrites its section of
# docs/performance.md.
compare:
	scripts/deps.sh
	bench/compare.sh

# Checks the Docker deployment without a Docker engine (see README.md, "With Docker").
docker-check:
	scripts/test.sh deploy

format:
	clang-format -i $(FORMATTED)

clean:
	rm -rf build
