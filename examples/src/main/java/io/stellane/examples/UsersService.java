package io.stellane.examples;

import io.netty.util.ResourceLeakDetector;
import io.stellane.config.RuntimeConfig;
import io.stellane.runtime.Runtime;
import io.stellane.server.Body;
import io.stellane.server.Response;
import io.stellane.server.Server;
import io.stellane.task.Task;

import java.util.Map;

/**
 * The service {@code ./stellane serve} runs: the TechEmpower endpoints, an echo and a health check.
 * Grows into the users service; add routes in {@link #routes(Server)}.
 *
 * <pre>
 * ./stellane serve --port 8080 --backend epoll --host 0.0.0.0
 * </pre>
 */
public final class UsersService {
    static final Body HELLO = Body.of("Hello, World!", "text/plain");

    /** The JSON body of {@code /json}, serialized anew for every request. */
    public record Message(String message) {
    }

    private final Server server;
    private int port = -1;

    public UsersService(Server server) {
        this.server = server;
        routes(server);
    }

    /** Every route of the service. */
    static void routes(Server server) {
        server.get("/plaintext", ctx -> Task.completed(Response.ok(HELLO)));
        server.get("/json", ctx -> Task.completed(Response.json(new Message("Hello, World!"))));
        server.post("/echo", ctx -> {
            String type = ctx.request().contentType();
            return Task.completed(Response.ok(ctx.request().body(), type == null ? "application/octet-stream" : type));
        });
        server.get("/health", ctx -> Task.completed(Response.json(Map.of("status", "UP"))));
    }

    public int start(String host, int port) {
        this.port = server.listen(host, port);
        return this.port;
    }

    public void stop() {
        server.stop();
    }

    public int port() {
        return port;
    }

    public static void main(String[] args) {
        int port = 8080;
        String backend = "auto";
        String host = "0.0.0.0";
        for (int i = 0; i < args.length; i++) {
            String a = args[i];
            String v = i + 1 < args.length ? args[i + 1] : null;
            switch (a) {
                case "--port" -> { port = Integer.parseInt(required(a, v)); i++; }
                case "--backend" -> { backend = required(a, v); i++; }
                case "--host" -> { host = required(a, v); i++; }
                case "--config", "--data-dir" -> i++; // accepted for the launcher; used by later versions
                case "-h", "--help" -> {
                    System.out.println("usage: UsersService [--port N] [--backend auto|nio|epoll|io_uring] [--host ADDR]");
                    return;
                }
                default -> throw new IllegalArgumentException("unknown option " + a);
            }
        }
        if (System.getProperty("io.netty.leakDetection.level") == null) {
            // sampling leak detection costs on every pooled allocation; opt back in with -Dio.netty.leakDetection.level
            ResourceLeakDetector.setLevel(ResourceLeakDetector.Level.DISABLED);
        }
        RuntimeConfig config = RuntimeConfig.builder().backendType(backend).build();
        Runtime.init(config);
        UsersService service = new UsersService(new Server());
        int bound;
        try {
            bound = service.start(host, port);
        } catch (RuntimeException e) {
            Runtime.stop();
            throw e;
        }
        java.lang.Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            service.stop();
            Runtime.stop();
        }, "stellane-shutdown"));
        System.out.println("stellane: serving on http://" + host + ":" + bound + "/ (backend "
                + Runtime.getStats().backendType() + ", " + Runtime.getConfig().workerThreads() + " workers)");
        Runtime.start();
    }

    private static String required(String option, String value) {
        if (value == null) {
            throw new IllegalArgumentException(option + " needs a value");
        }
        return value;
    }
}
