/* docgen.h: copy of ../shared/bench/limits/docgen.h so cairn writes the peer's exact documents. */
/* Deterministic ~300-byte JSON document generator (fixed seed).
 * Byte-identical twin of ../peers/lib/docgen.js: for the same (i, version)
 * both produce the same JSON text. */
#ifndef BENCH_DOCGEN_H
#define BENCH_DOCGEN_H

#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define DOCGEN_SEED 0x5eed1234u
#define DOCGEN_BASE_S 1704067200L /* 2024-01-01T00:00:00Z */
#define DOCGEN_MAX 1024           /* buffer size that always suffices */

static const char *const docgen_words[64] = {
    "sync", "offline", "replica", "change", "vector", "clock", "merge", "conflict",
    "server", "client", "socket", "channel", "batch", "cursor", "revision", "history",
    "document", "field", "index", "query", "stream", "buffer", "window", "latency",
    "throughput", "network", "device", "mobile", "laptop", "garden", "river", "mountain",
    "coffee", "paper", "pencil", "orange", "silver", "yellow", "purple", "morning",
    "evening", "journal", "meeting", "project", "invoice", "customer", "order", "receipt",
    "travel", "ticket", "station", "harbor", "bridge", "forest", "summer", "winter",
    "a", "the", "of", "and", "to", "in", "with", "for",
};
static const char *const docgen_tags[12] = {"work", "home", "urgent", "later", "draft", "review",
                                            "done", "idea", "note", "todo", "travel", "finance"};

/* mulberry32 */
static inline uint32_t docgen_rng(uint32_t *a) {
    *a += 0x6D2B79F5u;
    uint32_t t = *a;
    t = (t ^ (t >> 15)) * (t | 1u);
    t ^= t + (t ^ (t >> 7)) * (t | 61u);
    return t ^ (t >> 14);
}

static inline void docgen_id(char *out, size_t cap, unsigned long i) {
    snprintf(out, cap, "doc-%09lu", i);
}

/* appends words to out (at *len) until target length; returns new length */
static inline size_t docgen_words_into(char *out, size_t len, uint32_t *r, int minl, int maxl) {
    size_t start = len;
    size_t target = (size_t)minl + docgen_rng(r) % (uint32_t)(maxl - minl + 1);
    while (len - start < target) {
        const char *w = docgen_words[docgen_rng(r) % 64u];
        if (len > start) out[len++] = ' ';
        size_t wl = strlen(w);
        memcpy(out + len, w, wl);
        len += wl;
    }
    return len;
}

/* Writes the JSON of document i (version v) into out (>= DOCGEN_MAX bytes);
 * returns its length (not counting the terminating NUL). */
static inline size_t docgen_doc(char *out, unsigned long i, uint32_t version) {
    uint32_t r = DOCGEN_SEED ^ ((uint32_t)(i + 1) * 0x9E3779B1u) ^ (version * 0x85EBCA77u);
    size_t n = 0;
    n += (size_t)sprintf(out + n, "{\"_id\":\"doc-%09lu\",\"title\":\"", i);
    size_t t0 = n;
    n = docgen_words_into(out, n, &r, 18, 40);
    out[t0] = (char)toupper((unsigned char)out[t0]);
    memcpy(out + n, "\",\"body\":\"", 10);
    n += 10;
    n = docgen_words_into(out, n, &r, 80, 135);
    uint32_t views = docgen_rng(&r) % 100000u;
    uint32_t rating = 1u + docgen_rng(&r) % 5u;
    uint32_t price = docgen_rng(&r) % 100000u;
    n += (size_t)sprintf(out + n, "\",\"views\":%u,\"rating\":%u,\"priceCents\":%u,\"tags\":[", views,
                         rating, price);
    uint32_t ntags = 1u + docgen_rng(&r) % 4u;
    for (uint32_t k = 0; k < ntags; k++)
        n += (size_t)sprintf(out + n, "%s\"%s\"", k ? "," : "", docgen_tags[docgen_rng(&r) % 12u]);
    time_t t = (time_t)(DOCGEN_BASE_S + (long)i * 60L + (long)(docgen_rng(&r) % 86400u) +
                        (long)version * 3600L);
    struct tm tm;
    gmtime_r(&t, &tm);
    n += (size_t)sprintf(out + n, "],\"updatedAt\":\"");
    n += strftime(out + n, 32, "%Y-%m-%dT%H:%M:%S.000Z", &tm);
    out[n++] = '"';
    out[n++] = '}';
    out[n] = '\0';
    return n;
}

#endif
