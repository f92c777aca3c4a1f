package io.stellane.tracing;

import io.opentelemetry.api.trace.SpanKind;
import io.opentelemetry.api.trace.StatusCode;
import io.opentelemetry.sdk.OpenTelemetrySdk;
import io.opentelemetry.sdk.testing.exporter.InMemorySpanExporter;
import io.opentelemetry.sdk.trace.SdkTracerProvider;
import io.opentelemetry.sdk.trace.data.SpanData;
import io.opentelemetry.sdk.trace.export.SimpleSpanProcessor;
import io.stellane.config.RuntimeConfig;
import io.stellane.runtime.Runtime;
import io.stellane.server.Response;
import io.stellane.server.Server;
import io.stellane.task.Task;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CountDownLatch;

import static io.stellane.runtime.testing.RuntimeFixture.await;
import static io.stellane.runtime.testing.RuntimeFixture.eventually;
import static io.stellane.runtime.testing.RuntimeFixture.spin;
import static org.assertj.core.api.Assertions.assertThat;

class StellaneTracingTest {
    private final InMemorySpanExporter exporter = InMemorySpanExporter.create();
    private final OpenTelemetrySdk otel = OpenTelemetrySdk.builder()
            .setTracerProvider(SdkTracerProvider.builder().addSpanProcessor(SimpleSpanProcessor.create(exporter)).build())
            .build();
    private Server server;
    private StellaneTracing tracing;

    @AfterEach
    void tearDown() {
        if (tracing != null) {
            tracing.close();
        }
        if (server != null) {
            server.stop(Duration.ofSeconds(2));
        }
        Runtime.stop();
        otel.close();
    }

    @Test
    void everyRequestBecomesAServerSpanWithItsRouteAndStatus() throws Exception {
        Runtime.init(RuntimeConfig.builder().backendType("nio").workerThreads(1).build());
        server = new Server()
                .get("/users/{id}", ctx -> Task.completed(Response.ok("u")))
                .get("/boom", ctx -> { throw new IllegalStateException("x"); });
        tracing = StellaneTracing.install(server, otel);
        int port = server.listen("127.0.0.1", 0);
        try (HttpClient client = HttpClient.newHttpClient()) {
            for (int i = 0; i < 20; i++) { // more than the server's timing sample: every one is traced
                client.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/users/" + i)).build(),
                        HttpResponse.BodyHandlers.ofString());
            }
            client.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/boom")).build(),
                    HttpResponse.BodyHandlers.ofString());
        }
        eventually("21 spans", () -> exporter.getFinishedSpanItems().size() == 21);
        List<SpanData> spans = exporter.getFinishedSpanItems();
        assertThat(spans).allSatisfy(s -> assertThat(s.getKind()).isEqualTo(SpanKind.SERVER));
        assertThat(spans.subList(0, 20)).allSatisfy(s -> {
            assertThat(s.getName()).isEqualTo("GET /users/{id}");
            assertThat(s.getAttributes().get(StellaneTracing.ROUTE)).isEqualTo("/users/{id}");
            assertThat(s.getAttributes().get(StellaneTracing.STATUS)).isEqualTo(200L);
            assertThat(s.getEndEpochNanos()).isGreaterThanOrEqualTo(s.getStartEpochNanos());
        });
        SpanData boom = spans.get(20);
        assertThat(boom.getAttributes().get(StellaneTracing.STATUS)).isEqualTo(500L);
        assertThat(boom.getStatus().getStatusCode()).isEqualTo(StatusCode.ERROR);
    }

    @Test
    void namedTasksBecomeSpansAndUnnamedOnesDoNot() {
        Runtime.init(RuntimeConfig.builder().backendType("nio").workerThreads(1).build());
        server = new Server();
        tracing = StellaneTracing.install(server, otel);
        CountDownLatch done = new CountDownLatch(3);
        Runtime.schedule(Task.of(() -> {
            spin(2_000);
            done.countDown();
        }).named("resize-image"));
        Runtime.schedule(Task.of(() -> {
            done.countDown();
            throw new IllegalStateException("bad");
        }).named("charge-card"));
        Runtime.schedule(Task.of(done::countDown)); // unnamed: no span
        await(done);
        eventually("two spans", () -> exporter.getFinishedSpanItems().size() == 2);
        SpanData resize = exporter.getFinishedSpanItems().stream().filter(s -> s.getName().equals("resize-image")).findFirst().orElseThrow();
        assertThat(resize.getKind()).isEqualTo(SpanKind.INTERNAL);
        assertThat(resize.getEndEpochNanos() - resize.getStartEpochNanos()).isGreaterThanOrEqualTo(2_000_000L);
        assertThat(resize.getAttributes().get(StellaneTracing.WORKER)).isEqualTo(0L);
        SpanData charge = exporter.getFinishedSpanItems().stream().filter(s -> s.getName().equals("charge-card")).findFirst().orElseThrow();
        assertThat(charge.getStatus().getStatusCode()).isEqualTo(StatusCode.ERROR);
    }
}
