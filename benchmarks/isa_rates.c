/* The vector units' own rates on one core, x86-64: the clock (a chain of dependent integer adds,
 * one per cycle), float32 FMA throughput and the u8 x s8 multiply-add step of the integer GEMM
 * kernels, each on the widest instructions this CPU has (picked at run time, named in the output):
 * - float32: vfmadd231ps ymm (AVX2 + FMA), zmm where AVX-512F is there;
 * - u8 x s8: vpmaddubsw to int16 pairs + vpmaddwd by ones to int32 + vpaddd (AVX2), vpdpbusd ymm
 *   (AVX-VNNI) or vpdpbusd zmm (AVX-512 VNNI): one instruction for 4 multiply-adds per int32 lane.
 * Each kernel keeps enough independent registers busy to hide latency. The best of many short runs:
 * a run that fits in one scheduler slice measures the core, not the machine's load. Prints one JSON
 * object. Built and run by benchmarks/bench_int8_floor.py (cc -O2 isa_rates.c). */
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

#define TEN_ACCUMULATORS "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm14", "xmm15", "cc"

/* 20 FMAs of 8 floats over 10 accumulators: 320 operations. */
static void fmas_ymm(long n) {
    __asm__ volatile("1:\n\t.rept 2\n\t.irp r,0,1,2,3,4,5,6,7,8,9\n\tvfmadd231ps %%ymm14, %%ymm15, %%ymm\\r\n\t.endr\n\t.endr\n\tdec %0\n\tjnz 1b"
                     : "+r"(n)::TEN_ACCUMULATORS);
}

/* 20 FMAs of 16 floats over 10 accumulators: 640 operations. */
static void fmas_zmm(long n) {
    __asm__ volatile("1:\n\t.rept 2\n\t.irp r,0,1,2,3,4,5,6,7,8,9\n\tvfmadd231ps %%zmm14, %%zmm15, %%zmm\\r\n\t.endr\n\t.endr\n\tdec %0\n\tjnz 1b"
                     : "+r"(n)::TEN_ACCUMULATORS);
}

/* 8 steps of 32 u8 x s8 multiply-adds into 4 int32 accumulators: 512 operations. */
static void u8s8_avx2(long n) {
    __asm__ volatile("1:\n\t.irp r,0,1,2,3,4,5,6,7\n\tvpmaddubsw %%ymm13, %%ymm14, %%ymm\\r\n\t.endr\n\t"
                     ".irp r,0,1,2,3,4,5,6,7\n\tvpmaddwd %%ymm15, %%ymm\\r, %%ymm\\r\n\t.endr\n\t"
                     "vpaddd %%ymm0, %%ymm8, %%ymm8\n\tvpaddd %%ymm1, %%ymm9, %%ymm9\n\tvpaddd %%ymm2, %%ymm10, %%ymm10\n\tvpaddd %%ymm3, %%ymm11, %%ymm11\n\t"
                     "vpaddd %%ymm4, %%ymm8, %%ymm8\n\tvpaddd %%ymm5, %%ymm9, %%ymm9\n\tvpaddd %%ymm6, %%ymm10, %%ymm10\n\tvpaddd %%ymm7, %%ymm11, %%ymm11\n\t"
                     "dec %0\n\tjnz 1b"
                     : "+r"(n)::"xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", "xmm11", "xmm13", "xmm14", "xmm15", "cc");
}

/* 20 vpdpbusd ymm (VEX, AVX-VNNI) over 10 accumulators: 20 x 32 multiply-adds = 1280 operations. */
static void u8s8_avx_vnni(long n) {
    __asm__ volatile("1:\n\t.rept 2\n\t.irp r,0,1,2,3,4,5,6,7,8,9\n\t%{vex%} vpdpbusd %%ymm14, %%ymm15, %%ymm\\r\n\t.endr\n\t.endr\n\tdec %0\n\tjnz 1b"
                     : "+r"(n)::TEN_ACCUMULATORS);
}

/* 20 vpdpbusd zmm (AVX-512 VNNI) over 10 accumulators: 20 x 64 multiply-adds = 2560 operations. */
static void u8s8_avx512_vnni(long n) {
    __asm__ volatile("1:\n\t.rept 2\n\t.irp r,0,1,2,3,4,5,6,7,8,9\n\tvpdpbusd %%zmm14, %%zmm15, %%zmm\\r\n\t.endr\n\t.endr\n\tdec %0\n\tjnz 1b"
                     : "+r"(n)::TEN_ACCUMULATORS);
}

int main(void) {
    __builtin_cpu_init();
    double ghz = 32.0 * ITERS / fastest(adds) / 1e9;
    const char* fp32_kernel = "vfmadd231ps ymm";
    double fp32 = 320.0 * ITERS / fastest(fmas_ymm) / 1e9;
    if (__builtin_cpu_supports("avx512f")) {
        fp32_kernel = "vfmadd231ps zmm";
        fp32 = 640.0 * ITERS / fastest(fmas_zmm) / 1e9;
    }
    const char* int8_kernel = "vpmaddubsw + vpmaddwd ymm";
    double int8 = 512.0 * ITERS / fastest(u8s8_avx2) / 1e9;
    if (__builtin_cpu_supports("avx512vnni")) {
        int8_kernel = "vpdpbusd zmm";
        int8 = 2560.0 * ITERS / fastest(u8s8_avx512_vnni) / 1e9;
    } else if (__builtin_cpu_supports("avxvnni")) {
        int8_kernel = "vpdpbusd ymm";
        int8 = 1280.0 * ITERS / fastest(u8s8_avx_vnni) / 1e9;
    }
    printf("{\"clock_ghz\": %.3f, \"float32_gops\": %.1f, \"int8_gops\": %.1f, \"float32_ops_per_cycle\": %.1f, \"int8_ops_per_cycle\": %.1f, "
           "\"float32_kernel\": \"%s\", \"int8_kernel\": \"%s\"}\n",
           ghz, fp32, int8, fp32 / ghz, int8 / ghz, fp32_kernel, int8_kernel);
    return 0;
}
