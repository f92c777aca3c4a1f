package io.stellane.server;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufOutputStream;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelOption;
import io.netty.channel.ChannelOutboundBuffer;
import io.netty.channel.socket.DuplexChannel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.DefaultHttpContent;
import io.netty.handler.codec.http.DefaultHttpHeadersFactory;
import io.netty.handler.codec.http.DefaultHttpResponse;
import io.netty.handler.codec.http.EmptyHttpHeaders;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpContent;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.handler.codec.http.HttpHeadersFactory;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.LastHttpContent;
import io.netty.util.AsciiString;
import io.netty.util.ReferenceCountUtil;
import io.stellane.server.routing.RouteTree;
import io.stellane.task.Task;
import io.stellane.task.Worker;

import java.io.OutputStream;
import java.net.InetAddress;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;
import java.util.function.BiConsumer;

/**
 * One HTTP/1.1 connection: the last handler of its pipeline (after the request decoder and the
 * response encoder), on its worker's thread for its whole life.
 *
 * <h2>How it works</h2>
 * A request head is validated, its body (if any) is gathered up to the limit, then the request is
 * routed and its handler called. A handler task that is already done is answered at once: the
 * response is written (not flushed) and the next pipelined request is read; the read batch ends
 * with one flush. A task that is not done makes the connection <em>busy</em> until its response is
 * written (when the task completes, on this worker: tasks started here continue here).
 *
 * <p><b>One request at a time, and only while its answer can leave.</b> The decoder asks
 * {@link #readyForRequest()} before it decodes each new request head: not while a request is
 * busy, and not while the channel is unwritable (more than {@code writeHighWaterMark} bytes of
 * responses queued because the client does not read them). Undecoded bytes stay in the decoder,
 * and reading from the socket stops ({@code autoRead} off) until the connection can take a request
 * again; so a client that pipelines without reading costs one read buffer and one outbound buffer,
 * and responses leave in request order without a queue of decoded requests. If queued responses
 * make no progress for {@code writeTimeout}, the connection is reset.
 *
 * <p>With request recovery on ({@link ServerRecovery}), a selected request is journaled before its
 * handler runs and completed once its response is ready, before that response is written; under
 * {@code SyncPolicy.ALWAYS} (or for a large body) both steps run on a virtual thread while the
 * connection stays busy.
 *
 * <p>Protocol errors are answered with a 4xx and {@code Connection: close}, and the connection is
 * closed; everything after them is dropped. Timeouts use one timer per connection, re-armed from
 * timestamps rather than per request: a head must be complete within {@code headerReadTimeout} of
 * its first byte, a whole request within {@code requestReadTimeout}, a body must keep up
 * {@code minBodyRate} after its grace period (else 408); an idle keep-alive connection is closed
 * after {@code idleTimeout}. A request body is copied into one array as it arrives (network
 * buffers go back to the pool at once) and counted against the server's body budget until the
 * response is written.
 */
final class Connection extends ChannelInboundHandlerAdapter implements Runnable {
    private static final AtomicLong IDS = new AtomicLong();
    private static final AsciiString SERVER_NAME = AsciiString.cached("stellane");
    private static final AsciiString ZERO = AsciiString.cached("0");
    private static final HttpHeadersFactory HEADERS = DefaultHttpHeadersFactory.headersFactory()
            .withNameValidation(false).withValueValidation(false);
    private static final byte[] NO_BODY = new byte[0];
    /** A chunked body's array starts at this size and doubles. */
    private static final int FIRST_CHUNKED_CAPACITY = 8 * 1024;
    private static final long SECOND = TimeUnit.SECONDS.toNanos(1);
    private static final HeadValidation.Refusal TOO_LARGE = new HeadValidation.Refusal(413, "Content Too Large");
    private static final HeadValidation.Refusal TIMEOUT = new HeadValidation.Refusal(408, "Request Timeout");
    private static final HeadValidation.Refusal TOO_SLOW = new HeadValidation.Refusal(408,
            "Request Timeout: the request body arrived too slowly");
    private static final HeadValidation.Refusal BUSY = new HeadValidation.Refusal(503,
            "Service Unavailable: too many request bodies in progress; retry later");

    private enum Phase { WAIT, HEAD, BODY, BUSY, IDLE }

    final Server server;
    final long id = IDS.incrementAndGet();
    /** The client's address, for the per-address cap; null when unknown. */
    final InetAddress address;
    private final ServerConfig config;
    private final long headerTimeoutNanos;
    private final long idleTimeoutNanos;
    private final long requestTimeoutNanos;
    private final long writeTimeoutNanos;
    private final RouteTree<Handler> routes;
    private final String[] params;
    private final ServerRecovery recovery; // fixed before listen; null when recovery is off

    private ChannelHandlerContext ctx;
    private RequestDecoder decoder;
    private boolean inRead;
    private boolean needsFlush;
    private boolean closing;
    private boolean busy;
    private boolean draining;
    /** The decoder holds undecoded input and the socket is not read ({@code autoRead} off). */
    private boolean inputHeld;
    private long seq;

    // the request being read
    private HttpRequest head;
    private long requestReadStart;
    private byte[] body;
    private int bodySize;
    /** Bytes of the server's body budget this connection holds (its body array's size, or its declared length). */
    private long budgeted;

