// Pre-processing benchmark for the pure-Swift core of a generated SDK (benchmarks only, never
// shipped). edgesdk.hosttest_swift prepends the SDK core's import and builds it in release mode as the
// main.swift of an executable target that edgesdk adds to a copy of the SDK package.
//
// Usage: PreprocessBench IMAGE.npy WIDTH HEIGHT RUNS. IMAGE.npy is HWC uint8 in the pipeline's
// input colour order (a golden case's input). Prints one JSON line:
// {"runs": N, "preprocess_ms": {"median": ..., "p10": ..., "p90": ...}} — wall time of
// Pipeline.preprocess per call, after one warm-up call, as the C++ sample's --bench measures it.

import Foundation

let arguments = CommandLine.arguments
guard arguments.count == 5, let width = Int(arguments[2]), let height = Int(arguments[3]), let runs = Int(arguments[4]), runs > 0 else {
    FileHandle.standardError.write("usage: PreprocessBench IMAGE.npy WIDTH HEIGHT RUNS\n".data(using: .utf8)!)
    exit(2)
}
do {
    let input = try Npy.read(URL(fileURLWithPath: arguments[1]))
    let image = try PixelImage(data: input.data, width: width, height: height, format: Pipeline.inputColor == .rgb ? .rgb : .bgr)
    _ = try Pipeline.preprocess(image)
    var times: [Double] = []
    times.reserveCapacity(runs)
    for _ in 0..<runs {
        let start = DispatchTime.now().uptimeNanoseconds
        _ = try Pipeline.preprocess(image)
        times.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6)
    }
    times.sort()
    // Linear interpolation between closest ranks, as the C++ sample's bench (numpy's default).
    func percentile(_ q: Double) -> Double {
        let position = q * Double(times.count - 1)
        let low = Int(position), high = min(Int(position) + 1, times.count - 1)
        return times[low] + (times[high] - times[low]) * (position - Double(low))
    }
    print("{\"runs\": \(runs), \"preprocess_ms\": {\"median\": \(percentile(0.5)), \"p10\": \(percentile(0.1)), \"p90\": \(percentile(0.9))}}")
} catch {
    FileHandle.standardError.write("\(error)\n".data(using: .utf8)!)
    exit(1)
}
