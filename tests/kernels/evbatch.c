/* evbatch - evlog.c as a plugin of ABI 4 that takes batches (on_events). */
#define EVLOG_BATCHES 1
#include "evlog.c"
