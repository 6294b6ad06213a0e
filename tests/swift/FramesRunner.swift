// Host runner for the camera-frame path of a generated Swift core (tests/swift/test_swift_frames.py),
// the twin of tests/kotlin/FramesRunner.kt. Built as main.swift of an executable target beside
// the core's files (top-level code; no import needed).
//
// Usage: FramesRunner CASES OUT_DIR. Each CASES line is tab-separated: id, format (nv21, nv12,
// i420, yuv420 = an NV21 file handed over as separate Y and chroma arrays the way a camera
// buffer's planes are, rgba, bgra, rgb, bgr, gray), raw file, width, height, row stride, range
// (video|full), rotation, mirror (0|1), roi (x,y,w,h or -), and optionally a raw float32 model
// output file and its shape (1,400,8). Per case it writes OUT_DIR/<id>.bin (the pre-processed
// tensor) and prints one JSON line with the shape and the geometry, or {"id", "error"} for an
// SDKError; with an output, also the result of the post-processing on it: "detections" (x0, y0,
// x1, y1, index, score each) or "mask" (x, y, width, height; the class ids in OUT_DIR/<id>.mask).
// `FramesRunner exif` prints the orientation tables instead (see exifReport).

import Foundation

func image(_ f: [String], _ data: [UInt8]) throws -> PixelImage {
    let width = Int(f[3])!
    let height = Int(f[4])!
    let stride = Int(f[5])!
    let range: YuvRange = f[6] == "full" ? .full : .video
    switch f[1] {
    case "nv21": return try PixelImage.nv21(data, width: width, height: height, rowStride: stride, range: range)
    case "nv12": return try PixelImage.nv12(Data(data), width: width, height: height, rowStride: stride, range: range)
    case "i420": return try PixelImage.i420(data, width: width, height: height, rowStride: stride, range: range)
    case "yuv420": return try planes(data, width, height, stride, range)
    default: return try PixelImage(bytes: data, width: width, height: height, format: PixelFormat(rawValue: f[1])!, stride: stride)
    }
}

// An NV21 buffer as a camera hands planes over: Y and the interleaved chroma in arrays of their
// own, each ending right after its last sample; V at the chroma plane's byte 0, U at byte 1.
func planes(_ data: [UInt8], _ width: Int, _ height: Int, _ stride: Int, _ range: YuvRange) throws -> PixelImage {
    let cstride = 2 * ((stride + 1) / 2)
    let chromaBytes = ((height + 1) / 2 - 1) * cstride + 2 * ((width + 1) / 2)
    let luma = stride * height
    let y = Plane(bytes: Array(data[0..<((height - 1) * stride + width)]), rowStride: stride)
    let chroma = Array(data[luma..<(luma + chromaBytes)])
    return try PixelImage.yuv420(width: width, height: height, y: y, u: Plane(bytes: chroma, rowStride: cstride, pixelStride: 2, offset: 1),
                                 v: Plane(bytes: chroma, rowStride: cstride, pixelStride: 2), range: range)
}

// EXIF values 0...9 -> (rotation, mirror), and per ImageOrientation: its EXIF value and whether the
// core's Orientation path gives the same tensor as PixelImage.oriented on a 3x2 RGB image.
func exifReport() throws {
    for value in 0...9 {
        let o = Orientation.fromExif(value)
        print("{\"exif\": \(value), \"rotation\": \(o.rotation), \"mirror\": \(o.mirror)}")
    }
    let rgb = try PixelImage(bytes: (0..<18).map { UInt8($0 * 13) }, width: 3, height: 2, format: .rgb)
    let all: [ImageOrientation] = [.up, .upMirrored, .down, .downMirrored, .leftMirrored, .right, .rightMirrored, .left]
    for o in all {
        let viaCore = try Pipeline.preprocess(rgb, orientation: Orientation(o)).tensor.data
        let viaOriented = try Pipeline.preprocess(rgb.oriented(o)).tensor.data
        print("{\"name\": \"\(o.rawValue)\", \"exif\": \(o.exif), \"same\": \(viaCore == viaOriented)}")
    }
}

func errorText(_ error: Error) -> String {
    if case SDKError.invalidInput(let message) = error { return message }
    return "\(error)"
}

if CommandLine.arguments[1] == "exif" {
    try exifReport()
    exit(0)
}
let out = URL(fileURLWithPath: CommandLine.arguments[2], isDirectory: true)
try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true)
for line in try String(contentsOfFile: CommandLine.arguments[1], encoding: .utf8).split(separator: "\n") {
    let f = line.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
    let id = f[0]
    do {
        let data = [UInt8](try Data(contentsOf: URL(fileURLWithPath: f[2])))
        let roi = f[9] == "-" ? nil : f[9].split(separator: ",").map { Int($0)! }
        let orientation = try Orientation(rotation: Int(f[7])!, mirror: f[8] == "1",
                                          roi: roi.map { Roi(x: $0[0], y: $0[1], width: $0[2], height: $0[3]) })
        let pre = try Pipeline.preprocess(try image(f, data), orientation: orientation)
        try pre.tensor.data.write(to: out.appendingPathComponent("\(id).bin"))
        let g = pre.geometry
        let geometry = "[\(g.scaleX), \(g.scaleY), \(g.padLeft), \(g.padTop), \(g.srcWidth), \(g.srcHeight), \(g.originX), \(g.originY)]"
        var result = ""
        if f.count > 11 {
            let shape = f[11].split(separator: ",").map { Int($0)! }
            let raw = try Data(contentsOf: URL(fileURLWithPath: f[10]))
            let output = try Pipeline.postprocess([try Tensor(name: Pipeline.outputNames[0], dtype: .float32, shape: shape, data: raw)], geometry: g)
            if let mask = output.mask {
                try Data(mask.classIds).write(to: out.appendingPathComponent("\(id).mask"))
                result = ", \"mask\": [\(mask.x), \(mask.y), \(mask.width), \(mask.height)]"
            } else {
                let boxes = output.detections.map { d in "[\(d.box.x0), \(d.box.y0), \(d.box.x1), \(d.box.y1), \(d.index), \(d.score)]" }
                result = ", \"detections\": [\(boxes.joined(separator: ", "))]"
            }
        }
        print("{\"id\": \"\(id)\", \"shape\": \(pre.tensor.shape), \"geometry\": \(geometry)\(result)}")
    } catch {
        print("{\"id\": \"\(id)\", \"error\": \"\(errorText(error).replacingOccurrences(of: "\"", with: "'"))\"}")
    }
}
