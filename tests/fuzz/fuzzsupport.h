/*
 * fuzzsupport.h: what the fuzz harnesses of remote replies and local files
 * share.
 *
 * An input is a list of records separated by the line "%%" (the bytes
 * "\n%%\n"): the first says what to do (which call, which profile), the
 * others are files or HTTP replies, so a seed reads like a transcript.
 *
 * HTTP replies reach rotor through a fake of libcurl linked in with
 * -Wl,--wrap (curl_easy_setopt, curl_easy_perform, curl_easy_getinfo): the
 * real transport (util/http.c) and everything above it run unchanged, and
 * nothing is sent anywhere. A reply record is
 *
 *   STATUS            e.g. "200", or "!28" for libcurl error 28 (timeout)
 *   Name: value       any number of header lines
 *                     an empty line
 *   body              the rest of the record
 *
 * When the records run out, every further request fails as a refused
 * connection. Files go to a private temporary directory, removed at exit.
 */
#ifndef ROTOR_FUZZSUPPORT_H
#define ROTOR_FUZZSUPPORT_H

#include <stddef.h>
#include <stdint.h>

#define FUZZ_MAX_RECORDS 64

struct fuzz_record {
	const char *data; /* points into the input; not NUL-terminated */
	size_t len;
};

struct fuzz_records {
	struct fuzz_record r[FUZZ_MAX_RECORDS];
	size_t n; /* at least 1: an empty input is one empty record */
};

/* Splits an input at "\n%%\n"; past FUZZ_MAX_RECORDS the last record keeps
 * the rest. */
void fuzz_split(const uint8_t *data, size_t size, struct fuzz_records *out);

/* The record's first line, copied into buf (truncated, NUL-terminated). */
void fuzz_first_line(const struct fuzz_record *rec, char *buf, size_t len);

/* Whether the space-separated words of line include word. */
int fuzz_has_word(const char *line, const char *word);

/* Answers the next HTTP requests with records first .. n-1, one each. */
void fuzz_http_serve(const struct fuzz_records *recs, size_t first);
/* Requests answered (or refused) since fuzz_http_serve. */
size_t fuzz_http_requests(void);
/* Aborts unless the libcurl fake is linked in: without it a harness would
 * reach for the network. Cheap; call at the start of every input. */
void fuzz_http_check(void);

/* Once per process: logs to /dev/null at debug level (so log formatting and
 * redaction run too), and a private temporary directory (preferring
 * /dev/shm, where fsync costs nothing) removed at exit. Returns its path. */
const char *fuzz_setup(void);

/* Writes a file below the temporary directory (0600), or removes it when
 * data is NULL. Aborts on failure: the harness cannot go on. Returns the
 * full path in a static buffer. */
const char *fuzz_file(const char *name, const void *data, size_t len);

struct rotor_error;

/* With ROTOR_FUZZ_VERBOSE set, prints how a step ended (for triage and for
 * checking that a seed reaches what it was written for). */
void fuzz_report(const char *step, int rc, const struct rotor_error *err);

/* Removes a file or a directory tree below the temporary directory (not
 * following symbolic links); a missing one is fine. */
void fuzz_remove(const char *name);

/* Checks how a step ended: none of the secrets the harness handed rotor
 * may appear in the error (the redactor must catch them; secrets is
 * NULL-terminated), and no field may hold uninitialised bytes. The second
 * needs help, as AddressSanitizer does not see such a read: before each
 * step the harness calls fuzz_poison_stack, which fills the stack below it
 * with FUZZ_POISON, and a field holding that byte when the input does not
 * was not written. Aborts on a finding. */
#define FUZZ_POISON 0xA5
void fuzz_poison_stack(void);
void fuzz_check_error(const struct rotor_error *err, const char *const *secrets,
                      const uint8_t *data, size_t size);

/* Unsets every AWS_* variable the credential chain reads, so a harness
 * starts from the sources it sets up itself. */
void fuzz_clear_aws_env(void);

#endif
