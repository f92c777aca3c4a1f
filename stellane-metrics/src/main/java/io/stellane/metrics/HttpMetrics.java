package io.stellane.metrics;

/**
 * What the HTTP server reports; get it from {@link StellaneMetrics#http()}.
 *
 * <p>Threading: every method is thread-safe, lock-free after a route's first request and allocates
 * nothing, so it may be called on a worker for every request.
 */
public interface HttpMetrics {

    /**
     * One request finished.
     *
     * @param routeTemplate the matched route as declared ({@code /users/{id}}), never the raw path
     *                      (a raw path makes one time series per URL); {@code null} or blank when no
     *                      route matched, exported as {@code NOT_FOUND}
     * @param method        the HTTP method ({@code GET})
     * @param status        the response status, 100..599 (others are exported as {@code 0})
     * @param nanos         time from the request read to the response written, or {@code -1} when the
     *                      server did not time this request (it times a sample); counted either way
     */
    void requestCompleted(String routeTemplate, String method, int status, long nanos);

    /** A client connection was accepted. */
    void connectionOpened();

    /** A connection counted by {@link #connectionOpened()} was closed. */
    void connectionClosed();

    /**
     * A client ran into one of the server's limits; exported as
     * {@code stellane_http_server_limits_total{limit="<label>"}}.
     *
     * @param limit the limit's label, e.g. {@code write_timeout} (the server's {@code ServerLimit.label()})
     */
    void limitReached(String limit);
}
