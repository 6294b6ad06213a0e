/* The vector units' own rates on one core, x86-64 with AVX2 + FMA: the clock (a chain of dependent
 * integer adds, one per cycle), float32 FMA throughput and the AVX2 u8 x s8 multiply-add step of
 * the integer GEMM kernels (vpmaddubsw to int16 pairs, vpmaddwd by ones to int32, vpaddd), each
 * with enough independent registers to hide latency. The best of many short runs: a run that
 * fits in one scheduler slice measures the core, not the machine's load. Prints one JSON object.
 * Built and run by benchmarks/bench_int8_floor.py (cc -O2 isa_rates.c). */
#include <stdio.h>
#include <time.h>

#define ITERS 20000L
#define RUNS 3000

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static double fastest(void (*body)(long)) {
    double best = 1e9;
    for (int r = 0; r < RUNS; r++) {
        double start = now();
        body(ITERS);
        double t = now() - start;
        if (t < best) best = t;
    }
    return best;
}

/* 32 dependent adds per iteration: 32 cycles. */
static void adds(long n) {
    __asm__ volatile("xor %%eax, %%eax\n1:\n\t.rept 32\n\tadd $1, %%rax\n\t.endr\n\tdec %0\n\tjnz 1b" : "+r"(n)::"rax", "cc");
}

/* 20 FMAs of 8 floats over 10 accumulators: 320 operations. */
static void fmas(long n) {
    __asm__ volatile("1:\n\t.rept 2\n\t.irp r,0,1,2,3,4,5,6,7,8,9\n\tvfmadd231ps %%ymm14, %%ymm15, %%ymm\\r\n\t.endr\n\t.endr\n\tdec %0\n\tjnz 1b"
                     : "+r"(n)::"xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm14", "xmm15", "cc");
}

/* 8 steps of 32 u8 x s8 multiply-adds into 4 int32 accumulators: 512 operations. */
static void u8s8(long n) {
    __asm__ volatile("1:\n\t.irp r,0,1,2,3,4,5,6,7\n\tvpmaddubsw %%ymm13, %%ymm14, %%ymm\\r\n\t.endr\n\t"
                     ".irp r,0,1,2,3,4,5,6,7\n\tvpmaddwd %%ymm15, %%ymm\\r, %%ymm\\r\n\t.endr\n\t"
                     "vpaddd %%ymm0, %%ymm8, %%ymm8\n\tvpaddd %%ymm1, %%ymm9, %%ymm9\n\tvpaddd %%ymm2, %%ymm10, %%ymm10\n\tvpaddd %%ymm3, %%ymm11, %%ymm11\n\t"
                     "vpaddd %%ymm4, %%ymm8, %%ymm8\n\tvpaddd %%ymm5, %%ymm9, %%ymm9\n\tvpaddd %%ymm6, %%ymm10, %%ymm10\n\tvpaddd %%ymm7, %%ymm11, %%ymm11\n\t"
                     "dec %0\n\tjnz 1b"
                     : "+r"(n)::"xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", "xmm11", "xmm13", "xmm14", "xmm15", "cc");
}

int main(void) {
    double ghz = 32.0 * ITERS / fastest(adds) / 1e9;
    double fp32 = 320.0 * ITERS / fastest(fmas) / 1e9;
    double int8 = 512.0 * ITERS / fastest(u8s8) / 1e9;
    printf("{\"clock_ghz\": %.3f, \"float32_gops\": %.1f, \"int8_gops\": %.1f, \"float32_ops_per_cycle\": %.1f, \"int8_ops_per_cycle\": %.1f}\n", ghz, fp32, int8, fp32 / ghz, int8 / ghz);
    return 0;
}
