/* The offline twin: the same protocol code (classifier.c) reading stdin, writing stdout. */
#include <stdio.h>

#include "classifier.h"

int main(void)
{
    static char reply[256];
    int c;
    while ((c = getchar()) != EOF) {
        const size_t n = classifier_feed((uint8_t)c, reply, sizeof reply);
        if (n) {
            fwrite(reply, 1, n, stdout);
        }
    }
    return 0;
}
