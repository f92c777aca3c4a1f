package io.stellane.server;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.DefaultHttpContent;
import io.netty.handler.codec.http.DefaultHttpHeadersFactory;
import io.netty.handler.codec.http.DefaultHttpResponse;
import io.netty.handler.codec.http.EmptyHttpHeaders;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.handler.codec.http.HttpHeadersFactory;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.LastHttpContent;
import io.netty.util.AsciiString;
import io.stellane.task.Worker;

import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;

/**
 * Writes a {@link Response} on an HTTP/1.1 connection: status line and headers (the server's own
 * {@code Content-Length}, {@code Date}, {@code Server}, {@code Connection}), then the body as
 * {@link ResponseBody#encode} makes it, in one message; a large array body in slices as the channel
 * drains; a stream chunked as its producer writes. It tells the connection when a response is all
 * handed to the channel ({@link Http1Connection#sent}), which then serves the next request.
 *
 * <p>Threading: the connection's loop only, like the connection that owns it; a stream's
 * {@link ResponseStream} may be called from any thread and hops to the loop.
 */
final class Http1ResponseWriter {
    static final HttpHeadersFactory HEADERS = DefaultHttpHeadersFactory.headersFactory()
            .withNameValidation(false).withValueValidation(false);
    private static final AsciiString SERVER_NAME = AsciiString.cached("stellane");
    private static final AsciiString ZERO = AsciiString.cached("0");
    /** Array bodies larger than this leave in slices of this size. */
    private static final int SLICE = 64 * 1024;

    private final Http1Connection conn;
    private final ChannelHandlerContext ctx;
    /** The large fixed-length body being sent, if any: continued when the channel drains. */
    private LargeBody large;
    /** The streaming response being sent, if any: told when the channel drains. */
    private Stream stream;

    Http1ResponseWriter(Http1Connection conn, ChannelHandlerContext ctx) {
        this.conn = conn;
        this.ctx = ctx;
    }

