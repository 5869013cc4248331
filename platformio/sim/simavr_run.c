/*
 * simavr_run — run an ATtiny85 firmware ELF in libsimavr for tests and benchmarks.
 *
 * Protocol with the firmware (see platforms/tinyavr-sim/include/nnsim.h):
 *   GPIOR0 write  byte to stdout (console)
 *   GPIOR0 read   next byte of the -in file (0 after its end)
 *   GPIOR1 write  command: 1 region start, 0 region stop (latch cycles),
 *                 3 latch stack high-water (bytes), 4 repaint free SRAM,
 *                 5 latch -in bytes left, 6 clear the LED log,
 *                 7 latch LED pulses logged, 8 pop the oldest pulse (latch
 *                 its on-time in cycles, 0 if none), 9 latch the off-time
 *                 before the pulse popped last, 10 rewind the -in file,
 *                 11 apply the next -adc scenario (latch 1; 0 when none is left)
 *   GPIOR1 read   next byte (LSB first) of the last latched 32-bit value
 *   GPIOR2 write  exit with that code
 * The LED observer watches PB1 (the Digispark LED): a pulse is a rising edge
 * followed by a falling one; -led also prints each pulse on stderr.
 * Returning from main also ends the run: reaching avr-libc's _exit stops with
 * main's return value (r24), so firmware needs no exit hook.
 * Exit status: firmware's code; 124 when the cycle limit hits (a hang); 125 on
 * simulator/load errors or a crash; 2 on bad usage.
 * EEPROM reads cost what silicon charges: simavr delivers EEDR at once, but the
 * datasheet halts the CPU 4 cycles per read, so each EEDR read adds -ee-halt
 * cycles (default 4; timers keep running, as in a real halt).
 * SRAM above .bss/.noinit is painted before reset so the stack high-water mark
 * needs no firmware code (printed on stderr at exit).
 * Analog inputs: each -adc option is one scenario of millivolts on ADC pins
 * (0..7) and the internal temperature sensor ("temp"), raised on simavr's ADC
 * IRQs; the first applies at reset, command 11 moves to the next. simavr
 * converts at the ADCL read: ADC = mV * 1023 / Vref (VCC from -vcc, default
 * 5000 mV; 1100 for the 1.1 V bandgap), where the datasheet has 1024.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <simavr/avr_adc.h>
#include <simavr/avr_eeprom.h>
#include <simavr/avr_ioport.h>
#include <simavr/sim_avr.h>
#include <simavr/sim_elf.h>
#include <simavr/sim_hex.h>
#include <simavr/sim_io.h>

/* Data-space addresses of GPIOR0..2 (console, command, exit) and EEDR, per MCU family (the
 * datasheets' register summaries; data address = I/O address + 0x20). */
typedef struct {
    const char *names; /* space-separated MCU names */
    uint16_t console, cmd, exit, eedr;
} io_map_t;
static const io_map_t IO_MAPS[] = {
    /* ATtiny25/45/85: GPIOR0..2 at I/O 0x11..0x13, EEDR at I/O 0x1D */
    {"attiny25 attiny45 attiny85", 0x31, 0x32, 0x33, 0x3D},
    /* ATmega48/88/168/328 (the Arduino Uno's): GPIOR0 at I/O 0x1E, GPIOR1/2 at 0x2A/0x2B, EEDR at 0x20 */
    {"atmega48 atmega48a atmega48p atmega48pa atmega88 atmega88a atmega88p atmega88pa atmega168 atmega168a "
     "atmega168p atmega168pa atmega328 atmega328p", 0x3E, 0x4A, 0x4B, 0x40},
};

static const io_map_t *io_map(const char *mcu)
{
    size_t i, n = strlen(mcu);
    for (i = 0; i < sizeof IO_MAPS / sizeof IO_MAPS[0]; i++) {
        const char *at = strstr(IO_MAPS[i].names, mcu);
        if (at && (at == IO_MAPS[i].names || at[-1] == ' ') && (at[n] == ' ' || at[n] == '\0')) {
            return &IO_MAPS[i];
        }
    }
    return NULL;
}
#define PAINT 0xA5
#define LED_LOG 1024u /* pulses kept for popping; more are counted, not kept */
/* The start marker's own `out` (1 cycle) lies inside the region; the stop
 * marker writes r1 (always 0) so no `ldi` lands inside. Empty region = 0. */
