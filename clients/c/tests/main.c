/* Test runner: vectors, reader robustness, client against a fake server, the public fake gateway. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "harness.h"

int main(int argc, char **argv) {
    const char *vectors = argc > 1 ? argv[1] : "../../proto-spec/vectors/frames.tsv";
    /* A hung test must fail the run, not stall it. */
    alarm(120);
    setvbuf(stdout, NULL, _IOLBF, 0);
    vector_tests(vectors);
    reader_tests(vectors);
    client_tests();
    fake_tests();
    return h_summary();
}
