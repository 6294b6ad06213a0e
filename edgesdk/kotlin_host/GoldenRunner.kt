// JVM golden runner for the pure-Kotlin core of a generated SDK (host tests only, never shipped).
// edgesdk.hosttest_kotlin prepends `package <sdk package>.golden` and the core import.
//
// Usage: GoldenRunnerKt CASES DUMP_DIR. Each CASES line is tab-separated:
//   id, input .npy (HWC uint8, input_color order), width, height, then 0+ raw output .npy files.
// Per case it writes DUMP_DIR/<id>/preprocessed.bin + dump.json (the C++ sample's dump format;
// a segmentation's mask too, as mask.bin, uint8 [height, width]) and prints one JSON line
// {"id": ..., "result": {...}, "post_ms": ...} (the result is TaskResult.to_json() of the reference;
// post_ms the post-processing's wall time); the result needs the outputs.

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
        val pre = Pipeline.preprocess(PixelImage.fromBytes(input.bytes, width, height, Pipeline.INPUT_COLOR))
        val tensor = pre.tensor
        // The ARGB path (what Bitmap.getPixels feeds) must give the very same bytes and geometry.
        val argb = argbOf(input.bytes, width * height, Pipeline.INPUT_COLOR)
        val fromArgb = Pipeline.preprocess(PixelImage.fromArgb(argb, width, height))
        if (!fromArgb.tensor.bytes.contentEquals(tensor.bytes) || fromArgb.geometry != pre.geometry) {
            System.err.println("$id: the ARGB pixel path differs from the byte path")
            exitProcess(1)
        }
        val dump = File(dumpRoot, id).apply { mkdirs() }
        File(dump, "preprocessed.bin").writeBytes(tensor.bytes)
        val outputs = fields.drop(4).mapIndexed { i, path -> File(path).inputStream().use { Npy.read(it, Pipeline.OUTPUT_NAMES[i]) } }
        val started = System.nanoTime()
        val output = if (outputs.isEmpty()) null else Pipeline.postprocess(outputs, pre.geometry)
        val postMs = (System.nanoTime() - started) / 1e6
        val mask = output?.mask
        var entries = """"preprocessed": ${entry(null, "preprocessed.bin", tensor.dtype.id, tensor.shape.toList())}, "outputs": []"""
        if (mask != null) {
            File(dump, "mask.bin").writeBytes(mask.classIds)
            entries += """, "mask": ${entry("mask", "mask.bin", "uint8", listOf(mask.height.toLong(), mask.width.toLong()))}"""
        }
        File(dump, "dump.json").writeText("{$entries}")
        val result = if (output == null) "{}" else resultJson(output)
        println("""{"id": ${jsonString(id)}, "result": $result, "post_ms": $postMs}""")
    }
}

private fun argbOf(bytes: ByteArray, pixels: Int, order: ColorOrder): IntArray {
    val (r, b) = if (order == ColorOrder.RGB) 0 to 2 else 2 to 0
    return IntArray(pixels) { i ->
        val p = 3 * i
        (0xFF shl 24) or ((bytes[p + r].toInt() and 0xFF) shl 16) or ((bytes[p + 1].toInt() and 0xFF) shl 8) or (bytes[p + b].toInt() and 0xFF)
    }
}

private fun entry(name: String?, file: String, dtype: String, shape: List<Long>): String =
    (if (name == null) "{" else """{"name": ${jsonString(name)}, """) +
        """"file": ${jsonString(file)}, "dtype": "$dtype", "shape": ${shape.joinToString(", ", "[", "]")}}"""

private fun resultJson(output: Output): String = when (Pipeline.TASK) {
    "classification" -> output.classifications.joinToString(", ", """{"classifications": [""", "]}") {
        """{"label": ${jsonString(it.label)}, "index": ${it.index}, "score": ${number(it.score)}}"""
    }
    "detection" -> output.detections.joinToString(", ", """{"detections": [""", "]}") {
        val box = listOf(it.box.x0, it.box.y0, it.box.x1, it.box.y1).joinToString(", ", "[", "]") { v -> number(v) }
        """{"box": $box, "label": ${jsonString(it.label)}, "index": ${it.index}, "score": ${number(it.score)}}"""
    }
    "segmentation" -> {
        val mask = checkNotNull(output.mask)
        val counts = mask.classPixels()
        // Labels present in the mask only, by class index; a class id without a label is its index.
        val pixels = counts.indices.filter { counts[it] > 0 }.joinToString(", ", "{", "}") { id ->
            "${jsonString(Pipeline.LABELS.getOrElse(id) { id.toString() })}: ${counts[id]}"
        }
        """{"mask": {"width": ${mask.width}, "height": ${mask.height}, "class_pixels": $pixels}}"""
    }
    else -> "{}"
}

// A float32 as JSON: its shortest decimal (Float.toString), and NaN / infinities as Python's json writes them.
private fun number(v: Float): String = when {
    v.isNaN() -> "NaN"
    v.isInfinite() -> if (v > 0) "Infinity" else "-Infinity"
    else -> v.toString()
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
