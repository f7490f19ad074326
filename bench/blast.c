/*
 * blast: a deliberately cheap closed-loop UDP DNS load generator.
 *
 * dnsperf spends ~7-8 us of CPU per query, so on a 2-core box one dnsperf core
 * tops out around 120-140k QPS and the C servers never saturate their core.
 * blast batches with sendmmsg/recvmmsg on one connected socket and keeps
 * WINDOW queries outstanding, so the server (not the client) is the limit.
 *
 * Taken from ../shared/tools/blast.c into clusterdns's bench/ (bench/blast.py builds
 * it with gcc and runs it). Added here: a warm-up that is not counted, a fixed rate
 * (-r), one pass over the file (-1), lost queries found per ID (a reply-less query
 * frees its window slot after -t ms), reply codes counted, queries kept packed.
 *
 * usage: blast [-s SECONDS=10] [-w WARMUP=0] [-r QPS] [-o WINDOW=512] [-b BATCH=32]
 *              [-t LOSS_MS=1000] [-n NAP_US=50] [-1] PORT QUERYFILE
 *   QUERYFILE: dnsperf format, "name TYPE" per line (A, AAAA, SRV, ... numeric ok),
 *   sent in order, from the top again at the end.
 *   -w: send for WARMUP seconds first; then "measuring" is printed and the counts start.
 *   -r: send QPS queries a second on schedule (open loop, at most WINDOW outstanding)
 *       instead of as fast as replies come back.
 *   -1: send each line once; the run ends with the last reply (or after SECONDS), and
 *       its time is from the first query sent to the last reply received.
 * prints, at the end, one line: sent= recv= lost= late= seconds= qps= p50_us= p99_us=
 *   noerror= nxdomain= other= answered= cpu=   (counts of the measured part: "late" are
 *   replies to queries already counted lost, "answered" NOERROR replies with records,
 *   cpu this process's CPU seconds)
 *
 * build: gcc -O2 -o blast blast.c
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define QMAX 300                 /* bytes of one encoded query at most */
#define MAXB 64                  /* datagrams per system call at most */
#define MAXWINDOW 16384          /* outstanding at most: IDs are never reused in flight */
#define LAT_BUCKETS 1000000      /* 1 us buckets up to 1 s */
#define LOSS_SCAN_NS 10000000ull /* look for lost queries every 10 ms */

static unsigned char *qbuf; /* the queries, packed */
static uint32_t *qoff;
static uint16_t *qlen;
static long nq;
static uint64_t sent_at[65536];
static unsigned char inflight[65536];
static unsigned lat_hist[LAT_BUCKETS + 1];

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

static double cpu_seconds(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec +
           ru.ru_stime.tv_usec / 1e6;
}

static int qtype_of(const char *t) {
    if (!strcasecmp(t, "A")) return 1;
    if (!strcasecmp(t, "NS")) return 2;
    if (!strcasecmp(t, "CNAME")) return 5;
    if (!strcasecmp(t, "SOA")) return 6;
    if (!strcasecmp(t, "PTR")) return 12;
    if (!strcasecmp(t, "MX")) return 15;
    if (!strcasecmp(t, "TXT")) return 16;
    if (!strcasecmp(t, "AAAA")) return 28;
    if (!strcasecmp(t, "SRV")) return 33;
    return atoi(t);
}

static int encode(unsigned char *p, const char *name, int qtype) {
    unsigned char *s = p;
    memset(p, 0, 12);
    p[2] = 0x01; /* RD, like dnsperf */
    p[5] = 1;    /* QDCOUNT */
    p += 12;
    const char *l = name;
    while (*l) {
        const char *dot = strchr(l, '.');
        int n = dot ? (int)(dot - l) : (int)strlen(l);
        if (n == 0 || n > 63) break;
        *p++ = (unsigned char)n;
        memcpy(p, l, n);
        p += n;
        if (!dot) break;
        l = dot + 1;
    }
    *p++ = 0;
    *p++ = qtype >> 8; *p++ = qtype & 0xff;
    *p++ = 0; *p++ = 1;
    return (int)(p - s);
}

