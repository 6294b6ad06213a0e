// Kotlin side of benchmarks/bench_frames.py: Pipeline.preprocess of a 1280x720 frame per source
// format. edgesdk.hosttest_kotlin.write_runner prepends the package and the core import.
// Usage: FramesBenchKt RUNS. Prints one JSON line: case -> median milliseconds.

fun main(args: Array<String>) {
    val runs = args[0].toInt()
    val w = 1280
    val h = 720
    var seed = 12345
    fun next(): Byte {
        seed = seed * 1103515245 + 12345
        return (seed ushr 16).toByte()
    }
    val nv21 = ByteArray(w * h * 3 / 2) { next() }
    val rgb = ByteArray(w * h * 3) { next() }
    val argb = IntArray(w * h) { (next().toInt() shl 16) or (next().toInt() and 0xFF shl 8) or (next().toInt() and 0xFF) }
    val cases = linkedMapOf<String, () -> Unit>(
        "nv21_rot90" to { Pipeline.preprocess(PixelImage.fromNv21(nv21, w, h), ImageLimits(), Orientation(90)) },
        "rgb_rot90" to { Pipeline.preprocess(PixelImage.fromBytes(rgb, w, h, ColorOrder.RGB), ImageLimits(), Orientation(90)) },
        "rgb" to { Pipeline.preprocess(PixelImage.fromBytes(rgb, w, h, ColorOrder.RGB)) },
        "argb" to { Pipeline.preprocess(PixelImage.fromArgb(argb, w, h)) },
    )
    val times = cases.keys.associateWith { mutableListOf<Double>() }
    repeat(3) { cases.values.forEach { it() } }  // JIT warm-up
    repeat(runs) {
        for ((name, body) in cases) {  // interleaved: drift hits every case alike
            val start = System.nanoTime()
            body()
            times.getValue(name).add((System.nanoTime() - start) / 1e6)
        }
    }
    println(times.entries.joinToString(", ", "{", "}") { (k, v) -> "\"$k\": ${v.sorted()[v.size / 2]}" })
}
