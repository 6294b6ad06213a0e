// JVM check of an encrypted model through the generated Kotlin core (host tests only, never shipped).
// edgesdk.hosttest_kotlin prepends `package <sdk package>.golden` and the core import.
//
// Usage: DecryptRunnerKt SEALED_FILE (--key-file PATH | --key-env NAME). Opens SEALED_FILE (as the
// bundle's Pipeline.MODEL_FILE) with javax.crypto through ModelEnvelope, checks the plaintext's
// SHA-256 (Integrity.check) and prints `ok <sha256>`; an SDK error prints its class and message on
// one line of stderr and exits 4, a missing or malformed key exits 2.

import java.io.File
import kotlin.system.exitProcess

fun main(args: Array<String>) {
    if (args.size != 3 || args[1] !in setOf("--key-file", "--key-env")) {
        System.err.println("usage: DecryptRunnerKt SEALED_FILE (--key-file PATH | --key-env NAME)")
        exitProcess(2)
    }
    val key = if (args[1] == "--key-file") File(args[2]).readBytes() else hexKey(System.getenv(args[2]))
    val sealed = File(args[0]).readBytes()
    try {
        val plaintext = ModelEnvelope.openWith({ key }, sealed, Pipeline.MODEL_FILE, "file '${args[0]}'")
        Integrity.check(plaintext, "file '${args[0]}'")
        println("ok ${Integrity.sha256Hex(plaintext)}")
        if (key.any { it.toInt() != 0 }) {
            System.err.println("the key array was not wiped after use")
            exitProcess(1)
        }
    } catch (e: EdgeSdkException) {
        System.err.println("${e.javaClass.simpleName}: ${e.message}")
        exitProcess(4)
    }
}

private fun hexKey(text: String?): ByteArray {
    val hex = text?.trim() ?: run {
        System.err.println("the key variable is not set")
        exitProcess(2)
    }
    return hex.chunked(2).map { it.toIntOrNull(16)?.toByte() ?: run { System.err.println("the key variable is not hex"); exitProcess(2) } }.toByteArray()
}
