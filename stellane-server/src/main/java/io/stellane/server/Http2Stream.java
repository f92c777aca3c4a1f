package io.stellane.server;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelHandlerContext;
import io.netty.handler.codec.http.DefaultHttpRequest;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http2.DefaultHttp2DataFrame;
import io.netty.handler.codec.http2.DefaultHttp2Headers;
import io.netty.handler.codec.http2.DefaultHttp2HeadersFrame;
import io.netty.handler.codec.http2.DefaultHttp2ResetFrame;
import io.netty.handler.codec.http2.Http2DataFrame;
import io.netty.handler.codec.http2.Http2Error;
import io.netty.handler.codec.http2.Http2FrameStream;
import io.netty.handler.codec.http2.Http2Headers;
import io.netty.handler.codec.http2.Http2HeadersFrame;
import io.netty.util.AsciiString;
import io.netty.util.concurrent.EventExecutor;
import io.stellane.task.Worker;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;

/**
 * One HTTP/2 stream and its request's {@link Exchange}. Its {@link Http2Connection} hands it the
 * stream's frames; it turns the HEADERS into an HTTP/1.1-shaped head (pseudo-headers out,
 * {@code :authority} as {@code Host}) checked like an HTTP/1.1 one, gathers the DATA frames into the
 * body (bounded by {@code maxBodySize} and the server's body budget), dispatches the request, and
 * writes the answer as HEADERS and DATA frames on the connection. A request not all in within
 * {@code requestReadTimeout} of its HEADERS is answered 408. A refusal or a failure ends this stream
 * only: the connection and its other streams go on.
 *
 * <p>Threading: everything here runs on the connection's loop but a streaming response's
 * {@link ResponseStream}, which hops there.
 */
final class Http2Stream implements Exchange {
    private static final byte[] NO_BODY = new byte[0];
    private static final AsciiString SERVER_NAME = AsciiString.cached("stellane");
    /** Headers that mean something for one HTTP/1.1 connection only: never sent on a stream (RFC 9113 8.2.2). */
    private static final Set<String> CONNECTION_HEADERS = Set.of("connection", "keep-alive", "proxy-connection",
            "transfer-encoding", "upgrade");

    private final Server server;
    private final Http2Connection connection;
    private final ChannelHandlerContext ctx;
    private final Http2FrameStream stream;
    private final ServerConfig config;
    private final long id = Http1Connection.IDS.incrementAndGet();

    private HttpRequest head;
    private byte[] body;
    private int bodySize;
    private long budgeted;
    /** Answered (or refused): what the client still sends is dropped. */
    private boolean done;
    /** The stream is closed or reset: nothing more is written on it. */
    private boolean ended;
    /** Whether the stream's flow-control window takes more DATA (set by the connection on the loop). */
    private volatile boolean writable = true;
    private boolean streaming;
    private boolean headOnly;
    /** Until the request is all in: answers 408 after {@code requestReadTimeout}. */
    private ScheduledFuture<?> readTimer;
    /** Dispatched, and not yet answered nor ended. */
    private boolean inFlight;
    private long requestStart;

    /** @param ctx the context of {@code connection}, right behind the frame codec */
    Http2Stream(Http2Connection connection, ChannelHandlerContext ctx, Http2FrameStream stream) {
        this.connection = connection;
        this.server = connection.server;
        this.config = server.config;
        this.ctx = ctx;
        this.stream = stream;
    }

    /** A HEADERS frame on this stream: the request's head, or the trailers that end its body. */
    void headers(Http2HeadersFrame h) {
        if (done) {
            return;
        }
        if (head == null) {
            onHeaders(h);
        } else if (h.isEndStream()) {
            dispatch(); // trailers end the body; they are not kept
        }
    }

    /** A DATA frame on this stream; the caller releases it and has given its bytes back to the client's window. */
    void data(Http2DataFrame d) {
        if (!done) {
            onData(d);
        }
    }

