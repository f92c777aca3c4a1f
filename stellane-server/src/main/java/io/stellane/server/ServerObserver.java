package io.stellane.server;

/**
 * Told about connections and finished requests (metrics, access logs, tracing). Called on the
 * connection's worker: must be quick and must not block. With no observer registered the server
 * does no bookkeeping per request.
 */
public interface ServerObserver {

    /**
     * Whether this observer needs every request timed (tracing does: a span per request). The server
     * then reads the clock twice per request instead of for one request in {@value Server#TIMING_SAMPLE}.
     */
    default boolean timesEveryRequest() {
        return false;
    }

    default void connectionOpened() {
    }

    default void connectionClosed() {
    }

    /**
     * A response was written.
     *
     * @param route  the matched route template (e.g. {@code /users/{id}}), or {@code "unmatched"}
     * @param method the request method
     * @param status the response status
     * @param nanos  from the complete request (head and body read) to the response written, for one
     *               request in {@value Server#TIMING_SAMPLE} per connection; {@code -1} for the others
     *               (two clock reads per request cost more than the rest of the bookkeeping)
     */
    default void requestCompleted(String route, String method, int status, long nanos) {
    }

    /** A client ran into one of the server's limits (see {@link ServerLimit}). */
    default void limitReached(ServerLimit limit) {
    }
}
