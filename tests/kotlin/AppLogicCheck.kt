// JVM checks of the app-facing logic of a generated Kotlin SDK's core (docs/app-integration.md):
// accelerator choice and its report, run options, the engine's close/exception discipline,
// asynchronous loads and runs, keep-only-latest frame back-pressure, memory-mapped model buffers
// and the typed errors of malformed inputs. tests/kotlin prepends the SDK's package and the core
// import (hosttest_kotlin.write_runner). Prints "ok <check>" or "FAIL <check>: why" per check;
// exits 1 when any failed. Needs a classification core whose runtime has CPU plus two other
// accelerators (ONNX Runtime: cpu, xnnpack, nnapi).

import java.io.File
import java.nio.ByteBuffer
import java.util.concurrent.CountDownLatch
import java.util.concurrent.Executor
import java.util.concurrent.Executors
import java.util.concurrent.RejectedExecutionException
import java.util.concurrent.TimeUnit
import java.util.concurrent.atomic.AtomicInteger
import kotlin.coroutines.Continuation
import kotlin.coroutines.EmptyCoroutineContext
import kotlin.coroutines.startCoroutine
import kotlin.system.exitProcess

private var failures = 0

private fun check(name: String, body: () -> Unit) {
    try {
        body()
        println("ok $name")
    } catch (e: Throwable) {
        failures++
        println("FAIL $name: $e")
    }
}

private fun expect(condition: Boolean, what: () -> String) {
    if (!condition) throw AssertionError(what())
}

private inline fun <reified E : Throwable> thrown(block: () -> Unit): E {
    try {
        block()
    } catch (e: Throwable) {
        if (e is E) return e
        throw AssertionError("expected ${E::class.simpleName}, got $e", e)
    }
    throw AssertionError("expected ${E::class.simpleName}, nothing was thrown")
}

private val ACCELERATORS = Accelerator.values().toList()
private val CPU = Accelerator.CPU_FALLBACK
private val OTHERS = ACCELERATORS.filter { it != CPU }

/** A runtime returning [outputs]; [block] runs inside run (to hold it or fail it). */
private class FakeRuntime(val outputs: List<Tensor>, val block: () -> Unit = {}) : InferenceRuntime {
    val closes = AtomicInteger()
    val inFlight = AtomicInteger()
    val maxInFlight = AtomicInteger()

    override fun run(input: Tensor): List<Tensor> {
        val now = inFlight.incrementAndGet()
        maxInFlight.accumulateAndGet(now, ::maxOf)
        try {
            block()
            return outputs
        } finally {
            inFlight.decrementAndGet()
        }
    }

    override fun close() {
        closes.incrementAndGet()
    }
}

private fun scores(vararg values: Float): Tensor = Tensor.ofFloats(Pipeline.OUTPUT_NAMES[0], longArrayOf(1, values.size.toLong()), values)

private fun classScores(): FloatArray = FloatArray(maxOf(Pipeline.LABELS.size, 2)) { i -> (i + 1).toFloat() / (Pipeline.LABELS.size + 2) }

private fun engine(runtime: InferenceRuntime, concurrent: Boolean = true): Engine =
    Engine(runtime, AccelerationReport(listOf(CPU), CPU, emptyList(), "float32"), concurrent)

private fun input(): Preprocessed = Pipeline.preprocess(PixelImage.fromBytes(ByteArray(3 * 64 * 64) { (it % 251).toByte() }, 64, 64, ColorOrder.RGB))

