package io.stellane.server;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.handler.codec.http.DefaultHttpRequest;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http2.DefaultHttp2DataFrame;
import io.netty.handler.codec.http2.DefaultHttp2Headers;
import io.netty.handler.codec.http2.DefaultHttp2HeadersFrame;
import io.netty.handler.codec.http2.Http2DataFrame;
import io.netty.handler.codec.http2.Http2Headers;
import io.netty.handler.codec.http2.Http2HeadersFrame;
import io.netty.util.AsciiString;
import io.netty.util.ReferenceCountUtil;
import io.stellane.task.Worker;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;

/**
 * One HTTP/2 stream: the handler of its child channel and its request's {@link Exchange}. It turns
 * the stream's HEADERS into an HTTP/1.1-shaped head (pseudo-headers out, {@code :authority} as
 * {@code Host}) checked like an HTTP/1.1 one, gathers the DATA frames into the body (bounded by
 * {@code maxBodySize} and the server's body budget), dispatches the request, and writes the answer
 * as HEADERS and DATA frames. A request not all in within {@code requestReadTimeout} of its HEADERS is
 * answered 408. A refusal or a failure ends this stream only: the connection and its
 * other streams go on. Flow control is the codec's: a DATA frame read here returns its bytes to the
 * client's window.
 *
 * <p>Threading: the stream's channel runs on its connection's loop, and so does everything here
 * but a streaming response's {@link ResponseStream}, which hops there.
 */
final class Http2Stream extends ChannelInboundHandlerAdapter implements Exchange {
    private static final byte[] NO_BODY = new byte[0];
    private static final AsciiString SERVER_NAME = AsciiString.cached("stellane");
    /** Headers that mean something for one HTTP/1.1 connection only: never sent on a stream (RFC 9113 8.2.2). */
    private static final Set<String> CONNECTION_HEADERS = Set.of("connection", "keep-alive", "proxy-connection",
            "transfer-encoding", "upgrade");

    private final Server server;
    /** The connection this stream belongs to, gone over to HTTP/2: it counts the streams in flight. */
    private final Http1Connection connection;
    private final ServerConfig config;
    private final long id = Http1Connection.IDS.incrementAndGet();
    private ChannelHandlerContext ctx;
    private Worker worker;

    private HttpRequest head;
    private byte[] body;
    private int bodySize;
    private long budgeted;
    /** Answered (or refused): what the client still sends is dropped. */
    private boolean done;
    private boolean headOnly;
    /** Until the request is all in: answers 408 after {@code requestReadTimeout}. */
    private ScheduledFuture<?> readTimer;
    /** Dispatched, and not yet answered nor ended. */
    private boolean inFlight;
    private long requestStart;

    Http2Stream(Server server, Http1Connection connection) {
        this.server = server;
        this.connection = connection;
        this.config = server.config;
    }

    @Override
    public void handlerAdded(ChannelHandlerContext ctx) {
        this.ctx = ctx;
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        try {
            if (done) {
                return;
            }
            if (msg instanceof Http2HeadersFrame h) {
                if (head == null) {
                    onHeaders(h);
                } else if (h.isEndStream()) {
                    dispatch(); // trailers end the body; they are not kept
                }
            } else if (msg instanceof Http2DataFrame d) {
                onData(d);
            }
        } finally {
            ReferenceCountUtil.release(msg);
        }
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
        done = true;
        stopReadTimer();
        answered();
        dropBody();
        ctx.fireChannelInactive();
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        server.reportConnectionError(cause); // a stream error: the codec has reset this stream
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
                    server.connections.limitReached(ServerLimit.BODY_BUDGET, ctx.channel().parent().remoteAddress());
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
            server.connections.limitReached(ServerLimit.REQUEST_TIMEOUT, ctx.channel().parent().remoteAddress());
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
        ctx.write(new DefaultHttp2HeadersFrame(h));
        // the channel closing after an answer sent whole resets the stream only if the client is still sending
        ctx.writeAndFlush(new DefaultHttp2DataFrame(Unpooled.wrappedBuffer(json), true))
                .addListener(f -> ctx.channel().close());
    }

    // ---------------------------------------------------------------- the answer

    @Override
    public void respond(Context cx, Response r) {
        Channel ch = ctx.channel();
        if (!ch.isActive()) {
            return;
        }
        Http2Headers h = new DefaultHttp2Headers(false).status(AsciiString.of(Integer.toString(r.status)));
        if (r.body instanceof ResponseBody.Streamed s) {
            h.add(HttpHeaderNames.CONTENT_TYPE, r.contentType);
            addCommonHeaders(h, r);
            ctx.writeAndFlush(new DefaultHttp2HeadersFrame(h, headOnly));
            completed(cx, r.status);
            if (!headOnly) {
                Stream out = new Stream(ch);
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
            h.status(AsciiString.of("500"));
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
        if (headOnly || !content.isReadable()) {
            content.release();
            ctx.writeAndFlush(new DefaultHttp2HeadersFrame(h, true));
        } else {
            ctx.write(new DefaultHttp2HeadersFrame(h));
            ctx.writeAndFlush(new DefaultHttp2DataFrame(content, true));
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
    public void onLoop(Runnable r) {
        if (ctx.executor().inEventLoop()) {
            r.run();
        } else {
            ctx.executor().execute(r);
        }
    }

    @Override
    public void later(Runnable r) {
        ctx.executor().execute(r);
    }

    @Override
    public void flush() {
        ctx.flush();
    }

    @Override
    public Worker worker() {
        Worker w = worker;
        if (w == null && ctx.executor().inEventLoop() && (w = Worker.current()) != null) {
            worker = w;
        }
        return w;
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
        private final Channel ch;
        private volatile boolean open = true;
        private final java.util.concurrent.atomic.AtomicLong queued = new java.util.concurrent.atomic.AtomicLong();

        Stream(Channel ch) {
            this.ch = ch;
        }

        @Override
        public ResponseStream write(byte[] chunk) {
            if (chunk.length == 0 || !isOpen()) {
                return this;
            }
            if (queued.addAndGet(chunk.length) > config.maxQueuedResponseBytes()) {
                server.connections.limitReached(ServerLimit.RESPONSE_QUEUE, ch.parent().remoteAddress());
                abort();
                return this;
            }
            onLoop(() -> {
                if (open && ch.isActive()) {
                    ch.writeAndFlush(new DefaultHttp2DataFrame(Unpooled.wrappedBuffer(chunk), false))
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
                if (open && ch.isActive()) {
                    open = false;
                    ch.writeAndFlush(new DefaultHttp2DataFrame(Unpooled.EMPTY_BUFFER, true));
                }
                open = false;
            });
        }

        @Override
        public void abort() {
            open = false;
            onLoop(ch::close); // resets this stream, not the connection
        }

        @Override
        public boolean isOpen() {
            return open && ch.isActive();
        }

        @Override
        public boolean isWritable() {
            return isOpen() && ch.isWritable();
        }
    }
}