    // the request being answered
    private boolean keepAlive;
    private boolean headRequest;
    private boolean http10;

    // what other threads read when shedding: racy reads of a heuristic, never of a decision
    private volatile Phase phase = Phase.WAIT;
    private long phaseSince = System.nanoTime();
    private Worker worker; // this connection's worker, for its cheap loop clock
    private long requestStart; // 0: nobody observes; -1: observed, not timed; else System.nanoTime() at dispatch
    private int timed;
    private Future<?> timer;
    private long timerDeadline;
    /** The streaming response being sent, if any: told when the channel drains. */
    private Stream stream;
    /** The large fixed-length body being sent, if any: continued when the channel drains. */
    private LargeBody large;
    /** Since when queued responses made no progress (the channel unwritable); 0 when writable. */
    private long stalledSince;
    private long stalledPending;
    private Object stalledCurrent;
    private int stalledReadable;

    Connection(Server server, InetAddress address) {
        this.server = server;
        this.address = address;
        this.config = server.config;
        this.headerTimeoutNanos = config.headerReadTimeout().toNanos();
        this.idleTimeoutNanos = config.idleTimeout().toNanos();
        this.requestTimeoutNanos = config.requestReadTimeout().toNanos();
        this.writeTimeoutNanos = config.writeTimeout().toNanos();
        this.routes = server.routes;
        this.params = new String[routes.maxParams()];
        this.recovery = server.recovery;
    }

    // ---------------------------------------------------------------- channel events

    /** Called once by the decoder in front of this connection. */
    void decoder(RequestDecoder decoder) {
        this.decoder = decoder;
    }

    @Override
    public void handlerAdded(ChannelHandlerContext ctx) {
        this.ctx = ctx;
    }

    @Override
    public void channelActive(ChannelHandlerContext ctx) {
        server.connectionOpened(this);
        if (server.draining) {
            drain();
        }
        arm(headerTimeoutNanos);
        ctx.fireChannelActive();
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
        closing = true;
        if (large != null) {
            large.content.release();
            large = null;
        }
        if (stream != null) {
            stream.wakeWriter(); // a producer waiting for room learns the stream is over
        }
        if (timer != null) {
            timer.cancel(false);
            timer = null;
        }
        dropBody();
        server.connectionClosed(this);
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        inRead = true;
        if (closing) {
            if (lingering && msg instanceof LastHttpContent) {
                ctx.close(); // the refused body is all in: the client reads the answer, nothing is reset
            } else if (lingering) {
                lingerLastRead = System.nanoTime();
            }
            ReferenceCountUtil.release(msg);
        } else {
            handle(msg);
        }
    }

    @Override
    public void channelReadComplete(ChannelHandlerContext ctx) {
        inRead = false;
        if (needsFlush) {
            needsFlush = false;
            ctx.flush();
        }
        if (phase == Phase.BODY && !closing) {
            armBodyCheck(); // a body still arriving: the only case that needs the timer sooner
        }
    }

    @Override
    public void channelWritabilityChanged(ChannelHandlerContext ctx) {
        if (ctx.channel().isWritable()) {
            stalledSince = 0;
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
            if (inputHeld || decoder.hasBufferedInput()) {
                // not inline: this may be called from inside a flush, where a write would wait for the next one
                ctx.executor().execute(this::resumeReading);
            }
        } else if (stalledSince == 0 && !closing) {
            stalledSince = System.nanoTime();
            markProgress();
            arm(writeTimeoutNanos);
        }
        ctx.fireChannelWritabilityChanged();
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        server.reportConnectionError(cause);
        ctx.close();
    }

    // ---------------------------------------------------------------- flow control

    /** The decoder may decode another request head: none is being handled and responses can leave. */
    boolean readyForRequest() {
        return !busy && !closing && ctx.channel().isWritable();
    }

    /** Whether the decoder should throw input away instead of keeping it (the connection is closing). */
    boolean discardingInput() {
        return closing;
    }

    boolean inputHeld() {
        return inputHeld;
    }

    /** The decoder has input it may not decode yet: stop reading the socket until {@link #resumeReading}. */
    void holdInput() {
        if (inputHeld) {
            return;
        }
        inputHeld = true;
        ctx.channel().config().setAutoRead(false);
        if (!busy && !closing) {
            server.limitReached(ServerLimit.WRITE_BACKPRESSURE, remote());
        }
    }

    /** A request finished or the channel drained: decode what is waiting and read the socket again. */
    private void resumeReading() {
        if (!readyForRequest() || decoder.decoding()) {
            return; // a decoder mid-read asks readyForRequest() again before each head
        }
        if (decoder.hasBufferedInput()) {
            boolean wasInRead = inRead;
            inRead = true;
            try {
                decoder.decodeBuffered();
            } finally {
                inRead = wasInRead;
            }
            flushOutsideRead();
        }
        // reading again only once what waited is decoded and the connection still takes requests: turning
        // autoRead on and off around every burst lets reads in flight (io_uring) pile up in the decoder
        if (inputHeld && readyForRequest()) {
            inputHeld = false;
            ctx.channel().config().setAutoRead(true);
        }
    }

