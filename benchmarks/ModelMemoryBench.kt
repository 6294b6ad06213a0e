// Kotlin side of benchmarks/bench_model_memory.py: the SDK's part of loading a model on the JVM
// (ONNX Runtime's Android library does not run here): the model's bytes as the runtime gets them,
// and their SHA-256 check. edgesdk.hosttest_kotlin.write_runner prepends the package and the core import.
// Usage: ModelMemoryBenchKt none|mapped|copied MODEL_FILE SHA256
//   mapped  ModelBuffers.map(file): what the SDK does for a file or an uncompressed asset
//   copied  File.readBytes() + ModelBuffers.direct(bytes): a heap copy, then the direct buffer
// Prints one JSON line: peak Java heap (all heap pools' peak usage), direct buffers, VmHWM and RssAnon, in KiB.

import java.io.File
import java.lang.management.BufferPoolMXBean
import java.lang.management.ManagementFactory
import java.lang.management.MemoryType

fun statusKib(field: String): Long =
    File("/proc/self/status").readLines().firstOrNull { it.startsWith("$field:") }?.substringAfter(':')?.trim()?.substringBefore(' ')?.toLong() ?: -1

fun main(args: Array<String>) {
    val mode = args[0]
    val file = File(args[1])
    var held: Any? = null
    when (mode) {
        "mapped" -> held = ModelBuffers.map(file).also { Integrity.check(it, "file", args[2]) }
        "copied" -> held = ModelBuffers.direct(file.readBytes()).also { Integrity.check(it, "file", args[2]) }
        "none" -> {}
        else -> throw IllegalArgumentException("unknown mode $mode")
    }
    val heapPeak = ManagementFactory.getMemoryPoolMXBeans().filter { it.type == MemoryType.HEAP }.sumOf { it.peakUsage.used } / 1024
    val direct = ManagementFactory.getPlatformMXBeans(BufferPoolMXBean::class.java).filter { it.name == "direct" }.sumOf { it.memoryUsed } / 1024
    println("""{"mode": "$mode", "heap_peak_kib": $heapPeak, "direct_kib": $direct, "peak_kib": ${statusKib("VmHWM")}, "anon_kib": ${statusKib("RssAnon")}, "held": ${held != null}}""")
}
