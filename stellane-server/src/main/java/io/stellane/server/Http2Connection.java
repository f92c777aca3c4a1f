package io.stellane.server;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelPipeline;
import io.netty.handler.codec.ByteToMessageDecoder;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpScheme;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http2.DefaultHttp2Connection;
import io.netty.handler.codec.http2.DefaultHttp2GoAwayFrame;
import io.netty.handler.codec.http2.DefaultHttp2RemoteFlowController;
import io.netty.handler.codec.http2.DefaultHttp2ResetFrame;
import io.netty.handler.codec.http2.DefaultHttp2WindowUpdateFrame;
import io.netty.handler.codec.http2.Http2CodecUtil;
import io.netty.handler.codec.http2.Http2DataFrame;
import io.netty.handler.codec.http2.Http2Error;
import io.netty.handler.codec.http2.Http2ConnectionAdapter;
import io.netty.handler.codec.http2.Http2Exception;
import io.netty.handler.codec.http2.Http2FrameCodec;
import io.netty.handler.codec.http2.Http2FrameCodecBuilder;
import io.netty.handler.codec.http2.Http2FrameStream;
import io.netty.handler.codec.http2.Http2FrameStreamEvent;
import io.netty.handler.codec.http2.Http2FrameStreamException;
import io.netty.handler.codec.http2.Http2Headers;
import io.netty.handler.codec.http2.Http2HeadersFrame;
import io.netty.handler.codec.http2.Http2Settings;
import io.netty.handler.codec.http2.HttpConversionUtil;
import io.netty.handler.codec.http2.UniformStreamByteDistributor;
import io.netty.util.AsciiString;
import io.netty.util.ReferenceCountUtil;
import io.netty.util.collection.IntObjectHashMap;
import io.netty.util.collection.IntObjectMap;
import io.stellane.task.Worker;

import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.Base64;
import java.util.List;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;

/**
 * One HTTP/2 connection: the handler behind Netty's frame codec, which hands each stream's frames to
 * that stream's {@link Http2Stream}, the request's {@link Exchange} through the same
 * {@link Dispatcher} as HTTP/1.1. Streams are plain objects in a map by stream id, not child channels:
 * a channel and a pipeline per request cost more than twice the CPU of the request itself.
 *
 * <h2>How it works</h2>
 * Every connection starts as HTTP/1.1 and comes here one of three ways, each replacing the HTTP/1.1
 * handlers with the frame codec and this handler: over TLS, when ALPN negotiated
 * {@code h2} ({@link #negotiated}); in the clear, when the first bytes are the client preface (a
 * {@link Detector} in front looks at those only and leaves at the first byte that differs, so
 * HTTP/1.1 requests never pass it); or when an HTTP/1.1 request asks to upgrade to {@code h2c}
 * ({@link #upgrade}: {@code 101}, and the request becomes stream 1). The codec
 * enforces the limits ({@code SETTINGS_MAX_CONCURRENT_STREAMS}, the header list size, the stream
 * window) and the flood defences, and answers a violation with {@code GOAWAY}; this handler counts
 * those as {@link ServerLimit}s. A connection with no stream open for {@code idleTimeout} is closed
 * with {@code GOAWAY}, and a stream whose request is not all in within {@code requestReadTimeout} is
 * answered 408; draining the server or retiring its worker sends
 * {@code GOAWAY} in two steps ({@link #shutDown}), and the streams in flight get up to {@code drainTimeout}
 * to finish.
 */
final class Http2Connection extends ChannelInboundHandlerAdapter {
    /** Between the first {@code GOAWAY} of a shutdown and the close: a round trip or more for the client to read it. */
    static final Duration SHUTDOWN_GRACE = Duration.ofSeconds(1);
    /** Netty's default window for counting a client's RST_STREAM frames. */
    static final int RESET_WINDOW_SECONDS = 30;
    private static final byte[] PREFACE = ByteBufUtil.getBytes(Http2CodecUtil.connectionPrefaceBuf());
    private static final AsciiString HTTP2_SETTINGS = AsciiString.cached("http2-settings");
    private static final AsciiString H2C = AsciiString.cached("h2c");

