/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * logcheck: verify a k8s-file log written while gen.c produced the
 * container's stdout.
 *
 *   logcheck LOGFILE LINE_LEN EXPECTED_BYTES
 *
 * Every record must look like
 *   <RFC 3339 timestamp, 9 fractional digits, numeric offset> SP stdout SP (F|P) SP <payload> LF
 * (an F record with an empty payload may omit the last SP).  Concatenating the
 * payloads, with a '\n' appended after each F record, must reproduce gen's
 * stream byte for byte: EXPECTED_BYTES bytes, EXPECTED_BYTES / LINE_LEN
 * lines.  Prints one line of counts; exit status 0 only if all of that holds.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static char pattern_byte(unsigned long pos, unsigned long len)
{
	static const char alphabet[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	if (pos == len - 1)
		return '\n';
	return alphabet[pos % 64];
}

static int digits(const char *p, int n)
{
	for (int i = 0; i < n; i++)
		if (p[i] < '0' || p[i] > '9')
			return 0;
	return 1;
}

/* 2026-11-22T10:18:31.891998005+00:00 */
#define TS_LEN 35
static int valid_ts(const char *t)
{
	return digits(t, 4) && t[4] == '-' && digits(t + 5, 2) && t[7] == '-' &&
	       digits(t + 8, 2) && t[10] == 'T' && digits(t + 11, 2) && t[13] == ':' &&
	       digits(t + 14, 2) && t[16] == ':' && digits(t + 17, 2) && t[19] == '.' &&
	       digits(t + 20, 9) && (t[29] == '+' || t[29] == '-') && digits(t + 30, 2) &&
	       t[32] == ':' && digits(t + 33, 2);
}

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: logcheck LOGFILE LINE_LEN EXPECTED_BYTES\n");
		return 2;
	}
	unsigned long len = strtoul(argv[2], NULL, 10);
	unsigned long long expected = strtoull(argv[3], NULL, 10);
	expected -= expected % len;

	int fd = open(argv[1], O_RDONLY);
	if (fd < 0) {
		perror(argv[1]);
		return 1;
	}
	struct stat st;
	if (fstat(fd, &st) < 0) {
		perror("fstat");
		return 1;
	}
	size_t size = (size_t)st.st_size;
	const char *map = "";
	if (size > 0) {
		map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
		if (map == MAP_FAILED) {
			perror("mmap");
			return 1;
		}
		madvise((void *)map, size, MADV_SEQUENTIAL);
	}

	/* Expected stream, repeated: pat[i] = pattern(i % len) for i < 2*len. */
	char *pat = malloc(2 * len);
	for (unsigned long i = 0; i < 2 * len; i++)
		pat[i] = pattern_byte(i % len, len);

	unsigned long long records = 0, full = 0, partial = 0, stream = 0, errors = 0;
	const char *p = map, *end = map + size;
	const char *first_error = NULL;
	unsigned long long first_error_rec = 0;
#define BAD() do { errors++; if (!first_error) { first_error = p; first_error_rec = records; } } while (0)

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		if (!nl) {
			BAD(); /* unterminated last record */
			break;
		}
		records++;
		size_t rl = (size_t)(nl - p);
		/* header: TS SP stdout SP X */
		if (rl < TS_LEN + 1 + 6 + 1 + 1 || !valid_ts(p) || p[TS_LEN] != ' ' ||
		    memcmp(p + TS_LEN + 1, "stdout", 6) != 0 || p[TS_LEN + 7] != ' ') {
			BAD();
			p = nl + 1;
			continue;
		}
		char tag = p[TS_LEN + 8];
		const char *payload = p + TS_LEN + 9;
		size_t plen;
		if (payload == nl) {
			plen = 0;
		} else if (*payload == ' ') {
			payload++;
			plen = (size_t)(nl - payload);
		} else {
			BAD();
			p = nl + 1;
			continue;
		}
		/* payload must continue gen's stream at offset `stream` */
		size_t done = 0;
		while (done < plen) {
			unsigned long o = (unsigned long)((stream + done) % len);
			size_t n = len - o; /* compare up to the end of the current line */
			if (n > plen - done)
				n = plen - done;
			if (memcmp(payload + done, pat + o, n) != 0) {
				BAD();
				break;
			}
			done += n;
		}
		stream += plen;
		if (tag == 'F') {
			full++;
			if (stream % len != len - 1)
				BAD(); /* a line ended where gen did not end one */
			stream++;  /* the '\n' */
		} else if (tag == 'P') {
			partial++;
		} else {
			BAD();
		}
		p = nl + 1;
	}

	unsigned long long want_lines = expected / len;
	int ok = errors == 0 && stream == expected && full == want_lines;
	printf("records=%llu full=%llu partial=%llu stream_bytes=%llu expected_bytes=%llu "
	       "expected_lines=%llu log_bytes=%zu errors=%llu %s\n",
	       records, full, partial, stream, expected, want_lines, size, errors,
	       ok ? "OK" : "FAIL");
	if (first_error) {
		const char *e = memchr(first_error, '\n', (size_t)(end - first_error));
		int n = e ? (int)(e - first_error) : (int)(end - first_error);
		if (n > 160)
			n = 160;
		printf("first bad record #%llu: %.*s\n", first_error_rec, n, first_error);
	}
	return ok ? 0 : 1;
}
