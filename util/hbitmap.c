/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Dirty bitmap with a summary level: words[] has one bit per granule,
 * summary[] one bit per non-zero word, so searches skip 64 clean words (at
 * 64 KiB granules, 256 MiB of disk) per summary bit tested.
 */
#include "qemu/hbitmap.h"

#include <string.h>

#define WORD_BITS 64

struct HBitmap {
    uint64_t size;        /* bytes covered */
    unsigned gran_shift;  /* log2(granularity) */
    uint64_t nbits;       /* granules */
    uint64_t nwords;      /* >= 1, as QEMU sizes its last level */
    uint64_t *words;
    uint64_t *summary;    /* bit w set <=> words[w] != 0 */
    uint64_t count;       /* dirty granules */
};

/* Length of summary[] for @nwords words. */
static uint64_t summary_words(uint64_t nwords)
{
    return (nwords + WORD_BITS - 1) / WORD_BITS;
}

HBitmap *hbitmap_new(uint64_t size, uint64_t granularity)
{
    HBitmap *hb = g_new0(HBitmap, 1);

    g_assert(granularity && !(granularity & (granularity - 1)));
    hb->size = size;
    hb->gran_shift = __builtin_ctzll(granularity);
    hb->nbits = (size + granularity - 1) >> hb->gran_shift;
    hb->nwords = MAX((hb->nbits + WORD_BITS - 1) / WORD_BITS, 1);
    hb->words = g_new0(uint64_t, hb->nwords);
    hb->summary = g_new0(uint64_t, summary_words(hb->nwords));
    return hb;
}

void hbitmap_free(HBitmap *hb)
{
    if (hb) {
        g_free(hb->words);
        g_free(hb->summary);
        g_free(hb);
    }
}

uint64_t hbitmap_size(const HBitmap *hb)
{
    return hb->size;
}

uint64_t hbitmap_granularity(const HBitmap *hb)
{
    return UINT64_C(1) << hb->gran_shift;
}

uint64_t hbitmap_granules(const HBitmap *hb)
{
    return hb->nbits;
}

uint64_t hbitmap_count(const HBitmap *hb)
{
    return hb->count << hb->gran_shift;
}

/* Granules [*first, *last] touched by the byte range; false if none. */
static bool granule_range(const HBitmap *hb, uint64_t offset, uint64_t bytes,
                          uint64_t *first, uint64_t *last)
{
    if (!bytes || offset >= hb->size) {
        return false;
    }
    bytes = MIN(bytes, hb->size - offset);
    *first = offset >> hb->gran_shift;
    *last = (offset + bytes - 1) >> hb->gran_shift;
    return true;
}

static uint64_t bits_mask(unsigned from, unsigned to) /* bits [from, to] */
{
    uint64_t hi = to == 63 ? ~UINT64_C(0) : (UINT64_C(1) << (to + 1)) - 1;

    return hi & ~((UINT64_C(1) << from) - 1);
}

static void word_update(HBitmap *hb, uint64_t w, uint64_t new_word)
{
    uint64_t old = hb->words[w];

    hb->count += __builtin_popcountll(new_word) - __builtin_popcountll(old);
    hb->words[w] = new_word;
    if (new_word) {
        hb->summary[w / WORD_BITS] |= UINT64_C(1) << (w % WORD_BITS);
    } else {
        hb->summary[w / WORD_BITS] &= ~(UINT64_C(1) << (w % WORD_BITS));
    }
}

/* Set or clear granules [first, last]. */
static void change_bits(HBitmap *hb, uint64_t first, uint64_t last, bool set)
{
    for (uint64_t w = first / WORD_BITS; w <= last / WORD_BITS; w++) {
        unsigned from = w == first / WORD_BITS ? first % WORD_BITS : 0;
        unsigned to = w == last / WORD_BITS ? last % WORD_BITS : 63;
        uint64_t mask = bits_mask(from, to);
        uint64_t word = hb->words[w];

        word_update(hb, w, set ? word | mask : word & ~mask);
    }
}

