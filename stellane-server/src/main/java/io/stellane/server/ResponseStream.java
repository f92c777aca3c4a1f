package io.stellane.server;

/**
 * The sending side of a streaming ({@code Transfer-Encoding: chunked}) response, handed to the
 * producer given to {@link Response#stream}. Each write is sent as one chunk and flushed.
 *
 * <p>Threading: every method is thread-safe; calls from other threads (a virtual thread, a client
 * callback) hop to the connection's worker, keeping their order. Writes after {@link #close()} or
 * after the client went away are ignored ({@link #isOpen()} tells).
 */
public interface ResponseStream {

    ResponseStream write(byte[] chunk);

    ResponseStream write(String chunk);

    /** Ends the response (the terminating zero-length chunk); the connection then serves its next request. */
    void close();

    /** Aborts the response: the connection is closed, so the client sees an incomplete body. */
    void abort();

    boolean isOpen();
}