static void load(const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) { perror(path); exit(1); }
    size_t cap = 1024, bytes = 0, bcap = cap * 64;
    qoff = malloc(cap * sizeof *qoff);
    qlen = malloc(cap * sizeof *qlen);
    qbuf = malloc(bcap);
    char line[512], name[400], type[32];
    while (fgets(line, sizeof line, f)) {
        if (sscanf(line, "%399s %31s", name, type) != 2) continue;
        size_t L = strlen(name);
        if (L > 255) continue;
        if (L && name[L - 1] == '.') name[L - 1] = 0;
        if ((size_t)nq == cap) {
            cap *= 2;
            qoff = realloc(qoff, cap * sizeof *qoff);
            qlen = realloc(qlen, cap * sizeof *qlen);
        }
        if (bytes + QMAX > bcap) {
            bcap *= 2;
            qbuf = realloc(qbuf, bcap);
        }
        if (!qoff || !qlen || !qbuf) { fprintf(stderr, "out of memory\n"); exit(1); }
        qoff[nq] = (uint32_t)bytes;
        qlen[nq] = (uint16_t)encode(qbuf + bytes, name, qtype_of(type));
        bytes += qlen[nq++];
    }
    fclose(f);
    if (!nq) { fprintf(stderr, "%s: no queries\n", path); exit(1); }
}

static uint64_t percentile(uint64_t total, unsigned num, unsigned den) {
    uint64_t acc = 0;
    for (uint64_t i = 0; i <= LAT_BUCKETS; i++) {
        acc += lat_hist[i];
        if (acc * den >= total * num) return i;
    }
    return LAT_BUCKETS;
}

