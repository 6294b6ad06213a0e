// Golden runner for the pure-Swift core of a generated SDK (host tests only, never shipped): the
// Swift twin of kotlin_host/GoldenRunner.kt, with the same command line and output.
// edgesdk.hosttest_swift prepends the SDK core's import and builds it as the main.swift of an
// executable target (top-level code) that edgesdk adds to a copy of the SDK package.
//
// Usage: GoldenRunner CASES DUMP_DIR. Each CASES line is tab-separated:
//   id, input .npy (HWC uint8, input_color order), width, height, then 0+ raw output .npy files.
// Per case it writes DUMP_DIR/<id>/preprocessed.bin + dump.json (the C++ sample's dump format;
// a segmentation's mask too, as mask.bin, uint8 [height, width]) and prints one JSON line
// {"id": ..., "result": {...}, "post_ms": ...} (the result is TaskResult.to_json() of the reference;
// post_ms the post-processing's wall time); the result needs the outputs.

import Foundation

enum GoldenRunner {
    static func run(_ args: [String]) throws {
        guard args.count == 3 else { throw RunnerError("usage: GoldenRunner CASES DUMP_DIR") }
        let dumpRoot = URL(fileURLWithPath: args[2], isDirectory: true)
        let lines = try String(contentsOfFile: args[1], encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: true)
        for line in lines {
            let fields = line.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
            guard fields.count >= 4, let width = Int(fields[2]), let height = Int(fields[3]) else {
                throw RunnerError("bad case line: \(line)")
            }
            let id = fields[0]
            let input = try Npy.read(URL(fileURLWithPath: fields[1]))
            let stored: PixelFormat = Pipeline.inputColor == .rgb ? .rgb : .bgr
            let pre = try Pipeline.preprocess(try PixelImage(data: input.data, width: width, height: height, format: stored))
            let tensor = pre.tensor
            // The camera's 4-byte BGRA path must give the very same bytes and geometry.
            let fromBGRA = try Pipeline.preprocess(try PixelImage(bytes: bgra(of: [UInt8](input.data), stored), width: width, height: height, format: .bgra))
            if fromBGRA.tensor.data != tensor.data || fromBGRA.geometry != pre.geometry {
                throw RunnerError("\(id): the BGRA pixel path differs from the \(stored) path")
            }
            let dump = dumpRoot.appendingPathComponent(id, isDirectory: true)
            try FileManager.default.createDirectory(at: dump, withIntermediateDirectories: true)
            try tensor.data.write(to: dump.appendingPathComponent("preprocessed.bin"))
            let outputs = try fields.dropFirst(4).enumerated().map { i, path -> Tensor in
                let t = try Npy.read(URL(fileURLWithPath: path))
                return try Tensor(name: Pipeline.outputNames[i], dtype: t.dtype, shape: t.shape, data: t.data)
            }
            let started = DispatchTime.now().uptimeNanoseconds
            let output = outputs.isEmpty ? nil : try Pipeline.postprocess(outputs, geometry: pre.geometry)
            let postMs = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e6
            var entries = "\"preprocessed\": \(entry(nil, "preprocessed.bin", tensor.dtype.rawValue, tensor.shape)), \"outputs\": []"
            if let mask = output?.mask {
                try Data(mask.classIds).write(to: dump.appendingPathComponent("mask.bin"))
                entries += ", \"mask\": \(entry("mask", "mask.bin", "uint8", [mask.height, mask.width]))"
            }
            try Data("{\(entries)}".utf8).write(to: dump.appendingPathComponent("dump.json"))
            let result = output.map(resultJSON) ?? "{}"
            print("{\"id\": \(jsonString(id)), \"result\": \(result), \"post_ms\": \(postMs)}")
        }
    }

    struct RunnerError: Error, CustomStringConvertible {
        let description: String
        init(_ description: String) { self.description = description }
    }

    static func bgra(of pixels: [UInt8], _ stored: PixelFormat) -> [UInt8] {
        let (r, b) = stored == .rgb ? (0, 2) : (2, 0)
        var out = [UInt8](repeating: 0xFF, count: pixels.count / 3 * 4)
        for i in 0..<(pixels.count / 3) {
            out[4 * i] = pixels[3 * i + b]
            out[4 * i + 1] = pixels[3 * i + 1]
            out[4 * i + 2] = pixels[3 * i + r]
        }
        return out
    }

    static func entry(_ name: String?, _ file: String, _ dtype: String, _ shape: [Int]) -> String {
        (name.map { "{\"name\": \(jsonString($0)), " } ?? "{")
            + "\"file\": \(jsonString(file)), \"dtype\": \"\(dtype)\", \"shape\": [\(shape.map(String.init).joined(separator: ", "))]}"
    }

    static func resultJSON(_ output: Output) -> String {
        switch Pipeline.task {
        case "classification":
            let items = output.classifications.map { "{\"label\": \(jsonString($0.label)), \"index\": \($0.index), \"score\": \(number($0.score))}" }
            return "{\"classifications\": [\(items.joined(separator: ", "))]}"
        case "detection":
            let items = output.detections.map { d -> String in
                let box = [d.box.x0, d.box.y0, d.box.x1, d.box.y1].map(number).joined(separator: ", ")
                return "{\"box\": [\(box)], \"label\": \(jsonString(d.label)), \"index\": \(d.index), \"score\": \(number(d.score))}"
            }
            return "{\"detections\": [\(items.joined(separator: ", "))]}"
        case "segmentation":
            guard let mask = output.mask else { return "{}" }
            let counts = mask.classPixels()
            // Labels present in the mask only, by class index; a class id without a label is its index.
            let pixels = counts.indices.filter { counts[$0] > 0 }.map { id -> String in
                "\(jsonString(id < Pipeline.labels.count ? Pipeline.labels[id] : String(id))): \(counts[id])"
            }
            return "{\"mask\": {\"width\": \(mask.width), \"height\": \(mask.height), \"class_pixels\": {\(pixels.joined(separator: ", "))}}}"
        default:
            return "{}"
        }
    }

    /// A float32 as JSON: its shortest round-tripping decimal (Float.description), NaN and the
    /// infinities as Python's json writes them.
    static func number(_ v: Float) -> String {
        if v.isNaN { return "NaN" }
        if v.isInfinite { return v > 0 ? "Infinity" : "-Infinity" }
        return v.description
    }

    /// ASCII-only JSON, as the Kotlin runner writes it.
    static func jsonString(_ text: String) -> String {
        var out = "\""
        for unit in text.utf16 {
            switch unit {
            case 0x22, 0x5C: out += "\\" + String(UnicodeScalar(UInt8(unit)))
            case 0x20...0x7E: out += String(UnicodeScalar(UInt8(unit)))
            default: out += String(format: "\\u%04x", unit)
            }
        }
        return out + "\""
    }
}

do {
    try GoldenRunner.run(CommandLine.arguments)
} catch {
    FileHandle.standardError.write(Data("\(error)\n".utf8))
    exit(1)
}
