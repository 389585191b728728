/*
 * ptools/json.h - JSON text written into a pt_buf.
 *
 * The one JSON writer of ptools: results and args (pt_reply_json), ptrun's
 * files and ctl replies, and the shipped plugins all quote strings and
 * print numbers through these. Each returns 0 or -ENOMEM (-EOVERFLOW); on
 * failure the buffer may hold part of the value.
 */
#ifndef PTOOLS_JSON_H
#define PTOOLS_JSON_H

#include <stddef.h>
#include <stdint.h>

#include <ptools/buf.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Append n bytes of s as a JSON string: '"' and '\' escaped, \b \f \n \r
 * \t by name, other control bytes (NUL too) as \u00XX, and each byte that
 * is not valid UTF-8 as U+FFFD, so the output is always valid JSON.
 */
PT_EXTERN int pt_json_str(pt_buf *b, const char *s, size_t n);
/* The same for a C string; NULL is written as "". */
PT_EXTERN int pt_json_cstr(pt_buf *b, const char *s);
/* A decimal integer. */
PT_EXTERN int pt_json_int(pt_buf *b, int64_t i);
PT_EXTERN int pt_json_uint(pt_buf *b, uint64_t u);
/*
 * The same decimals written at p, which has room for PT_JSON_INT_MAX bytes
 * (no NUL is added): their length. For writers that reserve a whole record
 * at once.
 */
#define PT_JSON_INT_MAX 20
PT_EXTERN size_t pt_json_int_text(char *p, int64_t i);
PT_EXTERN size_t pt_json_uint_text(char *p, uint64_t u);
/* Exactly n digits of u (its last n, zeros in front) at p: a writer that
 * keeps the text of a number's leading digits adds the rest with it. */
PT_EXTERN void pt_json_digits(char *p, uint64_t u, int n);
/*
 * A real: the shortest of %.15g..%.17g that reads back the same, with
 * ".0" added to an integral value so that it stays a real; NaN and the
 * infinities, which JSON cannot spell, are written as null.
 */
PT_EXTERN int pt_json_real(pt_buf *b, double d);

#ifdef __cplusplus
}
#endif
#endif
