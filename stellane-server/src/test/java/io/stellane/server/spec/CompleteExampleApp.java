package io.stellane.server.spec;

import io.stellane.config.RuntimeConfig;
import io.stellane.runtime.Runtime;
import io.stellane.scheduler.TaskSchedulingStrategy;
import io.stellane.server.Response;
import io.stellane.server.Server;
import io.stellane.task.Task;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The spec's Complete Example, line by line in Java, as a program: recovery switched on in the
 * runtime config and nowhere else, {@code onRecover} retrying the original handler, two routes,
 * {@code listen}, then {@code Runtime.start()} blocking until the runtime stops. The "database" is a
 * file of created users keyed by request id (so a replay creates nothing twice), and a user named
 * {@code *-slow} takes two seconds to create, for a test to kill the process mid-request. A third
 * route restarts the runtime from a handler.
 *
 * <p>args: journal directory, users file, backend. Prints {@code PORT n} once listening and
 * {@code MAIN RETURNED} if {@code Runtime.start()} ever returns.
 */
public final class CompleteExampleApp {
    /** The database: users by request id, on disk. */
    static final class Database {
        private final Path file;
        private final Map<String, String> users = new ConcurrentHashMap<>();

        Database(Path file) throws IOException {
            this.file = file;
            if (Files.exists(file)) {
                for (String line : Files.readAllLines(file)) {
                    int sp = line.indexOf(' ');
                    users.put(line.substring(0, sp), line.substring(sp + 1));
                }
            }
        }

        Task<String> createUser(String requestId, String name) {
            return Task.blocking(() -> {
                synchronized (this) {
                    if (users.putIfAbsent(requestId, name) == null) {
                        Files.writeString(file, requestId + " " + name + "\n", StandardCharsets.UTF_8,
                                StandardOpenOption.CREATE, StandardOpenOption.APPEND, StandardOpenOption.SYNC);
                    }
                }
                if (name.endsWith("-slow")) {
                    System.out.println("SLOW " + requestId);
                    System.out.flush();
                    Thread.sleep(2_000); // the test kills the process here: created, not answered
                }
                return "{\"id\":\"" + requestId + "\",\"name\":\"" + name + "\"}";
            });
        }

        Task<String> fetchUser(String id) {
            return Task.blocking(() -> users.get(id));
        }
    }

    public static void main(String[] args) throws Exception {
        Database database = new Database(Path.of(args[1]));

        // Configure runtime
        RuntimeConfig config = RuntimeConfig.builder()
                .backendType(args.length > 2 ? args[2] : "auto")
                .workerThreads(2)
                .enableCpuAffinity(true)
                .enableRequestRecovery(true)
                .recoveryPath(Path.of(args[0]))
                .strategy(TaskSchedulingStrategy.WORK_STEALING)
                .build();

        // Initialize runtime
        Runtime.init(config);

        // Create server
        Server server = new Server();

        // Enable recovery
        server.onRecover((ctx, req) -> {
            ctx.logger().info("Recovering request: {}", req.path());
            System.out.println("RECOVERING " + ctx.requestId());
            System.out.flush();
            return ctx.retryOriginalHandler();
        });

        // Define routes
        server.get("/users/{id}", ctx -> database.fetchUser(ctx.param("id"))
                .map(user -> user == null ? Response.error(404, "no such user") : Response.text(user)));
        server.post("/users", ctx -> database.createUser(ctx.requestId(), ctx.request().bodyString())
                .map(json -> Response.ok(json.getBytes(StandardCharsets.UTF_8), "application/json").status(201)));
        server.post("/admin/restart", ctx -> {
            Runtime.restart(); // from a worker: the restart runs on a thread of its own
            return Task.completed(Response.text("restarting"));
        });

        // Start server
        int port = server.listen("127.0.0.1", 0);
        System.out.println("PORT " + port);
        System.out.flush();

        // Start runtime (blocks until shutdown)
        Runtime.start();
        System.out.println("MAIN RETURNED");
        System.out.flush();
    }
}
