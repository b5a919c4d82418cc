/** @file err.h  Project-wide error codes (sr_err.h) and what only the
 * project's own code uses of them. */
#ifndef SR_ERR_H
#define SR_ERR_H

#include "sr_err.h"

/** Map an errno value to the nearest sr_err (ENOMEM, EAGAIN, others: SR_EIO). */
enum sr_err sr_err_from_errno(int e);

#endif