void hbitmap_set(HBitmap *hb, uint64_t offset, uint64_t bytes)
{
    uint64_t first, last;

    if (granule_range(hb, offset, bytes, &first, &last)) {
        change_bits(hb, first, last, true);
    }
}

void hbitmap_reset(HBitmap *hb, uint64_t offset, uint64_t bytes)
{
    uint64_t first, last;

    if (granule_range(hb, offset, bytes, &first, &last)) {
        change_bits(hb, first, last, false);
    }
}

void hbitmap_reset_all(HBitmap *hb)
{
    memset(hb->words, 0, hb->nwords * sizeof(uint64_t));
    memset(hb->summary, 0, summary_words(hb->nwords) * sizeof(uint64_t));
    hb->count = 0;
}

static bool bit_get(const HBitmap *hb, uint64_t bit)
{
    return hb->words[bit / WORD_BITS] >> (bit % WORD_BITS) & 1;
}

bool hbitmap_get(const HBitmap *hb, uint64_t offset)
{
    return offset < hb->size && bit_get(hb, offset >> hb->gran_shift);
}

/* First non-zero word at or after @w, or nwords. */
static uint64_t next_nonzero_word(const HBitmap *hb, uint64_t w)
{
    while (w < hb->nwords) {
        uint64_t s = hb->summary[w / WORD_BITS] >> (w % WORD_BITS);

        if (s) {
            return w + __builtin_ctzll(s);
        }
        w = (w / WORD_BITS + 1) * WORD_BITS;
    }
    return hb->nwords;
}

/* First granule >= @bit whose state is @dirty, or nbits. */
static uint64_t next_bit(const HBitmap *hb, uint64_t bit, bool dirty)
{
    while (bit < hb->nbits) {
        uint64_t w = bit / WORD_BITS;
        uint64_t word = dirty ? hb->words[w] : ~hb->words[w];

        word &= ~UINT64_C(0) << (bit % WORD_BITS);
        if (word) {
            return MIN(w * WORD_BITS + __builtin_ctzll(word), hb->nbits);
        }
        w++;
        if (dirty) {
            w = next_nonzero_word(hb, w);
        }
        bit = w * WORD_BITS;
    }
    return hb->nbits;
}

static int64_t next_state(const HBitmap *hb, uint64_t offset, uint64_t end,
                          bool dirty)
{
    uint64_t bit, at;

    end = MIN(end, hb->size);
    if (offset >= end) {
        return -1;
    }
    bit = next_bit(hb, offset >> hb->gran_shift, dirty);
    if (bit >= hb->nbits) {
        return -1;
    }
    at = MAX(bit << hb->gran_shift, offset);
    return at < end ? (int64_t)at : -1;
}

int64_t hbitmap_next_dirty(const HBitmap *hb, uint64_t offset, uint64_t end)
{
    return next_state(hb, offset, end, true);
}

int64_t hbitmap_next_zero(const HBitmap *hb, uint64_t offset, uint64_t end)
{
    return next_state(hb, offset, end, false);
}

bool hbitmap_next_dirty_area(const HBitmap *hb, uint64_t offset,
                             uint64_t end, uint64_t max_len,
                             uint64_t *start, uint64_t *len)
{
    int64_t s = hbitmap_next_dirty(hb, offset, end);
    int64_t z;
    uint64_t stop;

    if (s < 0) {
        return false;
    }
    end = MIN(end, hb->size);
    stop = max_len && end - s > max_len ? s + max_len : end;
    z = hbitmap_next_zero(hb, s, stop);
    *start = s;
    *len = (z < 0 ? stop : (uint64_t)z) - s;
    return true;
}

