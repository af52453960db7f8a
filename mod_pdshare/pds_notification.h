/* In-app notifications (SPEC §4 /notifications), newest first. */
#ifndef PDS_NOTIFICATION_H
#define PDS_NOTIFICATION_H

#include "pds_base.h"

pds_err_t *pds_notification_list(pds_ctx_t *ctx, json_t **out);

#endif
