package io.stellane.examples;

import com.fasterxml.jackson.core.JacksonException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.stellane.StellaneException;
import io.stellane.backend.BackendException;
import io.stellane.config.ConfigException;
import io.stellane.examples.users.DatabaseException;
import io.stellane.examples.users.NewUser;
import io.stellane.examples.users.User;
import io.stellane.examples.users.UserRepository;
import io.stellane.examples.users.UserService;
import io.stellane.examples.users.ValidationException;
import io.stellane.logging.LogThrottle;
import io.stellane.server.Body;
import io.stellane.server.Context;
import io.stellane.server.Response;
import io.stellane.server.Server;
import io.stellane.task.Task;

import java.io.PrintStream;
import java.time.Duration;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;

/**
 * The service {@code ./stellane serve} runs: the spec's Complete Example (users on a database, behind
 * request recovery) plus the TechEmpower endpoints and an echo; {@link UsersApp} adds health, metrics,
 * stats and the dashboard through {@link io.stellane.app.App}.
 *
 * <pre>
 * public listener
 * POST /users            {"name": "...", "email": "..."} -> 201 + Location: /users/{id}; 400 {"error", "field"}
 * GET  /users/{id}       200 user JSON, 404 JSON
 * GET  /users?limit=&amp;offset=   {"users": [...], "limit", "offset", "total"}
 * GET  /plaintext, /json TechEmpower
 * POST /echo             the body back, with its content type
 * GET  /health           200 {"status":"UP"} or 503 {"status":"DOWN"}, nothing more
 *
 * management listener (and the public one too with management.serve_on_public_port)
 * GET  /health           200 {"status":"UP","database":"UP","journal":"UP"}, or 503 with "DOWN" for the part that fails
 * GET  /metrics          Prometheus text 0.0.4
 * GET  /stats            RuntimeStats and WorkerStats as JSON
 * GET  /stellane/dashboard  the live dashboard (of the public listener's traffic)
 * </pre>
 *
 * Every database call goes through {@link UserService} ({@code Task.blocking}): no worker blocks.
 * {@link #main} is the entry point of {@code ./stellane serve}; {@link UsersApp} configures the lifecycle.
 *
 * <p>A failing database (a full disk, a lost server) answers 503 with {@code Retry-After: 1}; the pool
 * reconnects by itself once it is back. The same failure is logged once per {@link #LOG_INTERVAL}
 * with a count, not once per request.
 */
public final class UsersService {
    static final Body HELLO = Body.of("Hello, World!", "text/plain");
    static final int DEFAULT_LIMIT = 20;
    static final int MAX_IDEMPOTENCY_KEY = 200;
    static final Duration LOG_INTERVAL = Duration.ofSeconds(10);

    private static final ObjectMapper JSON = new ObjectMapper();

    /** The JSON body of {@code /json}, serialized anew for every request. */
    public record Message(String message) {
    }

    /** A request problem answered with {@code status} and {@code {"error": message, "field": field}}. */
    static final class FieldProblem extends StellaneException {
        final int status;
        final String field;

        FieldProblem(int status, String field, String message) {
            super(message);
            this.status = status;
            this.field = field;
        }
    }

    private UsersService() {
    }

    /** The service's own routes (without {@code /health}), and the mapping of their failures to JSON errors. */
    static void routes(Server server, UserService users) {
        Objects.requireNonNull(users, "users");
        LogThrottle throttle = new LogThrottle(LOG_INTERVAL);
        server.get("/plaintext", ctx -> Task.completed(Response.ok(HELLO)));
        server.get("/json", ctx -> Task.completed(Response.json(new Message("Hello, World!"))));
        server.post("/echo", ctx -> {
            String type = ctx.request().contentType();
            return Task.completed(Response.ok(ctx.request().body(), type == null ? "application/octet-stream" : type));
        });

        server.post("/users", ctx -> {
            NewUser body = parseNewUser(ctx.request().body());
            return users.create(body, idempotencyKey(ctx)).map(u -> Response.json(userJson(u)).status(201)
                    .header("Location", "/users/" + u.id()));
        });
        server.get("/users/{id}", ctx -> {
            long id = parseLong(ctx.param("id"), "id", "must be an integer user id");
            return users.find(id).map(u -> u.isPresent() ? Response.json(userJson(u.get()))
                    : Response.error(404, "user " + id + " not found"));
        });
        server.get("/users", ctx -> {
            int limit = queryInt(ctx, "limit", DEFAULT_LIMIT, 1, UserRepository.MAX_LIST_LIMIT);
            int offset = queryInt(ctx, "offset", 0, 0, Integer.MAX_VALUE);
            return users.list(limit, offset).flatMap(page -> users.count().map(total -> {
                Map<String, Object> m = new LinkedHashMap<>();
                m.put("users", page.stream().map(UsersService::userJson).toList());
                m.put("limit", limit);
                m.put("offset", offset);
                m.put("total", total);
                return Response.json(m);
            }));
        });

        server.onError(FieldProblem.class, (e, ctx) -> fieldError(e.status, e.field, e.getMessage()));
        server.onError(ValidationException.class, (e, ctx) ->
                fieldError(400, e.error().field(), e.error().field() + " " + e.error().reason()));
        server.onError(DatabaseException.class, (e, ctx) -> {
            throttle.error(ctx.logger(), "database." + e.sqlState(), "database call failed, answering 503", e);
            return Response.error(503, "database unavailable").header("Retry-After", "1");
        });
    }

