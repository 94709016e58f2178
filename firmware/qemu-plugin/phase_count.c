/* QEMU TCG plugin (API v1): guest instructions per phase of the program, deterministically.
 *
 * The phases are switched by executing marker functions: the argument marks=FILE names a text file of lines
 * "<hex address> <phase>" (phase 1..PHASES-1; the entry address of each marker function, as nm prints it).
 * A translation block that starts at a marker address sets the current phase; every executed block adds its
 * instruction count to the current phase (phase 0 until the first marker). At exit it prints, through
 * qemu_plugin_outs (visible with -d plugin [-D logfile]), one line "phase <k>: <count>" per phase that ran
 * and "insns: <total>". Single vCPU (the mps2 boards).
 * With funcs=FILE (lines "<hex start> <hex size> <id>", id < FUNCS, e.g. from arm-none-eabi-nm -S) it also
 * prints "func <id>: <count>": the instructions of the blocks that start inside each function (exclusive
 * counts, a profile of the kernels).
 * Build: see Makefile. Run: qemu-system-arm ... -plugin phase_count.so,marks=FILE -d plugin -D log */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qemu-plugin-min.h"

QEMU_PLUGIN_EXPORT int qemu_plugin_version = QEMU_PLUGIN_VERSION;

#define PHASES 64
#define MARKS 256

static uint64_t counts[PHASES];
static unsigned current;
static uint64_t mark_addr[MARKS];
static unsigned mark_phase[MARKS];
static unsigned n_marks;

#define FUNCS 512
static uint64_t fn_count[FUNCS];
static uint64_t fn_start[FUNCS], fn_end[FUNCS];
static unsigned fn_id[FUNCS];
static unsigned n_funcs;

static void count_function(unsigned int vcpu, void *userdata)
{
    (void)vcpu;
    fn_count[(uintptr_t)userdata >> 16] += (uintptr_t)userdata & 0xFFFFu;
}

static void enter_phase(unsigned int vcpu, void *userdata)
{
    (void)vcpu;
    current = (unsigned)(uintptr_t)userdata;
}

static void count_block(unsigned int vcpu, void *userdata)
{
    (void)vcpu;
    counts[current] += (uint64_t)(uintptr_t)userdata;
}

static void tb_trans(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
    uint64_t pc = qemu_plugin_tb_vaddr(tb);
    unsigned i;
    (void)id;
    for (i = 0; i < n_marks; i++) {
        if (mark_addr[i] == pc) { /* registered first: the marker's own block counts in its phase */
            qemu_plugin_register_vcpu_tb_exec_cb(tb, enter_phase, QEMU_PLUGIN_CB_NO_REGS,
                                                 (void *)(uintptr_t)mark_phase[i]);
        }
    }
    qemu_plugin_register_vcpu_tb_exec_cb(tb, count_block, QEMU_PLUGIN_CB_NO_REGS,
                                         (void *)(uintptr_t)qemu_plugin_tb_n_insns(tb));
    for (i = 0; i < n_funcs; i++) {
        if (pc >= fn_start[i] && pc < fn_end[i]) {
            uintptr_t data = ((uintptr_t)fn_id[i] << 16) | (qemu_plugin_tb_n_insns(tb) & 0xFFFFu);
            qemu_plugin_register_vcpu_tb_exec_cb(tb, count_function, QEMU_PLUGIN_CB_NO_REGS, (void *)data);
            break;
        }
    }
}

static void at_exit(qemu_plugin_id_t id, void *userdata)
{
    char line[64];
    uint64_t total = 0;
    unsigned k;
    (void)id;
    (void)userdata;
    for (k = 0; k < PHASES; k++) {
        if (counts[k]) {
            snprintf(line, sizeof line, "phase %u: %" PRIu64 "\n", k, counts[k]);
            qemu_plugin_outs(line);
        }
        total += counts[k];
    }
    for (k = 0; k < FUNCS; k++) {
        if (fn_count[k]) {
            snprintf(line, sizeof line, "func %u: %" PRIu64 "\n", k, fn_count[k]);
            qemu_plugin_outs(line);
        }
    }
    snprintf(line, sizeof line, "insns: %" PRIu64 "\n", total);
    qemu_plugin_outs(line);
}

static int read_marks(const char *path)
{
    FILE *f = fopen(path, "r");
    unsigned long long addr;
    unsigned phase;
    if (f == NULL) {
        return -1;
    }
    while (n_marks < MARKS && fscanf(f, "%llx %u", &addr, &phase) == 2) {
        if (phase == 0 || phase >= PHASES) {
            fclose(f);
            return -1;
        }
        mark_addr[n_marks] = addr & ~1ull; /* Thumb symbols carry bit 0; the block address does not */
        mark_phase[n_marks] = phase;
        n_marks++;
    }
    fclose(f);
    return 0;
}

static int read_funcs(const char *path)
{
    FILE *f = fopen(path, "r");
    unsigned long long start, size;
    unsigned id;
    if (f == NULL) {
        return -1;
    }
    while (n_funcs < FUNCS && fscanf(f, "%llx %llx %u", &start, &size, &id) == 3) {
        if (id >= FUNCS) {
            fclose(f);
            return -1;
        }
        fn_start[n_funcs] = start & ~1ull;
        fn_end[n_funcs] = (start & ~1ull) + size;
        fn_id[n_funcs] = id;
        n_funcs++;
    }
    fclose(f);
    return 0;
}

QEMU_PLUGIN_EXPORT int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info, int argc, char **argv)
{
    int i;
    (void)info;
    for (i = 0; i < argc; i++) {
        if (strncmp(argv[i], "marks=", 6) == 0 && read_marks(argv[i] + 6) != 0) {
            fprintf(stderr, "phase_count: cannot read the marks file %s\n", argv[i] + 6);
            return -1;
        }
        if (strncmp(argv[i], "funcs=", 6) == 0 && read_funcs(argv[i] + 6) != 0) {
            fprintf(stderr, "phase_count: cannot read the functions file %s\n", argv[i] + 6);
            return -1;
        }
    }
    qemu_plugin_register_vcpu_tb_trans_cb(id, tb_trans);
    qemu_plugin_register_atexit_cb(id, at_exit, NULL);
    return 0;
}
