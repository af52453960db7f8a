/* Outbound mail through libcurl's SMTP (PDShareSMTP). */
#ifndef PDS_MAIL_H
#define PDS_MAIL_H

#include "pds.h"

/* Send a plain-text mail. Header values are checked for CR/LF (no header
 * injection). APR_SUCCESS, or an error with *why. */
apr_status_t pds_mail_send(apr_pool_t *p, const char *smtp_url, const char *from, const char *to,
                           const char *subject, const char *body, int timeout_secs,
                           const char **why);

#endif
