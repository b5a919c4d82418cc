/** @file log.h  One-line operator logs on stderr, at syslog levels.
 *
 * Each component compiles with -DLOG_MODULE="name".  Libraries log only at
 * debug level; binaries log failures once, with context.  Never pass key
 * material to these functions: log a key id (sr_key_id) instead.
 */
#ifndef SR_LOG_H
#define SR_LOG_H

#include <stdarg.h>

#ifndef LOG_MODULE
#define LOG_MODULE "srtprec"
#endif

enum log_level { LOG_LVL_ERR = 3, LOG_LVL_WARN = 4, LOG_LVL_NOTICE = 5, LOG_LVL_INFO = 6, LOG_LVL_DEBUG = 7 };

/** Set once from main before threads start; messages above level are dropped.
 *  prefix_syslog adds "<N>" for systemd's journal. */
void log_setup(enum log_level level, const char *program, int prefix_syslog);

/** Change the level while threads run (a reload); any thread. */
void log_set_level(enum log_level level);

/** Parse "error|warn|notice|info|debug"; -1 if unknown. */
int log_level_parse(const char *name);

void log_emit(enum log_level lvl, const char *module, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define log_error(...) log_emit(LOG_LVL_ERR, LOG_MODULE, __VA_ARGS__)
#define log_warn(...) log_emit(LOG_LVL_WARN, LOG_MODULE, __VA_ARGS__)
#define log_notice(...) log_emit(LOG_LVL_NOTICE, LOG_MODULE, __VA_ARGS__)
#define log_info(...) log_emit(LOG_LVL_INFO, LOG_MODULE, __VA_ARGS__)
#define log_debug(...) log_emit(LOG_LVL_DEBUG, LOG_MODULE, __VA_ARGS__)

#endif
