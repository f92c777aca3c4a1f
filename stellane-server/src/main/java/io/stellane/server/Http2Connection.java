package io.stellane.server;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelPipeline;
import io.netty.handler.codec.ByteToMessageDecoder;
import io.netty.handler.codec.http2.Http2CodecUtil;
import io.netty.handler.codec.http2.Http2Error;
import io.netty.handler.codec.http2.Http2Exception;
import io.netty.handler.codec.http2.Http2FrameCodec;
import io.netty.handler.codec.http2.Http2FrameCodecBuilder;
import io.netty.handler.codec.http2.Http2MultiplexHandler;
import io.netty.handler.codec.http2.Http2Settings;
import io.netty.handler.codec.http2.Http2StreamChannel;
import io.netty.handler.timeout.IdleStateEvent;
import io.netty.handler.timeout.IdleStateHandler;

import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * One HTTP/2 connection (cleartext, with prior knowledge): the handler behind Netty's frame codec
 * and stream multiplexer, which give each stream a child channel whose {@link Http2Stream} is the
 * stream's {@link Exchange} through the same {@link Dispatcher} as HTTP/1.1.
 *
 * <h2>How it works</h2>
 * Every connection starts as HTTP/1.1 with a {@link Detector} in front: it looks at the first bytes
 * only, and if they are the HTTP/2 client preface the HTTP/1.1 handlers leave
 * ({@link Http1Connection#handOver}) and the frame codec, the multiplexer and this handler take their
 * place; anything else and the detector leaves, so HTTP/1.1 requests never pass it. The codec
 * enforces the limits ({@code SETTINGS_MAX_CONCURRENT_STREAMS}, the header list size, the stream
 * window) and the flood defences, and answers a violation with {@code GOAWAY}; this handler counts
 * those as {@link ServerLimit}s. A connection with no stream open that sends and receives nothing for
 * {@code idleTimeout} is closed with {@code GOAWAY}; draining the server or retiring its worker does the
 * same, and the streams in flight get up to {@code drainTimeout} to finish.
 */
final class Http2Connection extends ChannelInboundHandlerAdapter {
    /** Netty's default window for counting a client's RST_STREAM frames. */
    static final int RESET_WINDOW_SECONDS = 30;
    private static final byte[] PREFACE = ByteBufUtil.getBytes(Http2CodecUtil.connectionPrefaceBuf());

    private final Server server;
    private final Http1Connection conn;

    private Http2Connection(Server server, Http1Connection conn) {
        this.server = server;
        this.conn = conn;
    }

    /** Replaces the HTTP/1.1 handlers of {@code conn}'s pipeline (behind {@code ctx}) with HTTP/2's. */
    private static void install(ChannelHandlerContext ctx, Http1Connection conn) {
        Server server = conn.server;
        ServerConfig c = conn.config;
        conn.handOver();
        Http2Settings settings = Http2Settings.defaultSettings()
                .maxConcurrentStreams(c.http2MaxConcurrentStreams())
                .maxHeaderListSize(c.maxHeaderSize())
                .initialWindowSize(c.http2InitialWindowSize());
        ChannelPipeline p = ctx.pipeline();
        // in this order: the multiplexer finds the codec when it is added
        p.addAfter(ctx.name(), "h2-idle", new IdleStateHandler(0, 0, c.idleTimeout().toNanos(), TimeUnit.NANOSECONDS));
        p.addAfter("h2-idle", "h2-codec", Http2FrameCodecBuilder.forServer()
                .initialSettings(settings)
                .gracefulShutdownTimeoutMillis(c.drainTimeout().toMillis())
                .decoderEnforceMaxRstFramesPerWindow(c.http2MaxResets(), RESET_WINDOW_SECONDS)
                .build());
        p.addAfter("h2-codec", "h2-streams", new Http2MultiplexHandler(new ChannelInitializer<Http2StreamChannel>() {
            @Override
            protected void initChannel(Http2StreamChannel ch) {
                ch.pipeline().addLast(new Http2Stream(server));
            }
        }));
        p.addAfter("h2-streams", "h2-connection", new Http2Connection(server, conn));
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
        server.connections.closed(conn);
        ctx.fireChannelInactive();
    }

    /** Nothing read or written for {@code idleTimeout}: closed ({@code GOAWAY}) unless a stream is still open. */
    @Override
    public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
        if (evt instanceof IdleStateEvent) {
            Http2FrameCodec codec = ctx.pipeline().get(Http2FrameCodec.class);
            if (codec != null && codec.connection().numActiveStreams() == 0) {
                ctx.channel().close();
            }
            return;
        }
        ctx.fireUserEventTriggered(evt);
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        // the codec has already answered a connection error with GOAWAY and closes; here it is counted
        if (cause instanceof Http2Exception e && e.error() == Http2Error.ENHANCE_YOUR_CALM) {
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
                ctx.pipeline().remove(this); // the preface and what follows go on to the frame codec
            }
        }
    }
}
