package io.stellane.testing.server;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import io.stellane.recovery.testing.StderrCapture;
import io.stellane.runtime.StellaneRuntime;
import io.stellane.server.Filter;
import io.stellane.server.Handler;
import io.stellane.server.Response;
import io.stellane.server.Server;
import io.stellane.server.ServerConfig;
import io.stellane.task.Task;
import io.stellane.task.Worker;
import io.stellane.testing.SetUpServer;
import io.stellane.testing.StellaneTest;
import io.stellane.testing.TestClient;
import io.stellane.testing.TestResponse;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.time.Instant;
import java.time.LocalDate;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The server's public API over real sockets, through the test kit: routes and their parameters,
 * handlers on workers and on virtual threads, error mapping and the generic 500 with its log line,
 * JSON both ways, filters, request ids. One server per class (subclassed per backend); a test that
 * needs a server of its own starts it on the same runtime with {@link StellaneTest#test}.
 */
abstract class ServerApiSuite {

    record User(int id, String name) {
    }

    record Booking(String guest, Instant madeAt, LocalDate night) {
    }

    /** Jackson finds nothing to write in it. */
    static final class Opaque {
    }

    static final class NotFoundException extends RuntimeException {
        NotFoundException(String message) {
            super(message);
        }
    }

    private static final List<String> ids = new CopyOnWriteArrayList<>();

    @SetUpServer
    static void routes(Server s) {
        s.get("/users/{id}/posts/{post}", ctx -> Task.completed(Response.text(
                        ctx.paramInt("id") * 2 + ":" + ctx.param("post") + ":" + ctx.query("sort").orElse("none")
                                + ":" + ctx.query("limit", int.class, 10))))
                .get("/typed/{id}", ctx -> Task.completed(Response.text("id " + ctx.param("id", int.class))))
                .get("/q", ctx -> Task.completed(Response.text("n " + ctx.query("n", long.class, 0L))))
                .get("/items", ctx -> Task.completed(Response.text("list")))
                .post("/items", ctx -> Task.completed(Response.of(201)))
                .get("/boom", ctx -> {
                    throw new IllegalStateException("secret database password");
                })
                .get("/async-boom", ctx -> Task.sleep(Duration.ofMillis(5)).map(v -> {
                    throw new IllegalStateException("secret token");
                }))
                .get("/ok", ctx -> Task.completed(Response.text("ok")))
                .getBlocking("/blocking", ctx -> Response.text("virtual=" + Thread.currentThread().isVirtual()
                        + " worker=" + (Worker.current() != null)))
                .get("/async", ctx -> Task.completed(Response.text("virtual=" + Thread.currentThread().isVirtual()
                        + " worker=" + (Worker.current() != null))))
                .get("/explicit", Handler.blocking(ctx -> Response.text("virtual=" + Thread.currentThread().isVirtual())))
                .post("/users", ctx -> {
                    User u = ctx.request().json(User.class);
                    return Task.completed(Response.created(new User(u.id() + 1, u.name().toUpperCase())));
                })
                .post("/bookings", ctx -> {
                    Booking b = ctx.request().json(Booking.class);
                    return Task.completed(Response.json(new Booking(b.guest(), b.madeAt().plusSeconds(1), b.night().plusDays(1))));
                })
                .getBlocking("/bookings/blocking", ctx -> Response.json(
                        new Booking("bob", Instant.parse("2026-12-01T00:00:00Z"), LocalDate.parse("2026-12-31"))))
                .get("/opaque", ctx -> Task.completed(Response.json(new Opaque())))
                .getBlocking("/opaque/blocking", ctx -> Response.json(new Opaque()))
                .get("/id", ctx -> {
                    ctx.logger().info("handling {}", ctx.request().path());
                    ids.add(ctx.requestId());
                    return Task.completed(Response.text(ctx.requestId()));
                });
    }

    @Test
    void routesWithPathAndQueryParameters(TestClient client) {
        TestResponse r = client.get("/users/21/posts/hello%20world?sort=asc&limit=5");
        assertThat(r.status()).isEqualTo(200);
        assertThat(r.body()).isEqualTo("42:hello world:asc:5");
        assertThat(client.get("/users/1/posts/x").body()).isEqualTo("2:x:none:10");
    }

    @Test
    void badTypedParameterIs400NotA500(TestClient client, Server server) {
        long errors = server.errorCount();
        TestResponse r = client.get("/typed/abc");
        assertThat(r.status()).isEqualTo(400);
        assertThat(r.body()).contains("path parameter 'id'");
        assertThat(client.get("/q?n=x").status()).isEqualTo(400);
        assertThat(client.get("/typed/7").body()).isEqualTo("id 7");
        assertThat(server.errorCount()).isEqualTo(errors);
    }

    @Test
    void unknownPathIs404AndWrongMethodIs405WithAllow(TestClient client) {
        assertThat(client.get("/nothing").status()).isEqualTo(404);
        TestResponse r = client.delete("/items");
        assertThat(r.status()).isEqualTo(405);
        assertThat(r.header("Allow")).isEqualTo("GET, HEAD, POST, OPTIONS");
        assertThat(client.post("/items", "x").status()).isEqualTo(201);
    }

    @Test
    void handlerExceptionIsA500WithAGenericBodyLoggedWithItsRequestId(TestClient client, Server server) {
        long errors = server.errorCount();
        try (StderrCapture log = StderrCapture.start()) {
            for (String path : List.of("/boom", "/async-boom")) {
                TestResponse r = client.get(path);
                assertThat(r.status()).isEqualTo(500);
                assertThat(r.header("Content-Type")).isEqualTo("application/json");
                assertThat(r.body()).contains("Internal Server Error").doesNotContain("secret");
                String id = r.json().get("requestId").asText();
                assertThat(log.records()).as("the ERROR line of %s", path)
                        .anyMatch(l -> l.contains("ERROR") && l.contains("[req " + id + "]") && l.contains("GET " + path + " "));
            }
        }
        assertThat(client.get("/ok").body()).isEqualTo("ok");
        assertThat(server.errorCount() - errors).isEqualTo(2);
    }

    @Test
    void blockingHandlersRunOnVirtualThreadsAndAsyncOnesOnTheWorker(TestClient client) {
        assertThat(client.get("/blocking").body()).isEqualTo("virtual=true worker=false");
        assertThat(client.get("/explicit").body()).isEqualTo("virtual=true");
        assertThat(client.get("/async").body()).isEqualTo("virtual=false worker=true");
    }

    @Test
    void jsonBodiesRoundTripAndMalformedJsonIs400(TestClient client, Server server) {
        long errors = server.errorCount();
        TestResponse ok = client.postJson("/users", new User(1, "ann"));
        assertThat(ok.status()).isEqualTo(201);
        assertThat(ok.body()).isEqualTo("{\"id\":2,\"name\":\"ANN\"}");
        assertThat(ok.json(User.class)).isEqualTo(new User(2, "ANN"));
        TestResponse bad = client.post("/users", "{\"id\":", "Content-Type", "application/json");
        assertThat(bad.status()).isEqualTo(400);
        assertThat(bad.body()).contains("malformed JSON");
        assertThat(server.errorCount()).isEqualTo(errors);
    }

    @Test
    void javaTimeValuesTravelAsIsoStrings(TestClient client) {
        TestResponse r = client.post("/bookings", "{\"guest\":\"ann\",\"madeAt\":\"2026-12-01T10:15:30Z\",\"night\":\"2026-12-24\"}",
                "Content-Type", "application/json");
        assertThat(r.status()).isEqualTo(200);
        JsonNode json = r.json();
        assertThat(json.get("madeAt").asText()).isEqualTo("2026-12-01T10:15:31Z");
        assertThat(json.get("night").asText()).isEqualTo("2026-12-25");
        Booking sent = new Booking("cy", Instant.parse("2026-01-02T03:04:05.123Z"), LocalDate.parse("2026-02-28"));
        assertThat(client.postJson("/bookings", sent).json(Booking.class))
                .isEqualTo(new Booking("cy", Instant.parse("2026-01-02T03:04:06.123Z"), LocalDate.parse("2026-03-01")));
        assertThat(client.get("/bookings/blocking").body())
                .isEqualTo("{\"guest\":\"bob\",\"madeAt\":\"2026-12-01T00:00:00Z\",\"night\":\"2026-12-31\"}");
    }

    @Test
    void aValueThatCannotBeSerializedIsItsHandlersFailure(TestClient client, Server server) {
        long errors = server.errorCount();
        for (String path : List.of("/opaque", "/opaque/blocking")) {
            TestResponse r = client.get(path);
            assertThat(r.status()).as(path).isEqualTo(500);
            assertThat(r.body()).contains("Internal Server Error").doesNotContain("Opaque");
        }
        assertThat(server.errorCount() - errors).isEqualTo(2);
        assertThat(client.get("/ok").body()).as("the connection and the worker survived").isEqualTo("ok");
    }

    @Test
    void eachRequestHasItsOwnIdAndLogger(TestClient client) {
        ids.clear();
        String a = client.get("/id").body();
        String b = client.get("/id").body();
        assertThat(a).isNotBlank().isNotEqualTo(b);
        assertThat(ids).containsExactly(a, b);
    }

    @Test
    void filtersRunInOrderAndCanShortCircuit(StellaneRuntime runtime) throws Exception {
        List<String> trace = new CopyOnWriteArrayList<>();
        Server server = new Server(runtime, ServerConfig.defaults())
                .filter((ctx, next) -> {
                    trace.add("outer-before");
                    return next.handle(ctx).map(r -> {
                        trace.add("outer-after");
                        return r.header("X-Outer", "1");
                    });
                })
                .filter(Filter.before(ctx -> ctx.request().header("X-Deny") != null ? Response.of(403) : null))
                .filter((ctx, next) -> {
                    trace.add("inner-before");
                    ctx.attribute("user", "ann");
                    return next.handle(ctx);
                })
                .get("/hello", ctx -> {
                    trace.add("handler");
                    return Task.completed(Response.text("hello " + ctx.attribute("user")));
                });
        StellaneTest.test(server, client -> {
            TestResponse r = client.get("/hello");
            assertThat(r.body()).isEqualTo("hello ann");
            assertThat(r.header("X-Outer")).isEqualTo("1");
            assertThat(trace).containsExactly("outer-before", "inner-before", "handler", "outer-after");

            trace.clear();
            assertThat(client.get("/hello", "X-Deny", "1").status()).isEqualTo(403);
            assertThat(trace).containsExactly("outer-before", "outer-after");
        });
    }

    @Test
    void errorMappersTurnExceptionsIntoResponses(StellaneRuntime runtime) throws Exception {
        Server server = new Server(runtime, ServerConfig.defaults())
                .onError(NotFoundException.class, (e, ctx) -> Response.error(404, "no such user"))
                .onError(RuntimeException.class, (e, ctx) -> Response.error(503, "try later"))
                .onError(JsonProcessingException.class, (e, ctx) -> Response.error(502, "cannot write the answer"))
                .get("/users/{id}", ctx -> {
                    throw new NotFoundException("user " + ctx.param("id"));
                })
                .get("/other", ctx -> Task.failed(new IllegalStateException("x")))
                .get("/opaque", ctx -> Task.completed(Response.json(new Opaque())));
        StellaneTest.test(server, client -> {
            TestResponse r = client.get("/users/9");
            assertThat(r.status()).isEqualTo(404);
            assertThat(r.json().get("error").asText()).isEqualTo("no such user");
            assertThat(client.get("/other").status()).isEqualTo(503);
            assertThat(client.get("/opaque").status()).as("a value that cannot be serialized, like any failure").isEqualTo(502);
        });
        assertThat(server.errorCount()).isZero();
    }

    @Test
    void severalServersShareOneRuntime(TestClient client, StellaneRuntime runtime) throws Exception {
        Server other = new Server(runtime, ServerConfig.defaults()).get("/ok", ctx -> Task.completed(Response.text("other")));
        StellaneTest.test(other, otherClient -> {
            assertThat(otherClient.port()).isNotEqualTo(client.port());
            assertThat(otherClient.get("/ok").body()).isEqualTo("other");
            assertThat(client.get("/ok").body()).isEqualTo("ok");
        });
        assertThat(runtime.isRunning()).as("the class's runtime is not the helper's to stop").isTrue();
        assertThat(client.get("/ok").body()).isEqualTo("ok");
    }
}