    // ---------------------------------------------------------------- reading requests

    // ---------------------------------------------------------------- reading requests

    private void handle(Object msg) {
        if (msg instanceof HttpRequest req) {
            try {
                onHead(req);
            } finally {
                if (req instanceof HttpContent) { // Netty's stand-in for a head it could not decode
                    ReferenceCountUtil.release(req);
                }
            }
        } else if (msg instanceof HttpContent c) {
            try {
                onContent(c);
            } finally {
                c.release();
            }
        } else {
            ReferenceCountUtil.release(msg);
        }
    }

    private void onHead(HttpRequest req) {
        setPhase(Phase.BODY);
        if (req.decoderResult().isFailure()) {
            refuse(HeadValidation.ofDecoderFailure(req.decoderResult().cause()), null);
            return;
        }
        HeadValidation.Refusal refusal = HeadValidation.check(req, config.maxHeaderCount());
        if (refusal != null) {
            refuse(refusal, req.method() == HttpMethod.CONNECT ? server.allowAll : null);
            return;
        }
        HttpHeaders h = req.headers();
        long length = HttpUtil.getContentLength(req, -1L);
        if (length > config.maxBodySize()) {
            refuse(TOO_LARGE, null);
            return;
        }
        if (length > 0) {
            // the whole declared body is budgeted before a byte of it is read, so a 503 costs the client nothing
            if (!server.reserveBody(length)) {
                server.limitReached(ServerLimit.BODY_BUDGET, remote());
                refuse(BUSY, null);
                return;
            }
            budgeted = length;
            body = new byte[(int) length];
        }
        String expect = h.get(HttpHeaderNames.EXPECT);
        if (expect != null) {
            if (!HttpHeaderValues.CONTINUE.contentEqualsIgnoreCase(expect)) {
                refuse(new HeadValidation.Refusal(417, "Expectation Failed"), null);
                return;
            }
            if (req.protocolVersion() == HttpVersion.HTTP_1_1 && (length > 0 || HttpUtil.isTransferEncodingChunked(req))) {
                ctx.writeAndFlush(new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, HttpResponseStatus.CONTINUE,
                        Unpooled.EMPTY_BUFFER, HEADERS.newEmptyHeaders(), EmptyHttpHeaders.INSTANCE), ctx.voidPromise());
            }
        }
        head = req;
        bodySize = 0;
    }

    private void onContent(HttpContent c) {
        if (head == null) {
            return; // the rest of a refused request
        }
        if (c.decoderResult().isFailure()) {
            refuse(HeadValidation.BAD_REQUEST, null);
            return;
        }
        ByteBuf data = c.content();
        int n = data.readableBytes();
        if (n > 0) {
            if ((long) bodySize + n > config.maxBodySize()) {
                refuse(TOO_LARGE, null);
                return;
            }
            if (body == null || bodySize + n > body.length) {
                if (!growBody(bodySize + n)) {
                    return;
                }
            }
            data.getBytes(data.readerIndex(), body, bodySize, n);
            bodySize += n;
        }
        if (c instanceof LastHttpContent) {
            byte[] bytes = NO_BODY;
            if (body != null) {
                bytes = bodySize == body.length ? body : Arrays.copyOf(body, bodySize);
                body = null;
            }
            HttpRequest req = head;
            head = null;
            dispatch(req, bytes);
        }
    }

    /** Room for a chunked body of {@code needed} bytes, doubling, within the body budget; false when refused. */
    private boolean growBody(int needed) {
        long capacity = Math.max(needed, body == null ? FIRST_CHUNKED_CAPACITY : 2L * body.length);
        capacity = Math.min(capacity, Math.max(needed, config.maxBodySize()));
        long more = capacity - budgeted;
        if (more > 0 && !server.reserveBody(more)) {
            server.limitReached(ServerLimit.BODY_BUDGET, remote());
            refuse(BUSY, null);
            return false;
        }
        budgeted += Math.max(more, 0);
        body = body == null ? new byte[(int) capacity] : Arrays.copyOf(body, (int) capacity);
        return true;
    }

    /** The request's body is no longer needed: its bytes leave the budget. */
    private void dropBody() {
        body = null;
        if (budgeted != 0) {
            server.releaseBody(budgeted);
            budgeted = 0;
        }
    }

    // ---------------------------------------------------------------- dispatching

    private void dispatch(HttpRequest req, byte[] bytes) {
        busy = true;
        setPhase(Phase.BUSY);
        if (server.observers.length == 0) {
            requestStart = 0;
        } else {
            requestStart = server.timeEveryRequest || (++timed & (Server.TIMING_SAMPLE - 1)) == 1
                    ? System.nanoTime() : -1; // -1: observed, untimed
        }
        server.requests.increment();
        HttpMethod method = req.method();
        http10 = req.protocolVersion() == HttpVersion.HTTP_1_0;
        keepAlive = HttpUtil.isKeepAlive(req) && !draining;
        headRequest = method == HttpMethod.HEAD;

        String uri = req.uri();
        String path;
        String query = "";
        int pathStart = 0;
        if (uri.charAt(0) != '/') {
            if (uri.charAt(0) == '*') { // OPTIONS * (validated)
                Request r = new Request(req, method.name(), "*", "", bytes);
                respond(new Context(this, r, ++seq), Response.ok().header("Allow", server.allowAll));
                return;
            }
            int authority = uri.indexOf("://") + 3; // absolute-form (validated): route on its path
            int slash = uri.indexOf('/', authority);
            int q = uri.indexOf('?', authority);
            if (slash < 0 || (q >= 0 && q < slash)) {
                path = "/";
                query = q < 0 ? "" : uri.substring(q + 1);
                pathStart = -1;
            } else {
                pathStart = slash;
            }
        }
        if (pathStart >= 0) {
            int q = uri.indexOf('?', pathStart);
            if (q < 0) {
                path = pathStart == 0 ? uri : uri.substring(pathStart);
            } else {
                path = uri.substring(pathStart, q);
                query = uri.substring(q + 1);
            }
        } else {
            path = "/";
        }
        Context cx = new Context(this, new Request(req, method.name(), path, query, bytes), ++seq);
        int m = methodIndex(method);
        if (m < 0) {
            respond(cx, Response.error(501, "Not Implemented"));
            return;
        }
        RouteTree.Endpoint<Handler> ep = routes.find(path, params);
        if (ep == null) {
            respond(cx, Response.error(404, "Not Found"));
            return;
        }
        Handler handler = ep.value(m);
        if (handler == null && m == RouteTree.HEAD) {
            handler = ep.value(RouteTree.GET);
        }
        if (handler == null) {
            Response r = m == RouteTree.OPTIONS ? Response.noContent() : Response.error(405, "Method Not Allowed");
            respond(cx, r.header("Allow", ep.allow()));
            return;
        }
        int pc = ep.paramCount();
        if (pc > 0) {
            cx.params(ep.paramNames(), Arrays.copyOf(params, pc));
        }
        cx.routePattern = ep.pattern();
        run(cx, handler);
    }

    private static int methodIndex(HttpMethod m) {
        if (m == HttpMethod.GET) return RouteTree.GET;
        if (m == HttpMethod.POST) return RouteTree.POST;
        if (m == HttpMethod.HEAD) return RouteTree.HEAD;
        if (m == HttpMethod.PUT) return RouteTree.PUT;
        if (m == HttpMethod.DELETE) return RouteTree.DELETE;
        if (m == HttpMethod.PATCH) return RouteTree.PATCH;
        if (m == HttpMethod.OPTIONS) return RouteTree.OPTIONS;
        return -1;
    }

    private void run(Context cx, Handler handler) {
        ServerRecovery rec = recovery;
        if (rec != null) {
            boolean journal;
            try {
                journal = rec.journalIf.test(cx.request());
            } catch (Throwable t) {
                respond(cx, server.mapError(t, cx));
                return;
            }
            if (journal) {
                rec.admit(this, cx, handler); // journals first, then runHandler (or answers without it)
                return;
            }
        }
        runHandler(cx, handler);
    }

    /**
     * Calls the handler and starts its task, here on the worker, counted as one of the worker's tasks
     * (the handler's own work included, however little of it the task does).
     */
    void runHandler(Context cx, Handler handler) {
        Worker w = worker();
        long began = w == null ? 0 : w.beginInline();
        Task<Response> task;
        try {
            task = handler.handle(cx);
            if (task == null) {
                throw new NullPointerException("handler for " + cx.route() + " returned null instead of a Task");
            }
            task.start();
        } catch (Throwable t) {
            if (w != null) {
                w.endInline(began);
            }
            handlerFailed(cx, null, t);
            finish(cx, server.mapError(t, cx));
            return;
        }
        if (w != null) {
            w.endInline(began);
        }
        if (task.isDone()) {
            complete(cx, task);
        } else {
            task.onComplete(new Completion(this, cx, task));
        }
    }

    /** Called when an async handler task completes; hops to the loop if it completed elsewhere. */
    private record Completion(Connection conn, Context cx, Task<Response> task) implements BiConsumer<Response, Throwable>, Runnable {
        @Override
        public void accept(Response response, Throwable error) {
            if (conn.ctx.executor().inEventLoop()) {
                run();
            } else {
                conn.ctx.executor().execute(this);
            }
        }

        @Override
        public void run() {
            conn.complete(cx, task);
            conn.flushOutsideRead();
        }
    }

    private void complete(Context cx, Task<Response> task) {
        if (task.isFailed()) {
            handlerFailed(cx, task, task.exceptionNow());
            finish(cx, server.mapError(task.exceptionNow(), cx));
            return;
        }
        Response r = task.resultNow();
        if (r == null) {
            r = server.mapError(new NullPointerException("handler for " + cx.route() + " completed with a null Response"), cx);
        }
        finish(cx, r);
    }

    /** The handler's answer is ready: a journaled request is completed in the journal before it is written. */
    private void finish(Context cx, Response r) {
        if (cx.recoveryState != null) { // a journaled request (replays never reach the connection)
            recovery.onResponse(this, cx, r);
        } else {
            respond(cx, r);
        }
    }

    /** Writes a response without touching the journal (ServerRecovery calls this once it is done with it). */
    void respondUnjournaled(Context cx, Response r) {
        respond(cx, r);
    }

    /** This connection's event loop. */
    io.netty.util.concurrent.EventExecutor executor() {
        return ctx.executor();
    }

    /** Runs {@code r} on this connection's event loop: now when already there, else queued. */
    void onLoop(Runnable r) {
        if (ctx.executor().inEventLoop()) {
            r.run();
        } else {
            ctx.executor().execute(r);
        }
    }

    void flushOutsideRead() {
        if (!inRead && needsFlush) {
            needsFlush = false;
            ctx.flush();
        }
    }

    // ---------------------------------------------------------------- writing responses

    private void respond(Context cx, Response r) {
        if (closing || !ctx.channel().isActive()) {
            return;
        }
        if (r.body instanceof Response.Streamer s) {
            startStream(cx, r, s);
            return;
        }
        boolean close = !keepAlive || draining || server.draining;
        ByteBuf content;
        CharSequence type = r.contentType;
        CharSequence length = null;
        try {
            Object b = r.body;
            if (b == null) {
                content = Unpooled.EMPTY_BUFFER;
                length = ZERO;
            } else if (b instanceof Body k) {
                content = k.buffer.duplicate();
                length = k.contentLength;
                if (type == null) {
                    type = k.contentType;
                }
            } else if (b instanceof byte[] bytes) {
                content = Unpooled.wrappedBuffer(bytes);
            } else if (b instanceof String s) {
                content = ByteBufUtil.writeUtf8(ctx.alloc(), s);
            } else {
                content = encodeJson(((Response.Json) b).value());
            }
        } catch (Throwable t) {
            server.handlerErrors.increment();
            cx.logger().error("cannot encode the response body", t);
            r = Response.ok(Response.errorJson("Internal Server Error", cx.requestId()), Response.APPLICATION_JSON).status(500);
            content = Unpooled.wrappedBuffer((byte[]) r.body);
            type = r.contentType;
        }
        if (length == null) {
            length = AsciiString.of(Integer.toString(content.readableBytes()));
        }
        if (headRequest) {
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
            closing = true;
            dropBody();
            ctx.writeAndFlush(res).addListener(ChannelFutureListener.CLOSE);
            if (requestStart != 0) {
                server.requestCompleted(cx, r.status, requestStart);
            }
            return;
        }
        ctx.write(res, ctx.voidPromise());
        needsFlush = true;
        if (requestStart != 0) {
            server.requestCompleted(cx, r.status, requestStart);
        }
        finishRequest();
    }

    /**
     * A large array body on its way out. Netty copies a heap buffer into a direct one to write it, and
     * a direct buffer of several MiB comes from outside the pool: fresh memory mapped, faulted in and
     * unmapped per response. Written as slices while the channel is writable, each copy is a pooled
     * {@value #SLICE}-byte buffer, and no more than the high-water mark of them waits at a time.
     */
    private record LargeBody(ByteBuf content, Context cx, int status, boolean close) {
    }

    private static final int SLICE = 64 * 1024;

    private void writeLargeBody() {
        LargeBody b = large;
        ByteBuf content = b.content;
        while (content.isReadable() && ctx.channel().isWritable()) {
            ctx.write(new DefaultHttpContent(content.readRetainedSlice(Math.min(SLICE, content.readableBytes()))),
                    ctx.voidPromise());
        }
        if (content.isReadable()) {
            ctx.flush(); // the rest follows when the channel drains (channelWritabilityChanged)
            return;
        }
        large = null;
        content.release();
        if (b.close) {
            closing = true;
            dropBody();
            ctx.writeAndFlush(LastHttpContent.EMPTY_LAST_CONTENT).addListener(ChannelFutureListener.CLOSE);
        } else {
            ctx.write(LastHttpContent.EMPTY_LAST_CONTENT, ctx.voidPromise());
            needsFlush = true;
        }
        if (requestStart != 0) {
            server.requestCompleted(b.cx, b.status, requestStart);
        }
        if (!b.close) {
            finishRequest();
            flushOutsideRead();
        }
    }

    private ByteBuf encodeJson(Object value) throws Exception {
        ByteBuf buf = ctx.alloc().buffer();
        try {
            Json.MAPPER.writeValue((OutputStream) new ByteBufOutputStream(buf), value);
            return buf;
        } catch (Throwable t) {
            buf.release();
            throw t;
        }
    }

    private void addCommonHeaders(HttpHeaders h, Response r, boolean close) {
        h.add(HttpHeaderNames.SERVER, SERVER_NAME);
        h.add(HttpHeaderNames.DATE, HttpDate.at(now()));
        List<String> extra = r.headers;
        if (extra != null) {
            for (int i = 0; i < extra.size(); i += 2) {
                h.add(extra.get(i), extra.get(i + 1));
            }
        }
        if (close) {
            h.set(HttpHeaderNames.CONNECTION, HttpHeaderValues.CLOSE);
        } else if (http10) {
            h.set(HttpHeaderNames.CONNECTION, HttpHeaderValues.KEEP_ALIVE);
        }
    }

    /** The response is written: serve what the client pipelined meanwhile. */
    private void finishRequest() {
        busy = false;
        dropBody();
        setPhase(Phase.IDLE);
        if (draining) {
            closing = true;
            ctx.writeAndFlush(Unpooled.EMPTY_BUFFER).addListener(ChannelFutureListener.CLOSE);
            return;
        }
        if (!decoder.decoding() && (inputHeld || decoder.hasBufferedInput())) {
            resumeReading();
        }
    }

    /** Answers a protocol error or a tripped limit: status, a fixed reason, {@code Connection: close}; then closes. */
    private void refuse(HeadValidation.Refusal refusal, String allow) {
        server.rejected.increment();
        head = null;
        dropBody();
        closing = true;
        busy = true;
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
        ChannelFuture sent = ctx.writeAndFlush(new DefaultFullHttpResponse(HttpVersion.HTTP_1_1,
                HttpResponseStatus.valueOf(refusal.status()), Unpooled.wrappedBuffer(json), h, EmptyHttpHeaders.INSTANCE));
        if ((refusal == TOO_LARGE || refusal == BUSY) && ctx.channel() instanceof DuplexChannel duplex) {
            sent.addListener(f -> linger(duplex, f.isSuccess()));
        } else {
            sent.addListener(ChannelFutureListener.CLOSE);
        }
    }

    /**
     * After refusing a body the client is still sending: closing at once would reset the connection
     * under the client's feet, and most clients then report the reset, not the answer. So the server
     * closes its side only and reads the rest of the refused body, discarding it, and closes once it
     * has all come in, or the client stopped sending for {@value #LINGER_IDLE_MILLIS} ms, or after
     * {@value #LINGER_MAX_MILLIS} ms in all (nginx's lingering close, with its timeouts shortened).
     */
    private void linger(DuplexChannel channel, boolean answered) {
        if (!answered || !channel.isActive()) {
            channel.close();
            return;
        }
        lingering = true;
        lingerLastRead = System.nanoTime();
        long until = lingerLastRead + TimeUnit.MILLISECONDS.toNanos(LINGER_MAX_MILLIS);
        channel.shutdownOutput();
        ctx.executor().schedule(new Runnable() {
            @Override
            public void run() {
                long now = System.nanoTime();
                long idle = now - lingerLastRead;
                if (!channel.isActive()) {
                    return;
                }
                if (now - until >= 0 || idle >= TimeUnit.MILLISECONDS.toNanos(LINGER_IDLE_MILLIS)) {
                    channel.close();
                } else {
                    ctx.executor().schedule(this, LINGER_IDLE_MILLIS, TimeUnit.MILLISECONDS);
                }
            }
        }, LINGER_IDLE_MILLIS, TimeUnit.MILLISECONDS);
    }

    private static final int LINGER_IDLE_MILLIS = 2_000;
    private static final int LINGER_MAX_MILLIS = 30_000;
    private boolean lingering;
    private long lingerLastRead;

    // ---------------------------------------------------------------- streaming

    private void startStream(Context cx, Response r, Response.Streamer s) {
        boolean close = !keepAlive || draining || server.draining || http10;
        HttpHeaders h = HEADERS.newHeaders();
        h.add(HttpHeaderNames.CONTENT_TYPE, r.contentType);
        boolean chunked = !http10 && !headRequest;
        if (chunked) {
            h.add(HttpHeaderNames.TRANSFER_ENCODING, HttpHeaderValues.CHUNKED);
        }
        addCommonHeaders(h, r, close);
        ctx.writeAndFlush(new DefaultHttpResponse(HttpVersion.HTTP_1_1, HttpResponseStatus.valueOf(r.status), h), ctx.voidPromise());
        Stream out = new Stream(this, close);
        stream = out;
        if (headRequest) {
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
    private static final class Stream implements io.stellane.server.ResponseStream {
        private static final long WAIT_SLICE = TimeUnit.MILLISECONDS.toNanos(10);

        private final Connection conn;
        private final boolean closeAfter;
        private volatile boolean open = true;
        private final AtomicLong inFlight = new AtomicLong();
        private volatile Thread waiting;

        Stream(Connection conn, boolean closeAfter) {
            this.conn = conn;
            this.closeAfter = closeAfter;
        }

        @Override
        public io.stellane.server.ResponseStream write(byte[] chunk) {
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
                conn.server.limitReached(ServerLimit.RESPONSE_QUEUE, conn.remote());
                abort();
                return this;
            }
            onLoop(() -> {
                inFlight.addAndGet(-chunk.length);
                if (open && conn.ctx.channel().isActive()) {
                    conn.ctx.writeAndFlush(new DefaultHttpContent(Unpooled.wrappedBuffer(chunk)), conn.ctx.voidPromise());
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
        public io.stellane.server.ResponseStream write(String chunk) {
            return write(chunk.getBytes(StandardCharsets.UTF_8));
        }

        @Override
        public void close() {
            onLoop(() -> {
                if (!open) {
                    return;
                }
                open = false;
                conn.stream = null;
                if (!conn.ctx.channel().isActive()) {
                    return;
                }
                if (closeAfter) {
                    conn.closing = true;
                    conn.ctx.writeAndFlush(LastHttpContent.EMPTY_LAST_CONTENT).addListener(ChannelFutureListener.CLOSE);
                } else {
                    conn.ctx.write(LastHttpContent.EMPTY_LAST_CONTENT, conn.ctx.voidPromise());
                    conn.needsFlush = true;
                    conn.finishRequest();
                    conn.flushOutsideRead();
                }
            });
        }

        @Override
        public void abort() {
            open = false; // now: writes after this, from any thread, are dropped
            wakeWriter();
            onLoop(() -> {
                conn.stream = null;
                conn.closing = true;
                conn.ctx.close();
            });
        }

        @Override
        public boolean isOpen() {
            return open && conn.ctx.channel().isActive();
        }

        @Override
        public boolean isWritable() {
            return isOpen() && conn.ctx.channel().isWritable() && inFlight.get() < conn.config.writeHighWaterMark();
        }

        private void onLoop(Runnable r) {
            if (conn.ctx.executor().inEventLoop()) {
                r.run();
            } else {
                conn.ctx.executor().execute(r);
            }
        }
    }

    // ---------------------------------------------------------------- timeouts and shutdown

    /** From the decoder: the first bytes of a request head are here. */
    void headStarted() {
        if (phase == Phase.IDLE || phase == Phase.WAIT) {
            setPhase(Phase.HEAD);
            requestReadStart = phaseSince;
            arm(headerTimeoutNanos);
        }
    }

    /** Phase times come from the worker's loop clock: a clock read per loop turn, not per request. */
    private long now() {
        Worker w = worker();
        return w == null ? System.nanoTime() : w.loopNanos();
    }

    /** This connection's worker, or null when called off its loop (or on a backend without workers). */
    private Worker worker() {
        Worker w = worker;
        if (w == null) {
            if (ctx == null || !ctx.executor().inEventLoop() || (w = Worker.current()) == null) {
                return null;
            }
            worker = w;
        }
        return w;
    }

    /**
     * A handler failed (threw, or its task failed): counted as its worker's failed task and told to the
     * runtime's error handlers ({@code Server.onTaskError}, {@code Runtime.onTaskError}); the response is
     * still the error mappers'. A handler that threw has no task: the report gets a failed one named
     * after the request.
     */
    private void handlerFailed(Context cx, Task<Response> task, Throwable error) {
        Worker w = worker();
        if (w != null) {
            Task<?> t = task != null ? task
                    : Task.failed(error).named(cx.request().method() + " " + (cx.route() == null ? "?" : cx.route()));
            w.inlineFailed(t, Server.unwrap(error));
        }
    }

    private void setPhase(Phase p) {
        phase = p;
        phaseSince = now();
        if (p == Phase.IDLE && !closing) {
            arm(Math.min(idleTimeoutNanos, headerTimeoutNanos));
        }
    }

    /**
     * A body is still arriving at the end of a read: the timer must look at it by the time its rate
     * could fall short or its request's deadline passes (a no-op when the timer is due sooner).
     */
    private void armBodyCheck() {
        long elapsed = now() - phaseSince;
        long grace = config.bodyRateGracePeriod().toNanos();
        long next = requestTimeoutNanos - (now() - requestReadStart);
        if (config.minBodyRate() > 0) {
            next = Math.min(next, Math.max(grace - elapsed, bodyShortfallIn(elapsed)));
        }
        arm(Math.max(next, 1));
    }

    /** Nanoseconds until the body read so far falls below {@code minBodyRate} if no more arrives. */
    private long bodyShortfallIn(long elapsed) {
        double covered = (double) bodySize / config.minBodyRate() * SECOND;
        return Math.max((long) Math.min(covered, Long.MAX_VALUE / 2) - elapsed, 1);
    }

    /**
     * Makes sure the timer fires within {@code nanos}. A timer already due earlier is kept (it re-arms
     * itself when it finds nothing expired), so steady keep-alive traffic schedules nothing per request.
     */
    private void arm(long nanos) {
        if (ctx == null) {
            return;
        }
        long deadline = now() + nanos;
        if (timer != null) {
            if (timerDeadline - deadline <= 0) {
                return;
            }
            timer.cancel(false);
        }
        timerDeadline = deadline;
        timer = ctx.executor().schedule(this, Math.max(nanos, 1), TimeUnit.NANOSECONDS);
    }

    /** The timer: checks the deadlines of the current phase and of stalled responses, and re-arms itself. */
    @Override
    public void run() {
        timer = null;
        if (closing || !ctx.channel().isActive()) {
            return;
        }
        long now = System.nanoTime(); // the timer is rare: the exact clock
        long next = Long.MAX_VALUE;
        if (stalledSince != 0) {
            if (madeProgress()) {
                stalledSince = now;
            } else if (now - stalledSince >= writeTimeoutNanos) {
                server.limitReached(ServerLimit.WRITE_TIMEOUT, remote());
                reset();
                return;
            }
            next = writeTimeoutNanos - (now - stalledSince);
        }
        long elapsed = now - phaseSince;
        switch (phase) {
            case WAIT -> {
                if (elapsed >= headerTimeoutNanos) {
                    server.limitReached(ServerLimit.HEADER_TIMEOUT, remote());
                    reset(); // nothing sent at all: nobody to answer
                    return;
                }
                next = Math.min(next, headerTimeoutNanos - elapsed);
            }
            case HEAD -> {
                if (elapsed >= headerTimeoutNanos) {
                    server.limitReached(ServerLimit.HEADER_TIMEOUT, remote());
                    refuse(TIMEOUT, null);
                    return;
                }
                next = Math.min(next, headerTimeoutNanos - elapsed);
            }
            case BODY -> {
                long total = now - requestReadStart;
                if (total >= requestTimeoutNanos) {
                    server.limitReached(ServerLimit.REQUEST_TIMEOUT, remote());
                    refuse(TIMEOUT, null);
                    return;
                }
                next = Math.min(next, requestTimeoutNanos - total);
                if (config.minBodyRate() > 0) {
                    long grace = config.bodyRateGracePeriod().toNanos();
                    if (elapsed < grace) {
                        next = Math.min(next, grace - elapsed);
                    } else if ((double) bodySize * SECOND < (double) config.minBodyRate() * elapsed) {
                        server.limitReached(ServerLimit.BODY_RATE, remote());
                        refuse(TOO_SLOW, null);
                        return;
                    } else {
                        next = Math.min(next, bodyShortfallIn(elapsed));
                    }
                }
            }
            case IDLE -> {
                if (elapsed >= idleTimeoutNanos) {
                    closing = true;
                    ctx.close();
                    return;
                }
                next = Math.min(next, Math.min(idleTimeoutNanos - elapsed, headerTimeoutNanos));
            }
            case BUSY -> {
                // a request is being handled: the phase timers start again when it is answered
            }
        }
        if (next != Long.MAX_VALUE) {
            arm(Math.max(next, 1));
        }
    }

    /**
     * What this connection holds in memory for its client now: queued responses, input not yet
     * decoded, and the request body being gathered. On the connection's loop.
     */
    long heldBytes() {
        return queuedBytes() + (decoder.hasBufferedInput() ? decoder.bufferedBytes() : 0) + (body == null ? 0 : body.length);
    }

    /** Bytes queued on the channel, not yet written to the socket. */
    private long queuedBytes() {
        ChannelOutboundBuffer out = ctx.channel().unsafe().outboundBuffer();
        return out == null ? 0 : out.totalPendingWriteBytes();
    }

    private void markProgress() {
        ChannelOutboundBuffer out = ctx.channel().unsafe().outboundBuffer();
        stalledPending = out == null ? 0 : out.totalPendingWriteBytes();
        stalledCurrent = out == null ? null : out.current();
        stalledReadable = stalledCurrent instanceof ByteBuf b ? b.readableBytes() : -1;
    }

    /**
     * Whether the client took any queued bytes since the last look. Pending bytes only drop when a
     * whole message is written, so a large response going out in partial writes shows as its first
     * buffer's reader index moving instead.
     */
    private boolean madeProgress() {
        long pending = stalledPending;
        Object current = stalledCurrent;
        int readable = stalledReadable;
        markProgress();
        return stalledPending < pending || stalledCurrent != current || stalledReadable != readable;
    }

    /** Closes with a reset (SO_LINGER 0): the kernel drops the unsent bytes now instead of retrying them for minutes. */
    private void reset() {
        closing = true;
        try {
            ctx.channel().config().setOption(ChannelOption.SO_LINGER, 0);
        } catch (RuntimeException e) {
            // a transport without SO_LINGER closes normally
        }
        ctx.close();
    }

    private Object remote() {
        return ctx == null ? address : ctx.channel().remoteAddress();
    }

    // ---------------------------------------------------------------- shedding (called from other workers' acceptors)

    /** Whether this connection may be closed to make room: it is not handling a request. Racy, on purpose. */
    boolean sheddable() {
        Phase p = phase;
        return p != Phase.BUSY && !closing && !draining;
    }

    /** Since when the connection has been in its current state (the oldest are shed first). Racy, on purpose. */
    long stateSince() {
        return phaseSince;
    }

    /** Closes this connection for a newcomer, unless it started handling a request meanwhile. Thread-safe. */
    void shed() {
        if (ctx == null) {
            return;
        }
        ctx.executor().execute(() -> {
            if (closing || busy) {
                return;
            }
            server.limitReached(ServerLimit.CONNECTION_SHED, remote());
            reset();
        });
    }

    /** Server.stop(): close when idle, else after the in-flight response. Thread-safe. */
    void drain() {
        if (ctx == null) {
            return;
        }
        ctx.executor().execute(() -> {
            draining = true;
            keepAlive = false;
            if (!busy && head == null && !closing) {
                closing = true;
                ctx.close();
            }
        });
    }

    /**
     * Its worker retires: the response in flight and any later one carry {@code Connection: close}, and
     * an idle connection is closed when its idle timeout passes, not sooner (a client may be sending on
     * it). Thread-safe.
     */
    void retire() {
        if (ctx == null) {
            return;
        }
        ctx.executor().execute(() -> {
            draining = true;
            keepAlive = false;
        });
    }

    /** After the drain timeout. Thread-safe. */
    void forceClose() {
        if (ctx != null) {
            ctx.channel().close();
        }
    }
}
