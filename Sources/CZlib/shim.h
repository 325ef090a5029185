#ifndef PLAINSIGHT_CZLIB_SHIM_H
#define PLAINSIGHT_CZLIB_SHIM_H
#include <zlib.h>
#endif