    /** The stream closed (both sides ended, a reset, or the connection went): what it holds goes. */
    void ended() {
        ended = true;
        done = true;
        stopReadTimer();
        answered();
        dropBody();
    }

    void writabilityChanged(boolean writable) {
        this.writable = writable;
    }

    /** Whether a streaming response is being written on this stream. */
    boolean streaming() {
        return streaming;
    }

    // ---------------------------------------------------------------- reading the request

    private void onHeaders(Http2HeadersFrame frame) {
        Http2Headers h = frame.headers();
        CharSequence method = h.method();
        CharSequence path = h.path();
        if (method == null || path == null) {
            refuse(HeadValidation.BAD_REQUEST);
            return;
        }
        HttpRequest req = new DefaultHttpRequest(HttpVersion.HTTP_1_1, HttpMethod.valueOf(method.toString()),
                path.toString(), Http1ResponseWriter.HEADERS.newHeaders());
        HttpHeaders out = req.headers();
        if (h.authority() != null) {
            out.add(HttpHeaderNames.HOST, h.authority());
        }
        for (Map.Entry<CharSequence, CharSequence> e : h) {
            CharSequence name = e.getKey();
            if (name.length() > 0 && name.charAt(0) != ':') {
                out.add(name, e.getValue());
            }
        }
        HeadValidation.Refusal refusal = HeadValidation.check(req, config.maxHeaderCount());
        if (refusal != null) {
            refuse(refusal);
            return;
        }
        long length = -1;
        String declared = out.get(HttpHeaderNames.CONTENT_LENGTH);
        if (declared != null) {
            try {
                length = Long.parseLong(declared.strip());
            } catch (NumberFormatException e) {
                refuse(HeadValidation.BAD_REQUEST);
                return;
            }
        }
        if (length > config.maxBodySize()) {
            refuse(Http1Connection.TOO_LARGE);
            return;
        }
        head = req;
        if (frame.isEndStream()) {
            dispatch();
        } else {
            readTimer = ctx.executor().schedule(this::readTimedOut, config.requestReadTimeout().toNanos(),
                    TimeUnit.NANOSECONDS);
        }
    }

    private void onData(Http2DataFrame frame) {
        if (head == null) {
            refuse(HeadValidation.BAD_REQUEST);
            return;
        }
        ByteBuf data = frame.content();
        int n = data.readableBytes();
        if (n > 0) {
            if ((long) bodySize + n > config.maxBodySize()) {
                refuse(Http1Connection.TOO_LARGE);
                return;
            }
            if (body == null || bodySize + n > body.length) {
                long capacity = Math.min(Math.max(bodySize + n, body == null ? 8 * 1024 : 2L * body.length),
                        Math.max(bodySize + n, config.maxBodySize()));
                if (!server.connections.reserveBody(capacity - budgeted)) {
                    server.connections.limitReached(ServerLimit.BODY_BUDGET, ctx.channel().remoteAddress());
                    refuse(Http1Connection.BUSY);
                    return;
                }
                budgeted = capacity;
                body = body == null ? new byte[(int) capacity] : Arrays.copyOf(body, (int) capacity);
            }
            data.getBytes(data.readerIndex(), body, bodySize, n);
            bodySize += n;
        }
        if (frame.isEndStream()) {
            dispatch();
        }
    }

    /** The request's body did not all arrive in time: 408 on this stream, which ends it. */
    private void readTimedOut() {
        readTimer = null;
        if (!done) {
            server.connections.limitReached(ServerLimit.REQUEST_TIMEOUT, ctx.channel().remoteAddress());
            refuse(Http1Connection.TIMEOUT);
        }
    }

    private void stopReadTimer() {
        if (readTimer != null) {
            readTimer.cancel(false);
            readTimer = null;
        }
    }

