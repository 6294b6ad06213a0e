// JVM runner for the camera-frame path of a generated Kotlin core (tests/kotlin/test_kotlin_frames.py).
// edgesdk.hosttest_kotlin.write_runner prepends `package <sdk package>.golden` and the core import.
//
// Usage: FramesRunnerKt CASES OUT_DIR. Each CASES line is tab-separated: id, format (nv21, nv12,
// i420, yuv420 = an NV21 file handed over as three Android-style planes, rgba, rgb, bgr), raw
// file, width, height, row stride, range (video|full), rotation, mirror (0|1), roi (x,y,w,h, crop:x,y,w,h or -).
// Per case it writes OUT_DIR/<id>.bin (the pre-processed tensor) and prints one JSON line with the
// geometry, or {"id", "error"} for an InvalidInputException.

import java.io.File
import java.nio.ByteBuffer

fun main(args: Array<String>) {
    val out = File(args[1]).apply { mkdirs() }
    for (line in File(args[0]).readLines().filter { it.isNotEmpty() }) {
        val f = line.split('\t')
        val id = f[0]
        try {
            val data = File(f[2]).readBytes()
            val width = f[3].toInt()
            val height = f[4].toInt()
            val stride = f[5].toInt()
            val range = if (f[6] == "full") YuvRange.FULL else YuvRange.VIDEO
            // "crop:x,y,w,h" is a crop in the frame's (sensor) coordinates, as media.Image.getCropRect() gives it.
            val crop = f[9].startsWith("crop:")
            val roi = if (f[9] == "-") null else f[9].removePrefix("crop:").split(',').map { it.toInt() }.let { Roi(it[0], it[1], it[2], it[3]) }
            val orientation = if (crop) Orientation.ofFrameCrop(width, height, f[7].toInt(), f[8] == "1", roi!!) else Orientation(f[7].toInt(), f[8] == "1", roi)
            val image = when (f[1]) {
                "nv21" -> PixelImage.fromNv21(data, width, height, stride, range)
                "nv12" -> PixelImage.fromNv12(data, width, height, stride, range)
                "i420" -> PixelImage.fromI420(data, width, height, stride, range)
                "yuv420" -> androidPlanes(data, width, height, stride, range)
                "rgba" -> PixelImage.fromRgba(data, width, height, stride)
                "rgb" -> PixelImage.fromBytes(data, width, height, ColorOrder.RGB, stride)
                else -> PixelImage.fromBytes(data, width, height, ColorOrder.BGR, stride)
            }
            val pre = Pipeline.preprocess(image, ImageLimits(), orientation)
            File(out, "$id.bin").writeBytes(pre.tensor.bytes)
            val g = pre.geometry
            println(
                """{"id": "$id", "shape": ${pre.tensor.shape.toList()}, "geometry": [${g.scaleX}, ${g.scaleY}, ${g.padLeft}, ${g.padTop}, ${g.srcWidth}, ${g.srcHeight}, ${g.originX}, ${g.originY}]}""",
            )
        } catch (e: InvalidInputException) {
            println("""{"id": "$id", "error": "${e.message!!.replace("\"", "'")}"}""")
        }
    }
}

// An NV21 buffer as android.media.Image hands YUV_420_888 over: three separate direct buffers,
// U and V with pixel stride 2, each ending right after its last sample.
fun androidPlanes(data: ByteArray, width: Int, height: Int, stride: Int, range: YuvRange): PixelImage {
    fun buffer(from: Int, size: Int): ByteBuffer = ByteBuffer.allocateDirect(size).apply { put(data, from, size); clear() }
    val cstride = 2 * ((stride + 1) / 2)
    val cw = (width + 1) / 2
    val ch = (height + 1) / 2
    val chromaBytes = (ch - 1) * cstride + (cw - 1) * 2 + 1
    val luma = stride * height
    val y = Plane(buffer(0, (height - 1) * stride + width), stride)
    val v = Plane(buffer(luma, chromaBytes), cstride, 2)
    val u = Plane(buffer(luma + 1, chromaBytes), cstride, 2)
    return PixelImage.fromYuv420(width, height, y, u, v, range)
}