#define REGION_BASELINE 1
#define ADC_SCENARIOS 256u
#define ADC_INPUTS 9u /* ADC0..7 pins, then the temperature sensor */

static struct {
    avr_t *avr;
    uint16_t heap_start; /* first SRAM byte not owned by .data/.bss/.noinit */
    uint32_t exit_pc;    /* byte address of _exit, 0 if unknown */
    avr_cycle_count_t region_start;
    uint32_t latched;
    unsigned read_idx;
    unsigned region_no;
    int exit_code;
    int exited;
    uint8_t *in;  /* -in file */
    uint32_t in_len, in_pos;
    int led_trace; /* -led */
    unsigned ee_halt; /* -ee-halt: cycles the CPU stalls per EEPROM read */
    unsigned long ee_reads;
    int led_level;
    avr_cycle_count_t led_edge; /* cycle of the last edge (or of the last clear) */
    avr_cycle_count_t led_off_before; /* off-time before the current pulse */
    uint32_t led_on[LED_LOG], led_off[LED_LOG];
    uint32_t led_count, led_popped, led_last_off;
    /* -adc scenarios: millivolts per input; inputs a scenario leaves out keep their value */
    uint16_t adc_mv[ADC_SCENARIOS][ADC_INPUTS];
    uint16_t adc_set[ADC_SCENARIOS]; /* bit i: input i given */
    unsigned adc_count, adc_next;
} S;

static void paint(uint16_t from, uint16_t to_incl)
{
    for (uint32_t a = from; a <= to_incl; a++) S.avr->data[a] = PAINT;
}

static uint32_t stack_used(void)
{
    uint32_t a = S.heap_start;
    while (a <= S.avr->ramend && S.avr->data[a] == PAINT) a++;
    return S.avr->ramend + 1u - a;
}

static void latch(uint32_t v)
{
    S.latched = v;
    S.read_idx = 0;
}

static void on_console(avr_t *avr, avr_io_addr_t addr, uint8_t v, void *p)
{
    (void)avr; (void)addr; (void)p;
    putchar(v);
    if (v == '\n') fflush(stdout);
}

/* "2=2500,temp=322": millivolts per ADC pin (0..7) or the temperature sensor; one scenario. */
static int parse_adc_scenario(const char *spec)
{
    uint16_t *mv = S.adc_mv[S.adc_count];
    uint16_t set = 0;
    const char *p = spec;
    if (S.adc_count >= ADC_SCENARIOS) {
        fprintf(stderr, "simavr_run: more than %u -adc scenarios\n", ADC_SCENARIOS);
        return -1;
    }
    while (*p) {
        unsigned input;
        char *end;
        if (!strncmp(p, "temp=", 5)) {
            input = ADC_INPUTS - 1u;
            p += 5;
        } else if (p[0] >= '0' && p[0] <= '7' && p[1] == '=') {
            input = (unsigned)(p[0] - '0');
            p += 2;
        } else {
            break;
        }
        unsigned long v = strtoul(p, &end, 10);
        if (end == p || v > 0xFFFFu || (*end != ',' && *end != '\0')) break;
        mv[input] = (uint16_t)v;
        set |= (uint16_t)(1u << input);
        p = *end ? end + 1 : end;
    }
    if (*p || !set) {
        fprintf(stderr, "simavr_run: bad -adc %s (want e.g. 2=2500,temp=322: ADC pin 0..7 or temp = "
                        "millivolts 0..65535)\n", spec);
        return -1;
    }
    S.adc_set[S.adc_count++] = set;
    return 0;
}

/* Raises the next scenario's voltages on the ADC module's inputs: 1, or 0 when none is left. */
static uint32_t apply_adc_scenario(void)
{
    if (S.adc_next >= S.adc_count) return 0;
    for (unsigned i = 0; i < ADC_INPUTS; i++) {
        if (!(S.adc_set[S.adc_next] & (1u << i))) continue;
        avr_irq_t *irq = avr_io_getirq(S.avr, AVR_IOCTL_ADC_GETIRQ,
                                       i + 1u < ADC_INPUTS ? ADC_IRQ_ADC0 + (int)i : ADC_IRQ_TEMP);
        if (irq) avr_raise_irq(irq, S.adc_mv[S.adc_next][i]);
    }
    S.adc_next++;
    return 1;
}

