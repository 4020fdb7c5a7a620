/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * genstream: a deterministic, hostile output generator for vigil's log-integrity tests.
 * Built with `gcc -O2 -static` and copied into a busybox rootfs.
 *
 *   genstream SEED STDOUT_BYTES STDERR_BYTES RESULT_PREFIX
 *
 * Writes exactly STDOUT_BYTES to fd 1 and STDERR_BYTES to fd 2 at the same time (one process
 * per stream).  Each stream is a seeded pseudo-random mix of: lines of 0..200 KiB, runs of
 * 0.3..3 MiB without a newline, bursts of empty lines, and short lines full of \r and \0.
 * Line content uses every byte value except '\n' (which only ever terminates lines).  Writes
 * have random sizes (1 byte .. 256 KiB).  If a stream's budget allows it, it ends with a
 * partial line (no trailing newline).
 *
 * For each stream, "<RESULT_PREFIX>.stdout" / ".stderr" receives "<sha256 hex> <length>\n"
 * of exactly what was written, so the test need not regenerate gigabytes in Python.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* --- SHA-256 (FIPS 180-4) -------------------------------------------------------------- */

typedef struct {
        uint32_t h[8];
        uint64_t len;
        unsigned char block[64];
        size_t fill;
} Sha256;

static const uint32_t K[64] = {
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
        0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
        0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
        0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
        0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
        0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
        0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
        0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

#define ROR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))

static void sha256_init(Sha256 *s)
{
        static const uint32_t iv[8] = { 0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                        0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19 };
        memcpy(s->h, iv, sizeof(iv));
        s->len = 0;
        s->fill = 0;
}

static void sha256_block(Sha256 *s, const unsigned char *p)
{
        uint32_t w[64], a, b, c, d, e, f, g, h;

        for (int i = 0; i < 16; i++)
                w[i] = (uint32_t) p[4 * i] << 24 | (uint32_t) p[4 * i + 1] << 16 | (uint32_t) p[4 * i + 2] << 8 |
                       p[4 * i + 3];
        for (int i = 16; i < 64; i++) {
                uint32_t s0 = ROR(w[i - 15], 7) ^ ROR(w[i - 15], 18) ^ (w[i - 15] >> 3);
                uint32_t s1 = ROR(w[i - 2], 17) ^ ROR(w[i - 2], 19) ^ (w[i - 2] >> 10);
                w[i] = w[i - 16] + s0 + w[i - 7] + s1;
        }
        a = s->h[0], b = s->h[1], c = s->h[2], d = s->h[3];
        e = s->h[4], f = s->h[5], g = s->h[6], h = s->h[7];
        for (int i = 0; i < 64; i++) {
                uint32_t t1 = h + (ROR(e, 6) ^ ROR(e, 11) ^ ROR(e, 25)) + ((e & f) ^ (~e & g)) + K[i] + w[i];
                uint32_t t2 = (ROR(a, 2) ^ ROR(a, 13) ^ ROR(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
                h = g, g = f, f = e, e = d + t1, d = c, c = b, b = a, a = t1 + t2;
        }
        s->h[0] += a, s->h[1] += b, s->h[2] += c, s->h[3] += d;
        s->h[4] += e, s->h[5] += f, s->h[6] += g, s->h[7] += h;
}

static void sha256_update(Sha256 *s, const unsigned char *p, size_t n)
{
        s->len += n;
        if (s->fill) {
                size_t take = 64 - s->fill < n ? 64 - s->fill : n;
                memcpy(s->block + s->fill, p, take);
                s->fill += take, p += take, n -= take;
                if (s->fill < 64)
                        return;
                sha256_block(s, s->block);
                s->fill = 0;
        }
        for (; n >= 64; p += 64, n -= 64)
                sha256_block(s, p);
        memcpy(s->block, p, n);
        s->fill = n;
}

static void sha256_hex(Sha256 *s, char out[65])
{
        uint64_t bits = s->len * 8;
        unsigned char pad[72] = { 0x80 };
        size_t padlen = (s->fill < 56 ? 56 : 120) - s->fill;

        for (int i = 0; i < 8; i++)
                pad[padlen + i] = (unsigned char) (bits >> (56 - 8 * i));
        sha256_update(s, pad, padlen + 8);
        for (int i = 0; i < 8; i++)
                sprintf(out + 8 * i, "%08x", s->h[i]);
}

/* --- PRNG (xorshift64*) ------------------------------------------------------------------ */

static uint64_t rng_state;

static uint64_t rng(void)
{
        rng_state ^= rng_state >> 12;
        rng_state ^= rng_state << 25;
        rng_state ^= rng_state >> 27;
        return rng_state * 0x2545F4914F6CDD1DULL;
}

static uint64_t rng_below(uint64_t n)
{
        return n ? rng() % n : 0;
}

/* --- output ------------------------------------------------------------------------------ */

#define BUF_SIZE (1 << 20)
static unsigned char buf[BUF_SIZE];
static size_t used;
static Sha256 sha;
static int out_fd;

static void write_all(const unsigned char *p, size_t n)
{
        while (n) {
                ssize_t w = write(out_fd, p, n);
                if (w < 0 && errno == EINTR)
                        continue;
                if (w < 0) {
                        perror("genstream: write");
                        exit(3);
                }
                p += w, n -= (size_t) w;
        }
}

static void flush(void)
{
        size_t off = 0;

        sha256_update(&sha, buf, used);
        while (off < used) {
                /* Mostly large writes, sometimes tiny ones. */
                size_t n = rng_below(8) == 0 ? 1 + rng_below(64) : 1 + rng_below(256 * 1024);
                if (n > used - off)
                        n = used - off;
                write_all(buf + off, n);
                off += n;
        }
        used = 0;
}

static void put(unsigned char c)
{
        if (used == BUF_SIZE)
                flush();
        buf[used++] = c;
}

/* n bytes of content: any value but '\n'. */
static void put_random(uint64_t n)
{
        while (n) {
                uint64_t r = rng();
                for (int i = 0; i < 8 && n; i++, n--) {
                        unsigned char c = (unsigned char) (r >> (8 * i));
                        put(c == '\n' ? (unsigned char) (r >> 58) + 0x80 : c);
                }
        }
}

static void put_controls(uint64_t n)
{
        static const unsigned char pick[] = { '\r', '\0', '\r', 'a', '\t', 0xff, 0x1b, ' ' };
        while (n--)
                put(pick[rng_below(sizeof(pick))]);
}

static void generate(uint64_t budget, const char *tail)
{
        size_t tail_len = strlen(tail);
        uint64_t left;

        /* Keep room for the final partial line if the budget allows it. */
        left = budget > tail_len + 1 ? budget - tail_len - 1 : budget;
        while (left) {
                uint64_t kind = rng_below(100), n;
                if (kind < 75) {                /* an ordinary (possibly empty) line */
                        n = rng_below(200 * 1024 + 1);
                        if (n + 1 > left)
                                n = left - 1;
                        put_random(n);
                        put('\n');
                        left -= n + 1;
                } else if (kind < 83) {         /* a long run without a newline */
                        n = 300 * 1024 + rng_below(2700 * 1024);
                        if (n > left)
                                n = left;
                        put_random(n);
                        left -= n;
                } else if (kind < 90) {         /* a burst of empty lines */
                        n = 1 + rng_below(50);
                        if (n > left)
                                n = left;
                        for (uint64_t i = 0; i < n; i++)
                                put('\n');
                        left -= n;
                } else {                        /* \r\n endings, \0 and other controls */
                        n = rng_below(300);
                        if (n + 2 > left)
                                n = left > 2 ? left - 2 : 0;
                        put_controls(n);
                        left -= n;
                        if (left >= 2) {
                                put('\r');
                                put('\n');
                                left -= 2;
                        } else if (left) {
                                put('\r');
                                left--;
                        }
                }
        }
        if (budget > tail_len + 1) {
                /* A newline first so the tail is a partial line of its own. */
                put('\n');
                for (size_t i = 0; i < tail_len; i++)
                        put((unsigned char) tail[i]);
        }
        flush();
}

static void run_stream(uint64_t seed, int fd, uint64_t budget, const char *path, const char *tail)
{
        char hex[65];
        uint64_t len;
        FILE *f;

        rng_state = (seed * 0x9E3779B97F4A7C15ULL) ^ (uint64_t) (fd * 0x632BE59BD9B4E019ULL) ^ 1;
        for (int i = 0; i < 16; i++)
                rng();
        out_fd = fd;
        sha256_init(&sha);
        generate(budget, tail);
        len = sha.len;
        sha256_hex(&sha, hex);
        f = fopen(path, "w");
        if (!f || fprintf(f, "%s %llu\n", hex, (unsigned long long) len) < 0 || fclose(f) != 0) {
                perror("genstream: result file");
                exit(4);
        }
}

int main(int argc, char **argv)
{
        char path[4096];
        pid_t pid;
        int status;

        if (argc != 5) {
                fprintf(stderr, "usage: genstream SEED STDOUT_BYTES STDERR_BYTES RESULT_PREFIX\n");
                return 2;
        }
        pid = fork();
        if (pid < 0) {
                perror("genstream: fork");
                return 1;
        }
        if (pid == 0) {
                snprintf(path, sizeof(path), "%s.stderr", argv[4]);
                run_stream(strtoull(argv[1], NULL, 0), 2, strtoull(argv[3], NULL, 0), path, "stderr-final-partial");
                _exit(0);
        }
        snprintf(path, sizeof(path), "%s.stdout", argv[4]);
        run_stream(strtoull(argv[1], NULL, 0), 1, strtoull(argv[2], NULL, 0), path, "stdout-final-partial");
        if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
                return 1;
        return 0;
}
