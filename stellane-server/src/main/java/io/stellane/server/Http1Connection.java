package io.stellane.server;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelOption;
import io.netty.channel.ChannelOutboundBuffer;
import io.netty.channel.socket.DuplexChannel;
import io.netty.handler.codec.http.HttpContent;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.HttpResponseEncoder;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.LastHttpContent;
import io.netty.handler.ssl.ApplicationProtocolNames;
import io.netty.handler.ssl.SslHandler;
import io.netty.handler.ssl.SslHandshakeCompletionEvent;
import io.netty.handler.ssl.SslHandshakeTimeoutException;
import io.netty.util.ReferenceCountUtil;
import io.netty.util.concurrent.EventExecutor;
import io.stellane.task.Worker;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.net.InetAddress;
import java.util.Arrays;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * One HTTP/1.1 connection: the last handler of its pipeline (after the request decoder and the
 * response encoder), on its worker's thread for its whole life. It speaks HTTP/1.1 and nothing
 * else: what a request means is the {@link Dispatcher}'s, how a response is written the
 * {@link Http1ResponseWriter}'s.
 *
 * <h2>How it works</h2>
 * A request head is validated, its body (if any) is gathered up to the limit, then the whole request
 * goes to the dispatcher, and its answer comes back through {@link #respond} (this connection is the
 * request's {@link Exchange}). An answer given at once is written (not flushed) and the next
 * pipelined request is read; the read batch ends with one flush. Until its answer is written the
 * connection is <em>busy</em>.
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
 * <p>Protocol errors are answered with a 4xx and {@code Connection: close}, and the connection is
 * closed; everything after them is dropped. Timeouts use one timer per connection, re-armed from
 * timestamps rather than per request: a head must be complete within {@code headerReadTimeout} of
 * its first byte, a whole request within {@code requestReadTimeout}, a body must keep up
 * {@code minBodyRate} after its grace period (else 408); an idle keep-alive connection is closed
 * after {@code idleTimeout}. A request body is copied into one array as it arrives (network
 * buffers go back to the pool at once) and counted against the server's body budget until the
 * response is written.
 *
 * <p>Over TLS an {@code SslHandler} sits in front and hands this connection plaintext. Its handshake is
 * bounded by the handler's own timeout ({@link ServerLimit#TLS_HANDSHAKE_TIMEOUT} when it trips), and
 * this connection's timers start once the handshake is done.
 */
final class Http1Connection extends ChannelInboundHandlerAdapter implements Exchange, Runnable {
    /** Exchange ids, HTTP/2 streams' included. */
    static final AtomicLong IDS = new AtomicLong();
    private static final byte[] NO_BODY = new byte[0];
    /** A chunked body's array starts at this size and doubles. */
    private static final int FIRST_CHUNKED_CAPACITY = 8 * 1024;
    private static final long SECOND = TimeUnit.SECONDS.toNanos(1);
    static final HeadValidation.Refusal TOO_LARGE = new HeadValidation.Refusal(413, "Content Too Large");
    static final HeadValidation.Refusal TIMEOUT = new HeadValidation.Refusal(408, "Request Timeout");
    private static final HeadValidation.Refusal TOO_SLOW = new HeadValidation.Refusal(408,
            "Request Timeout: the request body arrived too slowly");
    static final HeadValidation.Refusal BUSY = new HeadValidation.Refusal(503,
            "Service Unavailable: too many request bodies in progress; retry later");

    private enum Phase { WAIT, HEAD, BODY, BUSY, IDLE }

    final Server server;
    final long id = IDS.incrementAndGet();
    /** The client's address, for the per-address cap; null when unknown. */
    final InetAddress address;
    final ServerConfig config;
    /** An SslHandler is in front: the header timer starts once its handshake is done, which it bounds itself. */
    private final boolean tls;
    private final long headerTimeoutNanos;
    private final long idleTimeoutNanos;
    private final long requestTimeoutNanos;
    private final long writeTimeoutNanos;
    private final Dispatcher dispatcher;

    private ChannelHandlerContext ctx;
    private Http1ResponseWriter writer;
    private RequestDecoder decoder;
    private boolean inRead;
    private boolean needsFlush;
    private boolean closing;
    private boolean busy;
    private boolean draining;
    /** The decoder holds undecoded input and the socket is not read ({@code autoRead} off). */
    private boolean inputHeld;
    /** Handed over to HTTP/2: only the channel is still this connection's. */
    private boolean http2;
    /** After the hand-over to HTTP/2: the connection's HTTP/2 handler, which drains and retires it. */
    private Http2Connection h2;
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
    /**
     * A request dispatched and its response not yet all handed over: what {@link Server#requestsInFlight}
     * counts, by reading every open connection's flag (opaque: a gauge needs no ordering, and the worker
     * pays a plain store, not an atomic operation per request).
     */
    private boolean inFlight;
    /** After the hand-over to HTTP/2: its streams in flight, counted as {@link #inFlight} is. */
    private int streams;
    private static final VarHandle IN_FLIGHT;
    private static final VarHandle STREAMS;

    static {
        try {
            IN_FLIGHT = MethodHandles.lookup().findVarHandle(Http1Connection.class, "inFlight", boolean.class);
            STREAMS = MethodHandles.lookup().findVarHandle(Http1Connection.class, "streams", int.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }
    private int timed;
    private Future<?> timer;
    private long timerDeadline;
    /** Since when queued responses made no progress (the channel unwritable); 0 when writable. */
    private long stalledSince;
    private long stalledPending;
    private Object stalledCurrent;
    private int stalledReadable;

    Http1Connection(Server server, InetAddress address, boolean tls) {
        this.server = server;
        this.address = address;
        this.tls = tls;
        this.config = server.config;
        this.headerTimeoutNanos = config.headerReadTimeout().toNanos();
        this.idleTimeoutNanos = config.idleTimeout().toNanos();
        this.requestTimeoutNanos = config.requestReadTimeout().toNanos();
        this.writeTimeoutNanos = config.writeTimeout().toNanos();
        this.dispatcher = server.dispatcher();
    }

    // ---------------------------------------------------------------- channel events

    /** Called once by the decoder in front of this connection. */
    void decoder(RequestDecoder decoder) {
        this.decoder = decoder;
    }

    @Override
    public void handlerAdded(ChannelHandlerContext ctx) {
        this.ctx = ctx;
        this.writer = new Http1ResponseWriter(this, ctx);
    }

    @Override
    public void channelActive(ChannelHandlerContext ctx) {
        server.connections.opened(this);
        if (server.draining) {
            drain();
        }
        if (!tls) {
            arm(headerTimeoutNanos);
        }
        ctx.fireChannelActive();
    }

    /**
     * Right behind the {@code SslHandler} of a TLS connection, until its handshake completes: a handler
     * of its own, so that the cleartext pipeline stays as it is.
     */
    static final class HandshakeWatch extends ChannelInboundHandlerAdapter {
        private final Http1Connection connection;

        HandshakeWatch(Http1Connection connection) {
            this.connection = connection;
        }

        @Override
        public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
            if (evt instanceof SslHandshakeCompletionEvent done) {
                ctx.pipeline().remove(this);
                connection.handshakeCompleted(done);
            }
            ctx.fireUserEventTriggered(evt);
        }
    }

    private void handshakeCompleted(SslHandshakeCompletionEvent done) {
        if (done.isSuccess()) {
            ChannelHandlerContext tls = ctx.pipeline().context(SslHandler.class);
            if (!closing && tls != null
                    && ApplicationProtocolNames.HTTP_2.equals(((SslHandler) tls.handler()).applicationProtocol())) {
                Http2Connection.negotiated(tls, this);
            } else if (!closing) {
                arm(headerTimeoutNanos);
            }
        } else if (done.cause() instanceof SslHandshakeTimeoutException) {
            limitReached(ServerLimit.TLS_HANDSHAKE_TIMEOUT); // the SslHandler closes the connection
        } else {
            server.reportConnectionError(done.cause());
        }
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
        closing = true;
        answered();
        writer.inactive();
        if (timer != null) {
            timer.cancel(false);
            timer = null;
        }
        dropBody();
        server.connections.closed(this);
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
            writer.writable();
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
            limitReached(ServerLimit.WRITE_BACKPRESSURE);
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
            refuse(refusal, req.method() == HttpMethod.CONNECT ? dispatcher.allowAll() : null);
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
            if (!server.connections.reserveBody(length)) {
                limitReached(ServerLimit.BODY_BUDGET);
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
                writer.writeContinue();
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
        if (more > 0 && !server.connections.reserveBody(more)) {
            limitReached(ServerLimit.BODY_BUDGET);
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
            server.connections.releaseBody(budgeted);
            budgeted = 0;
        }
    }

    // ---------------------------------------------------------------- to the dispatcher and back

    /** A whole request is here: the dispatcher takes it, and the answer comes back through {@link #respond}. */
    private void dispatch(HttpRequest req, byte[] bytes) {
        // the one lookup of Connection serves keep-alive and, rarely, an upgrade to h2c
        String connection = req.headers().get(HttpHeaderNames.CONNECTION);
        if (connection != null && !tls && bytes.length == 0 && !draining && !server.draining
                && Http2Connection.upgrade(ctx, this, req, connection)) {
            return;
        }
        busy = true;
        IN_FLIGHT.setOpaque(this, true);
        setPhase(Phase.BUSY);
        requestStart = requestStart();
        http10 = req.protocolVersion() == HttpVersion.HTTP_1_0;
        keepAlive = (connection == null ? !http10 : HttpUtil.isKeepAlive(req)) && !draining;
        headRequest = req.method() == HttpMethod.HEAD;
        dispatcher.dispatch(this, new Context(dispatcher, this, Request.of(req, bytes, dispatcher.json), ++seq));
    }

    /**
     * For a request dispatched now, on this connection or one of its HTTP/2 streams: 0 when nobody
     * observes requests, -1 when observed but not timed (all but one in {@link Server#TIMING_SAMPLE}),
     * else the time. On the loop.
     */
    long requestStart() {
        if (server.observers.length == 0) {
            return 0;
        }
        return server.timeEveryRequest || (++timed & (Server.TIMING_SAMPLE - 1)) == 1 ? System.nanoTime() : -1;
    }

    @Override
    public void respond(Context cx, Response r) {
        if (closing || !ctx.channel().isActive()) {
            return;
        }
        writer.write(cx, r, !keepAlive || draining || server.draining, headRequest);
    }

    /** The writer handed a whole response to the channel; with {@code close}, it closes after it. */
    void sent(Context cx, int status, boolean close) {
        answered();
        if (close) {
            closing = true;
            dropBody();
        } else {
            needsFlush = true;
        }
        if (requestStart != 0) {
            server.requestCompleted(cx, status, requestStart);
        }
        if (!close) {
            finishRequest();
        }
    }

    /** A streaming response ended; with {@code close}, the connection closes after it. */
    void streamEnded(boolean close) {
        answered();
        if (close) {
            closing = true;
        } else {
            needsFlush = true;
            finishRequest();
            flushOutsideRead();
        }
    }

    /** The request in flight, if any, is answered (or will never be: its connection closed). */
    private void answered() {
        IN_FLIGHT.setOpaque(this, false);
    }

    /** Requests on this connection dispatched and not yet answered: 0 or 1, or an HTTP/2 connection's streams. Any thread. */
    int requestsInFlight() {
        if (http2) {
            return (int) STREAMS.getOpaque(this);
        }
        return (boolean) IN_FLIGHT.getOpaque(this) ? 1 : 0;
    }

    /** HTTP/2: one of this connection's streams dispatched its request (+1), or answered it or ended (-1). On the loop. */
    void streamInFlight(int delta) {
        STREAMS.setOpaque(this, (int) STREAMS.getOpaque(this) + delta);
    }

    /**
     * The connection goes over to HTTP/2 ({@link Http2Connection} says when): this handler and the
     * response encoder leave the pipeline for HTTP/2's and the timer stops; the request decoder is
     * removed by the caller, once HTTP/2 can take the bytes it holds. It stays among the server's open
     * connections, never shed, and drains, retires and force-closes its channel the HTTP/2 way
     * ({@code GOAWAY}, then the streams in flight finish). On the loop.
     */
    void handOver(Http2Connection h2) {
        this.h2 = h2;
        http2 = true;
        closing = true;
        setPhase(Phase.BUSY);
        if (timer != null) {
            timer.cancel(false);
            timer = null;
        }
        ctx.pipeline().remove(HttpResponseEncoder.class);
        ctx.pipeline().remove(this);
    }

    /** Ends the connection at once (a stream's producer gave up, or overran its cap). */
    void abort() {
        closing = true;
        ctx.close();
    }

    @Override
    public void flush() {
        flushOutsideRead();
    }

    @Override
    public long id() {
        return id;
    }

    /** This connection's event loop. */
    @Override
    public EventExecutor executor() {
        return ctx.executor();
    }

    /** The types of the handlers in this connection's pipeline, in order (for tests). */
    java.util.List<Class<?>> handlerTypes() {
        return ctx.pipeline().toMap().values().stream().<Class<?>>map(Object::getClass).toList();
    }

    void flushOutsideRead() {
        if (!inRead && needsFlush) {
            needsFlush = false;
            ctx.flush();
        }
    }

    boolean http10() {
        return http10;
    }

    void limitReached(ServerLimit limit) {
        server.connections.limitReached(limit, remote());
    }

    // ---------------------------------------------------------------- writing responses

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
        ChannelFuture sent = writer.writeRefusal(refusal, allow);
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
    long now() {
        Worker w = worker();
        return w == null ? System.nanoTime() : w.loopNanos();
    }

    /** This connection's worker, or null when called off its loop (or on a backend without workers). */
    @Override
    public Worker worker() {
        Worker w = worker;
        if (w == null) {
            if (ctx == null || !ctx.executor().inEventLoop() || (w = Worker.current()) == null) {
                return null;
            }
            worker = w;
        }
        return w;
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
                limitReached(ServerLimit.WRITE_TIMEOUT);
                reset();
                return;
            }
            next = writeTimeoutNanos - (now - stalledSince);
        }
        long elapsed = now - phaseSince;
        switch (phase) {
            case WAIT -> {
                if (elapsed >= headerTimeoutNanos) {
                    limitReached(ServerLimit.HEADER_TIMEOUT);
                    reset(); // nothing sent at all: nobody to answer
                    return;
                }
                next = Math.min(next, headerTimeoutNanos - elapsed);
            }
            case HEAD -> {
                if (elapsed >= headerTimeoutNanos) {
                    limitReached(ServerLimit.HEADER_TIMEOUT);
                    refuse(TIMEOUT, null);
                    return;
                }
                next = Math.min(next, headerTimeoutNanos - elapsed);
            }
            case BODY -> {
                long total = now - requestReadStart;
                if (total >= requestTimeoutNanos) {
                    limitReached(ServerLimit.REQUEST_TIMEOUT);
                    refuse(TIMEOUT, null);
                    return;
                }
                next = Math.min(next, requestTimeoutNanos - total);
                if (config.minBodyRate() > 0) {
                    long grace = config.bodyRateGracePeriod().toNanos();
                    if (elapsed < grace) {
                        next = Math.min(next, grace - elapsed);
                    } else if ((double) bodySize * SECOND < (double) config.minBodyRate() * elapsed) {
                        limitReached(ServerLimit.BODY_RATE);
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
    long queuedBytes() {
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
            limitReached(ServerLimit.CONNECTION_SHED);
            reset();
        });
    }

    /** Server.stop(): close when idle, else after the in-flight response. Thread-safe. */
    void drain() {
        if (ctx == null) {
            return;
        }
        ctx.executor().execute(() -> {
            if (h2 != null) {
                h2.shutDown();
                return;
            }
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
            if (h2 != null) {
                h2.shutDown();
                return;
            }
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
