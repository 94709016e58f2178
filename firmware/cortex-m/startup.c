/* Minimal Cortex-M startup for QEMU mps2-an386 with semihosting (newlib rdimon).
 * Reset: copy .data, zero .bss, open the semihosting handles, run main, exit with its status (QEMU's exit
 * code). Faults exit with status 99 so a crashed test fails instead of hanging. */
#include <stdint.h>
#include <stdlib.h>

extern uint32_t _sidata, _sdata, _edata, _sbss, _ebss, _estack;
extern int main(void);
extern void initialise_monitor_handles(void);

void Reset_Handler(void);
void Fault_Handler(void);

void _init(void) {}
void _fini(void) {}

void Reset_Handler(void)
{
    uint32_t *src = &_sidata, *dst = &_sdata;
    while (dst < &_edata) {
        *dst++ = *src++;
    }
    for (dst = &_sbss; dst < &_ebss; dst++) {
        *dst = 0;
    }
    initialise_monitor_handles();
    exit(main());
}

void Fault_Handler(void)
{
    exit(99);
}

typedef void (*vector_t)(void);

/* Initial stack pointer, reset, then NMI, HardFault, MemManage, BusFault, UsageFault. */
__attribute__((section(".isr_vector"), used)) static const vector_t vectors[] = {
    (vector_t)(uintptr_t)&_estack, Reset_Handler, Fault_Handler, Fault_Handler, Fault_Handler, Fault_Handler,
    Fault_Handler,
};
