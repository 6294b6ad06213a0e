// Drives the pure-Kotlin core of a generated SDK with images over its limits and options out of
// range (tests/kotlin/test_kotlin_limits.py prepends the package and the core import).
// Prints one line per case: "<case>: accepted" or "<case>: <InvalidInputException message>".

fun expect(case: String, block: () -> Unit) {
    try {
        block()
        println("$case: accepted")
    } catch (e: InvalidInputException) {
        println("$case: ${e.message}")
    }
}

fun main() {
    // A 16384 x 1 strip is a valid input; the manifest's keep_ratio resize would make it huge.
    expect("strip") { Pipeline.preprocess(PixelImage.fromArgb(IntArray(16384), 16384, 1)) }
    expect("wide") { Pipeline.preprocess(PixelImage.fromArgb(IntArray(20000), 20000, 1)) }
    expect("pixels") { Pipeline.preprocess(PixelImage.fromArgb(IntArray(45 * 41), 45, 41), ImageLimits(maxImagePixels = 1844)) }
    expect("side") { Pipeline.preprocess(PixelImage.fromBytes(ByteArray(45 * 41 * 3), 45, 41, ColorOrder.RGB), ImageLimits(maxImageSide = 44)) }
    expect("ok") { Pipeline.preprocess(PixelImage.fromArgb(IntArray(45 * 41), 45, 41)) }
    expect("threads") { ImageLimits.checkThreads(1000000) }
    expect("negative-threads") { ImageLimits.checkThreads(-1) }
    expect("max-threads") { ImageLimits.checkThreads(ImageLimits.MAX_INTRA_OP_THREADS) }
    expect("zero-limit") { ImageLimits(maxIntermediatePixels = 0) }
}
