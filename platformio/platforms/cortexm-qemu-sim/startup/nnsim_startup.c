/*
 * nnsim_startup.c (cortexm-qemu-sim) — reset and trap handlers of the bare-metal Cortex-M4 build.
 *
 * Linked with -nostartfiles: newlib's rdimon crt0 takes its stack and heap from the semihosting
 * HEAPINFO call and does not copy .data, which is not how an MCU starts. Here, as on a chip: the
 * vector table at 0 gives the stack top, reset copies .data from flash and zeroes .bss (no
 * constructors: the programs are C), then main's return value goes to exit(), whose semihosting
 * SYS_EXIT_EXTENDED makes it QEMU's exit status. A fault or a stray exception prints where it
 * happened and exits NNSIM_TRAP_EXIT, so a crash fails at once instead of hanging until the timeout.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define NNSIM_TRAP_EXIT 134

extern uint32_t __data_start__[], __data_end__[], __data_load__[], __bss_start__[], __bss_end__[], __stack[];
extern void initialise_monitor_handles(void); /* librdimon: opens the semihosting stdin/out/err */
extern int main(void);

void nnsim_reset(void);
void nnsim_trap(void);
void nnsim__trap_report(const uint32_t *frame);

void nnsim_reset(void)
{
    const uint32_t *src = __data_load__;
    uint32_t *dst;
    for (dst = __data_start__; dst < __data_end__;) {
        *dst++ = *src++;
    }
    for (dst = __bss_start__; dst < __bss_end__;) {
        *dst++ = 0;
    }
    initialise_monitor_handles();
    exit(main());
}

/* SYS_WRITE0 straight to the host: stdio may be what broke. */
static void nnsim__write0(const char *s)
{
    register uint32_t r0 __asm__("r0") = 0x04u;
    register const char *r1 __asm__("r1") = s;
    __asm__ __volatile__("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
}

static void nnsim__hex(char *out, uint32_t v)
{
    int i;
    for (i = 7; i >= 0; i--, v >>= 4) {
        out[i] = "0123456789abcdef"[v & 15u];
    }
}

/* Naked: the exception frame (r0-r3, r12, lr, pc, xpsr) is at MSP before any prologue runs. */
__attribute__((naked)) void nnsim_trap(void)
{
    __asm__ __volatile__("mrs r0, msp\n\tb nnsim__trap_report");
}

void nnsim__trap_report(const uint32_t *frame)
{
    char msg[] = "\nnnsim: exception xxxxxxxx at pc xxxxxxxx, CFSR xxxxxxxx\n";
    uint32_t ipsr;
    __asm__ __volatile__("mrs %0, ipsr" : "=r"(ipsr));
    nnsim__hex(msg + 18, ipsr & 0x1FFu);
    nnsim__hex(msg + 33, frame[6]);
    nnsim__hex(msg + 48, *(volatile const uint32_t *)0xE000ED28u);
    fflush(stdout);
    nnsim__write0(msg);
    _Exit(NNSIM_TRAP_EXIT);
}

/* Initial SP, reset, then NMI .. SysTick: nothing enables an interrupt, so any of them is a bug. */
__attribute__((section(".vectors"), used)) static void (*const nnsim_vectors[16])(void) = {
    (void (*)(void))(uintptr_t)__stack, nnsim_reset,
    nnsim_trap, nnsim_trap, nnsim_trap, nnsim_trap, nnsim_trap, 0, 0, 0, 0,
    nnsim_trap, nnsim_trap, 0, nnsim_trap, nnsim_trap,
};