    /**
     * Writes {@code r} for {@code cx}'s request; with {@code close}, the connection closes after it.
     * A HEAD request gets the headers the body would have, and no body.
     */
    void write(Context cx, Response r, boolean close, boolean headOnly) {
        if (r.body instanceof ResponseBody.Streamed s) {
            startStream(cx, r, s, close, headOnly);
            return;
        }
        ByteBuf content;
        CharSequence type = r.contentType;
        CharSequence length = null;
        try {
            ResponseBody b = r.body;
            if (b instanceof ResponseBody.Constant c) {
                length = c.body().contentLength;
                if (type == null) {
                    type = c.body().contentType;
                }
            } else if (b == ResponseBody.EMPTY) {
                length = ZERO;
            }
            content = ResponseBody.encode(b, ctx.alloc());
        } catch (Throwable t) {
            conn.server.handlerErrors.increment();
            cx.logger().error("cannot encode the response body", t);
            r = Response.ok(Response.errorJson("Internal Server Error", cx.requestId()), Response.APPLICATION_JSON).status(500);
            content = Unpooled.wrappedBuffer(((ResponseBody.Bytes) r.body).bytes());
            type = r.contentType;
            length = null;
        }
        if (length == null) {
            length = AsciiString.of(Integer.toString(content.readableBytes()));
        }
        if (headOnly) {
            content.release();
            content = Unpooled.EMPTY_BUFFER;
        }
        HttpHeaders h = HEADERS.newHeaders();
        if (type != null) {
            h.add(HttpHeaderNames.CONTENT_TYPE, type);
        }
        if (r.status != 204) {
            h.add(HttpHeaderNames.CONTENT_LENGTH, length);
        }
        addCommonHeaders(h, r, close);
        if (content.hasArray() && content.readableBytes() > SLICE) {
            ctx.write(new DefaultHttpResponse(HttpVersion.HTTP_1_1, HttpResponseStatus.valueOf(r.status), h), ctx.voidPromise());
            large = new LargeBody(content, cx, r.status, close);
            writeLargeBody();
            return;
        }
        FullHttpResponse res = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, HttpResponseStatus.valueOf(r.status),
                content, h, EmptyHttpHeaders.INSTANCE);
        if (close) {
            ctx.writeAndFlush(res).addListener(ChannelFutureListener.CLOSE);
        } else {
            ctx.write(res, ctx.voidPromise());
        }
        conn.sent(cx, r.status, close);
    }

    /**
     * Writes a refusal (a protocol error or a tripped limit): status, a fixed reason as JSON,
     * {@code Connection: close}. The connection decides what happens after it is sent.
     */
    ChannelFuture writeRefusal(HeadValidation.Refusal refusal, String allow) {
        HttpHeaders h = HEADERS.newHeaders();
        byte[] json = Response.errorJson(refusal.reason(), null);
        h.add(HttpHeaderNames.CONTENT_TYPE, Response.APPLICATION_JSON);
        h.add(HttpHeaderNames.CONTENT_LENGTH, json.length);
        h.add(HttpHeaderNames.SERVER, SERVER_NAME);
        h.add(HttpHeaderNames.DATE, HttpDate.now());
        if (allow != null) {
            h.add(HttpHeaderNames.ALLOW, allow);
        }
        if (refusal.status() == 503) {
            h.add(HttpHeaderNames.RETRY_AFTER, "1");
        }
        h.add(HttpHeaderNames.CONNECTION, HttpHeaderValues.CLOSE);
        return ctx.writeAndFlush(new DefaultFullHttpResponse(HttpVersion.HTTP_1_1,
                HttpResponseStatus.valueOf(refusal.status()), Unpooled.wrappedBuffer(json), h, EmptyHttpHeaders.INSTANCE));
    }

    /** {@code 100 Continue}, for a client that waits for it before sending its body. */
    void writeContinue() {
        ctx.writeAndFlush(new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, HttpResponseStatus.CONTINUE,
                Unpooled.EMPTY_BUFFER, HEADERS.newEmptyHeaders(), EmptyHttpHeaders.INSTANCE), ctx.voidPromise());
    }

    private void addCommonHeaders(HttpHeaders h, Response r, boolean close) {
        h.add(HttpHeaderNames.SERVER, SERVER_NAME);
        h.add(HttpHeaderNames.DATE, HttpDate.at(conn.now()));
        List<String> extra = r.headers;
        if (extra != null) {
            for (int i = 0; i < extra.size(); i += 2) {
                h.add(extra.get(i), extra.get(i + 1));
            }
        }
        if (close) {
            h.set(HttpHeaderNames.CONNECTION, HttpHeaderValues.CLOSE);
        } else if (conn.http10()) {
            h.set(HttpHeaderNames.CONNECTION, HttpHeaderValues.KEEP_ALIVE);
        }
    }

    // ---------------------------------------------------------------- the channel's state

    /** The channel drained: a large body goes on, a stream's producer may write again. */
    void writable() {
        if (stream != null) {
            stream.wakeWriter();
        }
        if (large != null) {
            ctx.executor().execute(() -> {
                if (large != null && ctx.channel().isActive()) {
                    writeLargeBody();
                }
            });
        }
    }

    /** The channel closed: what was being sent is dropped, a waiting producer learns the stream is over. */
    void inactive() {
        if (large != null) {
            large.content.release();
            large = null;
        }
        if (stream != null) {
            stream.wakeWriter();
        }
    }

    // ---------------------------------------------------------------- large array bodies

    /**
     * A large array body on its way out. Netty copies a heap buffer into a direct one to write it, and
     * a direct buffer of several MiB comes from outside the pool: fresh memory mapped, faulted in and
     * unmapped per response. Written as slices while the channel is writable, each copy is a pooled
     * {@value #SLICE}-byte buffer, and no more than the high-water mark of them waits at a time.
     */
    private record LargeBody(ByteBuf content, Context cx, int status, boolean close) {
    }

    private void writeLargeBody() {
        LargeBody b = large;
        ByteBuf content = b.content;
        while (content.isReadable() && ctx.channel().isWritable()) {
            ctx.write(new DefaultHttpContent(content.readRetainedSlice(Math.min(SLICE, content.readableBytes()))),
                    ctx.voidPromise());
        }
        if (content.isReadable()) {
            ctx.flush(); // the rest follows when the channel drains (writable())
            return;
        }
        large = null;
        content.release();
        if (b.close) {
            ctx.writeAndFlush(LastHttpContent.EMPTY_LAST_CONTENT).addListener(ChannelFutureListener.CLOSE);
        } else {
            ctx.write(LastHttpContent.EMPTY_LAST_CONTENT, ctx.voidPromise());
        }
        conn.sent(b.cx, b.status, b.close);
        conn.flushOutsideRead();
    }

    // ---------------------------------------------------------------- streams

    private void startStream(Context cx, Response r, ResponseBody.Streamed s, boolean close, boolean headOnly) {
        boolean http10 = conn.http10();
        close |= http10; // no chunked encoding: the end of the body is the end of the connection
        HttpHeaders h = HEADERS.newHeaders();
        h.add(HttpHeaderNames.CONTENT_TYPE, r.contentType);
        if (!http10 && !headOnly) {
            h.add(HttpHeaderNames.TRANSFER_ENCODING, HttpHeaderValues.CHUNKED);
        }
        addCommonHeaders(h, r, close);
        ctx.writeAndFlush(new DefaultHttpResponse(HttpVersion.HTTP_1_1, HttpResponseStatus.valueOf(r.status), h), ctx.voidPromise());
        Stream out = new Stream(close);
        stream = out;
        if (headOnly) {
            out.close();
            return;
        }
        try {
            s.producer().produce(out);
        } catch (Throwable t) {
            cx.logger().error("stream producer failed", t);
            out.abort();
        }
    }

    /**
     * The ResponseStream of one streaming response; every call lands on the connection's loop.
     * Backpressure: a producer off the workers (a virtual thread) waits in {@link #write} while the
     * client is behind, up to {@code writeTimeout}; on a worker, where nothing may wait, bytes handed
     * over but not yet on the channel are counted at the caller and a stream past
     * {@code maxQueuedResponseBytes} is aborted.
     */
    private final class Stream implements ResponseStream {
        private static final long WAIT_SLICE = TimeUnit.MILLISECONDS.toNanos(10);

        private final boolean closeAfter;
        private volatile boolean open = true;
        private final AtomicLong inFlight = new AtomicLong();
        private volatile Thread waiting;

        Stream(boolean closeAfter) {
            this.closeAfter = closeAfter;
        }

        @Override
        public ResponseStream write(byte[] chunk) {
            if (chunk.length == 0 || !open) {
                return this;
            }
            long cap = conn.config.maxQueuedResponseBytes();
            boolean overCap;
            if (Worker.current() == null) {
                if (!awaitRoom()) {
                    return this;
                }
                // it waited for the client: what is queued is under the high-water mark now
                overCap = chunk.length > cap;
                inFlight.addAndGet(chunk.length);
            } else {
                overCap = inFlight.addAndGet(chunk.length) + conn.queuedBytes() > cap;
            }
            if (overCap) {
                // a producer writing faster than the client reads: memory is not the client's to take
                conn.limitReached(ServerLimit.RESPONSE_QUEUE);
                abort();
                return this;
            }
            onLoop(() -> {
                inFlight.addAndGet(-chunk.length);
                if (open && ctx.channel().isActive()) {
                    ctx.writeAndFlush(new DefaultHttpContent(Unpooled.wrappedBuffer(chunk)), ctx.voidPromise());
                }
                wakeWriter();
            });
            return this;
        }

        /**
         * Off the workers: waits while the client is behind. The connection's own write timeout ends
         * a wait for a client that takes nothing (it resets the connection, and the stream is no
         * longer open); false when the stream ended meanwhile.
         */
        private boolean awaitRoom() {
            while (isOpen() && !isWritable()) {
                waiting = Thread.currentThread();
                if (isOpen() && !isWritable()) {
                    LockSupport.parkNanos(this, WAIT_SLICE); // sliced: a missed wake-up costs 10 ms
                }
                waiting = null;
            }
            return isOpen();
        }

        /** On the loop, when bytes left for the channel or it drained. */
        void wakeWriter() {
            Thread t = waiting;
            if (t != null) {
                LockSupport.unpark(t);
            }
        }

        @Override
        public ResponseStream write(String chunk) {
            return write(chunk.getBytes(StandardCharsets.UTF_8));
        }

        @Override
        public void close() {
            onLoop(() -> {
                if (!open) {
                    return;
                }
                open = false;
                stream = null;
                if (!ctx.channel().isActive()) {
                    return;
                }
                if (closeAfter) {
                    ctx.writeAndFlush(LastHttpContent.EMPTY_LAST_CONTENT).addListener(ChannelFutureListener.CLOSE);
                } else {
                    ctx.write(LastHttpContent.EMPTY_LAST_CONTENT, ctx.voidPromise());
                }
                conn.streamEnded(closeAfter);
            });
        }

        @Override
        public void abort() {
            open = false; // now: writes after this, from any thread, are dropped
            wakeWriter();
            onLoop(() -> {
                stream = null;
                conn.abort();
            });
        }

        @Override
        public boolean isOpen() {
            return open && ctx.channel().isActive();
        }

        @Override
        public boolean isWritable() {
            return isOpen() && ctx.channel().isWritable() && inFlight.get() < conn.config.writeHighWaterMark();
        }

        private void onLoop(Runnable r) {
            if (ctx.executor().inEventLoop()) {
                r.run();
            } else {
                ctx.executor().execute(r);
            }
        }
    }
}
