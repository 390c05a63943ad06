# nagare: PGXS build.
#
#   make && make install          build and install the extension
#   make installcheck             pg_regress + isolation against a running server
#   make prove_installcheck       TAP tests (needs --enable-tap-tests, which Debian has)
#   make codec-check              unit tests of the Kafka codec (no PostgreSQL needed)
#   make CHECKING=1               a checking build: Assert() compiled in
#   make SANITIZE=address,undefined   built with those sanitizers (scripts/sanitize.sh)
#
# The top-level test entry point is scripts/test.sh; see README.md.

EXTENSION    = nagare
MODULE_big   = nagare
OBJS         = $(patsubst %.c,%.o,$(sort $(wildcard src/*.c src/*/*.c)))
DATA         = $(wildcard nagare--*.sql)
PGFILEDESC   = "nagare - Kafka-compatible event streaming"

PG_CPPFLAGS  = -I$(srcdir)/src
# The extension's own code compiles clean with these; -Wno-* keep PostgreSQL's
# own headers and idioms (unused parameters of fmgr functions, signed/unsigned
# comparisons against sizeof) from drowning real warnings.
PG_CFLAGS    = -Wall -Wextra -Werror -Wno-unused-parameter -Wno-sign-compare \
               -Wno-missing-field-initializers
SHLIB_LINK   = -luring -lz -lsnappy -llz4 -lzstd -lssl -lcrypto

# A checking build, as PostgreSQL's --enable-cassert: Assert() on the
# invariants the src/*/README.md state.  The server need not be built so:
# ExceptionalCondition is exported by every postgres, and no header's struct
# an extension uses changes layout with USE_ASSERT_CHECKING.
ifdef CHECKING
PG_CPPFLAGS += -DUSE_ASSERT_CHECKING
endif
# Sanitizers for the extension alone (postgres itself is not instrumented;
# scripts/sanitize.sh preloads libasan into the server).
ifdef SANITIZE
PG_CFLAGS   += -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=all
SHLIB_LINK  += -fsanitize=$(SANITIZE)
endif

REGRESS      = $(patsubst sql/%.sql,%,$(sort $(wildcard sql/*.sql)))
# The server must already run with nagare preloaded (scripts/test.sh starts
# one), and its nagare worker stays connected to contrib_regression, so
# pg_regress must use that database as it is instead of dropping it.
REGRESS_OPTS = --inputdir=. --use-existing
ISOLATION      = $(patsubst test/specs/%.spec,%,$(sort $(wildcard test/specs/*.spec)))
ISOLATION_OPTS = --inputdir=test --use-existing
TAP_TESTS    = 1
PROVE_TESTS  = $(sort $(wildcard test/t/*.pl))

EXTRA_CLEAN  = results/ output_iso/ tmp_check/ log/ regression.diffs regression.out

# Debian builds PostgreSQL with LLVM JIT; bitcode needs clang, which a build
# machine may lack.  nagare has nothing worth inlining into JIT-compiled code.
override with_llvm = no

# Rebuild objects when a header they include changes (PGXS only does this
# when PostgreSQL was configured with --enable-depend).
override autodepend = yes

# pg_regress and the isolation tester share the database the worker serves
override ISOLATION_TESTDB = contrib_regression

PG_CONFIG   ?= pg_config
PGXS        := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

.PHONY: codec-check
codec-check:
	$(MAKE) -C test/codec check

# TAP tests alone (PGXS runs them as part of installcheck); each test starts
# its own cluster, so no server needs to be running.
.PHONY: tapcheck
tapcheck:
	$(prove_installcheck)

# The console's front end (console/, src/web/console.c): its pages and
# cytoscape's ES module from npm (npm ci in console/, which scripts/deps.sh
# runs), into share/extension/nagare_console/, where the http process reads
# them at start.
CONSOLE_FILES     = $(sort $(wildcard console/src/*.html console/src/*.js console/src/*.css))
CONSOLE_CYTOSCAPE = console/node_modules/cytoscape/dist/cytoscape.esm.min.mjs
.PHONY: install-console
install: install-console
install-console:
	@test -f $(CONSOLE_CYTOSCAPE) || { echo "$(CONSOLE_CYTOSCAPE) is missing: run npm ci in console/ (scripts/deps.sh does)" >&2; exit 1; }
	$(MKDIR_P) '$(DESTDIR)$(datadir)/extension/nagare_console'
	$(INSTALL_DATA) $(CONSOLE_FILES) $(CONSOLE_CYTOSCAPE) '$(DESTDIR)$(datadir)/extension/nagare_console/'
