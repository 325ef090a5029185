#ifndef PLAINSIGHT_CPREFETCH_H
#define PLAINSIGHT_CPREFETCH_H
/* A cache hint Swift has no spelling for. The flow table calls it for the memory of packets a
 * few places ahead in a batch, so that memory is on its way while earlier packets are handled.
 * It never faults, whatever the address. */
static inline void plainsight_prefetch(const void *address) {
#if defined(__GNUC__) || defined(__clang__)
    __builtin_prefetch(address, 1, 3);
#else
    (void)address;
#endif
}
#endif
