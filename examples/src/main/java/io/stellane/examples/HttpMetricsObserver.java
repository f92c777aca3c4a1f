package io.stellane.examples;

import io.stellane.metrics.HttpMetrics;
import io.stellane.server.ServerObserver;

import java.util.Objects;

/** Reports the server's connections and finished requests to the HTTP meters of {@code StellaneMetrics}. */
final class HttpMetricsObserver implements ServerObserver {
    private final HttpMetrics http;

    HttpMetricsObserver(HttpMetrics http) {
        this.http = Objects.requireNonNull(http, "http");
    }

    @Override
    public void connectionOpened() {
        http.connectionOpened();
    }

    @Override
    public void connectionClosed() {
        http.connectionClosed();
    }

    @Override
    public void requestCompleted(String route, String method, int status, long nanos) {
        // the server says "unmatched" when no route matched; the meters export null as NOT_FOUND
        http.requestCompleted("unmatched".equals(route) ? null : route, method, status, nanos);
    }
}