int main(int argc, char **argv) {
    double secs = 10, warmup = 0, rate = 0;
    int window = 512, batch = 32, once = 0, opt;
    long nap_us = 50;
    uint64_t loss_ns = 1000000000ull;
    while ((opt = getopt(argc, argv, "s:w:r:o:b:t:n:1")) != -1) {
        switch (opt) {
        case 's': secs = atof(optarg); break;
        case 'w': warmup = atof(optarg); break;
        case 'r': rate = atof(optarg); break;
        case 'o': window = atoi(optarg); break;
        case 'b': batch = atoi(optarg); break;
        case 't': loss_ns = (uint64_t)(atof(optarg) * 1e6); break;
        case 'n': nap_us = atol(optarg); break;
        case '1': once = 1; break;
        default: optind = argc + 1;
        }
    }
    if (optind + 2 != argc) {
        fprintf(stderr, "usage: %s [-s SECONDS] [-w WARMUP] [-r QPS] [-o WINDOW] [-b BATCH] "
                        "[-t LOSS_MS] [-n NAP_US] [-1] PORT QUERYFILE\n", argv[0]);
        return 2;
    }
    int port = atoi(argv[optind]);
    if (batch < 1) batch = 1;
    if (batch > MAXB) batch = MAXB;
    if (window < 1) window = 1;
    if (window > MAXWINDOW) window = MAXWINDOW;
    load(argv[optind + 1]);

    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    int rb = 4 << 20;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rb, sizeof rb);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) { perror("connect"); return 1; }

    struct mmsghdr smsg[MAXB], rmsg[MAXB];
    struct iovec siov[MAXB], riov[MAXB];
    static unsigned char rbuf[MAXB][1500];
    static unsigned char sbufs[MAXB][QMAX];
    uint16_t ids[MAXB];
    memset(smsg, 0, sizeof smsg);
    memset(rmsg, 0, sizeof rmsg);
    for (int i = 0; i < MAXB; i++) {
        siov[i].iov_base = sbufs[i];
        smsg[i].msg_hdr.msg_iov = &siov[i];
        smsg[i].msg_hdr.msg_iovlen = 1;
        riov[i].iov_base = rbuf[i];
        riov[i].iov_len = sizeof rbuf[i];
        rmsg[i].msg_hdr.msg_iov = &riov[i];
        rmsg[i].msg_hdr.msg_iovlen = 1;
    }

    /* counts of the measured part */
    uint64_t sent = 0, recvd = 0, lost = 0, late = 0, noerror = 0, nxdomain = 0, other = 0,
             answered = 0;
    uint64_t sent_all = 0; /* since the start, warm-up included: the rate's schedule */
    long outstanding = 0, qi = 0;
    uint16_t next_id = 0;
    uint64_t t0 = now_ns(), measure_from = t0 + (uint64_t)(warmup * 1e9);
    uint64_t end = measure_from + (uint64_t)(secs * 1e9), last_rx = t0, last_scan = t0;
    int measuring = 0;
    double cpu_from = 0;
    struct pollfd pfd = {.fd = fd, .events = POLLIN};

    for (;;) {
        uint64_t t = now_ns();
        if (!measuring && t >= measure_from) {
            measuring = 1;
            sent = recvd = lost = late = noerror = nxdomain = other = answered = 0;
            memset(lat_hist, 0, sizeof lat_hist);
            cpu_from = cpu_seconds();
            measure_from = t;
            printf("measuring\n");
            fflush(stdout);
        }
        if (t >= end) break;
        if (once && qi == nq && outstanding == 0) break;

        /* send what the window, the schedule and the file allow */
        long allowed = window - outstanding;
        if (rate > 0) {
            long due = (long)((t - t0) * rate / 1e9) + 1 - (long)sent_all;
            if (due < allowed) allowed = due;
        }
        if (once && nq - qi < allowed) allowed = nq - qi;
        while (allowed > 0) {
            int n = allowed > batch ? batch : (int)allowed;
            for (int i = 0; i < n; i++) {
                long q = (qi + i) % nq;
                while (inflight[next_id]) next_id++;
                ids[i] = next_id++;
                memcpy(sbufs[i], qbuf + qoff[q], qlen[q]);
                sbufs[i][0] = ids[i] >> 8;
                sbufs[i][1] = ids[i] & 0xff;
                siov[i].iov_len = qlen[q];
            }
            int k = sendmmsg(fd, smsg, n, 0);
            if (k <= 0) break;
            for (int i = 0; i < k; i++) {
                inflight[ids[i]] = 1;
                sent_at[ids[i]] = t;
            }
            qi = once ? qi + k : (qi + k) % nq;
            sent += k;
            sent_all += k;
            outstanding += k;
            allowed -= k;
            if (k < n) break;
        }

        int got = recvmmsg(fd, rmsg, MAXB, MSG_DONTWAIT, NULL);
        if (got > 0) {
            uint64_t tr = now_ns();
            for (int i = 0; i < got; i++) {
                const unsigned char *r = rbuf[i];
                if (rmsg[i].msg_len < 12 || !(r[2] & 0x80)) continue;
                uint16_t id = (r[0] << 8) | r[1];
                if (!inflight[id]) { late++; continue; }
                inflight[id] = 0;
                outstanding--;
                recvd++;
                uint64_t us = (tr - sent_at[id]) / 1000;
                lat_hist[us > LAT_BUCKETS ? LAT_BUCKETS : us]++;
                int rcode = r[3] & 0x0f;
                if (rcode == 0) {
                    noerror++;
                    if (r[6] | r[7]) answered++;
                } else if (rcode == 3) {
                    nxdomain++;
                } else {
                    other++;
                }
            }
            last_rx = tr;
        } else if (got < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != ECONNREFUSED) {
            perror("recvmmsg");
            break;
        }

        if (t - last_scan > LOSS_SCAN_NS && outstanding > 0) {
            /* a query unanswered for LOSS_MS is lost: its slot in the window is free */
            last_scan = t;
            for (int id = 0; id < 65536; id++) {
                if (inflight[id] && t - sent_at[id] > loss_ns) {
                    inflight[id] = 0;
                    outstanding--;
                    lost++;
                }
            }
        }

        if (got == MAXB) continue; /* more may be waiting */
        if (rate > 0) {
            /* until the next query is due, or a reply comes */
            uint64_t next = t0 + (uint64_t)(sent_all * 1e9 / rate), tw = now_ns();
            struct timespec wait = {0, next > tw ? (long)(next - tw) : 0};
            if (wait.tv_nsec > 1000000) wait.tv_nsec = 1000000;
            ppoll(&pfd, 1, &wait, NULL);
        } else if (got > 0 && got < batch / 2 && nap_us) {
            /* little was queued: nap so the next recvmmsg returns many (keeps blast cheap) */
            struct timespec nap = {0, nap_us * 1000L};
            nanosleep(&nap, NULL);
        } else if (got <= 0) {
            poll(&pfd, 1, 1);
        }
    }
    double cpu = measuring ? cpu_seconds() - cpu_from : 0;
    uint64_t stop = once ? last_rx : now_ns();
    double el = stop > measure_from ? (stop - measure_from) / 1e9 : 0;
    printf("sent=%llu recv=%llu lost=%llu late=%llu seconds=%.3f qps=%.0f p50_us=%llu "
           "p99_us=%llu noerror=%llu nxdomain=%llu other=%llu answered=%llu cpu=%.3f\n",
           (unsigned long long)sent, (unsigned long long)recvd, (unsigned long long)lost,
           (unsigned long long)late, el, el > 0 ? recvd / el : 0,
           (unsigned long long)percentile(recvd, 1, 2),
           (unsigned long long)percentile(recvd, 99, 100), (unsigned long long)noerror,
           (unsigned long long)nxdomain, (unsigned long long)other,
           (unsigned long long)answered, cpu);
    return 0;
}