    // ---------------------------------------------------------------- request parsing

    static NewUser parseNewUser(byte[] body) {
        if (body.length == 0) {
            throw new FieldProblem(400, "body", "request body is empty; expected JSON {\"name\": ..., \"email\": ...}");
        }
        JsonNode tree;
        try {
            tree = JSON.readTree(body);
        } catch (JacksonException e) {
            throw new FieldProblem(400, "body", "malformed JSON body");
        } catch (java.io.IOException e) {
            throw new FieldProblem(400, "body", "unreadable JSON body");
        }
        if (tree == null || !tree.isObject()) {
            throw new FieldProblem(400, "body", "the body must be a JSON object {\"name\": ..., \"email\": ...}");
        }
        return new NewUser(text(tree, "name"), text(tree, "email"));
    }

    private static String text(JsonNode tree, String field) {
        JsonNode v = tree.get(field);
        if (v == null || v.isNull()) {
            return null; // NewUser.validate() reports it as required
        }
        if (!v.isTextual()) {
            throw new FieldProblem(400, field, field + " must be a string");
        }
        return v.textValue();
    }

    static String idempotencyKey(Context ctx) {
        String header = ctx.request().header("Idempotency-Key");
        if (header != null) {
            boolean ok = !header.isEmpty() && header.length() <= MAX_IDEMPOTENCY_KEY
                    && header.chars().allMatch(ch -> ch >= 0x21 && ch <= 0x7e);
            if (!ok) {
                throw new FieldProblem(400, "Idempotency-Key", "Idempotency-Key must be 1.." + MAX_IDEMPOTENCY_KEY
                        + " printable ASCII characters without spaces");
            }
        }
        return Recovery.requestKey(ctx);
    }

    private static long parseLong(String text, String field, String problem) {
        try {
            return Long.parseLong(text);
        } catch (NumberFormatException e) {
            throw new FieldProblem(400, field, field + " " + problem);
        }
    }

    private static int queryInt(Context ctx, String name, int fallback, int min, int max) {
        Optional<String> v = ctx.query(name);
        if (v.isEmpty()) {
            return fallback;
        }
        String range = max == Integer.MAX_VALUE ? "an integer >= " + min : "an integer from " + min + " to " + max;
        try {
            int n = Integer.parseInt(v.get());
            if (n >= min && n <= max) {
                return n;
            }
        } catch (NumberFormatException e) {
            // below
        }
        throw new FieldProblem(400, name, name + " must be " + range);
    }

    // ---------------------------------------------------------------- JSON

    static Response fieldError(int status, String field, String message) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("error", message);
        m.put("field", field);
        return Response.json(m).status(status);
    }

    static Map<String, Object> userJson(User u) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("id", u.id());
        m.put("name", u.name());
        m.put("email", u.email());
        m.put("createdAt", u.createdAt().toString());
        return m;
    }

    // ---------------------------------------------------------------- entry point

    public static void main(String[] args) {
        int code = run(args, System.out, System.err);
        if (code != 0) {
            System.exit(code);
        }
    }

    /**
     * Parses the options, starts the service and blocks until it is stopped (SIGTERM, Ctrl-C). Returns
     * the exit code instead of exiting: 0 after a stop or {@code --help}, 2 for a bad option or config
     * (one line on {@code err}, naming the key), 1 when startup fails (port taken, database unreachable).
     */
    public static int run(String[] args, PrintStream out, PrintStream err) {
        AppConfig.Flags flags;
        AppConfig config;
        try {
            flags = AppConfig.Flags.parse(Arrays.asList(args));
            if (flags.help()) {
                out.print(AppConfig.USAGE);
                return 0;
            }
            config = AppConfig.resolve(flags, System.getenv());
        } catch (ConfigException e) {
            err.println("stellane: " + oneLine(e.getMessage()));
            return 2;
        }
        UsersApp app;
        try {
            app = UsersApp.start(config);
        } catch (Exception e) {
            for (Throwable t = e; t != null; t = t.getCause()) {
                if (t instanceof ConfigException || t instanceof BackendException) {
                    err.println("stellane: " + oneLine(t.getMessage())); // a bad setting, e.g. --backend
                    return 2;
                }
            }
            err.println("stellane: cannot start: " + oneLine(String.valueOf(e.getMessage())));
            return 1;
        }
        AppConfig.Flags startFlags = flags;
        app.watchConfig(() -> AppConfig.resolve(startFlags, System.getenv())); // the same flags win again
        out.println(app.banner());
        out.flush();
        app.awaitStop();
        return 0;
    }

    static String oneLine(String message) {
        String s = message == null ? "" : message.strip();
        int nl = s.indexOf('\n');
        return (nl < 0 ? s : s.substring(0, nl)).strip();
    }
}
