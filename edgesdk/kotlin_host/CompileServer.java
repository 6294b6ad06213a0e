// kotlinc's own compiler (K2JVMCompiler, what bin/kotlinc runs) in one JVM for many compiles:
// a fresh kotlinc spends most of a compile starting and JIT-warming the compiler. Run as a
// single-file source program: java -cp <kotlinc>/lib/kotlin-compiler.jar CompileServer.java
//
// Protocol on stdin/stdout (hosttest_kotlin.CompileServer): a request is a line with the number of
// arguments, then one argument per line; the answer is a line "<exit code> <byte count>", then
// that many bytes of the compiler's messages (UTF-8). End of stdin ends the server.
import java.io.BufferedReader;
import java.io.ByteArrayOutputStream;
import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;

import org.jetbrains.kotlin.cli.jvm.K2JVMCompiler;

public final class CompileServer {
    // Not an ExitCode of the compiler: the compiler itself threw (out of memory, say).
    private static final int CRASHED = 70;

    public static void main(String[] unused) throws IOException {
        PrintStream answers = new PrintStream(new FileOutputStream(FileDescriptor.out), false, StandardCharsets.UTF_8);
        BufferedReader requests = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        String count;
        while ((count = requests.readLine()) != null) {
            String[] args = new String[Integer.parseInt(count.trim())];
            for (int i = 0; i < args.length; i++) {
                args[i] = requests.readLine();
            }
            ByteArrayOutputStream messages = new ByteArrayOutputStream();
            PrintStream sink = new PrintStream(messages, true, StandardCharsets.UTF_8);
            // Anything printed outside the message stream belongs to this compile, not to the protocol.
            System.setOut(sink);
            System.setErr(sink);
            int code;
            try {
                code = new K2JVMCompiler().exec(sink, args).getCode();
            } catch (Throwable t) {
                t.printStackTrace(sink);
                code = CRASHED;
            }
            sink.flush();
            byte[] text = messages.toByteArray();
            answers.print(code + " " + text.length + "\n");
            answers.write(text, 0, text.length);
            answers.flush();
        }
    }
}
