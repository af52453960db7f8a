/* What a visitor's request asks for, decided without httpd: which bytes of
 * a file a Range header selects (RFC 9110 §14), and whether the client is a
 * link-preview fetcher. The public handler counts from these answers. */
#ifndef PDS_VISITOR_H
#define PDS_VISITOR_H

#include "pds.h"

typedef enum {
    PDS_RANGE_WHOLE = 0,         /* the whole file, 200: no Range, another unit, a syntax
                                    error, too many parts, or an empty file */
    PDS_RANGE_PARTS,             /* 206 with `header`'s ranges */
    PDS_RANGE_UNSATISFIABLE      /* 416: no range starts inside the file */
} pds_range_kind_e;

typedef struct {
    pds_range_kind_e kind;
    int parts;                   /* PARTS: how many after merging */
    int first_byte;              /* the answer carries byte 0 of the file */
    /* PARTS: the ranges sorted and merged, "bytes=a-b,c-d" (last positions
     * written out), for httpd's byterange filter to serve exactly these;
     * UNSATISFIABLE: "bytes=<size>-", which it answers 416. NULL for WHOLE. */
    const char *header;
} pds_range_t;

/* Parse a Range header value for a file of `size` bytes. max_parts is the
 * most parts served (httpd's MaxRanges; negative: no limit): more, and the
 * whole file is sent. */
void pds_range_parse(apr_pool_t *p, const char *value, apr_off_t size, int max_parts,
                     pds_range_t *out);

/* Whether a User-Agent is a link-preview fetcher or crawler (Slackbot,
 * facebookexternalhit, Twitterbot, ...): their fetches count as previews,
 * never as views, plays or downloads. Case-insensitive; NULL is not one. */
int pds_is_link_preview(const char *user_agent);

#endif
