#ifndef PLAINSIGHT_CZSTD_SHIM_H
#define PLAINSIGHT_CZSTD_SHIM_H
#include <zstd.h>
#endif