    private void dispatch() {
        done = true;
        stopReadTimer();
        byte[] bytes = body == null ? NO_BODY : bodySize == body.length ? body : Arrays.copyOf(body, bodySize);
        headOnly = head.method() == HttpMethod.HEAD;
        requestStart = connection.requestStart();
        inFlight = true;
        connection.streamInFlight(1);
        Dispatcher dispatcher = server.dispatcher();
        dispatcher.dispatch(this, new Context(dispatcher, this, Request.ofHttp2(head, bytes, dispatcher.json), 1));
    }

    private void answered() {
        if (inFlight) {
            inFlight = false;
            connection.streamInFlight(-1);
        }
    }

    private void dropBody() {
        body = null;
        if (budgeted != 0) {
            server.connections.releaseBody(budgeted);
            budgeted = 0;
        }
    }

    /** Answers a malformed or oversized request on this stream, then resets the stream if the client still sends. */
    private void refuse(HeadValidation.Refusal refusal) {
        server.rejected.increment();
        done = true;
        stopReadTimer();
        head = null;
        dropBody();
        byte[] json = Response.errorJson(refusal.reason(), null);
        Http2Headers h = new DefaultHttp2Headers(false).status(AsciiString.of(Integer.toString(refusal.status())))
                .add(HttpHeaderNames.CONTENT_TYPE, Response.APPLICATION_JSON)
                .add(HttpHeaderNames.CONTENT_LENGTH, AsciiString.of(Integer.toString(json.length)))
                .add(HttpHeaderNames.SERVER, SERVER_NAME)
                .add(HttpHeaderNames.DATE, HttpDate.now());
        if (refusal.status() == 503) {
            h.add(HttpHeaderNames.RETRY_AFTER, "1");
        }
        ctx.write(new DefaultHttp2HeadersFrame(h).stream(stream), ctx.voidPromise());
        // a client still sending gets RST_STREAM once the answer is out: it need not send the rest
        ctx.writeAndFlush(new DefaultHttp2DataFrame(Unpooled.wrappedBuffer(json), true).stream(stream))
                .addListener(f -> resetIfOpen());
    }

    private void resetIfOpen() {
        if (!ended) {
            ended = true;
            ctx.writeAndFlush(new DefaultHttp2ResetFrame(Http2Error.CANCEL).stream(stream), ctx.voidPromise());
        }
    }

    // ---------------------------------------------------------------- the answer

    @Override
    public void respond(Context cx, Response r) {
        if (ended) {
            answered();
            return;
        }
        Http2Headers h = new DefaultHttp2Headers(false).status(HttpResponseStatus.valueOf(r.status).codeAsText());
        if (r.body instanceof ResponseBody.Streamed s) {
            h.add(HttpHeaderNames.CONTENT_TYPE, r.contentType);
            addCommonHeaders(h, r);
            ctx.writeAndFlush(new DefaultHttp2HeadersFrame(h, headOnly).stream(stream), ctx.voidPromise());
            completed(cx, r.status);
            if (!headOnly) {
                streaming = true;
                Stream out = new Stream();
                try {
                    s.producer().produce(out);
                } catch (Throwable t) {
                    cx.logger().error("stream producer failed", t);
                    out.abort();
                }
            }
            return;
        }
        ByteBuf content;
        CharSequence type = r.contentType;
        try {
            ResponseBody b = r.body;
            if (b instanceof ResponseBody.Constant c && type == null) {
                type = c.body().contentType;
            }
            content = ResponseBody.encode(b, ctx.alloc());
        } catch (Throwable t) {
            server.handlerErrors.increment();
            cx.logger().error("cannot encode the response body", t);
            r = Response.ok(Response.errorJson("Internal Server Error", cx.requestId()), Response.APPLICATION_JSON).status(500);
            h.status(HttpResponseStatus.INTERNAL_SERVER_ERROR.codeAsText());
            content = Unpooled.wrappedBuffer(((ResponseBody.Bytes) r.body).bytes());
            type = r.contentType;
        }
        if (type != null) {
            h.add(HttpHeaderNames.CONTENT_TYPE, type);
        }
        if (r.status != 204) {
            h.add(HttpHeaderNames.CONTENT_LENGTH, AsciiString.of(Integer.toString(content.readableBytes())));
        }
        addCommonHeaders(h, r);
        // written, not flushed: the codec flushes after the read that carried the request, and an answer
        // that comes later is flushed by whoever completed it (Exchange.flush)
        if (headOnly || !content.isReadable()) {
            content.release();
            ctx.write(new DefaultHttp2HeadersFrame(h, true).stream(stream), ctx.voidPromise());
        } else {
            ctx.write(new DefaultHttp2HeadersFrame(h).stream(stream), ctx.voidPromise());
            ctx.write(new DefaultHttp2DataFrame(content, true).stream(stream), ctx.voidPromise());
        }
        completed(cx, r.status);
    }

