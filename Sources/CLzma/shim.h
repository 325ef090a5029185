#ifndef PLAINSIGHT_CLZMA_SHIM_H
#define PLAINSIGHT_CLZMA_SHIM_H
#include <lzma.h>
#endif
