package io.stellane.server;

import io.netty.handler.codec.http.DefaultHttpHeadersFactory;
import io.netty.handler.codec.http.DefaultHttpRequest;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.util.concurrent.EventExecutor;
import io.netty.util.concurrent.ImmediateEventExecutor;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.PropertyNamingStrategies;
import io.stellane.recovery.testing.StderrCapture;
import io.stellane.task.Task;
import io.stellane.task.Worker;
import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.time.LocalDate;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * Routing, filters and error mapping, with no socket and no runtime: requests go straight into the
 * dispatcher and answers come out of a recording {@link Exchange}.
 */
class DispatcherTest {

    /** An exchange that keeps what it is told to write; everything runs on the test's thread. */
    private static final class Recorder implements Exchange {
        final List<Response> responses = new ArrayList<>();
        final List<Context> contexts = new ArrayList<>();

        @Override
        public void respond(Context cx, Response response) {
            contexts.add(cx);
            responses.add(response);
        }

        @Override
        public EventExecutor executor() {
            return ImmediateEventExecutor.INSTANCE; // onLoop and later run at once, on the test's thread
        }

        @Override
        public void flush() {
        }

        @Override
        public Worker worker() {
            return null;
        }

        @Override
        public long id() {
            return 7;
        }

        Response last() {
            return responses.getLast();
        }
    }

    private final Recorder ex = new Recorder();

    private static Request request(String method, String target, String body) {
        return request(method, target, body, Server.defaultJsonMapper());
    }

    private static Request request(String method, String target, String body, ObjectMapper json) {
        var headers = DefaultHttpHeadersFactory.headersFactory().newHeaders();
        return Request.of(new DefaultHttpRequest(HttpVersion.HTTP_1_1, HttpMethod.valueOf(method), target, headers),
                body == null ? new byte[0] : body.getBytes(StandardCharsets.UTF_8), json);
    }

    private Response send(Server server, String method, String target) {
        return send(server, method, target, null);
    }

    private Response send(Server server, String method, String target, String body) {
        Dispatcher d = server.dispatcher();
        d.dispatch(ex, new Context(d, ex, request(method, target, body, d.json), ex.responses.size() + 1));
        return ex.last();
    }

    private static String text(Response r) {
        return switch (r.body) {
            case ResponseBody.Text t -> t.text();
            case ResponseBody.Bytes b -> new String(b.bytes(), StandardCharsets.UTF_8);
            default -> String.valueOf(r.body);
        };
    }

    @Test
    void aRouteGetsItsPathParametersAndQuery() {
        Server s = new Server().get("/users/{id}/posts/{post}",
                ctx -> Task.completed(Response.text(ctx.param("id") + " " + ctx.paramInt("post") + " " + ctx.query("q").orElse("-"))));
        assertThat(text(send(s, "GET", "/users/ann/posts/3?q=x"))).isEqualTo("ann 3 x");
        assertThat(ex.contexts.getLast().route()).isEqualTo("/users/{id}/posts/{post}");
    }

    @Test
    void anAbsoluteFormTargetIsRoutedOnItsPath() {
        Server s = new Server().get("/a", ctx -> Task.completed(Response.text("a " + ctx.request().query())));
        assertThat(text(send(s, "GET", "http://example.com/a?x=1"))).isEqualTo("a x=1");
        assertThat(send(s, "GET", "http://example.com?x=1").status()).as("no path: /").isEqualTo(404);
    }

    @Test
    void whatNoHandlerAnswersIsAnsweredHere() {
        Server s = new Server().get("/a", ctx -> Task.completed(Response.text("a"))).post("/a", ctx -> Task.completed(Response.ok()));
        assertThat(send(s, "GET", "/nope").status()).isEqualTo(404);
        Response wrongMethod = send(s, "PUT", "/a");
        assertThat(wrongMethod.status()).isEqualTo(405);
        assertThat(wrongMethod.header("Allow")).isEqualTo("GET, HEAD, POST, OPTIONS");
        assertThat(send(s, "OPTIONS", "/a").status()).isEqualTo(204);
        assertThat(send(s, "TRACE", "/a").status()).isEqualTo(501);
        Response star = send(s, "OPTIONS", "*");
        assertThat(star.status()).isEqualTo(200);
        assertThat(star.header("Allow")).contains("GET", "POST");
        assertThat(text(send(s, "HEAD", "/a"))).as("HEAD falls back to GET; the connection drops the body").isEqualTo("a");
    }

    @Test
    void filtersRunOutermostFirstAroundTheHandler() {
        List<String> order = new ArrayList<>();
        Server s = new Server()
                .filter((ctx, next) -> {
                    order.add("outer");
                    return next.handle(ctx).map(r -> r.header("X-Outer", "1"));
                })
                .filter((ctx, next) -> {
                    order.add("inner");
                    return next.handle(ctx);
                })
                .get("/a", ctx -> {
                    order.add("handler");
                    return Task.completed(Response.ok());
                });
        assertThat(send(s, "GET", "/a").header("X-Outer")).isEqualTo("1");
        assertThat(order).containsExactly("outer", "inner", "handler");
    }

