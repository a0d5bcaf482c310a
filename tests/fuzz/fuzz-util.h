/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Helpers shared by the libFuzzer targets in tests/fuzz.
 */
#ifndef FUZZ_UTIL_H
#define FUZZ_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Open fds of this process (for per-input leak checks). */
unsigned fuzz_count_fds(void);

/*
 * Abort with @what when the process holds another number of fds than
 * @baseline: an input leaked (or closed) a descriptor.
 */
void fuzz_check_fds(unsigned baseline, const char *what);

/*
 * From here on, no file may be created, written, truncated or removed
 * outside the directories in $FUZZ_WRITABLE (colon-separated; default: the
 * current directory), so that inputs which name real paths cannot damage
 * anything.  Landlock; without it the target refuses to run unless
 * FUZZ_ALLOW_UNSANDBOXED=1.
 */
void fuzz_restrict_writes(void);

/*
 * GLib criticals (g_return_if_fail: a caller broke an API contract) and
 * errors abort(), which libFuzzer reports with the input; warnings print.
 */
void fuzz_fatal_criticals(void);

/* Consume bytes from the front of an input. */
typedef struct FuzzInput {
    const uint8_t *data;
    size_t len;
} FuzzInput;

uint8_t fuzz_byte(FuzzInput *in); /* 0 when empty */
uint32_t fuzz_u32(FuzzInput *in);

#endif
