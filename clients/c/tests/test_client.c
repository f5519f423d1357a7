#include "harness.h"
void client_tests(void) {}