    private void completed(Context cx, int status) {
        answered();
        dropBody();
        if (requestStart != 0) {
            server.requestCompleted(cx, status, requestStart);
        }
    }

    private void addCommonHeaders(Http2Headers h, Response r) {
        h.add(HttpHeaderNames.SERVER, SERVER_NAME);
        h.add(HttpHeaderNames.DATE, HttpDate.now());
        List<String> extra = r.headers;
        if (extra != null) {
            for (int i = 0; i < extra.size(); i += 2) {
                AsciiString name = AsciiString.of(extra.get(i)).toLowerCase(); // HTTP/2 field names are lowercase
                if (!CONNECTION_HEADERS.contains(name.toString())) {
                    h.add(name, extra.get(i + 1));
                }
            }
        }
    }

    @Override
    public EventExecutor executor() {
        return ctx.executor();
    }

    @Override
    public void flush() {
        connection.flushOutsideRead();
    }

    @Override
    public Worker worker() {
        return connection.worker();
    }

    @Override
    public long id() {
        return id;
    }

    /**
     * A streaming response on this stream: each write one DATA frame, {@link #close} an empty one that
     * ends the stream, {@link #abort} a reset of this stream only. The stream's flow-control window
     * makes it unwritable while the client is behind; a producer that keeps writing then is bounded by
     * {@code maxQueuedResponseBytes} like on HTTP/1.1, and aborted past it.
     */
    private final class Stream implements ResponseStream {
        private volatile boolean open = true;
        private final java.util.concurrent.atomic.AtomicLong queued = new java.util.concurrent.atomic.AtomicLong();

        @Override
        public ResponseStream write(byte[] chunk) {
            if (chunk.length == 0 || !isOpen()) {
                return this;
            }
            if (queued.addAndGet(chunk.length) > config.maxQueuedResponseBytes()) {
                server.connections.limitReached(ServerLimit.RESPONSE_QUEUE, ctx.channel().remoteAddress());
                abort();
                return this;
            }
            onLoop(() -> {
                if (open && !ended) {
                    ctx.writeAndFlush(new DefaultHttp2DataFrame(Unpooled.wrappedBuffer(chunk), false).stream(stream))
                            .addListener(f -> queued.addAndGet(-chunk.length));
                } else {
                    queued.addAndGet(-chunk.length);
                }
            });
            return this;
        }

        @Override
        public ResponseStream write(String chunk) {
            return write(chunk.getBytes(StandardCharsets.UTF_8));
        }

        @Override
        public void close() {
            onLoop(() -> {
                if (open && !ended) {
                    ctx.writeAndFlush(new DefaultHttp2DataFrame(Unpooled.EMPTY_BUFFER, true).stream(stream), ctx.voidPromise());
                }
                open = false;
            });
        }

        @Override
        public void abort() {
            open = false;
            onLoop(Http2Stream.this::resetIfOpen); // this stream only, not the connection
        }

        @Override
        public boolean isOpen() {
            return open && !ended && ctx.channel().isActive();
        }

        @Override
        public boolean isWritable() {
            return isOpen() && writable && ctx.channel().isWritable();
        }
    }
}