    final Server server;
    private final Http1Connection conn;
    private final IntObjectMap<Http2Stream> streams = new IntObjectHashMap<>();
    private ChannelHandlerContext ctx;
    private Http2FrameCodec codec;
    private boolean shuttingDown;
    /** In a read from the socket: the codec flushes after it, so writes need no flush of their own. */
    private boolean inRead;
    private final long idleNanos;
    /** When the last stream opened or closed (or the connection went over to HTTP/2). */
    private long lastStreamChange = System.nanoTime();
    private ScheduledFuture<?> idleCheck;
    /** A flood was counted: the one GOAWAY that ends it is not counted again. */
    private boolean limitCounted;

    private Http2Connection(Server server, Http1Connection conn) {
        this.server = server;
        this.conn = conn;
        this.idleNanos = conn.config.idleTimeout().toNanos();
    }

    /**
     * Idle means no stream open for {@code idleTimeout}, whatever else the client sends: PINGs and
     * SETTINGS do not keep a connection that carries no requests.
     */
    @Override
    public void handlerAdded(ChannelHandlerContext ctx) {
        this.ctx = ctx;
        Http2FrameCodec codec = ctx.pipeline().get(Http2FrameCodec.class);
        this.codec = codec;
        codec.connection().addListener(new Http2ConnectionAdapter() {
            @Override
            public void onStreamActive(io.netty.handler.codec.http2.Http2Stream stream) {
                lastStreamChange = System.nanoTime();
            }

            @Override
            public void onStreamClosed(io.netty.handler.codec.http2.Http2Stream stream) {
                lastStreamChange = System.nanoTime();
            }

            // the floods Netty finds on the way out (acks a client does not read, streams it makes the
            // server reset) never reach exceptionCaught: they are counted as their GOAWAY leaves
            @Override
            public void onGoAwaySent(int lastStreamId, long errorCode, ByteBuf debugData) {
                if (errorCode == Http2Error.ENHANCE_YOUR_CALM.code() && !limitCounted) {
                    limitCounted = true;
                    server.connections.limitReached(ServerLimit.HTTP2_FLOOD, ctx.channel().remoteAddress());
                }
            }
        });
        idleCheck = ctx.executor().schedule(() -> checkIdle(ctx, codec), idleNanos, TimeUnit.NANOSECONDS);
    }

    private void checkIdle(ChannelHandlerContext ctx, Http2FrameCodec codec) {
        long quiet = System.nanoTime() - lastStreamChange;
        if (codec.connection().numActiveStreams() == 0 && quiet >= idleNanos) {
            ctx.channel().close(); // through the codec: GOAWAY first
            return;
        }
        long next = codec.connection().numActiveStreams() == 0 ? idleNanos - quiet : idleNanos;
        idleCheck = ctx.executor().schedule(() -> checkIdle(ctx, codec), next, TimeUnit.NANOSECONDS);
    }

