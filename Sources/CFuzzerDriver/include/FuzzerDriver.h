#ifndef PLAINSIGHT_FUZZER_DRIVER_H
#define PLAINSIGHT_FUZZER_DRIVER_H

#include <stddef.h>
#include <stdint.h>

/// One fuzz input; returns 0 (libFuzzer's contract for LLVMFuzzerTestOneInput).
typedef int (*plainsight_fuzz_callback)(const uint8_t *data, size_t size);

/// Runs `callback` the way the build allows. Built with -DPLAINSIGHT_FUZZ (scripts/fuzz), it hands
/// argc/argv to libFuzzer's LLVMFuzzerRunDriver. In a plain build there is no libFuzzer runtime,
/// so it replays every file named in argv (after the first) through `callback` once, like
/// libFuzzer's StandaloneFuzzTargetMain.c: enough to reproduce a crash file without the fuzz build.
int plainsight_fuzz_run(int *argc, char ***argv, plainsight_fuzz_callback callback);

#endif
