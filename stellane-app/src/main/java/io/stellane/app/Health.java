package io.stellane.app;

import io.stellane.logging.LogThrottle;
import io.stellane.server.Handler;
import io.stellane.server.Response;
import io.stellane.task.Task;
import org.slf4j.Logger;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.CopyOnWriteArrayList;

/**
 * The named checks behind {@code GET /health} and the two answers built from them: the detailed one
 * ({@code {"status":"UP","database":"UP","journal":"OFF"}}, plus {@code "<name>Error"} for each part that
 * is down) and the bare one ({@code {"status":"UP"}}) a load balancer gets. 200 while no part is down,
 * else 503. A part that is down is logged at most once per {@link App#LOG_INTERVAL} per part.
 */
final class Health {
    /** A part that is not in use: reported as {@code "OFF"}, which is not down. */
    static final HealthCheck OFF = () -> { };

    record Result(String name, String state, Throwable error) {
    }

    private record Named(String name, HealthCheck check) {
    }

    private final List<Named> checks = new CopyOnWriteArrayList<>();
    private final LogThrottle throttle = new LogThrottle(App.LOG_INTERVAL);
    private final Logger log;

    Health(Logger log) {
        this.log = log;
    }

    /** @throws IllegalArgumentException when {@code name} is blank, {@code "status"}, or taken */
    void add(String name, HealthCheck check) {
        Objects.requireNonNull(name, "name");
        Objects.requireNonNull(check, "check");
        if (name.isBlank() || name.equals("status") || checks.stream().anyMatch(c -> c.name().equals(name))) {
            throw new IllegalArgumentException("health check name \"" + name + "\": must be non-blank, not \"status\","
                    + " and not one already registered " + checks.stream().map(Named::name).toList());
        }
        checks.add(new Named(name, check));
    }

    /** The route: every check at once, each on its own virtual thread; {@code details} says what is down and why. */
    Handler handler(boolean details) {
        return ctx -> run().map(results -> {
            Map<String, String> body = body(results, details);
            return Response.json(body).status("UP".equals(body.get("status")) ? 200 : 503);
        });
    }

    Task<List<Result>> run() {
        return Task.all(checks.stream().map(this::run).toList());
    }

    private Task<Result> run(Named n) {
        if (n.check() == OFF) {
            return Task.completed(new Result(n.name(), "OFF", null));
        }
        return Task.<Result>blocking(() -> {
            n.check().check();
            return new Result(n.name(), "UP", null);
        }).timeout(App.HEALTH_TIMEOUT).recover(e -> {
            throttle.warn(log, "health." + n.name(), "health: " + n.name() + " is down: " + e, null);
            return new Result(n.name(), "DOWN", e);
        });
    }

    static Map<String, String> body(List<Result> results, boolean details) {
        boolean up = results.stream().noneMatch(r -> r.state().equals("DOWN"));
        Map<String, String> m = new LinkedHashMap<>();
        m.put("status", up ? "UP" : "DOWN");
        if (details) {
            for (Result r : results) {
                m.put(r.name(), r.state());
            }
            for (Result r : results) {
                if (r.error() != null) {
                    m.put(r.name() + "Error", r.error().toString());
                }
            }
        }
        return m;
    }
}