    // ---------------------------------------------------------------- frames in

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        inRead = true;
        if (msg instanceof Http2DataFrame d) {
            try {
                int bytes = d.initialFlowControlledBytes();
                if (bytes > 0) {
                    // the body is copied as it arrives (and bounded there): the client may send more at once
                    ctx.write(new DefaultHttp2WindowUpdateFrame(bytes).stream(d.stream()), ctx.voidPromise());
                }
                Http2Stream s = streams.get(key(d.stream()));
                if (s != null) {
                    s.data(d);
                }
            } finally {
                d.release();
            }
        } else if (msg instanceof Http2HeadersFrame h) {
            int key = key(h.stream());
            Http2Stream s = streams.get(key);
            if (s == null) {
                s = new Http2Stream(this, ctx, h.stream());
                streams.put(key, s);
            }
            s.headers(h);
        } else {
            ReferenceCountUtil.release(msg); // settings, pings, resets and the rest: the codec did what they ask
        }
    }

    /**
     * A stream's key in the map: its id scrambled (multiplied by an odd constant, so still one key per
     * id). Ids rise by two; as keys they would fill neighbouring slots of the open-addressing map, and
     * each removal would shift the whole run of the streams opened after it.
     */
    private static int key(Http2FrameStream stream) {
        return stream.id() * 0x9E3779B9;
    }

    @Override
    public void channelReadComplete(ChannelHandlerContext ctx) {
        inRead = false;
        ctx.fireChannelReadComplete(); // then the codec flushes
    }

    /** Streams opening and closing, and their flow-control windows filling and emptying. */
    @Override
    public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
        if (evt instanceof Http2FrameStreamEvent e) {
            Http2FrameStream fs = e.stream();
            if (e.type() == Http2FrameStreamEvent.Type.State) {
                if (fs.state() == io.netty.handler.codec.http2.Http2Stream.State.CLOSED) {
                    Http2Stream s = streams.remove(key(fs));
                    if (s != null) {
                        s.ended();
                    }
                }
            } else {
                Http2Stream s = streams.get(key(fs));
                if (s != null && s.streaming()) { // only a streaming response's producer asks
                    io.netty.handler.codec.http2.Http2Stream netty = codec.connection().stream(fs.id());
                    if (netty != null) {
                        s.writabilityChanged(codec.connection().remote().flowController().isWritable(netty));
                    }
                }
            }
            return;
        }
        ctx.fireUserEventTriggered(evt);
    }

    /**
     * The server drains or this connection's worker retires. A close at once would reset the client's
     * requests already on their way (their bytes unread in the socket when it closes), so first a
     * {@code GOAWAY} that still admits every stream (RFC 9113 6.8: the client stops opening them), and
     * {@link #SHUTDOWN_GRACE} later a second {@code GOAWAY} with the last stream it took and the codec's
     * close, once those streams are done (at most {@code drainTimeout}). On the loop.
     */
    void shutDown() {
        if (shuttingDown || !ctx.channel().isActive()) {
            return;
        }
        shuttingDown = true;
        ctx.writeAndFlush(new DefaultHttp2GoAwayFrame(Http2Error.NO_ERROR).setExtraStreamIds(Integer.MAX_VALUE / 2),
                ctx.voidPromise());
        long grace = Math.min(SHUTDOWN_GRACE.toNanos(), conn.config.drainTimeout().toNanos() / 2);
        ctx.executor().schedule(() -> {
            // the codec's close sends no GOAWAY of its own once one went out: the final one is written here
            ctx.write(new DefaultHttp2GoAwayFrame(Http2Error.NO_ERROR), ctx.voidPromise());
            ctx.channel().close();
        }, grace, TimeUnit.NANOSECONDS);
    }

    /** Flushes writes made outside a read (an answer that completed later); inside one, the codec will. */
    void flushOutsideRead() {
        if (!inRead) {
            ctx.flush();
        }
    }

    long requestStart() {
        return conn.requestStart();
    }

    /** The worker of this connection's loop, for its streams. */
    Worker worker() {
        return conn.worker();
    }

    void streamInFlight(int delta) {
        conn.streamInFlight(delta);
    }

    /**
     * Puts HTTP/2's handlers right behind {@code anchor} in place of the HTTP/1.1 connection and its
     * encoder; returns the frame codec, which has sent the server's SETTINGS. The request decoder is the
     * caller's to remove once HTTP/2 is ready for the bytes it still holds.
     */
    private static Http2FrameCodec install(ChannelHandlerContext anchor, Http1Connection conn) {
        Server server = conn.server;
        ServerConfig c = conn.config;
        Http2Settings settings = Http2Settings.defaultSettings()
                .maxConcurrentStreams(c.http2MaxConcurrentStreams())
                .maxHeaderListSize(c.maxHeaderSize())
                .initialWindowSize(c.http2InitialWindowSize());
        Http2FrameCodec codec = new CodecBuilder()
                .initialSettings(settings)
                .gracefulShutdownTimeoutMillis(c.drainTimeout().toMillis())
                .decoderEnforceMaxRstFramesPerWindow(c.http2MaxResets(), RESET_WINDOW_SECONDS)
                .build();
        Http2Connection handler = new Http2Connection(server, conn);
        conn.handOver(handler);
        ChannelPipeline p = anchor.pipeline();
        p.addAfter(anchor.name(), "h2-codec", codec);
        p.addAfter("h2-codec", "h2-connection", handler);
        return codec;
    }

    /**
     * Netty's server codec builder, on a connection whose DATA frames are shared out among the streams
     * by a {@link UniformStreamByteDistributor}: stream priorities are deprecated (RFC 9113 5.3) and
     * the default distributor's priority tree cost a tenth of the CPU per request (docs/DECISIONS.md).
     */
    private static final class CodecBuilder extends Http2FrameCodecBuilder {
        CodecBuilder() {
            DefaultHttp2Connection connection = new DefaultHttp2Connection(true);
            connection.remote().flowController(new DefaultHttp2RemoteFlowController(connection,
                    new UniformStreamByteDistributor(connection)));
            connection(connection);
        }
    }

    /** A TLS handshake behind {@code tls} negotiated {@code h2} through ALPN: the connection speaks HTTP/2 from here. */
    static void negotiated(ChannelHandlerContext tls, Http1Connection conn) {
        install(tls, conn);
        tls.pipeline().remove(RequestDecoder.class);
    }

    /**
     * If {@code req}, a whole HTTP/1.1 request without a body on a cleartext connection, asks to upgrade
     * to h2c ({@code Connection: Upgrade, HTTP2-Settings}, {@code Upgrade: h2c} and one valid
     * {@code HTTP2-Settings}), answers {@code 101}, switches the pipeline to HTTP/2 and hands the request
     * to stream 1, whose answer goes out as HTTP/2; returns whether it did. Anything short of a valid
     * upgrade request is served over HTTP/1.1, as RFC 9113 lets a server do.
     *
     * @param connection the request's {@code Connection} header, already looked up by the caller
     * @param at the HTTP/1.1 connection's handler context, in front of which the response encoder sits
     */
    static boolean upgrade(ChannelHandlerContext at, Http1Connection conn, HttpRequest req, String connection) {
        HttpHeaders h = req.headers();
        List<String> encoded = h.getAll(HTTP2_SETTINGS);
        if (encoded.size() != 1 || !hasToken(connection, "upgrade") || !hasToken(connection, "http2-settings")
                || !hasToken(h.get(HttpHeaderNames.UPGRADE), "h2c")) {
            return false;
        }
        Http2Settings clientSettings = decodeSettings(encoded.getFirst());
        if (clientSettings == null) {
            return false;
        }
        Http2Headers stream1;
        try {
            h.set(HttpConversionUtil.ExtensionHeaderNames.SCHEME.text(), HttpScheme.HTTP.name());
            stream1 = HttpConversionUtil.toHttp2Headers(req, true); // the connection's own headers left out
        } catch (IllegalArgumentException e) {
            return false; // not expressible as HTTP/2 (a target or field it refuses): HTTP/1.1 it is
        }
        ChannelPipeline p = at.pipeline();
        ChannelHandlerContext decoder = p.context(RequestDecoder.class);
        at.writeAndFlush(new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, HttpResponseStatus.SWITCHING_PROTOCOLS,
                Unpooled.EMPTY_BUFFER, Http1ResponseWriter.HEADERS.newHeaders()
                        .add(HttpHeaderNames.CONNECTION, HttpHeaderValues.UPGRADE)
                        .add(HttpHeaderNames.UPGRADE, H2C), Http1ResponseWriter.HEADERS.newHeaders()));
        // the decoder stays until HTTP/2 is in place: what it still holds (the client's preface) goes to the codec
        Http2FrameCodec codec = install(decoder, conn);
        try {
            codec.onHttpServerUpgrade(clientSettings); // stream 1 exists now, half closed: the request is all in
            // what the codec does with Netty's own upgrade event: the request arrives as stream 1's HEADERS
            codec.decoder().frameListener().onHeadersRead(p.context(codec), Http2CodecUtil.HTTP_UPGRADE_STREAM_ID,
                    stream1, 0, true);
        } catch (Http2Exception e) {
            conn.server.reportConnectionError(e);
            at.channel().close();
        }
        p.remove(decoder.handler());
        return true;
    }

    /** Whether the comma-separated {@code value} has {@code token}, ignoring case and spaces. */
    private static boolean hasToken(String value, String token) {
        if (value == null) {
            return false;
        }
        for (String t : value.split(",")) {
            if (t.strip().equalsIgnoreCase(token)) {
                return true;
            }
        }
        return false;
    }

    /** An {@code HTTP2-Settings} header: a SETTINGS frame's payload in base64url (RFC 7540 3.2.1); null when invalid. */
    static Http2Settings decodeSettings(String header) {
        byte[] payload;
        try {
            payload = Base64.getUrlDecoder().decode(header.strip());
        } catch (IllegalArgumentException e) {
            return null;
        }
        if (payload.length % 6 != 0) {
            return null;
        }
        Http2Settings settings = new Http2Settings();
        ByteBuffer b = ByteBuffer.wrap(payload);
        try {
            while (b.hasRemaining()) {
                char id = b.getChar();
                long value = b.getInt() & 0xFFFF_FFFFL;
                settings.put(id, Long.valueOf(value));
            }
        } catch (IllegalArgumentException e) {
            return null; // a value out of its setting's range
        }
        return settings;
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
        idleCheck.cancel(false);
        for (Http2Stream s : streams.values()) {
            s.ended();
        }
        streams.clear();
        server.connections.closed(conn);
        ctx.fireChannelInactive();
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        if (cause instanceof Http2FrameStreamException e) {
            // a client's error on one stream (DATA after its end, a bad header): the codec leaves the reset
            // to whoever owns the stream, and that is this handler; the stream's CLOSED event cleans up
            if (e.stream().state() != io.netty.handler.codec.http2.Http2Stream.State.CLOSED) {
                ctx.writeAndFlush(new DefaultHttp2ResetFrame(e.error()).stream(e.stream()), ctx.voidPromise());
            }
            return;
        }
        // the codec has already answered a connection error with GOAWAY and closes; here it is counted
        if (cause instanceof Http2Exception e && e.error() == Http2Error.ENHANCE_YOUR_CALM) {
            limitCounted = true;
            String m = String.valueOf(e.getMessage());
            server.connections.limitReached(m.contains("RST") ? ServerLimit.HTTP2_RESETS : ServerLimit.HTTP2_FLOOD,
                    ctx.channel().remoteAddress());
        } else if (!(cause instanceof Http2Exception)) {
            server.reportConnectionError(cause);
            ctx.close();
        }
    }

    /**
     * First in every new connection's pipeline: looks at its first bytes for the HTTP/2 client
     * preface, switches the pipeline to HTTP/2 if they are it, and leaves (handing the bytes on) as
     * soon as they cannot be.
     */
    static final class Detector extends ByteToMessageDecoder {
        private final Http1Connection conn;

        Detector(Http1Connection conn) {
            this.conn = conn;
        }

        @Override
        protected void decode(ChannelHandlerContext ctx, ByteBuf in, List<Object> out) {
            int n = Math.min(in.readableBytes(), PREFACE.length);
            for (int i = 0; i < n; i++) {
                if (in.getByte(in.readerIndex() + i) != PREFACE[i]) {
                    ctx.pipeline().remove(this); // what was read goes on to the HTTP/1.1 decoder
                    return;
                }
            }
            if (n == PREFACE.length) {
                install(ctx, conn);
                ctx.pipeline().remove(RequestDecoder.class); // holds nothing yet
                ctx.pipeline().remove(this); // the preface and what follows go on to the frame codec
            }
        }
    }
}
