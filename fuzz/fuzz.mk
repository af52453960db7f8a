# Builds the libFuzzer targets (docs/fuzzing.md) with Debian's clang, ASan and
# UBSan: every library source (mod_pdshare/pds_*.c) and the harness are
# compiled with the same flags and linked into each target. Used by fuzz/build:
#   make -f fuzz/fuzz.mk [OUT=dir] [-j2]
REPO := $(abspath $(dir $(lastword $(MAKEFILE_LIST)))/..)
OUT ?= $(REPO)/fuzz/out
CC := clang
PKGS := apr-1 apr-util-1 jansson libcrypto libcurl

SAN := -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
CFLAGS := -g -O1 $(SAN) -fno-omit-frame-pointer -Wall -Wno-unused-parameter \
	-I$(REPO)/mod_pdshare -I$(REPO)/fuzz $(shell pkg-config --cflags $(PKGS)) \
	-DFZ_TEMPLATES_DIR='"$(REPO)/htdocs/templates"'
LIBS := $(shell pkg-config --libs $(PKGS))

TARGETS := routes json_bodies query tmpl_text tmpl_data dropbox sealed visitor logmask

LIB_SRC := $(sort $(wildcard $(REPO)/mod_pdshare/pds_*.c))
LIB_OBJ := $(patsubst $(REPO)/mod_pdshare/%.c,$(OUT)/obj/%.o,$(LIB_SRC))
HDRS := $(wildcard $(REPO)/mod_pdshare/pds*.h) $(REPO)/fuzz/fuzz_common.h

all: $(TARGETS:%=$(OUT)/fuzz_%)

$(OUT)/obj:
	mkdir -p $@

$(OUT)/obj/%.o: $(REPO)/mod_pdshare/%.c $(HDRS) | $(OUT)/obj
	$(CC) $(CFLAGS) -c $< -o $@

$(OUT)/obj/fuzz_%.o: $(REPO)/fuzz/fuzz_%.c $(HDRS) | $(OUT)/obj
	$(CC) $(CFLAGS) -c $< -o $@

$(OUT)/fuzz_%: $(OUT)/obj/fuzz_%.o $(OUT)/obj/fuzz_common.o $(LIB_OBJ)
	$(CC) $(CFLAGS) $^ -o $@ $(LIBS)

.PHONY: all
.SECONDARY:
