package io.stellane.examples;

import io.netty.util.ResourceLeakDetector;
import io.stellane.config.RuntimeConfig;
import io.stellane.runtime.Runtime;
import io.stellane.server.Body;
import io.stellane.server.Response;
import io.stellane.server.Server;
import io.stellane.task.Task;

/**
 * The TechEmpower {@code /plaintext} and {@code /json} tests on Stellane and nothing else: the
 * like-for-like counterpart of the raw Netty peer in {@code ../shared/bench}, which has no metrics,
 * journal or database either. {@code bench/http-vs-netty.sh} loads it next to that peer and next to
 * the full service ({@code ./stellane serve}), so the framework's cost and the features' cost are
 * told apart.
 *
 * <p>Run: {@code java -cp examples/target/classes:examples/target/lib/* io.stellane.examples.TechEmpowerApp PORT [BACKEND]}.
 */
public final class TechEmpowerApp {
    /** TechEmpower's rule: a new object serialized for every request. */
    public record Message(String message) {
    }

    private static final Body HELLO = Body.of("Hello, World!", "text/plain");

    private TechEmpowerApp() {
    }

    /** The two routes on {@code server}. */
    static Server routes(Server server) {
        server.get("/plaintext", ctx -> Task.completed(Response.ok(HELLO)));
        server.get("/json", ctx -> Task.completed(Response.json(new Message("Hello, World!"))));
        return server;
    }

    public static void main(String[] args) {
        if (args.length < 1) {
            System.err.println("usage: TechEmpowerApp PORT [BACKEND]   (BACKEND: auto, nio, epoll, io_uring)");
            System.exit(2);
        }
        if (System.getProperty("io.netty.leakDetection.level") == null) {
            ResourceLeakDetector.setLevel(ResourceLeakDetector.Level.DISABLED); // as the peer does
        }
        int port = Integer.parseInt(args[0]);
        Runtime.init(RuntimeConfig.builder().backendType(args.length > 1 ? args[1] : "auto").build());
        Server server = routes(new Server());
        int bound = server.listen("127.0.0.1", port);
        System.out.println("TechEmpowerApp listening on 127.0.0.1:" + bound);
        java.lang.Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            server.stop();
            Runtime.stop();
        }, "stellane-techempower-stop"));
        Runtime.start();
    }
}