static void on_cmd(avr_t *avr, avr_io_addr_t addr, uint8_t v, void *p)
{
    (void)addr; (void)p;
    switch (v) {
    case 1: S.region_start = avr->cycle; break;
    case 0: {
        uint32_t c = (uint32_t)(avr->cycle - S.region_start - REGION_BASELINE);
        latch(c);
        fprintf(stderr, "simavr_run: region %u cycles=%lu\n", ++S.region_no, (unsigned long)c);
        break;
    }
    case 3: latch(stack_used()); break;
    case 4: {
        uint16_t sp = (uint16_t)(avr->data[R_SPL] | (avr->data[R_SPH] << 8));
        if (sp >= S.heap_start) paint(S.heap_start, sp);
        break;
    }
    case 5: latch(S.in_len - S.in_pos); break;
    case 6:
        S.led_count = S.led_popped = S.led_last_off = 0;
        S.led_edge = avr->cycle; /* the next pulse's off-time counts from here */
        break;
    case 7: latch(S.led_count); break;
    case 8:
        if (S.led_popped < S.led_count && S.led_popped < LED_LOG) {
            S.led_last_off = S.led_off[S.led_popped];
            latch(S.led_on[S.led_popped++]);
        } else {
            S.led_last_off = 0;
            latch(0);
        }
        break;
    case 9: latch(S.led_last_off); break;
    case 10: S.in_pos = 0; break;
    case 11: latch(apply_adc_scenario()); break;
    default: fprintf(stderr, "simavr_run: unknown command %u ignored\n", v);
    }
}

static uint8_t on_cmd_read(avr_t *avr, avr_io_addr_t addr, void *p)
{
    (void)avr; (void)addr; (void)p;
    uint8_t b = (uint8_t)(S.latched >> (8 * (S.read_idx & 3u)));
    S.read_idx++;
    return b;
}

static uint8_t on_input_read(avr_t *avr, avr_io_addr_t addr, void *p)
{
    (void)avr; (void)addr; (void)p;
    return S.in_pos < S.in_len ? S.in[S.in_pos++] : 0;
}

/* PB1 level changes (the port module raises the pin's IRQ on PORTB/DDRB writes). */
static void on_led(avr_irq_t *irq, uint32_t value, void *p)
{
    (void)irq; (void)p;
    int level = (value & 1u) != 0;
    avr_cycle_count_t now = S.avr->cycle;
    if (level == S.led_level) return;
    if (level) {
        S.led_off_before = now - S.led_edge;
    } else {
        uint32_t on = (uint32_t)(now - S.led_edge);
        if (S.led_count < LED_LOG) {
            S.led_on[S.led_count] = on;
            S.led_off[S.led_count] = (uint32_t)S.led_off_before;
        }
        S.led_count++;
        if (S.led_trace)
            fprintf(stderr, "simavr_run: led on=%lu off_before=%lu\n", (unsigned long)on,
                    (unsigned long)S.led_off_before);
    }
    S.led_level = level;
    S.led_edge = now;
}

/* The EEPROM module has already put the byte in EEDR; charge the read's CPU halt. */
static uint8_t on_eedr_read(avr_t *avr, avr_io_addr_t addr, void *p)
{
    (void)p;
    S.ee_reads++;
    avr->cycle += S.ee_halt;
    return avr->data[addr];
}

static void on_exit_write(avr_t *avr, avr_io_addr_t addr, uint8_t v, void *p)
{
    (void)addr; (void)p;
    S.exit_code = v;
    S.exited = 1;
    avr->state = cpu_Done;
}

/* Replaces the whole EEPROM: image bytes first, erased (0xFF) after them.
 * A file starting with ':' is Intel HEX (e.g. firmware.eep), otherwise raw. */
