/** @file loop_priv.h  Loop ownership, used only by main.c. */
#ifndef REC_LOOP_PRIV_H
#define REC_LOOP_PRIV_H

#include "err.h"

struct rd_loop;
enum sr_err rd_loop_create(struct rd_loop **out);
void rd_loop_destroy(struct rd_loop *l);
/** Wait up to timeout_ms and dispatch; number of events, or -1 on a fatal error.
 *  Handlers may delete their own watch but must not delete another's. */
int rd_loop_run_once(struct rd_loop *l, int timeout_ms);

#endif
