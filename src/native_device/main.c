/* nnmodel "device" on the host: the ESP32-C3 firmware's serial protocol (lib/nnserial, the same C)
 * served over a pseudo-terminal, so `nnmodel device-eval` and the pytest suite can talk to it as to
 * a board. POSIX only (Linux, macOS).
 *
 *   device [--stdio] [--timeout-ms N] [--quiet-ms N] [--corrupt-every N]
 *
 * Default: opens a pseudo-terminal, prints "nnmodel device: serving MODEL on /dev/pts/N" on stdout
 * and serves it until killed. --stdio serves stdin/stdout instead (ends at end of input).
 * --corrupt-every N adds 1 to logit 0 of every N-th classification: a broken device for tests.
 */
#define _XOPEN_SOURCE 600
#define _DEFAULT_SOURCE

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "nnmodel.h"
#include "nnserial.h"

static int out_fd = 1;
static unsigned long corrupt_every, classified;

static void write_all(void *ctx, const char *text, size_t n)
{
    (void)ctx;
    while (n > 0) {
        ssize_t k = write(out_fd, text, n);
        if (k < 0) {
            if (errno == EINTR || errno == EAGAIN) {
                continue;
            }
            perror("nnmodel device: write");
            exit(1);
        }
        text += k;
        n -= (size_t)k;
    }
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint32_t ticks_ns(void *ctx)
{
    (void)ctx;
    return (uint32_t)now_ns();
}

static uint32_t now_ms(void)
{
    return (uint32_t)(now_ns() / 1000000u);
}

/* The model's finish, optionally made wrong on purpose (--corrupt-every). */
static uint16_t finish(int32_t *logits)
{
    uint16_t cls = nnmodel_finish(logits);
    classified++;
    if (corrupt_every != 0 && classified % corrupt_every == 0) {
        logits[0] += 1;
    }
    return cls;
}

static int open_pty(int *keep_slave)
{
    struct termios tio;
    const char *name;
    int master = posix_openpt(O_RDWR | O_NOCTTY);
    if (master < 0 || grantpt(master) != 0 || unlockpt(master) != 0 || (name = ptsname(master)) == NULL) {
        perror("nnmodel device: pseudo-terminal");
        exit(1);
    }
    /* Keep the terminal side open ourselves: otherwise the master reports a hang-up whenever the
     * host closes the port. Raw mode: no echo, no line editing, no CR/LF translation. */
    *keep_slave = open(name, O_RDWR | O_NOCTTY);
    if (*keep_slave < 0 || tcgetattr(*keep_slave, &tio) != 0) {
        perror("nnmodel device: open terminal side");
        exit(1);
    }
    tio.c_iflag &= ~(tcflag_t)(IGNBRK | BRKINT | PARMRK | ISTRIP | INLCR | IGNCR | ICRNL | IXON);
    tio.c_oflag &= ~(tcflag_t)OPOST;
    tio.c_lflag &= ~(tcflag_t)(ECHO | ECHONL | ICANON | ISIG | IEXTEN);
    tio.c_cflag &= ~(tcflag_t)(CSIZE | PARENB);
    tio.c_cflag |= CS8;
    tcsetattr(*keep_slave, TCSANOW, &tio);
    printf("nnmodel device: serving %s on %s\n", NNMODEL_NAME, name);
    fflush(stdout);
    return master;
}

static unsigned long arg_number(const char *opt, const char *value)
{
    char *end;
    unsigned long v;
    if (value == NULL) {
        fprintf(stderr, "nnmodel device: %s needs a number\n", opt);
        exit(2);
    }
    v = strtoul(value, &end, 10);
    if (*end != '\0') {
        fprintf(stderr, "nnmodel device: %s %s: not a number\n", opt, value);
        exit(2);
    }
    return v;
}

int main(int argc, char **argv)
{
    static nnser_t proto;
    static const nnser_model_t model = NNSER_MODEL_OF_NNMODEL(finish);
    static const nnser_io_t io = {write_all, ticks_ns, 1000u, NULL}; /* ticks: nanoseconds */
    int in_fd = 0, slave = -1, use_stdio = 0, i;
    unsigned long timeout_ms = 0, quiet_ms = 0;

    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--stdio") == 0) {
            use_stdio = 1;
        } else if (strcmp(argv[i], "--timeout-ms") == 0) {
            timeout_ms = arg_number(argv[i], argv[i + 1]);
            i++;
        } else if (strcmp(argv[i], "--quiet-ms") == 0) {
            quiet_ms = arg_number(argv[i], argv[i + 1]);
            i++;
        } else if (strcmp(argv[i], "--corrupt-every") == 0) {
            corrupt_every = arg_number(argv[i], argv[i + 1]);
            i++;
        } else {
            fprintf(stderr, "usage: %s [--stdio] [--timeout-ms N] [--quiet-ms N] [--corrupt-every N]\n", argv[0]);
            return 2;
        }
    }

    if (nnser_init(&proto, &model, &io) != 0) {
        fprintf(stderr, "nnmodel device: model %s exceeds the protocol's buffers\n", NNMODEL_NAME);
        return 1;
    }
    nnser_set_timeouts(&proto, (uint32_t)timeout_ms, (uint32_t)quiet_ms);
    if (!use_stdio) {
        in_fd = out_fd = open_pty(&slave);
    }
    nnser_write_banner(&proto); /* like the firmware's boot output; hosts skip "# " lines */

    for (;;) {
        struct pollfd p;
        int ready;
        p.fd = in_fd;
        p.events = POLLIN;
        p.revents = 0;
        ready = poll(&p, 1, 5);
        if (ready < 0 && errno != EINTR) {
            perror("nnmodel device: poll");
            return 1;
        }
        if (ready == 0) {
            nnser_poll(&proto, now_ms()); /* nothing waiting: the only time the host can be silent */
            continue;
        }
        if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
            uint8_t buf[256];
            ssize_t n = read(in_fd, buf, sizeof buf);
            ssize_t k;
            uint32_t arrived;
            if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN)) {
                break; /* end of input (--stdio) or the terminal went away */
            }
            /* One clock read per chunk: its bytes came together. A reply written (and blocked on a
             * host that reads late) while they are fed is not counted as the host's silence. */
            arrived = now_ms();
            for (k = 0; k < n; k++) {
                nnser_feed(&proto, buf[k], arrived);
            }
        }
    }
    if (slave >= 0) {
        close(slave);
    }
    return 0;
}