fun main() {
    check("the CPU fallback ends the preference") {
        val tried = mutableListOf<Accelerator>()
        val (value, report) = Acceleration.open(LoadOptions(accelerators = OTHERS), { "p-${it.id}" }) { a ->
            tried += a
            if (a != CPU) throw AcceleratorUnavailable("no ${a.id} here")
            "session on ${a.id}"
        }
        expect(tried == OTHERS + CPU) { "tried $tried" }
        expect(value == "session on ${CPU.id}" && report.active == CPU && report.precision == "p-${CPU.id}") { "$value $report" }
        expect(report.asked == OTHERS && report.fellBack) { "$report" }
        expect(report.skipped == OTHERS.map { SkippedAccelerator(it, "no ${it.id} here") }) { "${report.skipped}" }
    }
    check("the first accelerator that opens wins") {
        val tried = mutableListOf<Accelerator>()
        val (_, report) = Acceleration.open(LoadOptions(accelerators = OTHERS + CPU), { "float32" }) { a ->
            tried += a
            if (a == OTHERS[0]) throw AcceleratorUnavailable("refused")
        }
        expect(tried == OTHERS.take(2)) { "tried $tried" }
        expect(report.active == OTHERS[1] && report.skipped.map { it.accelerator } == listOf(OTHERS[0])) { "$report" }
    }
    check("the CPU is not tried twice") {
        expect(Acceleration.candidates(LoadOptions(accelerators = listOf(CPU) + OTHERS)) == listOf(CPU) + OTHERS) { "candidates" }
        expect(Acceleration.candidates(LoadOptions(accelerators = OTHERS, fallback = Fallback.FAIL)) == OTHERS) { "fail candidates" }
    }
    check("fallback FAIL refuses with the accelerator and the reason") {
        val tried = mutableListOf<Accelerator>()
        val e = thrown<UnsupportedException> {
            Acceleration.open(LoadOptions(accelerators = OTHERS, fallback = Fallback.FAIL), { "float32" }) { a ->
                tried += a
                throw AcceleratorUnavailable("driver missing")
            }
        }
        expect(tried == OTHERS.take(1)) { "tried $tried" }
        expect(e.message!!.contains("'${OTHERS[0].id}'") && e.message!!.contains("driver missing")) { e.message!! }
    }
    check("a broken model ends the load at once") {
        val tried = mutableListOf<Accelerator>()
        thrown<InferenceException> {
            Acceleration.open(LoadOptions(accelerators = OTHERS), { "float32" }) { a ->
                tried += a
                throw InferenceException("not a model")
            }
        }
        expect(tried == OTHERS.take(1)) { "tried $tried" }
    }
    check("nothing opens: every reason is named") {
        val e = thrown<InferenceException> { Acceleration.open(LoadOptions(), { "float32" }) { a -> throw AcceleratorUnavailable("no ${a.id}") } }
        expect(e.message!!.contains("no ${CPU.id}")) { e.message!! }
    }
    check("the report as JSON") {
        val report = AccelerationReport(OTHERS.take(1), CPU, listOf(SkippedAccelerator(OTHERS[0], "said \"no\"")), "float32")
        val json = report.toJson()
        val want = """{"asked": ["${OTHERS[0].id}"], "active": "${CPU.id}", "skipped": [{"accelerator": "${OTHERS[0].id}", "reason": "said \"no\""}], "precision": "float32"}"""
        expect(json == want) { json }
    }
    check("load options are checked") {
        thrown<InvalidInputException> { LoadOptions(accelerators = emptyList()) }
        val e = thrown<InvalidInputException> { LoadOptions(accelerators = listOf(CPU, CPU)) }
        expect(e.message!!.contains("more than once")) { e.message!! }
        thrown<InvalidInputException> { LoadOptions(threads = -1) }
        expect(LoadOptions().accelerators == Accelerator.DEFAULT && LoadOptions().fallback == Fallback.CPU) { "defaults" }
    }
    check("run options are checked and name the option") {
        for (bad in listOf(0, -3)) expect(thrown<InvalidInputException> { RunOptions(topK = bad) }.message!!.startsWith("RunOptions.topK")) { "topK $bad" }
        for (bad in listOf(-0.01, 1.0, Double.NaN, Double.POSITIVE_INFINITY)) {
            expect(thrown<InvalidInputException> { RunOptions(scoreThreshold = bad) }.message!!.startsWith("RunOptions.scoreThreshold")) { "threshold $bad" }
        }
        RunOptions(topK = 1, scoreThreshold = 0.0)
        RunOptions(scoreThreshold = 0.999)
        expect(thrown<InvalidInputException> { RunOptions(topK = 4).topK(3, 3) }.message!!.contains("1 to 3")) { "topK over the classes" }
        expect(RunOptions().topK(3, 5) == 3 && RunOptions().topK(10, 5) == 5 && RunOptions(topK = 2).topK(10, 5) == 2) { "topK resolution" }
        thrown<InvalidInputException> { RunOptions(topK = 1).checkTask("detection") }
        thrown<InvalidInputException> { RunOptions(scoreThreshold = 0.5).checkTask("segmentation") }
        RunOptions(scoreThreshold = 0.5).checkTask("detection")
    }
    check("run options change the classification, never the raw outputs") {
        val values = classScores()
        val raw = scores(*values)
        val before = raw.bytes.copyOf()
        val geometry = input().geometry
        val all = Pipeline.postprocess(listOf(raw), geometry)
        expect(all.tensors.size == 1 && all.tensors[0] === raw && raw.bytes.contentEquals(before)) { "raw outputs modified" }
        val one = Pipeline.postprocess(listOf(raw), geometry, RunOptions(topK = 1))
        expect(one.classifications.size == 1 && one.classifications[0].index == values.size - 1) { "${one.classifications}" }
        // Scores strictly above the threshold, compared in float64: the class whose score equals it is dropped.
        val best = all.classifications[0].score.toDouble()
        val above = Pipeline.postprocess(listOf(raw), geometry, RunOptions(scoreThreshold = all.classifications[1].score.toDouble()))
        expect(above.classifications.map { it.index } == listOf(all.classifications[0].index)) { "${above.classifications}" }
        expect(Pipeline.postprocess(listOf(raw), geometry, RunOptions(scoreThreshold = minOf(best, 0.999))).classifications.size <= 1) { "threshold at the best" }
        expect(raw.bytes.contentEquals(before)) { "raw outputs modified by a run option" }
        expect(thrown<InvalidInputException> { Pipeline.postprocess(listOf(raw), geometry, RunOptions(topK = values.size + 1)) }.message!!.contains("RunOptions.topK")) { "topK" }
    }
    check("classify keeps NaN out and the threshold strict") {
        val got = Postprocess.classify(floatArrayOf(0.5f, Float.NaN, 0.25f, 0.75f), 4, emptyList(), 0.25)
        expect(got.map { it.index } == listOf(3, 0)) { "$got" }
        expect(Postprocess.classify(floatArrayOf(0.3f), 1, emptyList(), 0.3).size == 1) { "float32(0.3) > 0.3 in float64" }
    }
    check("a closed engine refuses every call, closes its runtime once") {
        val runtime = FakeRuntime(listOf(scores(*classScores())))
        val e = engine(runtime)
        val pre = input()
        e.run(pre)
        e.close()
        e.close()
        expect(runtime.closes.get() == 1 && e.isClosed) { "closes ${runtime.closes.get()}" }
        thrown<ClosedException> { e.run(pre) }
        thrown<ClosedException> { e.preprocess(PixelImage.fromBytes(ByteArray(12), 2, 2, ColorOrder.RGB)) }
    }
    check("a runtime's own exception arrives as an InferenceException with its cause") {
        val e = engine(FakeRuntime(emptyList()) { throw IllegalStateException("native failure") })
        val error = thrown<InferenceException> { e.run(input()) }
        expect(error.cause is IllegalStateException) { "cause ${error.cause}" }
        thrown<InvalidInputException> { engine(FakeRuntime(emptyList())).run(input()) }  // no outputs: post-processing says so
    }
    check("close waits for the run in flight") {
        val entered = CountDownLatch(1)
        val release = CountDownLatch(1)
        val runtime = FakeRuntime(listOf(scores(*classScores()))) {
            entered.countDown()
            release.await()
        }
        val e = engine(runtime)
        val pre = input()
        val pool = Executors.newFixedThreadPool(2)
        val run = pool.submit<Output> { e.run(pre) }
        entered.await()
        val closing = pool.submit { e.close() }
        Thread.sleep(200)
        expect(!closing.isDone && runtime.closes.get() == 0) { "closed during a run" }
        release.countDown()
        closing.get(10, TimeUnit.SECONDS)
        expect(run.get().classifications.isNotEmpty() && runtime.closes.get() == 1) { "run or close lost" }
        pool.shutdown()
    }
    check("runs overlap only where the runtime allows it") {
        for (concurrent in listOf(false, true)) {
            val gate = CountDownLatch(1)
            val runtime = FakeRuntime(listOf(scores(*classScores()))) { gate.await(200, TimeUnit.MILLISECONDS) }
            val e = engine(runtime, concurrent)
            val pre = input()
            val pool = Executors.newFixedThreadPool(3)
            val runs = (0 until 3).map { pool.submit<Output> { e.run(pre) } }
            Thread.sleep(100)
            gate.countDown()
            runs.forEach { it.get(10, TimeUnit.SECONDS) }
            pool.shutdown()
            val want = if (concurrent) 2..3 else 1..1
            expect(runtime.maxInFlight.get() in want) { "concurrent=$concurrent: ${runtime.maxInFlight.get()} runs at once" }
        }
    }
    check("async: the future and the callback get the value or the SDK's error") {
        val pool = Executors.newSingleThreadExecutor()
        val got = mutableListOf<String>()
        val done = CountDownLatch(2)
        val callback = object : Callback<Int> {
            override fun onSuccess(value: Int) { synchronized(got) { got += "value $value" }; done.countDown() }
            override fun onError(error: EdgeSdkException) { synchronized(got) { got += "error ${error::class.simpleName}" }; done.countDown() }
        }
        val ok = Async.submit(pool, callback) { 42 }
        val failed = Async.submit(pool, callback) { throw IllegalArgumentException("bad") }
        expect(ok.get() == 42) { "future" }
        val cause = thrown<java.util.concurrent.ExecutionException> { failed.get() }.cause
        expect(cause is InferenceException && cause.cause is IllegalArgumentException) { "cause $cause" }
        done.await(10, TimeUnit.SECONDS)
        expect(got.sorted() == listOf("error InferenceException", "value 42")) { "$got" }
        pool.shutdown()
        thrown<InvalidInputException> { Async.submit(pool, null) { 1 } }
    }
    check("suspend: the value, and the SDK's error") {
        val pool = Executors.newSingleThreadExecutor()
        fun <T> await(block: suspend () -> T): Result<T> {
            val latch = CountDownLatch(1)
            var result: Result<T>? = null
            block.startCoroutine(Continuation(EmptyCoroutineContext) { result = it; latch.countDown() })
            latch.await(10, TimeUnit.SECONDS)
            return result!!
        }
        var thread: Thread? = null
        expect(await { Async.await(pool) { thread = Thread.currentThread(); "loaded" } }.getOrNull() == "loaded" && thread != Thread.currentThread()) { "value" }
        val error = await { Async.await(pool) { throw IllegalStateException("x") } }.exceptionOrNull()
        expect(error is InferenceException) { "error $error" }
        pool.shutdown()
        expect(await { Async.await(pool) { 1 } }.exceptionOrNull() is InvalidInputException) { "a shut-down executor" }
    }
    check("frame gate: keep only the latest, release each frame once") {
        val queued = ArrayDeque<Runnable>()
        val gate = FrameGate(Executor { queued.addLast(it) })
        val released = mutableListOf<Int>()
        val worked = mutableListOf<Int>()
        expect(gate.offer(1, { released += it }) { worked += it }) { "first frame refused" }
        expect(gate.inFlight) { "not in flight" }
        expect(!gate.offer(2, { released += it }) { worked += it }) { "second frame taken while one is in flight" }
        expect(released == listOf(2) && worked.isEmpty()) { "dropped frame not released at once: $released" }
        queued.removeFirst().run()
        expect(worked == listOf(1) && released == listOf(2, 1) && !gate.inFlight) { "$worked $released" }
        expect(gate.offer(3, { released += it }) { throw InferenceException("model failed") }) { "third frame refused" }
        thrown<InferenceException> { queued.removeFirst().run() }
        expect(released == listOf(2, 1, 3) && !gate.inFlight) { "a failing frame stuck the gate: $released" }
        expect(gate.dropped == 1L && gate.processed == 2L) { "counts ${gate.dropped} ${gate.processed}" }
        val refusing = FrameGate(Executor { throw RejectedExecutionException("shut down") })
        thrown<InvalidInputException> { refusing.offer(4, { released += it }) {} }
        expect(released.last() == 4 && !refusing.inFlight) { "refused frame not released" }
    }
    check("frame gate under a camera-speed producer") {
        val pool = Executors.newSingleThreadExecutor()
        val gate = FrameGate(pool)
        val releases = IntArray(400)
        val busy = AtomicInteger()
        val maxBusy = AtomicInteger()
        for (frame in releases.indices) {
            gate.offer(frame, { synchronized(releases) { releases[it]++ } }) {
                maxBusy.accumulateAndGet(busy.incrementAndGet(), ::maxOf)
                Thread.sleep(2)
                busy.decrementAndGet()
            }
            Thread.sleep(0, 200_000)
        }
        pool.shutdown()
        pool.awaitTermination(10, TimeUnit.SECONDS)
        expect(releases.all { it == 1 }) { "frames released ${releases.toList().groupingBy { it }.eachCount()} times" }
        expect(gate.dropped + gate.processed == releases.size.toLong() && gate.dropped > 0 && maxBusy.get() == 1) { "dropped ${gate.dropped} processed ${gate.processed} max ${maxBusy.get()}" }
    }
    check("a model file is mapped, not copied, and its hash read in place") {
        val file = File.createTempFile("model", ".bin")
        try {
            val bytes = ByteArray(1 shl 20) { (it * 31).toByte() }
            file.writeBytes(bytes)
            val mapped = ModelBuffers.map(file)
            expect(mapped.isDirect && !mapped.hasArray() && mapped.remaining() == bytes.size) { "not a map of the file" }
            val sha = Integrity.sha256Hex(bytes)
            Integrity.check(mapped, "file", sha)
            expect(mapped.position() == 0) { "hashing moved the buffer" }
            val e = thrown<IntegrityException> { Integrity.check(mapped, "file 'x'", "0".repeat(64)) }
            expect(e.message!!.contains(sha)) { e.message!! }
            val heap = ByteBuffer.wrap(bytes)
            val direct = ModelBuffers.direct(heap)
            expect(direct.isDirect && Integrity.sha256Hex(direct) == sha) { "direct copy" }
            expect(ModelBuffers.direct(mapped).isDirect && Integrity.sha256Hex(ModelBuffers.direct(mapped)) == sha) { "a direct buffer used in place" }
        } finally {
            file.delete()
        }
        thrown<IntegrityException> { ModelBuffers.map(File("/nonexistent/model.onnx")) }
    }
    check("malformed inputs are the SDK's InvalidInputException") {
        thrown<InvalidInputException> { Tensor("t", DType.FLOAT32, longArrayOf(1, 3), ByteArray(8)) }
        thrown<InvalidInputException> { Tensor("t", DType.FLOAT32, longArrayOf(-1), ByteArray(0)) }
        thrown<InvalidInputException> { Mask(2, 2, ByteArray(3)) }
        thrown<InvalidInputException> { PixelImage.fromBytes(ByteArray(5), 2, 2, ColorOrder.RGB) }
        thrown<InvalidInputException> { PixelImage.fromArgb(IntArray(3), 2, 2) }
        thrown<InvalidInputException> { Orientation(45) }
        thrown<InvalidInputException> { scores(1f, 2f).floats().let { Tensor("u", DType.UINT8, longArrayOf(1), ByteArray(1)).floats() } }
    }
    if (failures > 0) exitProcess(1)
}
