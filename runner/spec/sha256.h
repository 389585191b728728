/*
 * sha256.h - the sha256 of a string or a file, as 64 hex digits: what the
 * manifest records of the spec and of every kernel and plugin .so, and
 * what the probe cache (probe_cache.h) keys a library's report by.
 *
 * A file's digest is remembered for the life of the process together
 * with the file's identity (device, inode, size, modification and change
 * times): asked again for an unchanged file, it costs a stat, not a read.
 */
#ifndef RN_SHA256_H
#define RN_SHA256_H

/* The sha256 of a string ("" if it cannot be had). */
void rn_sha256_text(const char *text, char hex[65]);
/* The sha256 of a file: 0 or -errno. */
int rn_sha256_file(const char *path, char hex[65]);

#endif
