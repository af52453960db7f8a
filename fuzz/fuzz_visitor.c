/* The visitor's request headers the public handler decides on: Range (what a
 * local download serves, and so whether it counts) and User-Agent (link
 * previews).
 *
 * Input: two bytes choose the file size (0..65535), one the MaxRanges (255:
 * no limit); the rest, as a C string, is the Range value and the User-Agent.
 * Properties: WHOLE has no header and counts; UNSATISFIABLE carries no byte 0
 * and names the size; PARTS lie inside the file, sorted, apart (not even
 * adjacent), no more than MaxRanges, carry byte 0 exactly when the first
 * starts at 0, and their canonical header parses back to itself. */
#include <stdlib.h>
#include <string.h>
#include <apr_strings.h>

#include "fuzz_common.h"
#include "pds_visitor.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fz_init();
    return 0;
}

static void check_parts(apr_pool_t *p, const pds_range_t *r, apr_off_t size, int max_parts)
{
    const char *s = r->header + 6;
    long long prev_end = -2;
    int n = 0;
    pds_range_t again;
    FZ_CHECK(!strncmp(r->header, "bytes=", 6), "header %s", r->header);
    while (*s) {
        char *end;
        long long a = strtoll(s, &end, 10), b;
        FZ_CHECK(*end == '-', "header %s", r->header);
        b = strtoll(end + 1, &end, 10);
        FZ_CHECK(*end == ',' || !*end, "header %s", r->header);
        FZ_CHECK(a >= 0 && a <= b && b < size, "range %lld-%lld of %lld", a, b, (long long)size);
        FZ_CHECK(a > prev_end + 1, "ranges not sorted apart: %s", r->header);
        if (!n) FZ_CHECK(r->first_byte == (a == 0), "first_byte %d for %s", r->first_byte, r->header);
        prev_end = b;
        n++;
        s = *end ? end + 1 : end;
    }
    FZ_CHECK(n == r->parts && n > 0, "%d parts counted as %d", n, r->parts);
    FZ_CHECK(max_parts < 0 || n <= max_parts, "%d parts over MaxRanges %d", n, max_parts);
    pds_range_parse(p, r->header, size, max_parts, &again);
    FZ_CHECK(again.kind == PDS_RANGE_PARTS && !strcmp(again.header, r->header),
             "canonical header %s does not parse back to itself", r->header);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_pool_t *p = fz_pool();
    apr_off_t file_size = size >= 2 ? (apr_off_t)(data[0] | data[1] << 8) : 1000;
    int max_parts = size >= 3 ? (data[2] == 255 ? -1 : data[2]) : -1;
    const char *value = size > 3 ? fz_strndup(p, data + 3, size - 3) : "";
    pds_range_t r;

    pds_range_parse(p, value, file_size, max_parts, &r);
    switch (r.kind) {
    case PDS_RANGE_WHOLE:
        FZ_CHECK(r.first_byte && !r.header, "WHOLE without byte 0 or with a header");
        break;
    case PDS_RANGE_UNSATISFIABLE:
        FZ_CHECK(!r.first_byte && r.header && file_size > 0
                 && !strcmp(r.header, apr_psprintf(p, "bytes=%" APR_OFF_T_FMT "-", file_size)),
                 "UNSATISFIABLE answer %s", r.header ? r.header : "(none)");
        break;
    case PDS_RANGE_PARTS:
        FZ_CHECK(file_size > 0, "parts of an empty file");
        check_parts(p, &r, file_size, max_parts);
        break;
    default:
        FZ_CHECK(0, "kind %d", (int)r.kind);
    }
    (void)pds_is_link_preview(value);
    fz_pool_done(p);
    return 0;
}
