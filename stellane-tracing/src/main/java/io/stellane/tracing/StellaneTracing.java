package io.stellane.tracing;

import io.opentelemetry.api.OpenTelemetry;
import io.opentelemetry.api.common.AttributeKey;
import io.opentelemetry.api.common.Attributes;
import io.opentelemetry.api.trace.Span;
import io.opentelemetry.api.trace.SpanKind;
import io.opentelemetry.api.trace.StatusCode;
import io.opentelemetry.api.trace.Tracer;
import io.stellane.runtime.StellaneRuntime;
import io.stellane.runtime.TaskObserver;
import io.stellane.server.Server;
import io.stellane.server.ServerObserver;

import java.time.Instant;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.TimeUnit;

/**
 * OpenTelemetry tracing, optional: add this module and an OpenTelemetry SDK, then call
 * {@link #install}. Every request becomes a server span (route template, method, status) and every
 * scheduled task that was given a name ({@code Task.named}) an internal span on its worker.
 *
 * <h2>How it works</h2>
 * Spans are recorded after the fact from the server's and the runtime's observers, with their real
 * start and end times; nothing runs around the handler, so tracing adds no hop and no allocation to
 * a request beyond the span itself. The server times every request while this observer is
 * installed (otherwise it times one in 16). Spans are roots: incoming {@code traceparent} headers
 * are not read yet.
 *
 * <p>Thread-safe. The observers run on workers; OpenTelemetry's span API is non-blocking.
 */
public final class StellaneTracing implements AutoCloseable {
    static final AttributeKey<String> ROUTE = AttributeKey.stringKey("http.route");
    static final AttributeKey<String> METHOD = AttributeKey.stringKey("http.request.method");
    static final AttributeKey<Long> STATUS = AttributeKey.longKey("http.response.status_code");
    static final AttributeKey<Long> WORKER = AttributeKey.longKey("stellane.worker");
    static final AttributeKey<Long> WAIT_NANOS = AttributeKey.longKey("stellane.task.queue_wait_ns");

    /** Names the runtime gives tasks nobody named: they make no span. */
    private static final Set<String> DEFAULT_NAMES = Set.of("completed", "failed", "supply", "run", "blocking",
            "from", "sleep", "all", "any");

    private final Tracer tracer;
    private final TaskObserver tasks;
    /** The runtime whose named tasks are traced: the server's. */
    private final StellaneRuntime runtime;

    private StellaneTracing(OpenTelemetry otel, StellaneRuntime runtime) {
        this.tracer = otel.getTracer("io.stellane", "0.1.0");
        this.tasks = this::taskRan;
        this.runtime = runtime;
    }

    /**
     * Traces {@code server}'s requests and the runtime's named tasks with {@code otel}; call before
     * {@code server.listen}. Close the result to stop tracing tasks.
     */
    public static StellaneTracing install(Server server, OpenTelemetry otel) {
        Objects.requireNonNull(server, "server");
        StellaneTracing t = new StellaneTracing(Objects.requireNonNull(otel, "otel"), server.runtime());
        server.observe(t.new Requests());
        t.runtime.addTaskObserver(t.tasks);
        return t;
    }

    private final class Requests implements ServerObserver {
        @Override
        public boolean timesEveryRequest() {
            return true;
        }

        @Override
        public void requestCompleted(String route, String method, int status, long nanos) {
            if (nanos < 0) {
                return; // not timed: cannot happen while this observer is installed
            }
            Instant end = Instant.now();
            Span span = tracer.spanBuilder(method + " " + route)
                    .setSpanKind(SpanKind.SERVER)
                    .setStartTimestamp(end.minusNanos(nanos))
                    .setAllAttributes(Attributes.of(ROUTE, route, METHOD, method, STATUS, (long) status))
                    .startSpan();
            if (status >= 500) {
                span.setStatus(StatusCode.ERROR);
            }
            span.end(end);
        }
    }

    private void taskRan(String name, int workerId, long runNanos, long waitNanos, boolean failed) {
        if (DEFAULT_NAMES.contains(name) || name.startsWith("worker-")) {
            return;
        }
        long endNanos = TimeUnit.MILLISECONDS.toNanos(System.currentTimeMillis());
        Span span = tracer.spanBuilder(name)
                .setSpanKind(SpanKind.INTERNAL)
                .setStartTimestamp(endNanos - runNanos, TimeUnit.NANOSECONDS)
                .setAllAttributes(Attributes.of(WORKER, (long) workerId, WAIT_NANOS, waitNanos))
                .startSpan();
        if (failed) {
            span.setStatus(StatusCode.ERROR);
        }
        span.end(endNanos, TimeUnit.NANOSECONDS);
    }

    /** Stops tracing tasks (the server observer stays until the server is discarded). */
    @Override
    public void close() {
        runtime.removeTaskObserver(tasks);
    }
}
