package io.stellane.dashboard;

import io.stellane.metrics.HttpMetrics;
import io.stellane.metrics.StellaneMetrics;
import io.stellane.server.ServerLimit;
import io.stellane.server.ServerObserver;

import java.util.Objects;
import java.util.concurrent.atomic.LongAdder;

/**
 * Reports a server's connections and requests to {@link StellaneMetrics#http()} (the
 * {@code stellane_http_server_*} meters), and keeps what the dashboard shows: request counts by route
 * pattern, method and status class, and the latencies of the requests the server timed.
 *
 * <pre>{@code
 * server.observe(new MetricsObserver(metrics));
 * }</pre>
 *
 * <p>Threading: the server calls it on its workers, concurrently; every method is thread-safe and
 * lock-free, and allocates nothing after a route's first request on a worker (the dashboard's counts
 * are per-worker stripes summed when read; see {@code RequestRecorder}). The accessors may be read
 * from any thread.
 */
public final class MetricsObserver implements ServerObserver {
    /** What the server passes as the route when no route matched; {@link HttpMetrics} wants null. */
    private static final String UNMATCHED = "unmatched";

    private final StellaneMetrics metrics;
    private final HttpMetrics http;
    private final RequestRecorder recorder = new RequestRecorder();
    private final LongAdder openConnections = new LongAdder();

    public MetricsObserver(StellaneMetrics metrics) {
        this.metrics = Objects.requireNonNull(metrics, "metrics");
        this.http = metrics.http();
    }

    /** The binding this observer reports to. */
    public StellaneMetrics metrics() {
        return metrics;
    }

    @Override
    public void connectionOpened() {
        openConnections.increment();
        http.connectionOpened();
    }

    @Override
    public void connectionClosed() {
        openConnections.decrement();
        http.connectionClosed();
    }

    @Override
    public void requestCompleted(String route, String method, int status, long nanos) {
        recorder.record(route, method, status, nanos);
        http.requestCompleted(UNMATCHED.equals(route) ? null : route, method, status, nanos);
    }

    @Override
    public void limitReached(ServerLimit limit) {
        http.limitReached(limit.label());
    }

    /** Requests answered since this observer was added. */
    public long requests() {
        long[] sum = recorder.sum();
        long n = 0;
        for (int i = 0; i < RequestRecorder.CLASSES; i++) {
            n += sum[i];
        }
        return n;
    }

    /** Of those, how many were answered with a 5xx status. */
    public long serverErrors() {
        return recorder.sum()[RequestRecorder.statusSlot(500)];
    }

    RequestRecorder recorder() {
        return recorder;
    }

    /** Connections open now (opened minus closed since this observer was added). */
    public long openConnections() {
        return openConnections.sum();
    }

    @Override
    public String toString() {
        return "MetricsObserver[requests=" + requests() + ", open=" + openConnections() + "]";
    }
}
