/*  test_leak.c: unit tests for worker/leak */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "worker/leak.h"

int main(void)
{
    return 0;
}