void hbitmap_merge(HBitmap *dst, const HBitmap *src)
{
    uint64_t start, len, off = 0;

    g_assert(dst->size == src->size);
    if (dst->gran_shift == src->gran_shift) {
        for (uint64_t w = next_nonzero_word(src, 0); w < src->nwords;
             w = next_nonzero_word(src, w + 1)) {
            word_update(dst, w, dst->words[w] | src->words[w]);
        }
        return;
    }
    while (hbitmap_next_dirty_area(src, off, src->size, 0, &start, &len)) {
        hbitmap_set(dst, start, len);
        off = start + len;
    }
}

void hbitmap_truncate(HBitmap *hb, uint64_t size)
{
    uint64_t nbits = (size + hbitmap_granularity(hb) - 1) >> hb->gran_shift;
    uint64_t nwords = MAX((nbits + WORD_BITS - 1) / WORD_BITS, 1);
    uint64_t old_sw = summary_words(hb->nwords), new_sw = summary_words(nwords);

    if (nbits < hb->nbits) {
        /* what lies past the new end is gone, and so are its bits */
        change_bits(hb, nbits, hb->nbits - 1, false);
    }
    hb->words = g_renew(uint64_t, hb->words, nwords);
    if (nwords > hb->nwords) {
        memset(hb->words + hb->nwords, 0,
               (nwords - hb->nwords) * sizeof(uint64_t));
    }
    hb->summary = g_renew(uint64_t, hb->summary, new_sw);
    if (new_sw > old_sw) {
        memset(hb->summary + old_sw, 0, (new_sw - old_sw) * sizeof(uint64_t));
    }
    hb->size = size;
    hb->nbits = nbits;
    hb->nwords = nwords;
}

HBitmap *hbitmap_copy(const HBitmap *hb)
{
    HBitmap *c = hbitmap_new(hb->size, hbitmap_granularity(hb));

    hbitmap_merge(c, hb);
    return c;
}

void hbitmap_serialize(const HBitmap *hb, uint64_t first_granule,
                       uint64_t granules, uint8_t *buf)
{
    g_assert(first_granule % 8 == 0);
    memset(buf, 0, (granules + 7) / 8);
    for (uint64_t i = next_bit(hb, first_granule, true);
         i < first_granule + granules && i < hb->nbits;
         i = next_bit(hb, i + 1, true)) {
        uint64_t rel = i - first_granule;

        buf[rel / 8] |= 1u << (rel % 8);
    }
}

void hbitmap_deserialize(HBitmap *hb, uint64_t first_granule,
                         uint64_t granules, const uint8_t *buf)
{
    uint64_t rel = 0;

    g_assert(first_granule % 8 == 0);
    /* Whole words at once where the range is word-aligned. */
    while (first_granule % WORD_BITS == 0 && rel + WORD_BITS <= granules &&
           first_granule + rel + WORD_BITS <= hb->nbits) {
        uint64_t word = 0;

        for (int b = 0; b < 8; b++) {
            word |= (uint64_t)buf[rel / 8 + b] << (8 * b);
        }
        word_update(hb, (first_granule + rel) / WORD_BITS, word);
        rel += WORD_BITS;
    }
    for (; rel < granules; rel++) {
        uint64_t bit = first_granule + rel;

        if (bit >= hb->nbits) {
            break;
        }
        if (buf[rel / 8] >> (rel % 8) & 1) {
            change_bits(hb, bit, bit, true);
        } else if (bit_get(hb, bit)) {
            change_bits(hb, bit, bit, false);
        }
    }
}

bool hbitmap_granules_clean(const HBitmap *hb, uint64_t first_granule,
                            uint64_t granules)
{
    uint64_t next = next_bit(hb, first_granule, true);

    return next >= first_granule + granules;
}

char *hbitmap_sha256(const HBitmap *hb)
{
    g_autoptr(GChecksum) sum = g_checksum_new(G_CHECKSUM_SHA256);
    uint8_t le[8];

    for (uint64_t w = 0; w < hb->nwords; w++) {
        for (int b = 0; b < 8; b++) {
            le[b] = hb->words[w] >> (8 * b);
        }
        g_checksum_update(sum, le, sizeof(le));
    }
    return g_strdup(g_checksum_get_string(sum));
}
