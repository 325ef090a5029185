#include "FuzzerDriver.h"

#include <stdio.h>
#include <stdlib.h>

#ifdef PLAINSIGHT_FUZZ
// Provided by libclang_rt.fuzzer (linked by -sanitize=fuzzer).
int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*UserCb)(const uint8_t *Data, size_t Size));

int plainsight_fuzz_run(int *argc, char ***argv, plainsight_fuzz_callback callback) {
    return LLVMFuzzerRunDriver(argc, argv, callback);
}
#else
// Reads a whole file; NULL on failure (the caller reports it).
static uint8_t *read_file(const char *path, size_t *size) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 4096, len = 0;
    uint8_t *buf = malloc(cap);
    while (buf) {
        size_t n = fread(buf + len, 1, cap - len, f);
        len += n;
        if (len < cap) break;
        uint8_t *bigger = realloc(buf, cap * 2);
        if (!bigger) { free(buf); buf = NULL; break; }
        buf = bigger;
        cap *= 2;
    }
    int failed = ferror(f);
    fclose(f);
    if (failed) { free(buf); return NULL; }
    *size = len;
    return buf;
}

int plainsight_fuzz_run(int *argc, char ***argv, plainsight_fuzz_callback callback) {
    int status = 0;
    for (int i = 1; i < *argc; i++) {
        const char *path = (*argv)[i];
        if (path[0] == '-') continue;  // libFuzzer flags mean nothing to the replay driver
        size_t size = 0;
        uint8_t *data = read_file(path, &size);
        if (!data) {
            fprintf(stderr, "cannot read %s\n", path);
            status = 1;
            continue;
        }
        callback(data, size);
        free(data);
    }
    return status;
}
#endif
