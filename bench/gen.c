/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * gen: benchmark log producer, run inside the container.
 *
 *   gen TOTAL_BYTES LINE_LEN
 *
 * Writes floor(TOTAL_BYTES / LINE_LEN) lines of exactly LINE_LEN bytes
 * (LINE_LEN - 1 printable characters followed by '\n') to stdout, in
 * write() calls of 64 KiB (the last one may be shorter).  Lines are not
 * aligned to write boundaries, so most writes end in the middle of a line,
 * as with any block-buffered program.
 *
 * The byte at stream offset o is pattern(o % LINE_LEN), the same function
 * logcheck.c uses to verify the monitor's log.  Built with
 * `gcc -O2 -static` so it runs in the busybox rootfs.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CHUNK (64 * 1024)

static char pattern_byte(unsigned long pos, unsigned long len)
{
	static const char alphabet[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	if (pos == len - 1)
		return '\n';
	return alphabet[pos % 64];
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: gen TOTAL_BYTES LINE_LEN\n");
		return 2;
	}
	unsigned long long total = strtoull(argv[1], NULL, 10);
	unsigned long len = strtoul(argv[2], NULL, 10);
	if (len < 1 || len > (1UL << 20)) {
		fprintf(stderr, "gen: bad LINE_LEN\n");
		return 2;
	}
	total -= total % len;

	/* buf[i] = pattern(i % len); a write starting at stream offset o
	 * uses buf + (o % len), so the buffer needs CHUNK + len bytes. */
	size_t bufsz = CHUNK + len;
	char *buf = malloc(bufsz);
	if (!buf)
		return 1;
	for (size_t i = 0; i < bufsz; i++)
		buf[i] = pattern_byte(i % len, len);

	unsigned long long off = 0;
	while (off < total) {
		size_t n = total - off < CHUNK ? (size_t)(total - off) : CHUNK;
		const char *p = buf + (off % len);
		ssize_t w = write(STDOUT_FILENO, p, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			perror("gen: write");
			return 1;
		}
		off += (unsigned long long)w;
	}
	return 0;
}
