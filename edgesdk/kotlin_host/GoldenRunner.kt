// JVM golden runner for the pure-Kotlin core of a generated SDK (host tests only, never shipped).
// edgesdk.hosttest_kotlin prepends `package <sdk package>.golden` and the core import.
//
// Usage: GoldenRunnerKt CASES DUMP_DIR. Each CASES line is tab-separated:
//   id, input .npy (HWC uint8, input_color order), width, height, then 0+ raw output .npy files.
// Per case it writes DUMP_DIR/<id>/preprocessed.bin + dump.json (the C++ sample's dump format)
// and prints one JSON line {"id": ..., "result": {...}}; the result needs the outputs.

import java.io.File
import kotlin.system.exitProcess

fun main(args: Array<String>) {
    val dumpRoot = File(args[1])
    for (line in File(args[0]).readLines().filter { it.isNotEmpty() }) {
        val fields = line.split('\t')
        val id = fields[0]
        val input = File(fields[1]).inputStream().use { Npy.read(it, fields[1]) }
        val width = fields[2].toInt()
        val height = fields[3].toInt()
        val tensor = Pipeline.preprocess(PixelImage.fromBytes(input.bytes, width, height, Pipeline.INPUT_COLOR))
        // The ARGB path (what Bitmap.getPixels feeds) must give the very same bytes.
        val argb = argbOf(input.bytes, width * height, Pipeline.INPUT_COLOR)
        if (!Pipeline.preprocess(PixelImage.fromArgb(argb, width, height)).bytes.contentEquals(tensor.bytes)) {
            System.err.println("$id: the ARGB pixel path differs from the byte path")
            exitProcess(1)
        }
        val dump = File(dumpRoot, id).apply { mkdirs() }
        File(dump, "preprocessed.bin").writeBytes(tensor.bytes)
        File(dump, "dump.json").writeText(
            """{"preprocessed": {"file": "preprocessed.bin", "dtype": "${tensor.dtype.id}", "shape": ${tensor.shape.joinToString(", ", "[", "]")}}, "outputs": []}"""
        )
        val outputs = fields.drop(4).mapIndexed { i, path -> File(path).inputStream().use { Npy.read(it, Pipeline.OUTPUT_NAMES[i]) } }
        val result = if (outputs.isEmpty()) "{}" else resultJson(Pipeline.postprocess(outputs))
        println("""{"id": ${jsonString(id)}, "result": $result}""")
    }
}

private fun argbOf(bytes: ByteArray, pixels: Int, order: ColorOrder): IntArray {
    val (r, b) = if (order == ColorOrder.RGB) 0 to 2 else 2 to 0
    return IntArray(pixels) { i ->
        val p = 3 * i
        (0xFF shl 24) or ((bytes[p + r].toInt() and 0xFF) shl 16) or ((bytes[p + 1].toInt() and 0xFF) shl 8) or (bytes[p + b].toInt() and 0xFF)
    }
}

private fun resultJson(output: Output): String {
    if (Pipeline.TASK != "classification") return "{}"
    return output.classifications.joinToString(", ", """{"classifications": [""", "]}") {
        """{"label": ${jsonString(it.label)}, "index": ${it.index}, "score": ${it.score}}"""
    }
}

// ASCII-only JSON: the JVM's stdout encoding depends on the locale.
private fun jsonString(text: String): String = buildString {
    append('"')
    for (ch in text) {
        when {
            ch == '"' || ch == '\\' -> append('\\').append(ch)
            ch.code < 0x20 || ch.code > 0x7E -> append("\\u%04x".format(ch.code))
            else -> append(ch)
        }
    }
    append('"')
}
