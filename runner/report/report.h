/*
 * report.h - `ptrun report DIR`: a run folder as one self-contained HTML
 * page (summary, timeline of every attempt, latency histograms) that loads
 * nothing from anywhere. DIR/manifest.json and DIR/results.jsonl go into the
 * page verbatim, as JSON in script elements (every "</" written "<\/", every
 * "<!--" written "<\u0021--"; results.jsonl as an array of its lines, empty
 * lines and a last line without its newline left out); the page's script
 * draws them (runner/report_page.html). Both files are read in chunks, so
 * their size does not matter, and the page is written to FILE.tmp, then
 * renamed to FILE: a reader never sees half a page, a failure leaves none.
 */
#ifndef RN_REPORT_H
#define RN_REPORT_H

#include <stddef.h>

/*
 * Write the report of run folder `dir` to `out` (NULL: dir/report.html);
 * the file's name goes to `path`. 0; -EINVAL when `dir` is not a run
 * folder (a missing folder, manifest.json or results.jsonl); or another
 * -errno. The message, naming the file, goes to err.
 */
int rn_report(const char *dir, const char *out, char *path, size_t size,
              char *err, size_t errlen);

#endif