static int load_eeprom(const char *path)
{
    uint32_t size = S.avr->e2end + 1u, n = 0;
    uint8_t *buf = malloc(size), *img = NULL;
    FILE *f = fopen(path, "rb");
    int c0 = f ? fgetc(f) : EOF;
    if (!buf || !f) {
        fprintf(stderr, "simavr_run: cannot open %s: %s\n", path, strerror(errno));
        if (f) fclose(f);
        free(buf);
        return -1;
    }
    memset(buf, 0xFF, size);
    if (c0 == ':') {
        uint32_t start = 0;
        fclose(f);
        img = read_ihex_file(path, &n, &start);
        if (img && n <= size) memcpy(buf, img, n);
        free(img);
        if (!img) n = size + 1u;
    } else {
        if (c0 != EOF) { buf[0] = (uint8_t)c0; n = 1; }
        n += (uint32_t)fread(buf + n, 1, size - n, f);
        if (fgetc(f) != EOF) n = size + 1u;
        fclose(f);
    }
    if (n > size) {
        fprintf(stderr, "simavr_run: %s is unreadable or larger than %lu bytes\n", path,
                (unsigned long)size);
        free(buf);
        return -1;
    }
    avr_eeprom_desc_t d = { .ee = buf, .offset = 0, .size = size };
    avr_ioctl(S.avr, AVR_IOCTL_EEPROM_SET, &d);
    free(buf);
    return 0;
}

/* The whole -in file in memory: the firmware reads it byte by byte. */
static int load_input(const char *path)
{
    FILE *f = fopen(path, "rb");
    long n = -1;
    if (f && fseek(f, 0, SEEK_END) == 0) n = ftell(f);
    if (!f || n < 0 || fseek(f, 0, SEEK_SET) != 0 || !(S.in = malloc((size_t)n + 1u)) ||
        fread(S.in, 1, (size_t)n, f) != (size_t)n) {
        fprintf(stderr, "simavr_run: cannot read %s: %s\n", path, strerror(errno));
        if (f) fclose(f);
        return -1;
    }
    fclose(f);
    S.in_len = (uint32_t)n;
    return 0;
}

static int dump_eeprom(const char *path)
{
    uint32_t size = S.avr->e2end + 1u;
    uint8_t *buf = malloc(size);
    avr_eeprom_desc_t d = { .ee = buf, .offset = 0, .size = size };
    FILE *f = buf ? fopen(path, "wb") : NULL;
    /* GET copies into .ee (simavr 1.6 then returns -1 all the same: no status to check). */
    if (f) avr_ioctl(S.avr, AVR_IOCTL_EEPROM_GET, &d);
    int ok = f && d.ee && fwrite(d.ee, 1, size, f) == size;
    if (f && fclose(f) != 0) ok = 0;
    free(buf);
    if (!ok) fprintf(stderr, "simavr_run: cannot write %s\n", path);
    return ok ? 0 : -1;
}

static void quiet_logger(avr_t *avr, const int level, const char *fmt, va_list ap)
{
    (void)avr;
    if (level <= LOG_ERROR) vfprintf(stderr, fmt, ap);
}

int main(int argc, char **argv)
{
    const char *mcu = "attiny85", *elf = NULL, *ee = NULL, *ee_out = NULL, *in = NULL;
    S.ee_halt = 4; /* ATtiny25/45/85 datasheet, "Reading the EEPROM" */
    unsigned long freq = 16500000UL, vcc = 5000UL;
    unsigned long long limit = 500000000ULL;
    int verbose = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-m") && i + 1 < argc) mcu = argv[++i];
        else if (!strcmp(argv[i], "-f") && i + 1 < argc) freq = strtoul(argv[++i], NULL, 0);
        else if (!strcmp(argv[i], "-c") && i + 1 < argc) limit = strtoull(argv[++i], NULL, 0);
        else if (!strcmp(argv[i], "-ee") && i + 1 < argc) ee = argv[++i];
        else if (!strcmp(argv[i], "-ee-out") && i + 1 < argc) ee_out = argv[++i];
        else if (!strcmp(argv[i], "-in") && i + 1 < argc) in = argv[++i];
        else if (!strcmp(argv[i], "-led")) S.led_trace = 1;
        else if (!strcmp(argv[i], "-adc") && i + 1 < argc) { if (parse_adc_scenario(argv[++i]) != 0) return 2; }
        else if (!strcmp(argv[i], "-vcc") && i + 1 < argc) vcc = strtoul(argv[++i], NULL, 0);
        else if (!strcmp(argv[i], "-ee-halt") && i + 1 < argc) S.ee_halt = (unsigned)strtoul(argv[++i], NULL, 0);
        else if (!strcmp(argv[i], "-v")) verbose = 1;
        else if (argv[i][0] != '-' && !elf) elf = argv[i];
        else {
            fprintf(stderr, "usage: %s [-m mcu] [-f hz] [-c max_cycles] [-ee eeprom.bin|.eep] "
                            "[-ee-out dump.bin] [-ee-halt cycles] [-in input.bin] [-led] [-vcc mV] "
                            "[-adc pin=mV,...,temp=mV]... [-v] firmware.elf\n", argv[0]);
            return 2;
        }
    }
    if (!elf) return fprintf(stderr, "simavr_run: no firmware given\n"), 2;
    if (!verbose) avr_global_logger_set(quiet_logger);

    static elf_firmware_t fw; /* large; static keeps it off the stack */
    if (elf_read_firmware(elf, &fw) != 0)
        return fprintf(stderr, "simavr_run: cannot read %s\n", elf), 125;
    const io_map_t *io = io_map(mcu);
    if (!io) return fprintf(stderr, "simavr_run: no I/O map for mcu %s (attiny25/45/85, atmega48..328p)\n", mcu), 125;
    S.avr = avr_make_mcu_by_name(mcu);
    if (!S.avr) return fprintf(stderr, "simavr_run: unknown mcu %s\n", mcu), 125;
    avr_init(S.avr);
    fw.frequency = (uint32_t)freq; /* ignore any .mmcu frequency: one source of truth */
    avr_load_firmware(S.avr, &fw);
    if (ee && load_eeprom(ee) != 0) return 125;
    if (in && load_input(in) != 0) return 125;
    /* The supply in mV (simavr warns and assumes 3300 without it): VCC is the ADC's reference. */
    S.avr->vcc = S.avr->avcc = (uint32_t)vcc;
    (void)apply_adc_scenario(); /* the first scenario is there from reset */

    S.heap_start = (uint16_t)(S.avr->ioend + 1u + fw.datasize + fw.bsssize);