    static final class MissingUser extends RuntimeException {
        MissingUser() {
            super("no such user");
        }
    }

    @Test
    void failuresAreMappedByTheClosestMapperThenByHttpExceptionElse500() {
        Server s = new Server()
                .onError(MissingUser.class, (e, ctx) -> Response.error(409, e.getMessage()))
                .onError(IllegalStateException.class, (e, ctx) -> null)
                .onError(IllegalArgumentException.class, (e, ctx) -> Response.error(422, e.getMessage()))
                .get("/iae", ctx -> { throw new IllegalArgumentException("bad"); })
                .get("/sub", ctx -> Task.failed(new NumberFormatException("nf")))
                .get("/rt", ctx -> Task.failed(new MissingUser()))
                .get("/ise", ctx -> Task.failed(new IllegalStateException("declined by its mapper")))
                .get("/http", ctx -> { throw new HttpException(418, "teapot"); })
                .get("/null", ctx -> null);
        assertThat(send(s, "GET", "/iae").status()).isEqualTo(422);
        assertThat(send(s, "GET", "/sub").status()).as("a subclass: its superclass's mapper").isEqualTo(422);
        assertThat(send(s, "GET", "/rt").status()).isEqualTo(409);
        Response declined = send(s, "GET", "/ise");
        assertThat(declined.status()).as("a mapper that returns null leaves it to the default").isEqualTo(500);
        assertThat(text(declined)).contains("\"requestId\":\"7-");
        Response http = send(s, "GET", "/http");
        assertThat(http.status()).isEqualTo(418);
        assertThat(text(http)).contains("teapot");
        assertThat(send(s, "GET", "/null").status()).isEqualTo(500);
        assertThat(s.errorCount()).isEqualTo(2);
    }

    @Test
    void anAnswerThatCompletesLaterGoesBackThroughTheExchange() {
        CompletableFuture<String> later = new CompletableFuture<>();
        Server s = new Server().get("/later", ctx -> Task.from(later).map(Response::text));
        Dispatcher d = s.dispatcher();
        d.dispatch(ex, new Context(d, ex, request("GET", "/later", null), 1));
        assertThat(ex.responses).isEmpty();
        later.complete("done");
        assertThat(text(ex.last())).isEqualTo("done");
    }

    @Test
    void aReplayFindsItsRouteWithoutAnExchange() {
        Server s = new Server().post("/users/{id}", ctx -> Task.completed(Response.ok()));
        Dispatcher d = s.dispatcher();
        Context cx = new Context(d, request("POST", "/users/42?x=1", "{}"), "boot-1", null);
        assertThat(d.route(cx)).isNotNull();
        assertThat(cx.param("id")).isEqualTo("42");
        assertThat(cx.requestId()).isEqualTo("boot-1");
        assertThat(d.route(new Context(d, request("GET", "/users/42", null), "boot-2", null))).isNull();
    }

    // ---------------------------------------------------------------- JSON

    record Booking(String guest, Instant madeAt, LocalDate night, Duration stay) {
    }

    /** Jackson finds nothing to write in it: serializing one fails. */
    static final class Opaque {
    }

    @Test
    void javaTimeValuesRoundTripAsIsoStrings() {
        Server s = new Server().post("/bookings", ctx -> {
            Booking b = ctx.request().json(Booking.class);
            return Task.completed(Response.json(new Booking(b.guest(), b.madeAt().plusSeconds(60), b.night().plusDays(1),
                    b.stay().multipliedBy(2))));
        });
        Response r = send(s, "POST", "/bookings",
                "{\"guest\":\"ann\",\"madeAt\":\"2026-12-01T10:15:30Z\",\"night\":\"2026-12-24\",\"stay\":\"PT12H\",\"extra\":1}");
        assertThat(r.status()).isEqualTo(200);
        assertThat(r.contentType()).isEqualTo("application/json");
        assertThat(text(r)).isEqualTo(
                "{\"guest\":\"ann\",\"madeAt\":\"2026-12-01T10:16:30Z\",\"night\":\"2026-12-25\",\"stay\":\"PT24H\"}");
    }

    @Test
    void aJsonBodyIsSerializedWhenTheHandlerAnswersNotWhenItIsWritten() {
        List<String> names = new ArrayList<>(List.of("ann"));
        Server s = new Server().get("/names", ctx -> Task.completed(Response.json(names)));
        Response r = send(s, "GET", "/names");
        names.add("bob"); // a handler's later side effect on the value no longer reaches its answer
        assertThat(r.body).isInstanceOf(ResponseBody.Bytes.class);
        assertThat(text(r)).isEqualTo("[\"ann\"]");
    }

