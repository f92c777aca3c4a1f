package io.stellane.server;

/**
 * The sending side of a streaming ({@code Transfer-Encoding: chunked}) response, handed to the
 * producer given to {@link Response#stream}. Each write is sent as one chunk and flushed.
 *
 * <p>Threading: every method is thread-safe; calls from other threads (a virtual thread, a client
 * callback) hop to the connection's worker, keeping their order. Writes after {@link #close()} or
 * after the client went away are ignored ({@link #isOpen()} tells).
 *
 * <p>Backpressure: called off the workers (a virtual thread, say), {@link #write} waits while the
 * client is behind ({@link #isWritable()} false); a client that takes nothing for
 * {@code ServerConfig.writeTimeout} is disconnected, which ends the wait and the stream
 * ({@link #isOpen()} false). Called on a worker it never waits: a producer there should
 * check {@link #isWritable()} itself, since a stream that queues more than
 * {@code ServerConfig.maxQueuedResponseBytes} is aborted.
 */
public interface ResponseStream {

    ResponseStream write(byte[] chunk);

    ResponseStream write(String chunk);

    /** Ends the response (the terminating zero-length chunk); the connection then serves its next request. */
    void close();

    /** Aborts the response: the connection is closed, so the client sees an incomplete body. */
    void abort();

    boolean isOpen();

    /**
     * Whether the client keeps up: false while more than {@code ServerConfig.writeHighWaterMark}
     * bytes wait to be sent. A producer that can wait should, while this is false: past
     * {@code ServerConfig.maxQueuedResponseBytes} the stream is aborted.
     */
    boolean isWritable();
}
