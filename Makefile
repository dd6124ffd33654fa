# cacheme — build, test and run. `make` builds build/cacheme; `make test` runs every suite;
# `make run` starts the whole lab locally. See README.md.

CC       ?= cc
PKGS     := libevent libevent_pthreads hiredis jansson libpq
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
WARN     := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wpointer-arith
CFLAGS   ?= -O2 -g
CFLAGS   += -std=c11 -D_GNU_SOURCE $(WARN) $(PKG_CFLAGS) -Isrc -Iinclude -pthread
LDLIBS   := $(PKG_LIBS) -lm -pthread
SAN      := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined

SRC      := $(wildcard src/*.c)
LIB_SRC  := $(filter-out src/main.c,$(SRC))
GEN      := build/gen/embedded.c
EMBED    := db/schema.sql db/seed.sql docs/openapi.json assets/swagger.html assets/swagger-init.js \
            assets/redoc.html assets/redoc-init.js
UNIT_SRC := $(wildcard tests/unit/test_*.c)

OBJ      := $(patsubst src/%.c,build/obj/%.o,$(SRC)) build/obj/embedded.o
LIB_OBJ  := $(patsubst src/%.c,build/obj/%.o,$(LIB_SRC)) build/obj/embedded.o
ASAN_OBJ := $(patsubst src/%.c,build/asan/obj/%.o,$(SRC)) build/asan/obj/embedded.o
UNIT_BIN := $(patsubst tests/unit/%.c,build/tests/%,$(UNIT_SRC))

.PHONY: all asan unit test run reset deps lint format clean bench compare docker-check
all: build/cacheme

build/cacheme: $(OBJ)
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

build/obj/%.o: src/%.c $(wildcard src/*.h) | build/obj
	$(CC) $(CFLAGS) -c -o $@ $<

build/obj/embedded.o: $(GEN) | build/obj
	$(CC) $(CFLAGS) -c -o $@ $<

# The schema, seed, OpenAPI document and API docs pages are compiled in: no files needed at run time.
$(GEN): $(EMBED) scripts/embed.sh | build/gen
	scripts/embed.sh embedded_schema_sql=db/schema.sql embedded_seed_sql=db/seed.sql \
	  embedded_openapi_json=docs/openapi.json embedded_swagger_html=assets/swagger.html \
	  embedded_swagger_init_js=assets/swagger-init.js embedded_redoc_html=assets/redoc.html \
	  embedded_redoc_init_js=assets/redoc-init.js > $@

asan: build/asan/cacheme
build/asan/cacheme: $(ASAN_OBJ)
	$(CC) $(CFLAGS) $(SAN) -o $@ $^ $(LDLIBS)

build/asan/obj/%.o: src/%.c $(wildcard src/*.h) | build/asan/obj
	$(CC) $(CFLAGS) $(SAN) -c -o $@ $<

build/asan/obj/embedded.o: $(GEN) | build/asan/obj
	$(CC) $(CFLAGS) $(SAN) -c -o $@ $<

# Unit tests are built with the sanitizers and linked against every module but main.
unit: $(UNIT_BIN)
	@rc=0; for t in $(UNIT_BIN); do echo "== $$t"; $$t || rc=1; done; exit $$rc

build/tests/%: tests/unit/%.c $(filter-out build/asan/obj/main.o,$(ASAN_OBJ)) | build/tests
	$(CC) $(CFLAGS) $(SAN) -o $@ $^ $(LDLIBS) -lcmocka

build/obj build/asan/obj build/gen build/tests:
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

lint: $(GEN)
	cppcheck --quiet --error-exitcode=1 --enable=warning,performance,portability \
	  --inline-suppr --std=c11 -Isrc -Iinclude $(SRC)
	clang-tidy --quiet $(SRC) $(UNIT_SRC) -- -std=c11 -D_GNU_SOURCE $(PKG_CFLAGS) -Isrc -Iinclude

# Cache on vs off: the same Zipf workload with and without the cache; rewrites its section of
# docs/performance.md.
compare:
	scripts/deps.sh
	bench/compare.sh

# Checks the Docker deployment without a Docker engine (see README.md, "With Docker").
docker-check:
	scripts/test.sh deploy

format:
	clang-format -i src/*.c src/*.h tests/unit/*.c

clean:
	rm -rf build