    @Test
    void aValueThatCannotBeSerializedIsTheHandlersFailureAndItsMapperAnswersIt() {
        Server mapped = new Server()
                .onError(JsonProcessingException.class, (e, ctx) -> Response.error(502, "cannot write " + e.getClass().getSimpleName()))
                .get("/opaque", ctx -> Task.completed(Response.json(new Opaque())));
        Response r = send(mapped, "GET", "/opaque");
        assertThat(r.status()).isEqualTo(502);
        assertThat(text(r)).contains("InvalidDefinitionException");
        assertThat(mapped.errorCount()).isZero();

        Server unmapped = new Server().get("/opaque", ctx -> Task.completed(Response.json(new Opaque())));
        Response generic = send(unmapped, "GET", "/opaque");
        assertThat(generic.status()).isEqualTo(500);
        assertThat(text(generic)).contains("Internal Server Error").doesNotContain("Opaque");
        assertThat(unmapped.errorCount()).isEqualTo(1);
    }

    @Test
    void anErrorMappersJsonIsSerializedTooAndFallsBackTo500WhenItCannotBe() {
        Server s = new Server()
                .onError(IllegalArgumentException.class, (e, ctx) -> Response.json(new Booking("x", Instant.EPOCH, null, null)).status(422))
                .onError(IllegalStateException.class, (e, ctx) -> Response.json(new Opaque()).status(409))
                .get("/iae", ctx -> { throw new IllegalArgumentException("bad"); })
                .get("/ise", ctx -> { throw new IllegalStateException("worse"); });
        Response iae = send(s, "GET", "/iae");
        assertThat(iae.status()).isEqualTo(422);
        assertThat(text(iae)).contains("\"madeAt\":\"1970-01-01T00:00:00Z\"");
        assertThat(send(s, "GET", "/ise").status()).isEqualTo(500);
        assertThat(s.errorCount()).isEqualTo(1);
    }

    @Test
    void aServerReadsAndWritesWithTheMapperItWasGiven() {
        ObjectMapper snake = Server.defaultJsonMapper().setPropertyNamingStrategy(PropertyNamingStrategies.SNAKE_CASE);
        Server s = new Server().jsonMapper(snake).post("/bookings", ctx -> Task.completed(Response.json(ctx.request().json(Booking.class))));
        assertThat(s.jsonMapper()).isSameAs(snake);
        Response r = send(s, "POST", "/bookings", "{\"guest\":\"ann\",\"made_at\":\"2026-12-01T10:15:30Z\"}");
        assertThat(text(r)).isEqualTo("{\"guest\":\"ann\",\"made_at\":\"2026-12-01T10:15:30Z\",\"night\":null,\"stay\":null}");
        assertThatThrownBy(() -> s.jsonMapper(new ObjectMapper())).isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("jsonMapper() after listen()");
    }

    @Test
    void eachServerHasAMapperOfItsOwn() {
        assertThat(new Server().jsonMapper()).isNotSameAs(new Server().jsonMapper());
        assertThat(Server.defaultJsonMapper()).isNotSameAs(Server.defaultJsonMapper());
    }

    // ---------------------------------------------------------------- errors are logged

    @Test
    void anUnmappedFailureIsLoggedWithTheRequestIdMethodAndPathOncePerIntervalPerRouteAndClass() {
        Server s = new Server()
                .get("/boom/{n}", ctx -> { throw new IllegalStateException("boom " + ctx.param("n")); })
                .get("/other", ctx -> Task.failed(new IllegalStateException("other")))
                .get("/npe", ctx -> Task.failed(new NullPointerException("npe")));
        try (StderrCapture log = StderrCapture.start()) {
            Response first = send(s, "GET", "/boom/1?secret=no");
            String id = ex.contexts.getLast().requestId();
            assertThat(text(first)).contains(id);
            assertThat(log.records()).singleElement().asString()
                    .contains("ERROR", "[req " + id + "]", "handler failed, answered 500: GET /boom/1 (route /boom/{n})")
                    .doesNotContain("secret");
            assertThat(log.lines()).anyMatch(l -> l.contains("IllegalStateException: boom 1"));

            log.reset();
            send(s, "GET", "/boom/2");
            send(s, "GET", "/boom/3");
            assertThat(log.records()).as("the same route and class again, within the interval").isEmpty();

            send(s, "GET", "/other");
            send(s, "GET", "/npe");
            assertThat(log.records()).hasSize(2);
            assertThat(log.records().get(0)).contains("GET /other");
            assertThat(log.records().get(1)).contains("GET /npe");
        }
        assertThat(s.errorCount()).isEqualTo(5);
    }

    @Test
    void aMappedFailureIsNotLoggedAsAnError() {
        Server s = new Server()
                .onError(IllegalStateException.class, (e, ctx) -> Response.error(409, "conflict"))
                .get("/conflict", ctx -> { throw new IllegalStateException("expected"); })
                .get("/bad", ctx -> { throw new HttpException(400, "bad"); });
        try (StderrCapture log = StderrCapture.start()) {
            assertThat(send(s, "GET", "/conflict").status()).isEqualTo(409);
            assertThat(send(s, "GET", "/bad").status()).isEqualTo(400);
            assertThat(log.records()).isEmpty();
        }
    }
}