#if ELF_SYMBOLS
    for (uint32_t i = 0; i < fw.symbolcount; i++)
    {
        if (!strcmp(fw.symbol[i]->symbol, "__heap_start")) /* also covers .noinit */
            S.heap_start = (uint16_t)(fw.symbol[i]->addr & 0xFFFFu);
        else if (!strcmp(fw.symbol[i]->symbol, "_exit"))
            S.exit_pc = fw.symbol[i]->addr;
    }
#endif
    paint(S.heap_start, S.avr->ramend);

    setvbuf(stdout, NULL, _IOLBF, 0);
    avr_register_io_write(S.avr, io->console, on_console, NULL);
    avr_register_io_read(S.avr, io->console, on_input_read, NULL);
    avr_irq_t *led = avr_io_getirq(S.avr, AVR_IOCTL_IOPORT_GETIRQ('B'), IOPORT_IRQ_PIN1);
    if (led) avr_irq_register_notify(led, on_led, NULL);
    avr_register_io_write(S.avr, io->cmd, on_cmd, NULL);
    avr_register_io_read(S.avr, io->cmd, on_cmd_read, NULL);
    avr_register_io_write(S.avr, io->exit, on_exit_write, NULL);
    avr_register_io_read(S.avr, io->eedr, on_eedr_read, NULL);

    int state = cpu_Running;
    while (state != cpu_Done && state != cpu_Crashed && S.avr->cycle < limit) {
        state = avr_run(S.avr);
        if (S.exit_pc && S.avr->pc == S.exit_pc && !S.exited) {
            S.exit_code = S.avr->data[24]; /* exit(int) status, low byte */
            S.exited = 1;
            state = cpu_Done;
        }
    }
    fflush(stdout);

    int rc = S.exit_code;
    if (state == cpu_Crashed) {
        fprintf(stderr, "simavr_run: firmware crashed at pc=0x%04x\n", (unsigned)S.avr->pc);
        rc = 125;
    } else if (state != cpu_Done) {
        fprintf(stderr, "simavr_run: cycle limit %llu reached (hang?)\n", limit);
        rc = 124;
    }
    fprintf(stderr, "simavr_run: exit=%d cycles=%llu stack_max=%lu bytes eeprom_reads=%lu\n", rc,
            (unsigned long long)S.avr->cycle, (unsigned long)stack_used(), S.ee_reads);
    if (S.led_trace)
        fprintf(stderr, "simavr_run: led pulses=%lu level=%d\n", (unsigned long)S.led_count,
                S.led_level);
    if (ee_out && dump_eeprom(ee_out) != 0 && rc == 0) rc = 125;
    free(S.in);
    avr_terminate(S.avr);
    return rc;
}
