#ifndef PLAINSIGHT_CCHECKSUM_H
#define PLAINSIGHT_CCHECKSUM_H
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif
/* A sum of the 16-bit words (host order) of the `count` eight-byte words at `words`: congruent,
 * modulo 0xFFFF, to their ones' complement sum, which is all the caller folds it for. In C because
 * Swift has no spelling for the SSE2 multiply-add that sums eight words in one instruction
 * (pmaddwd). pmaddwd multiplies signed words, so each word is first offset by -32768 (its top bit
 * flipped) and the offsets are added back per chunk; a lane adds at most 8192 blocks of two
 * words each, so it stays within [-2^29, 2^29]. */
static inline uint64_t plainsight_sum_words(const unsigned char *words, size_t count) {
    const size_t n = count * 8;
    size_t i = 0;
    uint64_t total = 0;
#if defined(__SSE2__)
    const __m128i flip = _mm_set1_epi16((short)0x8000);
    const __m128i ones = _mm_set1_epi16(1);
    while (n - i >= 32) {
        size_t pairs = (n - i) / 32;
        if (pairs > 8192) pairs = 8192;
        __m128i a = _mm_setzero_si128(), b = _mm_setzero_si128();
        for (size_t k = 0; k < pairs; k++, i += 32) {
            __m128i x = _mm_loadu_si128((const __m128i *)(const void *)(words + i));
            __m128i y = _mm_loadu_si128((const __m128i *)(const void *)(words + i + 16));
            a = _mm_add_epi32(a, _mm_madd_epi16(_mm_xor_si128(x, flip), ones));
            b = _mm_add_epi32(b, _mm_madd_epi16(_mm_xor_si128(y, flip), ones));
        }
        int32_t la[4], lb[4];
        memcpy(la, &a, 16);
        memcpy(lb, &b, 16);
        int64_t s = (int64_t)la[0] + la[1] + la[2] + la[3] + lb[0] + lb[1] + lb[2] + lb[3];
        total += (uint64_t)(s + (int64_t)pairs * 16 * 32768);
    }
#endif
    for (; i < n; i += 8) {
        uint64_t w;
        memcpy(&w, words + i, 8);
        total += (w & 0xFFFF) + ((w >> 16) & 0xFFFF) + ((w >> 32) & 0xFFFF) + (w >> 48);
    }
    return total;
}
#endif
